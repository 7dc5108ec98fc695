"""Calibration across the suite's problems: ECE and NLL of every loss before and after
``proba_scale="auto"``, beside a temperature-scaled softmax network.

For each classification problem of ``benchmarks/suite.py`` (``--problems`` to choose),
stratified 3-fold CV, repeated ``--repeats`` times on the suite's folds (repeat r
shuffles with ``random_state=r``); fold f of repeat r seeds its models and its 90 / 10
split with ``3 r + f`` (repeat 0 is the single run of earlier versions). In each fold:

- "before": hsproto with the loss's default probabilities (``proba_scale=10`` for hpn
  and mce, the loss's own scale or posterior otherwise), trained on the whole training
  fold;
- "auto": ``proba_scale="auto"``: hsproto holds out a stratified 10 % of the training
  fold, trains on the rest and fits the logit factor on the held-out part;
- the reference: a skorch cross-entropy net of the same shape (``_common.
  skorch_classifier``) trained on the same 90 % and temperature-scaled (minimum NLL) on
  the same 10 %, so that both calibrated models see the same data.

With ``--sklearn``, two more rows per problem: scikit-learn's
``CalibratedClassifierCV(method="temperature", cv=3, ensemble=False)`` around hsproto's
default classifier and around the reference net: the temperature is fitted on
out-of-fold scores of the whole training fold, then the model is refitted on all of it
(four fits instead of one, and no data held back).

``--auto-only`` skips the "before" rows, which the verdicts do not use. ``--json FILE``
writes every fold's figures; ``--from A.json B.json ...`` prints the tables and verdicts
of the folds pooled from such files without fitting anything (a problem's folds are
pooled over the files, so runs of different repeats add up).

ECE: top-label, 15 equal-mass bins (``hsproto.metrics.expected_calibration_error``); NLL:
mean negative log-likelihood (probabilities clipped at 1e-12), both on the test fold.
Target (issue 17): on every problem, the ECE after "auto" of the best-calibrated loss
among those within 0.5 pt of the reference's accuracy <= the reference's ECE (means over
all folds). A second verdict compares the default loss (``cosine``) alone, with the
paired per-fold ECE difference and its standard error.

    python benchmarks/calibration.py --quick            # 4 problems, 3 losses
    python benchmarks/calibration.py                    # every problem and loss
    python benchmarks/calibration.py --losses cosine --sklearn --problems imbalanced
    python benchmarks/calibration.py --first-repeat 1 --repeats 2 --auto-only --json r12.json
    python benchmarks/calibration.py --from r0.json r12.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from scipy.special import softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import train_test_split

from hsproto import HypersphericalClassifier
from hsproto.estimators.classifier import fit_logit_scale
from hsproto.metrics import expected_calibration_error

try:
    import suite
    from _common import skorch_classifier
except ImportError:                       # imported as benchmarks.calibration
    from . import suite
    from ._common import skorch_classifier

LOSSES = ("hpn", "mce", "cosine", "arcface", "vmf", "softmax")
REFERENCE = "softmax net + temperature scaling"
SKLEARN_ROWS = ("default + CalibratedClassifierCV", "softmax net + CalibratedClassifierCV")
DEFAULT_LOSS = HypersphericalClassifier().loss


def nll(y, proba):
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))


def _hsproto(image, loss, proba_scale, seed):
    model = HypersphericalClassifier("cnn" if image else "mlp", loss=loss,
                                     proba_scale=proba_scale, random_state=seed)
    return suite._scaled_net(model, image)


def _reference_net(image):
    """The skorch cross-entropy net of hsproto's shape that the reference rows use."""
    return suite._scaled_net(skorch_classifier("cnn" if image else "mlp"), image)


