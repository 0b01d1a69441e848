"""deel-torchlip on digits: the peer of ``LipschitzClassifier`` (a separate venv).

Run by ``bench_certificates.py --lipschitz`` with the interpreter given as
``--peer-python`` (a venv with ``torch`` and ``deel-torchlip`` installed with
``--no-deps``, plus numpy): reads the split from an ``.npz`` file, trains the
same architecture as the benchmark's (64 -> 128 -> 128 -> 10, GroupSort2)
with deel-torchlip's spectral layers (power iteration and Bjorck
orthonormalization) on its tau cross-entropy, and writes the exported plain
torch weights and the training time next to the input.

Usage: ``python peer_torchlip.py DATA.npz OUT.pt EPOCHS``.
"""

import sys
import time

import numpy as np
import torch
from deel import torchlip


def main(data, out, epochs):
    d = np.load(data)
    X, y = torch.tensor(d["X_train"]), torch.tensor(d["y_train"]).long()
    torch.manual_seed(0)
    model = torchlip.Sequential(
        torchlip.SpectralLinear(64, 128),
        torchlip.GroupSort2(),
        torchlip.SpectralLinear(128, 128),
        torchlip.GroupSort2(),
        torchlip.SpectralLinear(128, 10),
    )
    loss_fn = torchlip.TauCrossEntropyLoss(tau=float(d["tau"]))
    optimizer = torch.optim.Adam(model.parameters(), lr=float(d["lr"]))
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for batch in torch.randperm(len(X)).split(64):
            optimizer.zero_grad()
            loss_fn(model(X[batch]), y[batch]).backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    plain = model.vanilla_export().eval()
    torch.save({"state": plain.state_dict(), "seconds": seconds}, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
