"""Shared cross-validation loop of the benchmarks: fit time per fold and a score."""

from __future__ import annotations

import time

import numpy as np
import torch


def cross_validate(make, X, y, cv, score, train_subset=None, seed=0):
    """Fit ``make()`` on each training fold of ``cv`` and score it on the test fold.

    ``score(y_true, y_pred) -> float``; ``train_subset(train_indices, fold) -> indices``
    optionally resamples the training fold (the test fold is never touched). The global
    torch RNG is seeded with ``1000 * seed + fold`` before each fit (skorch peers draw
    from it; ``seed=0`` seeds with the fold number, as benchmarks/digits.py does).
    Returns ``(scores, fit_times)``, one entry per fold.
    """
    scores, times = [], []
    for fold, (train, test) in enumerate(cv.split(X, y)):
        if train_subset is not None:
            train = train_subset(train, fold)
        torch.manual_seed(1000 * seed + fold)
        model = make()
        start = time.perf_counter()
        model.fit(X[train], y[train])
        times.append(time.perf_counter() - start)
        scores.append(score(y[test], model.predict(X[test])))
    return np.asarray(scores), np.asarray(times)


def row(name, scores, times, width=60):
    """One table line: ``name  mean +- std  fit/fold``."""
    return (f"{name:<{width}} {np.mean(scores):7.4f} +- {np.std(scores):.4f} "
            f"{np.mean(times):8.1f}s")


def run_table(models, run, width):
    """Cross-validate and print every ``(name, make)`` of ``models`` with ``run(make)``;
    return ``{name: mean score}``."""
    results = {}
    for name, make in models:
        scores, times = run(make)
        results[name] = np.mean(scores)
        print(row(name, scores, times, width), flush=True)
    return results


def best_row(results, prefix, target):
    """The best row whose name starts with ``prefix``, and "PASS"/"MISS" against
    ``target``."""
    ours = {k: v for k, v in results.items() if k.startswith(prefix)}
    best = max(ours, key=ours.get)
    return best, "PASS" if ours[best] >= target else "MISS"


class HeadNet(torch.nn.Module):
    """A hsproto backbone ("mlp" or "cnn", default parameters) followed by a linear
    output layer: the learnable-classifier (or regression) peer of the same shape."""

    def __init__(self, backbone="mlp", input_shape=(64,), n_outputs=10, backbone_params=None):
        super().__init__()
        from hsproto.backbones import MLP, SmallCNN, infer_out_features
        self.backbone = (MLP if backbone == "mlp" else SmallCNN)(tuple(input_shape),
                                                                 **(backbone_params or {}))
        width = infer_out_features(self.backbone, torch.zeros(2, *input_shape))
        self.fc = torch.nn.Linear(width, n_outputs)
        self.n_outputs = n_outputs

    def forward(self, X):
        out = self.fc(self.backbone(X))
        return out.squeeze(1) if self.n_outputs == 1 else out


def _sized(base):
    """A skorch net class that sizes ``HeadNet`` from X (and y) at every fit: X cast to
    float32, the input shape and output count set; ``class_weight=True`` weights the
    cross-entropy by inverse class frequency (sklearn's "balanced")."""

    class Sized(base):
        def __init__(self, *args, class_weight=False, **kwargs):
            super().__init__(*args, **kwargs)
            self.class_weight = class_weight

        def fit(self, X, y, **fit_params):
            X = np.asarray(X, dtype=np.float32)
            params = {"module__input_shape": X.shape[1:]}
            if base.__name__ == "NeuralNetClassifier":
                y = np.asarray(y, dtype=np.int64)
                counts = np.bincount(y).astype(np.float32)
                params["module__n_outputs"] = len(counts)
                if self.class_weight:
                    weight = len(y) / (len(counts) * np.maximum(counts, 1))
                    params["criterion__weight"] = torch.as_tensor(weight)
            else:
                y = np.asarray(y, dtype=np.float32)
                params["module__n_outputs"] = 1
            self.set_params(**params)
            return super().fit(X, y, **fit_params)

        def predict(self, X):
            return super().predict(np.asarray(X, dtype=np.float32))

        def predict_proba(self, X):
            return super().predict_proba(np.asarray(X, dtype=np.float32))

    Sized.__name__ = f"Sized{base.__name__}"
    return Sized


def _skorch(base, backbone, **params):
    return _sized(base)(HeadNet, module__backbone=backbone, optimizer=torch.optim.Adam,
                        lr=1e-3, max_epochs=100, batch_size=128, train_split=None,
                        verbose=0, **params)


def skorch_classifier(backbone="mlp", n_classes=None, class_weight=False,
                      backbone_params=None):
    """A skorch cross-entropy net of hsproto's shape (Adam 1e-3, 100 epochs, batch 128)."""
    from skorch import NeuralNetClassifier
    return _skorch(NeuralNetClassifier, backbone, criterion=torch.nn.CrossEntropyLoss,
                   class_weight=class_weight, module__backbone_params=backbone_params)


def skorch_regressor(backbone="mlp"):
    """A skorch MSE net of hsproto's shape (Adam 1e-3, 100 epochs, batch 128)."""
    from skorch import NeuralNetRegressor
    return _skorch(NeuralNetRegressor, backbone, criterion=torch.nn.MSELoss)
