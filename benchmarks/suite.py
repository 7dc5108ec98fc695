"""Cross-dataset suite: hsproto beside scikit-learn and skorch peers on many problems.

12 classification problems (scikit-learn's bundled sets, synthetic ones with many
classes, imbalance, label noise, non-linear boundaries, and digits as upsampled 16 x 16
images) and 3 regression problems, each at most 2 000 samples. Every model sees the same
folds: repeated stratified 3-fold CV (``--repeats``, default 2, a different shuffle per
repeat); models that take a seed get the repeat's. Tabular inputs are standardised inside
each model's pipeline; image inputs are pixels in [0, 1] for the networks and flattened
and standardised for the other peers.

Peers: SVC and SVR (RBF, defaults), LogisticRegression / Ridge, MLPClassifier /
MLPRegressor (defaults, max_iter=500), HistGradientBoosting, and a skorch net of the same
shape as hsproto's (the same "mlp" or "cnn" backbone and a linear output, Adam 1e-3,
100 epochs, batch 128: cross-entropy, or MSE on standardised targets). The network peers
for regression standardise y.

For each problem the table gives the mean score (accuracy, or R^2) over the folds, then
every model's **mean rank** over the problems (1 = best; ties share the mean rank). The
ranking holds hsproto's default and the peers; ``--candidates`` adds other hsproto
configurations, each ranked against the peers alone (a candidate default's rank).
``--long-tail`` reports balanced accuracy on the imbalanced problems for the class-
weighted peers and hsproto's long-tail options.

    python benchmarks/suite.py --quick          # 1 repeat, about 5 minutes on 2 cores
    python benchmarks/suite.py                  # 2 repeats
    python benchmarks/suite.py --candidates --out suite.json
    python benchmarks/suite.py --from a.json b.json     # print merged result files

Jobs run in ``--jobs`` processes (default 2) with one torch thread each.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict

import numpy as np
from scipy.stats import rankdata

PROBLEMS_DOC = {}          # name -> one line, filled by the problem decorators
CLASSIFICATION, REGRESSION = {}, {}


def problem(table, doc):
    def register(fn):
        table[fn.__name__] = fn
        PROBLEMS_DOC[fn.__name__] = doc
        return fn
    return register


# ------------------------------------------------------------------ problems
@problem(CLASSIFICATION, "load_iris: 150 x 4, 3 classes")
def iris():
    from sklearn.datasets import load_iris
    return load_iris(return_X_y=True)


@problem(CLASSIFICATION, "load_wine: 178 x 13, 3 classes")
def wine():
    from sklearn.datasets import load_wine
    return load_wine(return_X_y=True)


@problem(CLASSIFICATION, "load_breast_cancer: 569 x 30, 2 classes")
def breast_cancer():
    from sklearn.datasets import load_breast_cancer
    return load_breast_cancer(return_X_y=True)


@problem(CLASSIFICATION, "load_digits: 1797 x 64, 10 classes")
def digits():
    from sklearn.datasets import load_digits
    return load_digits(return_X_y=True)


@problem(CLASSIFICATION, "load_digits as 1 x 12 x 12 images (bilinear upsampling), "
                         "10 classes; the networks use the 'cnn' backbone with channels "
                         "(16, 32)")
def digits_images():
    import torch
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    images = torch.as_tensor(X / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)
    up = torch.nn.functional.interpolate(images, size=(12, 12), mode="bilinear",
                                         align_corners=False)
    return up.numpy(), y


#: the image problem's backbone parameters (the same for hsproto and the skorch peer):
#: the default cnn on 16 x 16 images costs about 4 minutes per fit on one thread
CNN_PARAMS = {"channels": (16, 32)}


@problem(CLASSIFICATION, "make_classification: 1500 x 30, 20 classes, 15 informative")
def many_classes():
    from sklearn.datasets import make_classification
    return make_classification(1500, 30, n_informative=15, n_redundant=5, n_classes=20,
                               n_clusters_per_class=1, class_sep=1.5, random_state=1)


@problem(CLASSIFICATION, "make_classification: 1500 x 20, 5 classes, frequencies "
                         "1 : 1/2 : 1/4 : 1/8 : 1/16")
def imbalanced():
    from sklearn.datasets import make_classification
    weights = 0.5 ** np.arange(5)
    return make_classification(1500, 20, n_informative=8, n_classes=5,
                               weights=list(weights / weights.sum()),
                               n_clusters_per_class=2, random_state=2)


@problem(CLASSIFICATION, "make_classification: 2000 x 20, 2 classes 90 : 10")
def imbalanced_binary():
    from sklearn.datasets import make_classification
    return make_classification(2000, 20, n_informative=6, weights=[0.9, 0.1],
                               class_sep=0.8, random_state=3)


@problem(CLASSIFICATION, "make_classification: 1500 x 20, 4 classes, 25 % of labels "
                         "flipped")
def label_noise():
    from sklearn.datasets import make_classification
    return make_classification(1500, 20, n_informative=10, n_classes=4, flip_y=0.25,
                               random_state=4)


@problem(CLASSIFICATION, "make_blobs: 1200 x 8, 12 overlapping blobs (std 3)")
def blobs():
    from sklearn.datasets import make_blobs
    return make_blobs(1200, 8, centers=12, cluster_std=3.0, random_state=5)


@problem(CLASSIFICATION, "make_gaussian_quantiles: 1200 x 6, 4 nested shells")
def quantiles():
    from sklearn.datasets import make_gaussian_quantiles
    return make_gaussian_quantiles(n_samples=1200, n_features=6, n_classes=4,
                                   random_state=6)


@problem(CLASSIFICATION, "make_moons: 1000 x 2, noise 0.3")
def moons():
    from sklearn.datasets import make_moons
    return make_moons(1000, noise=0.3, random_state=7)


@problem(REGRESSION, "load_diabetes: 442 x 10")
def diabetes():
    from sklearn.datasets import load_diabetes
    return load_diabetes(return_X_y=True)


@problem(REGRESSION, "make_friedman1: 1000 x 10, noise 1")
def friedman1():
    from sklearn.datasets import make_friedman1
    return make_friedman1(1000, 10, noise=1.0, random_state=8)


@problem(REGRESSION, "make_regression: 1000 x 20, 10 informative, noise 20")
def linear():
    from sklearn.datasets import make_regression
    return make_regression(1000, 20, n_informative=10, noise=20.0, random_state=9)


IMAGE_PROBLEMS = {"digits_images"}
IMBALANCED = ("imbalanced", "imbalanced_binary")


# ------------------------------------------------------------------ models
def _flatten(X):
    return np.asarray(X, dtype=np.float64).reshape(len(X), -1)


def _tabular(model, image):
    """``model`` behind a StandardScaler (and a flattening step for images)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    steps = [FunctionTransformer(_flatten)] if image else []
    return make_pipeline(*steps, StandardScaler(), model)