def run_problem(name, losses, sklearn_rows=False, repeats=1, first_repeat=0, before=True):
    """{model: [(accuracy, ece, nll, fit seconds) per fold]} for one problem."""
    X, y = suite.CLASSIFICATION[name]()
    y = np.unique(y, return_inverse=True)[1]
    image = name in suite.IMAGE_PROBLEMS
    rows = {}

    def record(model, proba, test, elapsed):
        acc = float(np.mean(proba.argmax(1) == y[test]))
        rows.setdefault(model, []).append(
            (acc, expected_calibration_error(y[test], proba), nll(y[test], proba), elapsed))

    tags = (("before", 10.0), ("auto", "auto")) if before else (("auto", "auto"),)
    for repeat, fold, train, test in suite._folds("classification", X, y, repeats,
                                                  first_repeat):
        seed = suite.N_FOLDS * repeat + fold
        for loss in losses:
            for tag, scale in tags:
                torch.manual_seed(seed)
                model = _hsproto(image, loss, scale, seed)
                start = time.perf_counter()
                model.fit(X[train], y[train])
                record(f"{loss} {tag}", model.predict_proba(X[test]), test,
                       time.perf_counter() - start)
        # the reference: the same 90 / 10 split as proba_scale="auto" makes
        fit_idx, cal_idx = train_test_split(train, test_size=0.1, stratify=y[train],
                                            random_state=seed)
        torch.manual_seed(seed)
        net = _reference_net(image)
        start = time.perf_counter()
        net.fit(X[fit_idx], y[fit_idx])
        t = fit_logit_scale(_logits(net, X[cal_idx]), y[cal_idx])
        record(REFERENCE, softmax(t * _logits(net, X[test]), axis=1), test,
               time.perf_counter() - start)
        if sklearn_rows:
            bases = (_hsproto(image, DEFAULT_LOSS, 10.0, seed), _reference_net(image))
            for row, base in zip(SKLEARN_ROWS, bases, strict=True):
                torch.manual_seed(seed)
                model = CalibratedClassifierCV(base, method="temperature", cv=3,
                                               ensemble=False)
                start = time.perf_counter()
                model.fit(X[train], y[train])
                record(row, model.predict_proba(X[test]), test,
                       time.perf_counter() - start)
    return rows


def _logits(model, X):
    """The skorch net's logits (its ``predict_proba`` is the softmax of them)."""
    proba = model.predict_proba(X)
    return np.log(np.clip(proba, 1e-30, None))


def report(results):
    """Print each problem's table and the verdicts for ``{problem: {model: folds}}``."""
    verdicts, default_verdicts, sk_verdicts = [], [], []
    for name, rows in results.items():
        n_folds = len(rows[REFERENCE])
        print(f"\n## {name}: {suite.PROBLEMS_DOC[name]} ({n_folds} folds)")
        print(f"{'model':<36} {'accuracy':>16} {'ECE':>16} {'NLL':>16} {'fit s':>7}")
        for model, values in rows.items():
            v = np.array(values)
            mean, std = v.mean(0), v.std(0)
            print(f"{model:<36} {mean[0]:.4f} ± {std[0]:.4f} {mean[1]:.4f} ± {std[1]:.4f} "
                  f"{mean[2]:.4f} ± {std[2]:.4f} {mean[3]:7.2f}")
        if all(r in rows for r in SKLEARN_ROWS):
            ours, theirs = (np.array(rows[r]).mean(0) for r in SKLEARN_ROWS)
            sk_verdicts.append((name, f"{'PASS' if ours[1] <= theirs[1] else 'MISS'}: "
                                      f"ECE {ours[1]:.4f} (accuracy {ours[0]:.4f}) vs "
                                      f"{theirs[1]:.4f} ({theirs[0]:.4f})"))
        ref = np.array(rows[REFERENCE]).mean(0)
        default = f"{DEFAULT_LOSS} auto"
        if default in rows:
            diff = np.array(rows[default])[:, 1] - np.array(rows[REFERENCE])[:, 1]
            se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
            mean = np.array(rows[default]).mean(0)
            default_verdicts.append((name, f"{'PASS' if diff.mean() <= 0 else 'MISS'}: ECE "
                                           f"{mean[1]:.4f} vs {ref[1]:.4f}, paired "
                                           f"difference {diff.mean():+.4f} ± {se:.4f} (s.e.); "
                                           f"accuracy {mean[0]:.4f} vs {ref[0]:.4f}"))
        tied = {m: np.array(v).mean(0) for m, v in rows.items()
                if m.endswith(" auto") and np.array(v).mean(0)[0] >= ref[0] - 0.005}
        if not tied:
            verdicts.append((name, "MISS (no loss within 0.5 pt of the reference)"))
            continue
        best = min(tied, key=lambda m: tied[m][1])
        ok = tied[best][1] <= ref[1]
        verdicts.append((name, f"{'PASS' if ok else 'MISS'}: {best} ECE "
                               f"{tied[best][1]:.4f} vs reference {ref[1]:.4f}"))
    print("\n## ECE after 'auto' (best loss within 0.5 pt of the reference's accuracy)")
    for name, verdict in verdicts:
        print(f"  {name:<18} {verdict}")
    print(f"  {sum(v.startswith('PASS') for _, v in verdicts)} of {len(verdicts)} pass")
    if default_verdicts:
        print(f"\n## ECE after 'auto' of the default loss ({DEFAULT_LOSS}) alone, any accuracy")
        for name, verdict in default_verdicts:
            print(f"  {name:<18} {verdict}")
        print(f"  {sum(v.startswith('PASS') for _, v in default_verdicts)} of "
              f"{len(default_verdicts)} pass")
    if sk_verdicts:
        print("\n## CalibratedClassifierCV(method='temperature', ensemble=False): hsproto's "
              "default vs the softmax net")
        for name, verdict in sk_verdicts:
            print(f"  {name:<18} {verdict}")


