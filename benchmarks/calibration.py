"""Calibration on digits (seed 003): ``vmf`` out of the box vs ``softmax`` with and
without temperature scaling.

Stratified 5-fold CV on load_digits (mlp backbone, 100 epochs, fixed seeds). In each
fold every model trains on the same 85 % of the training fold; the other 15 % fits the
softmax model's temperature (minimum NLL, bounded scalar search). ECE: top-label, 15
equal-mass bins (``hsproto.metrics.expected_calibration_error``), on the test fold.
Target: vmf's ECE <= softmax's ECE after temperature scaling, accuracy within 0.5 pt.

    python benchmarks/calibration.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax
from sklearn.model_selection import StratifiedKFold, train_test_split

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.datasets import load_digits_data
from hsproto.metrics import expected_calibration_error


def fit_temperature(logits, y):
    """The temperature T minimising the NLL of softmax(logits / T) on held-out data."""
    def nll(log_t):
        return -log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(y)), y].mean()
    return float(np.exp(minimize_scalar(nll, bounds=(-4, 4), method="bounded").x))


def main():
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    X, y = load_digits_data()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    print(f"load_digits {X.shape}, mlp backbone, stratified 5-fold CV (shuffle, "
          f"random_state=0), 85/15 train/calibration split, {torch.get_num_threads()} threads")
    rows = {}
    for fold, (tr, te) in enumerate(cv.split(X, y)):
        fit_idx, cal_idx = train_test_split(tr, test_size=0.15, stratify=y[tr],
                                            random_state=fold)
        for loss in ("softmax", "vmf", "cosine", "hpn"):
            clf = HypersphericalClassifier(loss=loss, random_state=0)
            start = time.perf_counter()
            clf.fit(X[fit_idx], y[fit_idx])
            elapsed = time.perf_counter() - start
            proba = clf.predict_proba(X[te])
            acc = np.mean(clf.classes_[proba.argmax(1)] == y[te])
            rows.setdefault(loss, []).append(
                (acc, expected_calibration_error(y[te], proba), elapsed))
            if loss == "softmax":
                t = fit_temperature(clf.decision_function(X[cal_idx]), y[cal_idx])
                scaled = softmax(clf.decision_function(X[te]) / t, axis=1)
                rows.setdefault("softmax + temperature scaling", []).append(
                    (acc, expected_calibration_error(y[te], scaled), elapsed))
    print(f"{'model':<32} {'accuracy':>17} {'ECE':>17} {'fit/fold':>9}")
    for name, values in rows.items():
        acc, ece, fit = np.array(values).T
        print(f"{name:<32} {acc.mean():.4f} +- {acc.std():.4f} {ece.mean():.4f} +- "
              f"{ece.std():.4f} {fit.mean():8.1f}s")
    vmf = np.array(rows["vmf"]).mean(0)
    ts = np.array(rows["softmax + temperature scaling"]).mean(0)
    ok = vmf[1] <= ts[1] and abs(vmf[0] - ts[0]) <= 0.005
    print(f"vmf ECE {vmf[1]:.4f} vs softmax+TS {ts[1]:.4f}; accuracy gap "
          f"{100 * (vmf[0] - ts[0]):+.2f} pt: {'PASS' if ok else 'MISS'}")


if __name__ == "__main__":
    main()