def _scaled_net(model, image):
    """A network: standardised tabular X (no scaling for images)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    return model if image else make_pipeline(StandardScaler(), model)


def hsproto_classifier(**params):
    def make(image, seed, n_classes):
        from hsproto import HypersphericalClassifier
        extra = {"module": "cnn", "module_params": CNN_PARAMS} if image else {}
        return _scaled_net(HypersphericalClassifier(random_state=seed, **extra, **params),
                           image)
    return make


def hsproto_regressor(**params):
    def make(image, seed, n_classes):
        from hsproto import HypersphericalRegressor
        return _scaled_net(HypersphericalRegressor(random_state=seed, **params), image)
    return make


def skorch_net(kind, class_weight=False):
    def make(image, seed, n_classes):
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler
        try:
            from _common import skorch_classifier, skorch_regressor
        except ImportError:                  # imported as benchmarks.suite
            from ._common import skorch_classifier, skorch_regressor
        backbone = "cnn" if image else "mlp"
        if kind == "classifier":
            return _scaled_net(skorch_classifier(backbone, n_classes, class_weight,
                                                 CNN_PARAMS if image else None), image)
        net = TransformedTargetRegressor(skorch_regressor(backbone),
                                         transformer=StandardScaler())
        return _scaled_net(net, image)
    return make


def sklearn_model(name, **params):
    def make(image, seed, n_classes):
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.neural_network import MLPClassifier, MLPRegressor
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC, SVR
        classes = {"SVC": SVC, "SVR": SVR, "LogisticRegression": LogisticRegression,
                   "Ridge": Ridge, "MLPClassifier": MLPClassifier,
                   "MLPRegressor": MLPRegressor,
                   "HistGradientBoostingClassifier": HistGradientBoostingClassifier,
                   "HistGradientBoostingRegressor": HistGradientBoostingRegressor}
        cls = classes[name]
        kwargs = dict(params)
        if "random_state" in cls().get_params():
            kwargs["random_state"] = seed
        model = cls(**kwargs)
        if name in ("SVR", "MLPRegressor"):
            model = TransformedTargetRegressor(model, transformer=StandardScaler())
        return _tabular(model, image)
    return make


DEFAULT = "hsproto (default)"
CLASSIFIERS = {
    DEFAULT: hsproto_classifier(),
    "SVC": sklearn_model("SVC"),
    "LogisticRegression": sklearn_model("LogisticRegression", max_iter=2000),
    "MLPClassifier": sklearn_model("MLPClassifier", max_iter=500),
    "HistGradientBoosting": sklearn_model("HistGradientBoostingClassifier"),
    "skorch CE net": skorch_net("classifier"),
}
REGRESSORS = {
    DEFAULT: hsproto_regressor(),
    "SVR": sklearn_model("SVR"),
    "Ridge": sklearn_model("Ridge"),
    "MLPRegressor": sklearn_model("MLPRegressor", max_iter=500),
    "HistGradientBoosting": sklearn_model("HistGradientBoostingRegressor"),
    "skorch MSE net": skorch_net("regressor"),
}
# Other hsproto configurations (--candidates): each is ranked against the peers alone.
# Those without a dropout take the mlp backbone's default (0.4 since the fourth round of
# docs/defaults.md; the earlier rounds ran them at 0.0 and 0.2).
CANDIDATES = {
    "hsproto dropout=0.2 (the default before the fourth round)": hsproto_classifier(
        module_params={"dropout": 0.2}),
    "hsproto dropout=0.5": hsproto_classifier(module_params={"dropout": 0.5}),
    "hsproto loss=hpn (mlp dropout 0.2)": hsproto_classifier(
        loss="hpn", module_params={"dropout": 0.2}),
    "hsproto loss=cosine": hsproto_classifier(loss="cosine"),
    "hsproto loss=mce": hsproto_classifier(loss="mce"),
    "hsproto loss=arcface margin=0.5": hsproto_classifier(
        loss="arcface", loss_params={"margin": 0.5}),
    "hsproto loss=arcface margin=polytope": hsproto_classifier(
        loss="arcface", loss_params={"margin": "polytope"}),
    "hsproto loss=softmax": hsproto_classifier(loss="softmax"),
    "hsproto loss=cosine lr=3e-3": hsproto_classifier(loss="cosine", lr=3e-3),
    "hsproto loss=cosine 200 epochs": hsproto_classifier(loss="cosine", max_epochs=200),
    "hsproto loss=cosine n_dims=32": hsproto_classifier(loss="cosine", n_dims=32),
    "hsproto loss=hpn early_stopping": hsproto_classifier(loss="hpn", early_stopping=True),
    "hsproto loss=cosine early_stopping": hsproto_classifier(loss="cosine",
                                                             early_stopping=True),
    "hsproto loss=mce early_stopping": hsproto_classifier(loss="mce", early_stopping=True),
    "hsproto loss=cosine dropout=0.2": hsproto_classifier(
        loss="cosine", module_params={"dropout": 0.2}),
    "hsproto loss=cosine adamw wd=0.05": hsproto_classifier(
        loss="cosine", optimizer="adamw", weight_decay=0.05),
}
REG_CANDIDATES = {
    "hsproto reg loss=mse": hsproto_regressor(loss="mse"),
    "hsproto reg lr=3e-3": hsproto_regressor(lr=3e-3),
    "hsproto reg 200 epochs": hsproto_regressor(max_epochs=200),
    "hsproto reg adamw wd=1e-2": hsproto_regressor(optimizer="adamw", weight_decay=1e-2),
    # the default before the fourth round (dropout 0.4 since)
    "hsproto reg dropout=0.2": hsproto_regressor(module_params={"dropout": 0.2}),
    "hsproto reg n_dims=2 (the default before the third round)": hsproto_regressor(
        n_dims=2),
    "hsproto reg n_dims=8": hsproto_regressor(n_dims=8),
    "hsproto reg n_dims=8 batch_size=32": hsproto_regressor(n_dims=8, batch_size=32),
    # the rest of the third round, as run: with the old n_dims=2
    "hsproto reg n_dims=2 batch_size=32": hsproto_regressor(n_dims=2, batch_size=32),
    "hsproto reg n_dims=2 200 epochs cosine lr": hsproto_regressor(
        n_dims=2, max_epochs=200, lr_schedule="cosine"),
    "hsproto reg n_dims=2 lr=3e-3 cosine lr": hsproto_regressor(
        n_dims=2, lr=3e-3, lr_schedule="cosine"),
    "hsproto reg n_dims=2 early_stopping 300 epochs": hsproto_regressor(
        n_dims=2, early_stopping=True, max_epochs=300),
}
LONG_TAIL = {
    "LogisticRegression balanced": sklearn_model("LogisticRegression", max_iter=2000,
                                                 class_weight="balanced"),
    "SVC balanced": sklearn_model("SVC", class_weight="balanced"),
    "skorch CE net + class weights": skorch_net("classifier", class_weight=True),
    "hsproto balanced": hsproto_classifier(class_weight="balanced"),
    "hsproto balanced + mixup": hsproto_classifier(class_weight="balanced",
                                                   mixing="mixup"),
    "hsproto logit_adjustment=1": hsproto_classifier(logit_adjustment=1.0),
    "hsproto logit_adjustment=1 + mixup": hsproto_classifier(logit_adjustment=1.0,
                                                             mixing="mixup"),
    "hsproto logit_adjustment=2": hsproto_classifier(logit_adjustment=2.0),
    "hsproto mce logit_adjustment=1": hsproto_classifier(loss="mce", logit_adjustment=1.0),
    "hsproto arcface logit_adjustment=1": hsproto_classifier(
        loss="arcface", loss_params={"margin": 0.5}, logit_adjustment=1.0),
}


# ------------------------------------------------------------------ running
def _fold_job(key, kind, problem_name, make, repeat, fold, train, test):
    """Fit one model on one fold; (score, balanced accuracy or None, fit seconds)."""
    import warnings

    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, balanced_accuracy_score, r2_score
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", ConvergenceWarning)    # MLP peers at max_iter
    X, y = (CLASSIFICATION if kind == "classification" else REGRESSION)[problem_name]()
    if kind == "classification":
        y = np.unique(y, return_inverse=True)[1]
    torch.manual_seed(1000 * repeat + fold)
    model = make(problem_name in IMAGE_PROBLEMS, repeat,
                 len(np.unique(y)) if kind == "classification" else None)
    start = time.perf_counter()
    model.fit(X[train], y[train])
    elapsed = time.perf_counter() - start
    pred = model.predict(X[test])
    if kind == "classification":
        return key, (accuracy_score(y[test], pred), balanced_accuracy_score(y[test], pred),
                     elapsed)
    return key, (r2_score(y[test], pred), None, elapsed)


#: Folds of each cross-validation repeat.
N_FOLDS = 3


def _folds(kind, X, y, repeats, first_repeat=0):
    from sklearn.model_selection import KFold, StratifiedKFold
    for repeat in range(first_repeat, first_repeat + repeats):
        cv = (StratifiedKFold if kind == "classification" else KFold)(
            N_FOLDS, shuffle=True, random_state=repeat)
        for fold, (train, test) in enumerate(cv.split(X, y)):
            yield repeat, fold, train, test


def run(sections, repeats, jobs, problems=None, out=None, first_repeat=0):
    """Cross-validate every (section, problem, model); results as nested dicts of per-fold
    lists: ``results[section][problem][model] = {"score": [...], "balanced": [...],
    "time": [...]}``. With ``out``, the results so far are rewritten to that JSON file
    after every fit (a long run can be read before it ends). Repeat r splits with
    ``random_state=r`` and seeds the models with r, for r from ``first_repeat``."""
    from joblib import Parallel, delayed
    tasks = []
    for section, kind, table, models in sections:
        for name, load in table.items():
            if problems and name not in problems:
                continue
            X, y = load()
            for model_name, make in models.items():
                for repeat, fold, train, test in _folds(kind, X, y, repeats,
                                                        first_repeat):
                    key = (section, name, model_name)
                    tasks.append(delayed(_fold_job)(key, kind, name, make, repeat, fold,
                                                    train, test))
    print(f"{len(tasks)} fits in {jobs} processes", flush=True)
    start = time.perf_counter()
    results = {}
    done = Parallel(n_jobs=jobs, return_as="generator_unordered")(tasks)
    for i, ((section, name, model_name), (score, balanced, elapsed)) in enumerate(done):
        cell = results.setdefault(section, {}).setdefault(name, {}).setdefault(
            model_name, {"score": [], "balanced": [], "time": []})
        cell["score"].append(float(score))
        cell["balanced"].append(None if balanced is None else float(balanced))
        cell["time"].append(float(elapsed))
        if out:
            with open(out, "w") as f:
                json.dump(results, f)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(tasks)} fits, {time.perf_counter() - start:.0f} s",
                  flush=True)
    print(f"done in {time.perf_counter() - start:.0f} s", flush=True)
    return results


def mean_ranks(table, models):
    """Mean rank of each of ``models`` over the problems of ``table`` (problem ->
    model -> cell), 1 = best, ties averaged; problems missing a model are skipped."""
    ranks = defaultdict(list)
    for cells in table.values():
        if not all(m in cells for m in models):
            continue
        means = np.array([np.mean(cells[m]["score"]) for m in models])
        for m, r in zip(models, rankdata(-np.round(means, 4)), strict=True):
            ranks[m].append(r)
    return {m: float(np.mean(r)) for m, r in ranks.items()}


def print_section(title, table, metric="score", ranked=None, candidates=()):
    models = list(dict.fromkeys(m for cells in table.values() for m in cells))
    width = max(len(m) for m in models) + 2
    names = list(table)
    print(f"\n## {title}\n")
    print(f"{'model':<{width}}" + "".join(f"{n[:13]:>15}" for n in names)
          + f"{'fit s':>8}")
    for m in models:
        line = f"{m:<{width}}"
        times = []
        for n in names:
            cell = table[n].get(m)
            if cell is None:
                line += f"{'':>15}"
                continue
            values = np.array(cell[metric], dtype=float)
            line += f"{values.mean():>8.4f}±{values.std():.3f}"
            times += cell["time"]
        print(line + f"{np.mean(times):>8.2f}")
    if ranked and all(any(m in cells for cells in table.values()) for m in ranked):
        ranks = mean_ranks(table, ranked)
        peers = [m for m in ranked if m != DEFAULT]
        print(f"\nmean rank over {len(names)} problems (hsproto default and peers):")
        for m in sorted(ranks, key=ranks.get):
            print(f"  {m:<{width}} {ranks[m]:.2f}")
        best = min(peers, key=ranks.get)
        verdict = "PASS" if ranks[DEFAULT] <= ranks[best] else "MISS"
        print(f"default {ranks[DEFAULT]:.2f} vs best peer {best} {ranks[best]:.2f}: "
              f"{verdict}")
        if candidates:
            print("\ncandidate defaults, each ranked against the peers alone:")
            for c in candidates:
                r = mean_ranks(table, [c, *peers])
                best = min(peers, key=r.get)
                mean = np.mean([np.mean(table[n][c]["score"]) for n in names
                                if c in table[n]])
                print(f"  {c:<{width}} rank {r[c]:.2f} (best peer {best} {r[best]:.2f}), "
                      f"mean score {mean:.4f}")


def report(results):
    cls = results.get("classification", {})
    if cls:
        peers = list(CLASSIFIERS)
        candidates = [m for m in CANDIDATES if any(m in c for c in cls.values())]
        print_section("Classification: accuracy (mean ± std over folds)", cls,
                      ranked=peers, candidates=candidates)
    reg = results.get("regression", {})
    if reg:
        candidates = [m for m in REG_CANDIDATES if any(m in c for c in reg.values())]
        print_section("Regression: R^2 (mean ± std over folds)", reg,
                      ranked=list(REGRESSORS), candidates=candidates)
    tail = results.get("long_tail", {})
    if tail:
        print_section("Long tail: balanced accuracy (mean ± std over folds)", tail,
                      metric="balanced")


def merge(into, other, pool=False):
    """Merge result files; with ``pool``, a model's per-fold lists from several files
    (runs on different ``--first-repeat`` seeds) are concatenated instead of replaced."""
    for section, problems in other.items():
        for name, cells in problems.items():
            table = into.setdefault(section, {}).setdefault(name, {})
            for model, cell in cells.items():
                if pool and model in table:
                    table[model] = {key: table[model][key] + cell[key] for key in cell}
                else:
                    table[model] = cell
    return into


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--first-repeat", type=int, default=0,
                        help="seed of the first repeat (a confirmation run on unseen "
                             "splits and seeds: e.g. 2 after selecting on 0 and 1)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--candidates", action="store_true",
                        help="also run the candidate hsproto configurations")
    parser.add_argument("--long-tail", action="store_true",
                        help="balanced accuracy on the imbalanced problems")
    parser.add_argument("--only", nargs="*", default=None,
                        help="sections to run: classification regression long_tail")
    parser.add_argument("--problems", nargs="*", default=None)
    parser.add_argument("--models", nargs="*", default=None,
                        help="only the models whose names contain one of these")
    parser.add_argument("--out", help="write the per-fold results to this JSON file")
    parser.add_argument("--from", dest="inputs", nargs="*",
                        help="print merged result files instead of running")
    parser.add_argument("--pool", action="store_true",
                        help="with --from: pool the folds of a model found in several "
                             "files (runs on different seeds)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HSPROTO_CACHE_DIR", "")
    if args.inputs:
        results = {}
        for path in args.inputs:
            with open(path) as f:
                merge(results, json.load(f), pool=args.pool)
        report(results)
        return results
    repeats = 1 if args.quick else args.repeats
    classifiers = dict(CLASSIFIERS)
    regressors = dict(REGRESSORS)
    if args.candidates:
        classifiers.update(CANDIDATES)
        regressors.update(REG_CANDIDATES)
    sections = [("classification", "classification", CLASSIFICATION, classifiers),
                ("regression", "regression", REGRESSION, regressors)]
    if args.long_tail:
        sections.append(("long_tail", "classification",
                         {n: CLASSIFICATION[n] for n in IMBALANCED}, LONG_TAIL))
    if args.only:
        sections = [s for s in sections if s[0] in args.only]
    if args.models:
        sections = [(s, k, t, {m: f for m, f in models.items()
                               if any(p in m for p in args.models)})
                    for s, k, t, models in sections]
    print(f"suite: {repeats} x stratified 3-fold CV (seeds {args.first_repeat} to "
          f"{args.first_repeat + repeats - 1}), {args.jobs} processes x 1 torch thread")
    for name, doc in PROBLEMS_DOC.items():
        print(f"  {name:<18} {doc}")
    results = run(sections, repeats, args.jobs, args.problems, args.out,
                  args.first_repeat)
    report(results)
    return results


if __name__ == "__main__":
    main()
