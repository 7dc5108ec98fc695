"""Training throughput of deep backbones: hsproto ``fit`` against a hand-written torch loop.

Both train the same network (``resnet_cifar`` depth 20, or torchvision's ResNet-18 with
hsproto's hypersphere head) with the same HPN loss, SGD (momentum 0.9, weight decay
5e-4), batch size and precision on synthetic 32x32 RGB uint8 images with random crop
(padding 4) + horizontal flip per sample and normalisation. The reference is what a user
writes: a ``DataLoader`` over a Dataset whose ``__getitem__`` applies the transforms,
``torch.autocast`` around the forward pass. The contenders alternate (the order rotates
each round) and the median of the per-round ratios (hsproto / reference images per
second) is printed: this machine is shared and noisy.

    python benchmarks/throughput.py [--device cuda] [--precision 32 bf16] [--compile]
        [--models resnet_cifar torchvision] [--n 512] [--epochs 1] [--rounds 3]

Target: ratio >= 0.95 on every row.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

import hsproto
from hsproto import HypersphericalClassifier, make_prototypes
from hsproto.backbones import HypersphereNet, build_backbone, infer_out_features
from hsproto.registry import get

MODELS = {"resnet_cifar": {"depth": 20},
          "torchvision": {"arch": "resnet18"}}
MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
DTYPES = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}


def transforms():
    augment = v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])
    return augment, v2.Normalize(MEAN, STD)


class Augmented(Dataset):
    """uint8 images -> crop + flip -> float in [0, 1] -> normalise, per sample."""

    def __init__(self, X, y):
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y)
        self.augment, self.preprocess = transforms()

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        x = self.augment(self.X[i]).to(torch.float32).div_(255.0)
        return self.preprocess(x), self.y[i]


def reference_fit(X, y, model, args, precision, seed=0):
    """The hand-written loop."""
    device = torch.device(args.device)
    torch.manual_seed(seed)
    n_classes, n_dims = int(y.max()) + 1, int(y.max())
    backbone = build_backbone(get("hsproto.backbones", model), MODELS[model], X.shape[1:])
    sample = torch.zeros(2, *X.shape[1:])
    net = HypersphereNet(backbone, infer_out_features(backbone, sample), n_dims).to(device)
    if args.compile:
        net = torch.compile(net)
    prototypes = torch.as_tensor(make_prototypes("auto", n_classes, n_dims),
                                 dtype=torch.float32, device=device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    loader = DataLoader(Augmented(X, y), batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers, pin_memory=device.type == "cuda")
    dtype = DTYPES[precision]
    net.train()
    for _ in range(args.epochs):
        for xb, yb in loader:
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                z = net(xb)
            z = torch.nn.functional.normalize(z.float(), dim=1)
            loss = ((1.0 - (z * prototypes[yb]).sum(1)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def hsproto_fit(X, y, model, args, precision):
    augment, preprocess = transforms()
    clf = HypersphericalClassifier(
        model, module_params=MODELS[model], augment=augment, preprocess=preprocess,
        optimizer="sgd", lr=0.05, weight_decay=5e-4, batch_size=args.batch_size,
        max_epochs=args.epochs, precision=precision, device=args.device,
        compile=bool(args.compile), num_workers=args.workers, random_state=0)
    clf.fit(X, y)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return clf


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", nargs="+", default=["32", "bf16"])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--n", type=int, default=512, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    hsproto.set_config(cache_dir=None)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (args.n, 3, 32, 32), dtype=np.uint8)
    y = np.arange(args.n) % 10
    print(f"{args.n} images 3x32x32 uint8, crop+flip+normalise per sample, batch "
          f"{args.batch_size}, {args.epochs} epoch(s) per run, {args.rounds} alternated "
          f"rounds, device {args.device}, {torch.get_num_threads()} threads, workers "
          f"{args.workers}, compile {args.compile}")
    print(f"{'model':<14} {'precision':<9} {'hsproto img/s':>14} {'torch img/s':>12} "
          f"{'ratio':>7}  target >= 0.95")
    for model in args.models:
        for precision in args.precision:
            contenders = [("hsproto", lambda m=model, p=precision: hsproto_fit(X, y, m, args,
                                                                               p)),
                          ("torch", lambda m=model, p=precision: reference_fit(X, y, m, args,
                                                                               p))]
            for _, fn in contenders:      # warm-up: allocator, kernels, compilation
                fn()
            times = {"hsproto": [], "torch": []}
            for r in range(args.rounds):
                for name, fn in contenders[r % 2:] + contenders[:r % 2]:
                    start = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - start)
            images = args.n * args.epochs
            ratio = statistics.median(t / h for h, t in zip(times["hsproto"], times["torch"],
                                                             strict=True))
            print(f"{model:<14} {precision:<9} "
                  f"{images / statistics.median(times['hsproto']):14.1f} "
                  f"{images / statistics.median(times['torch']):12.1f} {ratio:7.3f}  "
                  f"{'PASS' if ratio >= 0.95 else 'MISS'}", flush=True)


if __name__ == "__main__":
    main()
