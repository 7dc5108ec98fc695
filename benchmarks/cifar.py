"""The HPN CIFAR recipe (seed 000, METHODS.md §1) beside a softmax head on the same backbone.

ResNet-32 (``resnet_cifar``), prototypes in D = 100 (CIFAR-100; D = K - 1 otherwise),
SGD lr 0.01 momentum 0.9, weight decay 1e-4, batch 128, 250 epochs with the learning rate
÷10 at epochs 100 and 200, random crop (padding 4) + horizontal flip, per-channel
normalisation. The paper reports 65.0 % top-1 on CIFAR-100 with these settings.

    python benchmarks/cifar.py --data DIR [--name cifar100] --device cuda \\
        [--epochs 250] [--precision bf16] [--workers 8]
    python benchmarks/cifar.py --smoke      # CI / CPU: a generated archive, < 1 minute

``DIR`` holds the official "python version" archive (cifar-100-python.tar.gz) or its
extracted folder (https://www.cs.toronto.edu/~kriz/cifar.html). ``--smoke`` writes a
small archive in that format with random images (the accuracy is then chance level: it
checks the whole path, not the recipe) and shrinks the run (ResNet-20, 2 epochs).
"""

from __future__ import annotations

import argparse
import io
import pickle
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import v2

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.datasets import load_cifar

PAPER = {"cifar100": 0.650}
NORMALISE = {"cifar10": ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
             "cifar100": ([0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762])}


def write_fake_archive(root, name="cifar100", n_train=500, n_test=200, seed=0):
    """A ``.tar.gz`` in the official CIFAR python format with random images."""
    rng = np.random.default_rng(seed)
    folder = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}[name]
    n_classes = 10 if name == "cifar10" else 100

    def batch(n):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        fine = (np.arange(n) % n_classes).tolist()
        if name == "cifar10":
            return {b"data": data, b"labels": fine}
        return {b"data": data, b"fine_labels": fine,
                b"coarse_labels": [c // 5 for c in fine]}

    if name == "cifar10":
        files = {f"data_batch_{i}": batch(n_train // 5) for i in range(1, 6)}
        files["test_batch"] = batch(n_test)
        files["batches.meta"] = {b"label_names": [f"c{i}".encode() for i in range(10)]}
    else:
        files = {"train": batch(n_train), "test": batch(n_test),
                 "meta": {b"fine_label_names": [f"f{i}".encode() for i in range(100)],
                          b"coarse_label_names": [f"c{i}".encode() for i in range(20)]}}
    path = Path(root) / f"{name[:5]}-{name[5:]}-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for fname, obj in files.items():
            blob = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"{folder}/{fname}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def recipe(name, n_classes, args, loss):
    mean, std = NORMALISE[name]
    n_dims = 100 if name == "cifar100" else n_classes - 1
    milestones = [round(0.4 * args.epochs), round(0.8 * args.epochs)]
    return HypersphericalClassifier(
        "resnet_cifar", module_params={"depth": args.depth}, n_dims=n_dims, loss=loss,
        augment=v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]),
        preprocess=v2.Normalize(mean, std), optimizer="sgd", lr=0.01, momentum=0.9,
        weight_decay=1e-4, batch_size=args.batch_size, max_epochs=args.epochs,
        lr_schedule="step", lr_schedule_params={"milestones": milestones, "gamma": 0.1},
        precision=args.precision, num_workers=args.workers, device=args.device,
        verbose=args.verbose, random_state=args.seed)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="directory with the official archive or folder")
    parser.add_argument("--name", default="cifar100", choices=["cifar10", "cifar100"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--epochs", type=int, default=250)
    parser.add_argument("--depth", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--precision", default="32")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--losses", nargs="+", default=["hpn", "softmax"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--smoke", action="store_true",
                        help="generated archive, ResNet-20, 2 epochs (checks the path)")
    args = parser.parse_args()
    hsproto.set_config(cache_dir=None)
    tmp = None
    if args.smoke:
        tmp = tempfile.TemporaryDirectory()
        write_fake_archive(tmp.name, args.name, n_train=300, n_test=100)
        args.data, args.epochs, args.depth = tmp.name, 2, 20
    elif args.data is None:
        parser.error("--data DIR is required (or --smoke)")
    X, y = load_cifar(args.data, args.name, train=True)
    X_test, y_test = load_cifar(args.data, args.name, train=False)
    n_classes = int(y.max()) + 1
    print(f"{args.name}: train {X.shape}, test {X_test.shape}, {n_classes} classes; "
          f"ResNet-{args.depth}, {args.epochs} epochs, SGD 0.01 m=0.9 wd=1e-4, ÷10 at "
          f"40%/80%, crop+flip, precision {args.precision}, device {args.device}, "
          f"{torch.get_num_threads()} threads" + ("  [smoke: random images]"
                                                  if args.smoke else ""))
    for loss in args.losses:
        clf = recipe(args.name, n_classes, args, loss)
        start = time.perf_counter()
        clf.fit(X, y)
        took = time.perf_counter() - start
        acc = clf.score(X_test, y_test)
        paper = PAPER.get(args.name) if loss == "hpn" else None
        note = f"  (paper: {paper:.3f})" if paper and not args.smoke else ""
        print(f"{loss:<8} test accuracy {acc:.4f}  fit {took:7.1f} s  "
              f"({len(X) * args.epochs / took:7.1f} img/s){note}", flush=True)
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
