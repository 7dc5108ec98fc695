"""Out-of-distribution detection on digits: ``ood_score`` of the hyperspherical losses
beside a softmax network's maximum softmax probability (MSP) and energy.

load_digits (pixels / 16), mlp backbone (256 hidden units, Adam 1e-3, batch 128). Each
seed draws a stratified 70/30 split of the digits 0-4; every model trains on the 70 %.
In distribution: the 30 % test samples of 0-4; out of distribution: every sample of the
digits 5-9. Models: ``HypersphericalClassifier`` with the losses hpn, cosine, mce,
arcface, vmf and softmax (hsproto's learnable linear classifier), and the reference
"softmax net": a skorch cross-entropy net of the same shape (benchmarks/_common.py).
Scores (higher = more likely OOD, see ``HypersphericalClassifier.ood_score``):
max_cosine, energy, msp, norm, and kappa for vmf; the softmax net's msp and energy
(``-logsumexp`` of its logits).

Columns, mean +- std over the seeds:

- ``AUROC``: OOD (digits 5-9) vs in-distribution test samples, OOD positive;
- ``FPR95``: the fraction of OOD samples accepted when the threshold keeps 95 % of the
  in-distribution test samples (``hsproto.metrics.ood_metrics``); lower is better;
- ``err AUROC``: on the in-distribution test samples, how well the score separates the
  model's misclassified samples (positive) from the correct ones; seeds without a
  misclassified sample are left out (``errors`` counts them per seed).

Target: the best score of a hyperspherical loss (hsproto's softmax excluded) reaches
the softmax net's MSP AUROC.

    python benchmarks/ood.py            # 3 seeds, 100 epochs: about 3 minutes on 2 cores
    python benchmarks/ood.py --quick    # 1 seed, 30 epochs
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import torch
from scipy.special import logsumexp, softmax
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.datasets import load_digits_data
from hsproto.metrics import ood_metrics

try:
    from _common import skorch_classifier
except ImportError:                      # imported as benchmarks.ood
    from ._common import skorch_classifier

LOSSES = ("hpn", "cosine", "mce", "arcface", "vmf", "softmax")
METHODS = ("max_cosine", "energy", "msp", "norm")
REFERENCE = "softmax net (skorch)"


def hsproto_scores(loss, X_train, y_train, X_in, X_out, epochs, seed):
    """``{method: (in-distribution scores, OOD scores)}`` and the test predictions."""
    clf = HypersphericalClassifier(loss=loss, max_epochs=epochs, random_state=seed)
    clf.fit(X_train, y_train)
    methods = (*METHODS, "kappa") if loss == "vmf" else METHODS
    scores = {m: (clf.ood_score(X_in, m), clf.ood_score(X_out, m)) for m in methods}
    return scores, clf.predict(X_in)


def softmax_net_scores(X_train, y_train, X_in, X_out, epochs, seed):
    """The skorch cross-entropy net's msp and energy, and its test predictions."""
    torch.manual_seed(seed)
    net = skorch_classifier("mlp").set_params(max_epochs=epochs)
    net.fit(X_train, y_train)
    logits_in, logits_out = (net.forward(X).numpy().astype(np.float64)
                             for X in (X_in, X_out))
    scores = {"msp": (-softmax(logits_in, axis=1).max(1), -softmax(logits_out, axis=1).max(1)),
              "energy": (-logsumexp(logits_in, axis=1), -logsumexp(logits_out, axis=1))}
    return scores, logits_in.argmax(1)


def error_auroc(wrong, score):
    """AUROC of ``score`` for misclassified (positive) vs correct samples; NaN when all
    predictions are right (or all wrong)."""
    return roc_auc_score(wrong, score) if 0 < wrong.sum() < len(wrong) else np.nan


def mean_std(values, digits=3):
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return f"{'n/a':>{2 * digits + 8}}"
    return f"{values.mean():.{digits}f} +- {values.std():.{digits}f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 seed, 30 epochs")
    parser.add_argument("--seeds", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--epochs", type=int, default=None, help="default 100 (quick: 30)")
    args = parser.parse_args()
    n_seeds = args.seeds or (1 if args.quick else 3)
    epochs = args.epochs or (30 if args.quick else 100)
    torch.set_num_threads(2)
    hsproto.set_config(cache_dir=None)
    X, y = load_digits_data()
    known = y < 5
    X_known, y_known, X_out = X[known], y[known], X[~known]
    print(f"load_digits: train on digits 0-4 ({known.sum()} samples, stratified 70/30 per "
          f"seed), OOD = digits 5-9 ({len(X_out)} samples); mlp backbone, {epochs} epochs, "
          f"{n_seeds} seed(s), {torch.get_num_threads()} threads", flush=True)
    # untimed warm-up: the first epochs of a process pay one-off start-up costs
    HypersphericalClassifier(max_epochs=5, random_state=0).fit(X_known, y_known)
    rows = {}          # (model, method) -> list of (accuracy, auroc, fpr95, err auroc, n err)
    fit_times = {}
    start_all = time.perf_counter()
    for seed in range(n_seeds):
        tr, te = train_test_split(np.arange(len(y_known)), test_size=0.3,
                                  stratify=y_known, random_state=seed)
        data, y_in = (X_known[tr], y_known[tr], X_known[te], X_out, epochs, seed), y_known[te]
        models = [(f"hsproto {loss}", partial(hsproto_scores, loss)) for loss in LOSSES]
        models.append((REFERENCE, softmax_net_scores))
        for name, run in models:
            start = time.perf_counter()
            scores, pred = run(*data)
            fit_times.setdefault(name, []).append(time.perf_counter() - start)
            wrong = (pred != y_in).astype(int)
            for method, (s_in, s_out) in scores.items():
                m = ood_metrics(s_in, s_out, tpr=0.95)
                rows.setdefault((name, method), []).append(
                    (1 - wrong.mean(), m["auroc"], m["fpr"], error_auroc(wrong, s_in),
                     wrong.sum()))
        print(f"seed {seed} done ({time.perf_counter() - start_all:.0f}s)", flush=True)

    print()
    print(f"{'model':<22} {'score':<11} {'accuracy':>14} {'AUROC':>14} {'FPR95':>14} "
          f"{'err AUROC':>14}  {'errors':>6} {'fit+score':>9}")
    previous = None
    for (name, method), values in rows.items():
        acc, auroc, fpr, err_auroc, n_err = np.array(values, dtype=np.float64).T
        shown = name if name != previous else ""
        previous = name
        print(f"{shown:<22} {method:<11} {mean_std(acc)} {mean_std(auroc)} {mean_std(fpr)} "
              f"{mean_std(err_auroc)}  {','.join(str(int(n)) for n in n_err):>6} "
              f"{np.mean(fit_times[name]):8.1f}s")
    auroc = {key: np.mean([v[1] for v in values]) for key, values in rows.items()}
    ours = {k: v for k, v in auroc.items()
            if k[0].startswith("hsproto") and k[0] != "hsproto softmax"}
    best = max(ours, key=ours.get)
    reference = auroc[(REFERENCE, "msp")]
    verdict = "PASS" if ours[best] >= reference else "MISS"
    print(f"\nbest hyperspherical score: {best[0]} {best[1]} AUROC {ours[best]:.3f} vs "
          f"{REFERENCE} msp AUROC {reference:.3f} ({ours[best] - reference:+.3f}): {verdict}")
    print(f"total {time.perf_counter() - start_all:.0f}s")


if __name__ == "__main__":
    main()
