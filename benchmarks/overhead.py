"""Overhead of HypersphericalClassifier.fit against a hand-written torch training loop.

Same network (the "mlp" backbone + hypersphere head), data (digits, 1797 x 64), batch
size, epochs, optimiser (Adam) and loss (HPN squared cosine), all seeded; the three are
run alternately (the order rotates each round) and the median wall time of each is
compared. This 2-core machine has slow and fast phases lasting seconds (identical fits
vary by up to 2x between rounds), so the median of the per-round ratios, each taken
between runs seconds apart, is printed as well.

    python benchmarks/overhead.py [--repeats 9] [--epochs 30] [--device cuda]

On a GPU the DataLoader loop moves each CPU batch to the device (as skorch does); the
slicing loop keeps the whole data set on the device.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

import hsproto
from hsproto import HypersphericalClassifier, make_prototypes
from hsproto.backbones import MLP, HypersphereNet
from hsproto.datasets import load_digits_data


def torch_loop(X, y, epochs, batch_size, lr, seed, slicing=False, device="cpu"):
    """The reference: what a user would write by hand (a DataLoader over a
    TensorDataset, or with ``slicing`` shuffled index slices of the tensors)."""
    torch.manual_seed(seed)
    prototypes = torch.as_tensor(make_prototypes("auto", 10, 9), dtype=torch.float32,
                                 device=device)
    net = HypersphereNet(MLP((X.shape[1],)), 256, 9).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xt, yt),
                                         batch_size=batch_size, shuffle=True)
    if slicing:
        Xt, yt = Xt.to(device), yt.to(device)
    net.train()
    for _ in range(epochs):
        if slicing:
            order = torch.randperm(len(Xt), device=device)
            batches = ((Xt[i], yt[i]) for i in order.split(batch_size))
        else:
            batches = loader
        for xb, yb in batches:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            opt.zero_grad()
            z = torch.nn.functional.normalize(net(xb), dim=1)
            loss = ((1.0 - (z * prototypes[yb]).sum(1)) ** 2).mean()
            loss.backward()
            opt.step()
    if device != "cpu":
        torch.cuda.synchronize()
    return net


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    args = parser.parse_args()
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    X, y = load_digits_data()
    X, y = np.ascontiguousarray(X, dtype=np.float32), y.astype(np.int64)
    est = HypersphericalClassifier(max_epochs=args.epochs, batch_size=args.batch_size,
                                   lr=1e-3, random_state=0, device=args.device)
    # warm-up both (imports, allocator)
    dev = args.device
    torch_loop(X, y, 1, args.batch_size, 1e-3, 0, device=dev)
    torch_loop(X, y, 1, args.batch_size, 1e-3, 0, slicing=True, device=dev)
    est.set_params(max_epochs=1).fit(X, y)
    est.set_params(max_epochs=args.epochs)
    runs = {"torch loop, DataLoader": [], "torch loop, tensor slicing": [],
            "HypersphericalClassifier.fit": []}
    contenders = [
        ("torch loop, DataLoader",
         lambda: torch_loop(X, y, args.epochs, args.batch_size, 1e-3, 0, device=dev)),
        ("torch loop, tensor slicing",
         lambda: torch_loop(X, y, args.epochs, args.batch_size, 1e-3, 0, slicing=True,
                            device=dev)),
        ("HypersphericalClassifier.fit", lambda: est.fit(X, y)),
    ]
    for round_ in range(args.repeats):
        shift = round_ % len(contenders)
        for name, fn in contenders[shift:] + contenders[:shift]:
            start = time.perf_counter()
            fn()
            runs[name].append(time.perf_counter() - start)
    print(f"digits {X.shape}, mlp(256) -> D=9, batch {args.batch_size}, {args.epochs} epochs, "
          f"{args.repeats} alternated runs, {torch.get_num_threads()} threads, device {dev}")
    medians = {name: statistics.median(times) for name, times in runs.items()}
    for name, times in runs.items():
        print(f"{name:<30} median {medians[name]:.3f} s  "
              f"(runs: {', '.join(f'{t:.3f}' for t in times)})")
    ours = medians["HypersphericalClassifier.fit"]
    for ref in ("torch loop, DataLoader", "torch loop, tensor slicing"):
        ratio = ours / medians[ref]
        paired = statistics.median(
            a / b for a, b in zip(runs["HypersphericalClassifier.fit"], runs[ref],
                                  strict=True))
        print(f"ratio fit / {ref:<26} = {ratio:.3f}  (target <= 1.10: "
              f"{'PASS' if ratio <= 1.10 else 'MISS'}); median of per-round ratios "
              f"{paired:.3f}")
    print(f"accuracy on the training data: {est.score(X, y):.4f}")


if __name__ == "__main__":
    main()