def load(paths):
    """Pool ``--json`` files: each problem's folds, model by model, in file order."""
    results = {}
    for path in paths:
        with open(path) as f:
            for name, rows in json.load(f).items():
                for model, folds in rows.items():
                    results.setdefault(name, {}).setdefault(model, []).extend(
                        tuple(fold) for fold in folds)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="4 problems and the losses hpn, cosine and softmax")
    parser.add_argument("--problems", nargs="*", default=None)
    parser.add_argument("--losses", nargs="*", default=None)
    parser.add_argument("--sklearn", action="store_true",
                        help="add CalibratedClassifierCV(method='temperature') rows")
    parser.add_argument("--repeats", type=int, default=1,
                        help="CV repeats (repeat r shuffles with random_state=r)")
    parser.add_argument("--first-repeat", type=int, default=0)
    parser.add_argument("--auto-only", action="store_true",
                        help="skip the 'before' rows (the verdicts do not use them)")
    parser.add_argument("--json", default=None, help="write every fold's figures here")
    parser.add_argument("--from", dest="sources", nargs="+", default=None,
                        help="pool --json files and report them; fits nothing")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.first_repeat < 0:
        parser.error("--repeats must be >= 1 and --first-repeat >= 0")
    unknown = sorted(set(args.problems or ()) - set(suite.CLASSIFICATION))
    if unknown:
        parser.error(f"unknown problems {unknown}; choose from {list(suite.CLASSIFICATION)}")
    if args.sources:
        try:
            results = load(args.sources)
        except (OSError, ValueError, AttributeError) as error:
            parser.error(f"--from: cannot read {error}")
        print(f"pooled from {', '.join(args.sources)}")
        report(results)
        return results
    os.environ.setdefault("HSPROTO_CACHE_DIR", "")
    torch.set_num_threads(2)
    quick = ("iris", "breast_cancer", "digits", "imbalanced")
    problems = args.problems or (quick if args.quick else list(suite.CLASSIFICATION))
    losses = args.losses or (("hpn", "cosine", "softmax") if args.quick else LOSSES)
    last = args.first_repeat + args.repeats - 1
    print(f"{args.repeats} x stratified 3-fold CV (repeats {args.first_repeat} to {last}), "
          f"{torch.get_num_threads()} threads; ECE: 15 equal-mass bins; 'auto' and the "
          f"reference train on 90 % and calibrate on 10 %")
    results = {}
    for name in problems:
        results[name] = run_problem(name, losses, sklearn_rows=args.sklearn,
                                    repeats=args.repeats, first_repeat=args.first_repeat,
                                    before=not args.auto_only)
        if args.json:                     # after each problem, so a long run can be cut
            with open(args.json, "w") as f:
                json.dump(results, f)
    report(results)
    return results


if __name__ == "__main__":
    main()
