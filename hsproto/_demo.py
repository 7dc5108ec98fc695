"""``python -m hsproto demo``: prototypes, then the three estimators on bundled data."""

from __future__ import annotations

import math
import sys
import time

import numpy as np

DEMO_SIZES = [(10, 2), (12, 3), (14, 3), (24, 3), (10, 9), (100, 100), (100, 50),
              (100, 25), (100, 10), (200, 64), (1000, 128)]


def separation_table(sizes, strategy="auto", random_state=0, out=sys.stdout):
    """Print max pairwise cosine of ``strategy`` next to the known limit for each size."""
    from .prototypes import get_strategy, make_prototypes
    from .prototypes.metrics import known_limit, pairwise_cosine_stats

    header = (f"{'K x D':>11} {'method':>10} {'max cos':>9} {'angle':>8} "
              f"{'limit':>9} {'kind':>11} {'gap':>9} {'time':>7}")
    print(header, file=out)
    print("-" * len(header), file=out)
    rows = []
    for k, d in sizes:
        start = time.perf_counter()
        P = make_prototypes(strategy, k, d, random_state=random_state)
        elapsed = time.perf_counter() - start
        mx = pairwise_cosine_stats(P)["max"]
        limit, kind = known_limit(k, d)
        method = get_strategy(strategy).resolve(k, d).name
        print(f"{f'{k} x {d}':>11} {method:>10} {mx:9.4f} {math.degrees(math.acos(mx)):7.3f}° "
              f"{limit:9.4f} {kind:>11} {mx - limit:9.2e} {elapsed:6.2f}s", file=out)
        rows.append({"K": k, "D": d, "max": mx, "limit": limit, "kind": kind,
                     "time": elapsed})
    return rows


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def classifier_demo(random_state=0):
    from sklearn.model_selection import train_test_split

    from .datasets import load_digits_data
    from .estimators import HypersphericalClassifier

    X, y = load_digits_data()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y,
                                          random_state=random_state)
    clf, t = _timed(lambda: HypersphericalClassifier(random_state=random_state).fit(Xtr, ytr))
    print(f"digits     HypersphericalClassifier (mlp, D={clf.n_dims_}, {clf.max_epochs} "
          f"epochs)  test accuracy {clf.score(Xte, yte):.4f}   fit {t:.1f}s")


def regressor_demo(random_state=0):
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from .datasets import load_diabetes_data
    from .estimators import HypersphericalRegressor

    X, y = load_diabetes_data()
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=random_state)
    est = make_pipeline(StandardScaler(), HypersphericalRegressor(
        early_stopping=True, random_state=random_state))
    reg, t = _timed(lambda: est.fit(Xtr, ytr))
    ridge = make_pipeline(StandardScaler(), RidgeCV()).fit(Xtr, ytr).score(Xte, yte)
    print(f"diabetes   HypersphericalRegressor (mlp, early stopping)      test R^2 "
          f"{reg.score(Xte, yte):.4f}   fit {t:.1f}s   (RidgeCV: {ridge:.4f})")


def joint_demo(picture, random_state=0):
    from sklearn.model_selection import train_test_split

    from .datasets import load_rotated_digits
    from .estimators import JointEstimator

    X, y = load_rotated_digits(n_copies=2, random_state=random_state)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y[:, 0],
                                          random_state=random_state)
    est = JointEstimator("cnn", n_dims=3, max_epochs=40, random_state=random_state)
    est, t = _timed(lambda: est.fit(Xtr, ytr))
    classes, angles = est.predict_classes(Xte), est.predict_values(Xte)[:, 0]
    acc = np.mean(classes == yte[:, 0])
    mae = np.mean(np.abs(angles - yte[:, 1]))
    print(f"rotated    JointEstimator (cnn, S^2: classes on the equator, angle on the "
          f"axis)\n           digits {{2,3,4,5,7}}: test accuracy {acc:.4f}, angle MAE "
          f"{mae:.1f} deg   fit {t:.1f}s")
    if picture:
        save_sphere_picture(est, Xte, yte, picture)
        print(f"           embeddings on S^2 saved to {picture}")


def save_sphere_picture(est, X, y, path):
    """The HPN Fig. 5 view with :mod:`hsproto.plotting`: test embeddings on S^2 by digit
    (a discrete legend) and by rotation angle (a colour bar), the pole axis vertical;
    and the training curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plotting import SphereDisplay, TrainingCurvesDisplay

    fig = plt.figure(figsize=(16, 5))
    by_digit = fig.add_subplot(1, 3, 1, projection="3d")
    by_angle = fig.add_subplot(1, 3, 2, projection="3d")
    SphereDisplay.from_estimator(est, X, y[:, 0].astype(int), target_type="discrete",
                                 ax=by_digit, name="by digit")
    SphereDisplay.from_estimator(est, X, y[:, 1], target_type="continuous",
                                 y_label="angle (deg)", ax=by_angle, name="by angle")
    TrainingCurvesDisplay.from_estimator(est, ax=fig.add_subplot(1, 3, 3))
    fig.suptitle("JointEstimator on rotated digits: embeddings on S^2, training loss")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(picture="hsproto_demo_joint.png"):
    print("== 1. prototypes: 'auto' placement, max pairwise cosine (lower is better) ==")
    separation_table(DEMO_SIZES)
    print("\n== 2. estimators on bundled data (75/25 split, random_state=0) ==")
    classifier_demo()
    regressor_demo()
    joint_demo(picture)
