"""Timing helpers: every benchmark is reported as a ratio to a raw-torch floor.

A benchmark times skrobust's code path and, in the same run and on the same
device and data, the fastest plain-torch code that does the same work (the
*floor*), and where a peer library is installed, the peer. Only ratios are
comparable across machines; absolute times are printed for context.
"""

import argparse
import ctypes
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


def measure(*fns, device="cpu", warmup=3, repeat=15, number=1, clock=None):
    """Median wall time of one call of each of ``fns``, in seconds.

    Each function is called ``warmup`` times untimed; then, ``repeat`` times,
    ``number`` calls of each function are timed in turn, with the device
    synchronised around each timed block. Interleaving the functions makes a
    busy machine slow them all alike, so that their ratios stay meaningful.
    ``clock``: the timer (default ``time.perf_counter``; ``time.process_time``
    counts this process's CPU time, which other processes disturb less, and
    no GPU time). Returns one median for one function, else a list of medians.
    """
    clock = clock or time.perf_counter
    for fn in fns:
        for _ in range(warmup):
            fn()
    synchronize(device)
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, fn_times in zip(fns, times):
            start = clock()
            for _ in range(number):
                fn()
            synchronize(device)
            fn_times.append((clock() - start) / number)
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
    p.add_argument(
        "--steady-allocator",
        action="store_true",
        help="fix glibc's mmap and trim thresholds (see steady_allocator)",
    )
    p.add_argument(
        "--cpu-time",
        action="store_true",
        help="time CPU runs by this process's CPU time (less disturbed by "
        "other processes than wall time; not for GPUs)",
    )
    return p


def parse_args(p, argv=None):
    """Parse the options and apply ``--threads`` and ``--steady-allocator``."""
    args = p.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.steady_allocator and not steady_allocator():
        print("--steady-allocator: no glibc mallopt here; thresholds unchanged")
    return args


def steady_allocator():
    """Fix glibc's thresholds, so page faults do not depend on what ran before.

    glibc serves an allocation of more than its mmap threshold with fresh
    pages, and gives the top of its heap back to the kernel when more than
    its trim threshold is free; both thresholds move with the sizes freed
    so far. A CPU tensor of a few MB then costs page faults or not depending
    on the process's history: on the digits SmallCNN, the same forward pass
    took 20 or 45 ms CPU, and whole-batch IBP spent 45 of its 115 ms in
    the kernel. With the thresholds fixed (32 MB, 1 GB), neither side of a
    ratio pays for the other's history. Returns whether it applied.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 1 << 25)) and bool(
        mallopt(m_trim_threshold, 1 << 30)
    )


def environment(device):
    """One line naming the versions and the device, for the report header."""
    device = torch.device(device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu, {torch.get_num_threads()} torch threads"
    )
    return f"torch {torch.__version__}, {name}"
