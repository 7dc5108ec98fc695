"""Long-tail digits: balanced accuracy of hsproto's classifier beside skorch and sklearn.

Stratified 5-fold CV on load_digits (pixels / 16, shuffle, random_state=0). Each training
fold is subsampled per class to an exponential long tail, ``n_c = n_max * r^(c / (K-1))``
with imbalance ratio r = 0.02 (class c = digit c, n_max the largest class count of that
training fold, rounded, at least 1; the samples kept are drawn with a seed per fold, the
same for every model); the test fold is left untouched. Metric: balanced accuracy (mean
+- std over the folds) and mean fit time per fold. Peers: a skorch softmax net on the
same "mlp" backbone with class-weighted cross-entropy (inverse training frequency) and
LogisticRegression(class_weight="balanced"). hsproto rows: the defaults, then the long-
tail recipe (class_weight="balanced", MixUp alpha=1, optionally dynamic assignment)
with the losses hpn, mce and cosine, logit adjustment (tau = 1, Menon et al. 2021)
with MixUp instead of class weights, then with a wide head (n_dims=256) and weight decay.
Then the same recipes on the "cnn" backbone (X reshaped to 1 x 8 x 8 images inside a
Pipeline), beside a skorch CNN softmax net with class-weighted cross-entropy and
hsproto's own ``softmax`` loss on the cnn, so that the backbone's share of the gain is
visible.
Longer training did not help the hpn recipe (same folds, constant learning rate: 100
epochs 0.870, 200 epochs 0.867, 300 epochs 0.858); the rows use the classifier's
defaults (200 epochs, cosine-annealed learning rate) unless they say otherwise. The
tuned rows were chosen on these folds; the closing seed check re-runs the best one and
the skorch peer with two more seeds.

    python benchmarks/long_tail.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch import NeuralNetClassifier
from torch import nn

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.backbones import MLP, SmallCNN, infer_out_features
from hsproto.datasets import load_digits_data

try:
    from _common import best_row, cross_validate, run_table
except ImportError:                      # imported as benchmarks.long_tail
    from ._common import best_row, cross_validate, run_table

RATIO = 0.02
TARGET = 0.910


def long_tail_indices(y, train, ratio, seed):
    """Indices of ``train`` kept for an exponential long tail over the classes 0..K-1."""
    classes = np.unique(y)
    counts = np.array([np.sum(y[train] == c) for c in classes])
    n_max, last = counts.max(), len(classes) - 1
    rng = np.random.default_rng(seed)
    keep = []
    for i, c in enumerate(classes):
        n_c = max(1, round(float(n_max) * ratio ** (i / last)))
        members = train[y[train] == c]
        keep.append(rng.choice(members, size=min(n_c, len(members)), replace=False))
    return np.sort(np.concatenate(keep))


class SoftmaxNet(nn.Module):
    """hsproto's "mlp" (or, with ``cnn``, "cnn") backbone followed by a linear classifier
    (logits)."""

    def __init__(self, n_features=64, n_classes=10, cnn=False):
        super().__init__()
        input_shape = (1, 8, 8) if cnn else (n_features,)
        self.backbone = SmallCNN(input_shape) if cnn else MLP(input_shape)
        width = infer_out_features(self.backbone, torch.zeros(2, *input_shape))
        self.fc = nn.Linear(width, n_classes)

    def forward(self, X):
        return self.fc(self.backbone(X))


class WeightedCE(NeuralNetClassifier):
    """skorch softmax net whose cross-entropy weights each class by its inverse training
    frequency (``n / (K * n_c)``, sklearn's "balanced"), set from y at every fit."""

    def fit(self, X, y, **fit_params):
        counts = np.bincount(y, minlength=10).astype(np.float32)
        weight = len(y) / (len(counts) * np.maximum(counts, 1))
        self.set_params(criterion__weight=torch.as_tensor(weight))
        return super().fit(X, y, **fit_params)


def skorch_weighted_ce(cnn=False):
    net = WeightedCE(SoftmaxNet, module__cnn=cnn, criterion=nn.CrossEntropyLoss,
                     optimizer=torch.optim.Adam, lr=1e-3, max_epochs=100, batch_size=128,
                     train_split=None, verbose=0)
    return make_pipeline(IMAGES, net) if cnn else net


def to_images(X):
    return np.ascontiguousarray(X, dtype=np.float32).reshape(-1, 1, 8, 8)


IMAGES = FunctionTransformer(to_images)


def hsp(**params):
    return lambda seed: HypersphericalClassifier(random_state=seed, **params)


def hsp_cnn(**params):
    return lambda seed: make_pipeline(IMAGES, HypersphericalClassifier(
        "cnn", random_state=seed, **params))


RECIPE = {"class_weight": "balanced", "mixing": "mixup"}         # seed 001 (alpha = 1)
TUNED = {**RECIPE, "n_dims": 256}                                # + a wide head
# logit adjustment (Menon et al. 2021) instead of class weights, with MixUp: the
# long-tail recipe of docs/defaults.md (the default loss, cosine)
ADJUSTED = {"logit_adjustment": 1.0, "mixing": "mixup"}


def models():
    """(name, factory(seed) -> estimator); hsproto's random_state is the seed."""
    return [
        ("skorch softmax net (mlp backbone, CE + class weights)",
         lambda seed: skorch_weighted_ce()),
        ("sklearn LogisticRegression(class_weight='balanced')",
         lambda seed: LogisticRegression(class_weight="balanced", max_iter=2000)),
        ("hsproto cosine (defaults)", hsp()),
        ("hsproto hpn + balanced + mixup", hsp(loss="hpn", **RECIPE)),
        ("hsproto hpn + balanced + mixup + dynamic", hsp(loss="hpn", **RECIPE,
                                                         assignment="dynamic")),
        ("hsproto mce + balanced + mixup", hsp(loss="mce", **RECIPE)),
        ("hsproto cosine + balanced + mixup", hsp(loss="cosine", **RECIPE)),
        ("hsproto cosine + logit adjustment 1 + mixup", hsp(**ADJUSTED)),
        ("hsproto hpn + balanced + mixup, n_dims 256, wd 1e-2",
         hsp(loss="hpn", **TUNED, weight_decay=1e-2)),
        ("hsproto mce + balanced + mixup, n_dims 256, wd 3e-2",
         hsp(loss="mce", **TUNED, weight_decay=3e-2)),
        ("hsproto cosine + balanced + mixup, n_dims 256, wd 3e-2",
         hsp(loss="cosine", **TUNED, weight_decay=3e-2)),
        ("hsproto cosine + balanced + mixup + dynamic, n_dims 256, wd 3e-2",
         hsp(loss="cosine", assignment="dynamic", **TUNED, weight_decay=3e-2)),
        ("skorch softmax net (cnn backbone, CE + class weights)",
         lambda seed: skorch_weighted_ce(cnn=True)),
        ("hsproto softmax loss, cnn + balanced", hsp_cnn(loss="softmax",
                                                         class_weight="balanced")),
        ("hsproto hpn, cnn + balanced + mixup", hsp_cnn(loss="hpn", **RECIPE)),
        ("hsproto hpn, cnn + balanced + mixup + dynamic", hsp_cnn(
            loss="hpn", **RECIPE, assignment="dynamic")),
        ("hsproto mce, cnn + balanced + mixup", hsp_cnn(loss="mce", **RECIPE)),
        ("hsproto cosine, cnn + logit adjustment 1 + mixup", hsp_cnn(**ADJUSTED)),
    ]


def main():
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    start = time.perf_counter()
    X, y = load_digits_data()
    y = y.astype(np.int64)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)

    def run(make, seed=0):
        return cross_validate(lambda: make(seed), X, y, cv, balanced_accuracy_score,
                              train_subset=lambda tr, fold: long_tail_indices(
                                  y, tr, RATIO, fold), seed=seed)

    sizes = [len(long_tail_indices(y, tr, RATIO, fold))
             for fold, (tr, _) in enumerate(cv.split(X, y))]
    print(f"long-tail load_digits {X.shape}: stratified 5-fold CV (shuffle, random_state=0);"
          f" train folds subsampled to n_c = n_max * {RATIO}^(c/9) ({min(sizes)}-"
          f"{max(sizes)} samples, 3 in class 9), test folds untouched; "
          f"{torch.get_num_threads()} threads")
    print(f"{'model':<66} {'balanced acc.':>17} {'fit/fold':>9}")
    results = run_table(models(), run, 66)
    best, verdict = best_row(results, "hsproto", TARGET)
    print(f"{verdict}: best hsproto row ({best}) {results[best]:.4f} vs target {TARGET:.3f}")

    # The rows above were chosen on these very folds: re-run the best one and the skorch
    # peer with other seeds (random_state / torch seed 1 and 2) to see what is luck.
    print("seed check (mean balanced accuracy over the 5 folds, seeds 0 / 1 / 2):")
    factories = dict(models())
    for name in (best, "skorch softmax net (mlp backbone, CE + class weights)",
                 "skorch softmax net (cnn backbone, CE + class weights)",
                 "hsproto softmax loss, cnn + balanced"):
        means = [results[name]] + [np.mean(run(factories[name], seed)[0]) for seed in (1, 2)]
        print(f"  {name:<64} {' / '.join(f'{m:.4f}' for m in means)}   mean "
              f"{np.mean(means):.4f}", flush=True)
    print(f"total {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
