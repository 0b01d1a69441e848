"""Timing helpers: every benchmark is reported as a ratio to a raw-torch floor.

A benchmark times skrobust's code path and, in the same run and on the same
device and data, the fastest plain-torch code that does the same work (the
*floor*), and where a peer library is installed, the peer. Only ratios are
comparable across machines; absolute times are printed for context.
"""

import argparse
import statistics
import time
from dataclasses import dataclass

import torch


def synchronize(device):
    """Wait for queued GPU work, so that a timer sees it finish."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":  # pragma: no cover - Apple only
        torch.mps.synchronize()


def measure(*fns, device="cpu", warmup=3, repeat=15, number=1):
    """Median wall time of one call of each of ``fns``, in seconds.

    Each function is called ``warmup`` times untimed; then, ``repeat`` times,
    ``number`` calls of each function are timed in turn, with the device
    synchronised around each timed block. Interleaving the functions makes a
    busy machine slow them all alike, so that their ratios stay meaningful.
    Returns one median for one function, else a list of medians.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    synchronize(device)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, fn_times in zip(fns, times):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            synchronize(device)
            fn_times.append((time.perf_counter() - start) / number)
    medians = [statistics.median(t) for t in times]
    return medians[0] if len(fns) == 1 else medians


@dataclass
class Result:
    """One benchmark row: skrobust's time, the floor's and maybe a peer's."""

    name: str
    time: float
    floor: float
    peer: str | None = None
    peer_time: float | None = None

    @property
    def ratio(self):
        return self.time / self.floor

    @property
    def peer_ratio(self):
        return None if self.peer_time is None else self.time / self.peer_time


def compare(name, fn, floor, *, device="cpu", peer=None, peer_fn=None, **kwargs):
    """Time ``fn``, its ``floor`` (and ``peer_fn``) interleaved; return a Result."""
    fns = (fn, floor) if peer_fn is None else (fn, floor, peer_fn)
    t, t_floor, *t_peer = measure(*fns, device=device, **kwargs)
    return Result(name, t, t_floor, peer, t_peer[0] if t_peer else None)


def _ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.3f}"


def print_table(results, *, title=None):
    """Print results as a table of times (ms) and ratios to the floor / peer."""
    header = ("benchmark", "time ms", "floor ms", "x floor", "peer", "x peer")
    rows = [
        (
            r.name,
            _ms(r.time),
            _ms(r.floor),
            f"{r.ratio:.2f}",
            r.peer or "-",
            "-" if r.peer_ratio is None else f"{r.peer_ratio:.2f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(6)]

    def fmt(row):
        first = row[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))
        return "  ".join((first, *rest))

    if title:
        print(title)
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


def parser(description):
    """An argument parser with the options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--repeat", type=int, default=15, help="timed repeats")
    p.add_argument("--warmup", type=int, default=3, help="untimed warm-up calls")
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads (default: torch's)"
    )
    return p


def parse_args(p, argv=None):
    """Parse the options and apply ``--threads``."""
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    return args


def environment(device):
    """One line naming the versions and the device, for the report header."""
    device = torch.device(device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu, {torch.get_num_threads()} torch threads"
    )
    return f"torch {torch.__version__}, {name}"
