"""Many classes: fixed prototypes against a learnable classifier (issue: beyond one machine).

Synthetic data with K classes: class centroids drawn in ``--features`` dimensions, a few
samples per class (centroid plus Gaussian noise), one held-out sample per class. Two
classifiers train the same backbone (an MLP with one hidden layer) into a D-dimensional
output for the same number of epochs:

- ``hpn``: the squared cosine to each sample's own fixed prototype (the regressor's
  default loss, and the one docs/scaling.md recommends at many classes): its training
  cost per batch is O(batch x D), only each sample's own prototype enters;
- ``cosine``: the classifier's default loss, a cross-entropy over the cosines to all K
  fixed prototypes (chunked from 4 096 classes on): O(batch x K x D) per batch, no
  (batch, K) tensor kept;
- ``softmax``: hsproto's ``loss="softmax"``, a learnable (K, D) linear classifier with its
  gradient and Adam's two moments; O(batch x K x D) per batch.

The fixed prototypes are a (K, D) buffer with no gradient; each fixed-prototype loss is
compared with ``softmax``.

Each run is a fresh subprocess. Peak training memory, on the CPU, is the network's and
the loss's parameters and buffers at the start of training plus the peak resident set
during training (VmHWM, reset then) above the resident set at its start: the data and
the prototype placement (a one-off, timed in benchmarks/prototypes.py) are left out. On
CUDA it is ``torch.cuda.max_memory_allocated``. Time per epoch is
the mean of the epochs' durations in ``history_``. ``--timing-only`` trains one epoch over
one sample per class (all K classes present, so the same network and memory) and scales
the epoch time to the full data; accuracy is then not reported.

    python benchmarks/many_classes.py                     # K = 1 000 and 10 000, 20 epochs
    python benchmarks/many_classes.py --classes 2000 5000
    python benchmarks/many_classes.py --classes 100000 --timing-only
    python benchmarks/many_classes.py --quick             # K = 1 000, 10 epochs
    python benchmarks/many_classes.py --loss-cost --classes 100000   # per-batch loss cost

Target: hsproto's peak training memory at K = 100 000, D = 512 at most half the
learnable classifier's, at equal or better accuracy.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from skorch.callbacks import Callback

MODELS = ("hpn", "cosine", "softmax")
#: ``--models`` may also name the other fixed-prototype losses (chunked cross-entropy
#: over the prototypes at K >= 4 096), each compared with ``softmax``.
CHOICES = ("hpn", "mce", "cosine", "arcface", "softmax")
TARGET_K = 100_000


def make_data(n_classes, n_features, per_class, noise, seed=0):
    """(X_train, y_train, X_test, y_test): ``per_class`` training samples and one test
    sample per class, each its class centroid plus ``noise``-scaled Gaussian noise."""
    rng = np.random.default_rng(seed)
    centroids = rng.standard_normal((n_classes, n_features)).astype(np.float32)
    y_train = np.repeat(np.arange(n_classes), per_class)
    y_test = np.arange(n_classes)

    def draw(y):
        return centroids[y] + noise * rng.standard_normal((len(y), n_features),
                                                          dtype=np.float32)
    return draw(y_train), y_train, draw(y_test), y_test


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _reset_peak():
    """Start a new peak-RSS measurement (Linux: clear_refs 5 resets VmHWM)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mb():
    """Peak RSS since the last :func:`_reset_peak` (VmHWM), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _tensor_mb(net):
    """Parameters and buffers of the network and the loss, MB."""
    tensors = [t for part in (net.module_, net.criterion_)
               for t in (*part.parameters(), *part.buffers())]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


class _TrainingMemory(Callback):
    """skorch callback: the training memory of a fit on the CPU, without the data and
    the prototype placement: the network's and the loss's parameters and buffers at the
    start of training, plus the peak resident set during training (VmHWM) above the
    resident set at its start (gradients, optimiser state, activations, temporaries)."""

    def on_train_begin(self, net, **kwargs):
        self.static = _tensor_mb(net)
        self.start = _rss_mb()
        _reset_peak()

    def on_train_end(self, net, **kwargs):
        self.mb = self.static + _peak_mb() - self.start


def child(args):
    from hsproto import HypersphericalClassifier, make_prototypes

    torch.set_num_threads(args.threads)
    X, y, X_test, y_test = make_data(args.classes[0], args.features, args.per_class,
                                     args.noise)
    if args.model != "softmax":   # placement: a one-off (cached), see prototypes.py
        make_prototypes(args.prototypes, args.classes[0], args.dims, random_state=0)
    clf = HypersphericalClassifier(
        loss=args.model, n_dims=args.dims, prototypes=args.prototypes,
        module_params={"hidden_layer_sizes": (args.hidden,), "dropout": 0.0},
        max_epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        device=args.device, random_state=0)
    if args.timing_only:      # one epoch over one sample of each class (all K present)
        X_fit, y_fit = X[::args.per_class], y[::args.per_class]
        clf.set_params(max_epochs=1)
    else:
        X_fit, y_fit = X, y
    cuda = args.device.startswith("cuda")
    probe = _TrainingMemory()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    else:
        clf.set_params(callbacks=[("training_memory", probe)])
    start = time.perf_counter()
    clf.fit(X_fit, y_fit)
    wall = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else dict(clf.net_.callbacks_)["training_memory"].mb)   # the fitted copy
    epoch = float(np.mean(clf.history_[:, "dur"]))
    if args.timing_only:
        epoch *= len(y) / len(y_fit)
        acc = None
    else:
        acc = float(np.mean(clf.predict(X_test) == y_test))
    print(json.dumps({"peak_mb": peak, "epoch_s": epoch, "fit_s": wall,
                      "acc": acc}))


LOSSES = (("hpn", "target prototype only"), ("mce", "chunked"), ("mce", "dense"),
          ("cosine", "chunked"), ("arcface", "chunked"), ("arcface", "dense"),
          ("softmax", "learnable (K, D)"))


def loss_cost_child(args):
    """Time and peak memory of one training step of a loss alone: forward and backward
    for a batch of network outputs (batch, D), K classes, prototypes in ``--buffer``."""
    from hsproto import registry
    from hsproto.losses import _base
    from hsproto.prototypes import make_layout

    torch.set_num_threads(args.threads)
    k, d, b = args.classes[0], args.dims, args.batch_size
    layout = make_layout(d, n_classes=k, strategy="random", random_state=0)
    loss = registry.get("hsproto.losses", args.model)(layout)
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[args.buffer]
    if loss.fixed_prototypes:
        loss.prototypes = loss.prototypes.to(dtype)
    if args.path == "dense":
        _base.CHUNKED_CE_MIN_CLASSES = k + 1
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(b, d, generator=gen)
    y = torch.randint(0, k, (b,), generator=gen)
    params = [p for p in loss.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params) if params else None   # its state counts too
    warm = z[:2].clone().requires_grad_(True)     # autograd's and the allocator's set-up
    loss.classification(warm, y[:2]).mean().backward()
    base = _rss_mb()
    _reset_peak()
    times = []
    for _ in range(args.steps):
        zi = z.clone().requires_grad_(True)
        start = time.perf_counter()
        loss.classification(zi, y).mean().backward()
        if optimizer is not None:
            optimizer.step()
            optimizer.zero_grad(set_to_none=False)
        times.append(time.perf_counter() - start)
    peak = _peak_mb()
    buffer_mb = (loss.prototypes.numel() * loss.prototypes.element_size() / 2**20
                 if loss.fixed_prototypes else 0.0)
    print(json.dumps({"ms": 1000 * float(np.median(times[1:] or times)),
                      "peak_mb": peak - base, "buffer_mb": buffer_mb}))


def loss_costs(args):
    k = args.classes[0]
    print(f"\n== training cost per batch of the loss alone: K = {k}, D = {args.dims}, "
          f"batch {args.batch_size} (median of {args.steps} steps; memory: peak RSS "
          f"above the start, after the prototype buffer) ==")
    head = (f"{'loss':>8} {'path':>22} {'buffer':>9} {'buffer MB':>9} {'ms/batch':>9} "
            f"{'peak MB':>8}")
    print(head + "\n" + "-" * len(head), flush=True)
    for loss, path in LOSSES:
        for buffer in (("float32", "bfloat16") if loss == "hpn" else ("float32",)):
            cmd = [sys.executable, __file__, "--loss-cost-child", "--model", loss,
                   "--path", path, "--buffer", buffer, "--classes", str(k),
                   "--dims", str(args.dims), "--batch-size", str(args.batch_size),
                   "--threads", str(args.threads), "--steps", str(args.steps)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"{loss} failed:\n{out.stderr[-3000:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{loss:>8} {path:>22} {buffer:>9} {r['buffer_mb']:9.0f} "
                  f"{r['ms']:9.1f} {r['peak_mb']:8.0f}", flush=True)


def run(args, n_classes, model):
    cmd = [sys.executable, __file__, "--child", "--model", model, "--classes", str(n_classes)]
    for key in ("dims", "features", "per_class", "noise", "hidden", "epochs", "batch_size",
                "lr", "device", "threads", "prototypes"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    if args.timing_only:
        cmd.append("--timing-only")
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{model} at K={n_classes} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--per-class", type=int, default=5)
    parser.add_argument("--noise", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--timing-only", action="store_true",
                        help="one epoch over one sample per class: memory and time only")
    parser.add_argument("--prototypes", default="auto")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=CHOICES)
    parser.add_argument("--quick", action="store_true", help="K = 1 000, 10 epochs")
    parser.add_argument("--loss-cost", action="store_true",
                        help="only the per-batch cost of each loss at the first --classes")
    parser.add_argument("--steps", type=int, default=5, help="steps per loss (--loss-cost)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--loss-cost-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--buffer", default="float32", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    if args.loss_cost_child:
        return loss_cost_child(args)
    if args.loss_cost:
        return loss_costs(args)
    if args.quick:
        args.classes, args.epochs = [1000], 10
    print(f"torch {torch.__version__}, device {args.device}, {args.threads} threads; "
          f"D = {args.dims}, {args.features} features, {args.per_class} training samples "
          f"per class (noise {args.noise}), MLP hidden {args.hidden}, batch "
          f"{args.batch_size}, {args.epochs} epochs"
          + (", timing only (one epoch over one sample per class)" if args.timing_only
             else ""))
    head = f"{'K':>7} {'model':>8} {'peak MB':>9} {'s/epoch':>9} {'accuracy':>9}"
    print(head + "\n" + "-" * len(head), flush=True)
    results = []
    for n_classes in args.classes:
        row = {}
        for model in args.models:
            r = row[model] = run(args, n_classes, model)
            acc = "-" if r["acc"] is None else f"{r['acc']:.4f}"
            print(f"{n_classes:>7} {model:>8} {r['peak_mb']:9.0f} {r['epoch_s']:9.2f} "
                  f"{acc:>9}", flush=True)
        for fixed in [m for m in row if m != "softmax"] if "softmax" in row else ():
            ratio = row[fixed]["peak_mb"] / row["softmax"]["peak_mb"]
            accs = row[fixed]["acc"], row["softmax"]["acc"]
            acc_ok = None if None in accs else accs[0] >= accs[1]
            ok = ratio <= 0.5 and acc_ok is not False
            verdict = "PASS" if ok else "MISS"
            if acc_ok is None:
                verdict += " (memory only: accuracy not measured)"
            if n_classes != TARGET_K:
                verdict = f"(the target is set at K = {TARGET_K})"
            speed = row["softmax"]["epoch_s"] / row[fixed]["epoch_s"]
            print(f"{'':>7} memory {fixed}/softmax {ratio:.2f}, epoch time "
                  f"softmax/{fixed} {speed:.1f}x, accuracy "
                  + ("not measured" if acc_ok is None else
                     f"{accs[0] - accs[1]:+.4f}") + f"  {verdict}", flush=True)
            if n_classes == TARGET_K:
                results.append(ok and acc_ok is not None)
    if results:
        print(f"\n{sum(results)} of {len(results)} rows meet the target")


if __name__ == "__main__":
    main()
