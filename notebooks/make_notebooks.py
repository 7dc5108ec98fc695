"""Build the example notebooks of this folder from the cell sources below.

    python notebooks/make_notebooks.py             # write the .ipynb files, no outputs
    python notebooks/make_notebooks.py --execute   # write them, run them, store outputs
    python notebooks/make_notebooks.py --execute 03_joint   # only the names given

The documentation site renders the stored outputs, so commit the executed notebooks.
Running needs nbformat, and with --execute nbclient and ipykernel (the kernel is the
interpreter that runs this script). tests/test_notebooks.py runs every notebook.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''
import numpy as np
import torch

import hsproto

torch.set_num_threads(min(2, torch.get_num_threads()))  # small models: 2 threads are plenty
hsproto.set_config(cache_dir=None)       # no on-disk prototype cache for these examples
RANDOM_STATE = 0
'''


def md(text):
    return ("markdown", text)


def code(text):
    return ("code", text)


# --------------------------------------------------------------------------- 01
QUICKSTART = [
    md('''
# Quickstart: a hyperspherical classifier in scikit-learn

A hyperspherical prototype network places one *prototype* per class on the unit
hypersphere before training, as far apart from each other as possible. The network then
learns to map each input close to the prototype of its class, measured by the cosine
similarity. A new input gets the class of the nearest prototype.

hsproto wraps such networks as scikit-learn estimators. This notebook shows that
`HypersphericalClassifier` works like any other scikit-learn classifier: in a
`Pipeline`, with `cross_val_score` and with `GridSearchCV`.
'''),
    md('''
## Setup

We import hsproto, limit torch to two threads (the models here are small) and turn off
the on-disk cache of prototype placements. `RANDOM_STATE` seeds every fit, so the
results are reproducible.
'''),
    code(SETUP),
    md('''
## The data

The wine data set ships with scikit-learn: 178 wines, 13 chemical measurements each,
3 grape varieties. We keep a quarter of the wines aside as a test set.
'''),
    code('''
from sklearn.datasets import load_wine
from sklearn.model_selection import train_test_split

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=RANDOM_STATE)
print("X:", X.shape, " wines per class:", np.bincount(y))
'''),
    md('''
## A pipeline: scaling, then the classifier

The measurements have very different scales, so a `StandardScaler` comes first. The
classifier uses its defaults (a small MLP, the `"auto"` prototype placement and the
`cosine` loss: a softmax over the cosines with a learned temperature), trained for 30
epochs with a learning rate of 0.01.
'''),
    code('''
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hsproto import HypersphericalClassifier

pipe = make_pipeline(
    StandardScaler(),
    HypersphericalClassifier(max_epochs=30, lr=1e-2, random_state=RANDOM_STATE),
)
pipe.fit(X_train, y_train)
print(f"test accuracy: {pipe.score(X_test, y_test):.3f}")
'''),
    md('''
## What the classifier learned

With 3 classes the output space has 2 dimensions by default, and `"auto"` places the
prototypes as a regular simplex: three points on the unit circle, 120° apart.
`layout_` records the placement that was really used.
'''),
    code('''
clf = pipe[-1]                          # the fitted HypersphericalClassifier
print("output dimensions:", clf.n_dims_)
print("placement:", clf.layout_.strategy)
print("prototypes (row i is class i):")
print(clf.prototypes_.round(3))
'''),
    md('''
`decision_function` gives the cosine between each sample's embedding and each prototype,
`predict_proba` a softmax of these cosines, and `transform` the embeddings themselves:
unit vectors in the output space.
'''),
    code('''
np.set_printoptions(precision=3, suppress=True)
print("predicted classes:", pipe.predict(X_test[:3]), " true:", y_test[:3])
print("cosines to the prototypes:")
print(pipe.decision_function(X_test[:3]))
print("probabilities:")
print(pipe.predict_proba(X_test[:3]))
Z = pipe.transform(X_test[:3])
print("embeddings:")
print(Z)
print("their norms:", np.linalg.norm(Z, axis=1))
'''),
    md('''
## Cross-validation

The pipeline clones and refits like any scikit-learn estimator, so `cross_val_score`
works as usual: here 5-fold cross-validation on all the wines.
'''),
    code('''
from sklearn.model_selection import cross_val_score

scores = cross_val_score(pipe, X, y, cv=5)
print("fold accuracies:", scores.round(3))
print(f"mean {scores.mean():.3f} ± {scores.std():.3f}")
'''),
    md('''
## A small grid search

`GridSearchCV` tunes the classifier's parameters through the pipeline's
`<step>__<parameter>` names. A 2 × 2 grid: two learning rates and two losses (`hpn`, the
cosine loss of the original paper, and `mce`, a cross-entropy over scaled cosines),
each scored by 3-fold cross-validation on the training set.
'''),
    code('''
from sklearn.model_selection import GridSearchCV

grid = GridSearchCV(
    pipe,
    {"hypersphericalclassifier__lr": [3e-4, 1e-2],
     "hypersphericalclassifier__loss": ["hpn", "mce"]},
    cv=3,
)
grid.fit(X_train, y_train)
results = grid.cv_results_
for params, mean, std in zip(results["params"], results["mean_test_score"],
                             results["std_test_score"]):
    print(f"lr={params['hypersphericalclassifier__lr']:<6} "
          f"loss={params['hypersphericalclassifier__loss']:<4}  "
          f"accuracy {mean:.3f} ± {std:.3f}")
print("best:", grid.best_params_)
print(f"test accuracy of the refitted best pipeline: {grid.score(X_test, y_test):.3f}")
'''),
    md('''
## A picture of the output space

`SphereDisplay` draws the embeddings of the test wines on the unit circle, coloured by
their true class, with the prototypes as stars. Each class gathers around its prototype.
'''),
    code('''
from hsproto.plotting import SphereDisplay

disp = SphereDisplay.from_estimator(pipe, X_test, y_test)
'''),
]


# --------------------------------------------------------------------------- 02
PROTOTYPES = [
    md('''
# Prototype placement on the hypersphere

Before training, hsproto places one unit vector, the *prototype*, per class. Classes are
easiest to tell apart when their prototypes are far apart, so the quality of a placement
is its *separation*: the largest cosine between two prototypes (lower is better), or
equivalently the smallest angle between two prototypes (higher is better).

This notebook compares the placement strategies of `hsproto.make_prototypes` with the
best separation known for each size, and draws them on the sphere S².
'''),
    md('''
## Setup
'''),
    code(SETUP),
    md('''
## Placing prototypes

`make_prototypes(strategy, n_classes, n_dims)` returns an array with one unit row per
class. For 10 classes in 9 dimensions, `"auto"` (the default) places a regular simplex:
every pair of prototypes has the same cosine, −1/9.
'''),
    code('''
from hsproto import make_prototypes

P = make_prototypes("auto", n_classes=10, n_dims=9, random_state=RANDOM_STATE)
print("shape:", P.shape)
print("row norms:", np.linalg.norm(P, axis=1).round(6))
rows, cols = np.triu_indices(len(P), k=1)                # every pair once
print("pairwise cosines:", np.unique((P @ P.T)[rows, cols].round(6)))
'''),
    md('''
## What `"auto"` chooses

`"auto"` uses an exact construction wherever one is optimal, and optimises the placement
otherwise:

- K ≤ D + 1 classes: the regular simplex;
- D = 2: a regular polygon;
- K ≤ 2D: the orthoplex (± the coordinate axes);
- otherwise `"separation"`, which minimises the largest pairwise cosine numerically.
'''),
    code('''
from hsproto.prototypes import get_strategy

for k, d in [(4, 3), (5, 2), (6, 3), (12, 3), (30, 8), (100, 25)]:
    print(f"K={k:>3}, D={d:>2}: auto uses {get_strategy('auto').resolve(k, d).name}")
'''),
    md('''
## Separation against the known limits

`hsproto.pairwise_cosine_stats(P)` gives the smallest, mean and largest pairwise cosine,
and `hsproto.known_limit(K, D)` the smallest largest cosine that is possible for that
size, where it is known: `"optimal"` (proved), `"best known"` (the best published
configuration, for the sphere S²) or a `"lower bound"` (the true optimum is higher).

The table gives the smallest angle between two prototypes for each strategy and size
(— where the strategy cannot place that many classes in that many dimensions), and the
limit in the last row.
'''),
    code('''
import math

def smallest_angle(max_cosine):
    return math.degrees(math.acos(min(1.0, max_cosine)))

sizes = [(4, 3), (6, 3), (12, 3), (30, 8)]
strategies = ["auto", "separation", "uniformity", "simplex", "orthoplex", "cube",
              "polygon", "random"]
print(f"{'strategy':<11}" + "".join(f"{f'K={k}, D={d}':>13}" for k, d in sizes))
for name in strategies:
    row = []
    for k, d in sizes:
        if not get_strategy(name).supports(k, d):
            row.append("—")
            continue
        P = make_prototypes(name, k, d, random_state=RANDOM_STATE)
        row.append(f"{smallest_angle(hsproto.pairwise_cosine_stats(P)['max']):.1f}°")
    print(f"{name:<11}" + "".join(f"{cell:>13}" for cell in row))
limits = [hsproto.known_limit(k, d) for k, d in sizes]
print(f"{'limit':<11}" + "".join(f"{f'{smallest_angle(v):.1f}°':>13}" for v, _ in limits))
print(f"{'':<11}" + "".join(f"{kind:>13}" for _, kind in limits))
'''),
    md('''
`"auto"` and `"separation"` reach the limit wherever it is known. For 30 classes in 8
dimensions only a bound is known: no placement can have all its angles at 90° or more,
and how close one can get is an open question. The constructions (`cube`, `polygon`)
only fit some sizes well, and random directions are far worse everywhere.

A strategy that cannot place a size says why:
'''),
    code('''
try:
    make_prototypes("simplex", n_classes=12, n_dims=3)
except ValueError as exc:
    print("ValueError:", exc)
'''),
    md('''
## The pairwise angles

`PrototypeGeometryDisplay` draws the histogram of all pairwise angles, with the smallest
angle (dashed) and the known limit (red). For 12 classes in 3 dimensions the optimised
placement is the icosahedron: its smallest angle meets the limit. Random directions
leave some pairs almost on top of each other.
'''),
    code('''
import matplotlib.pyplot as plt

from hsproto.plotting import PrototypeGeometryDisplay

fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
for ax, name in zip(axes, ["separation", "random"]):
    P = make_prototypes(name, 12, 3, random_state=RANDOM_STATE)
    PrototypeGeometryDisplay.from_prototypes(P, name=name, ax=ax)
'''),
    md('''
## Pictures on the sphere S²

In three dimensions we can look at the placements directly. `SphereDisplay.from_embeddings`
draws unit vectors on S²; here we scatter 40 noisy points around each prototype, as a
trained network would map the samples of each class, and draw the prototypes as stars.
With well separated prototypes the classes do not overlap.
'''),
    code('''
from hsproto.plotting import SphereDisplay

def samples_around(P, n=40, spread=0.2, seed=RANDOM_STATE):
    """n noisy unit vectors around each prototype, and their class labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(P)), n)
    Z = P[labels] + spread * rng.standard_normal((len(labels), P.shape[1]))
    return Z / np.linalg.norm(Z, axis=1, keepdims=True), labels

fig = plt.figure(figsize=(13, 5.5), layout="constrained")
for i, name in enumerate(["separation", "random"]):
    P = make_prototypes(name, 12, 3, random_state=RANDOM_STATE)
    Z, labels = samples_around(P)
    SphereDisplay.from_embeddings(Z, labels, P, prototype_labels=np.arange(12), name=name,
                                  ax=fig.add_subplot(1, 2, i + 1, projection="3d"),
                                  scatter_kwargs={"s": 6})
'''),
    md('''
## Prototypes that reflect class similarities

The `"privileged"` strategy trades a little separation for structure: given one vector
per class that describes the class (for example a word embedding of its name), it places
similar classes closer together. Here each digit is described by its mean 8 × 8 image.
`triplet_agreement` measures how often the prototypes order the similarities between
classes the same way as the descriptions do (0.5 is chance).
'''),
    code('''
from sklearn.datasets import load_digits

from hsproto.prototypes import triplet_agreement

images, digits = load_digits(return_X_y=True)
descriptions = np.stack([images[digits == c].mean(axis=0) for c in range(10)])  # (10, 64)
for name, params in [("separation", {}), ("privileged", {"class_embeddings": descriptions})]:
    P = make_prototypes(name, 10, 3, random_state=RANDOM_STATE, **params)
    angle = smallest_angle(hsproto.pairwise_cosine_stats(P)["max"])
    print(f"{name:<11} smallest angle {angle:5.1f}°   "
          f"triplet agreement {triplet_agreement(P, descriptions):.2f}")
'''),
    md('''
## Regression poles and the joint layout

For regression, hsproto uses two opposite *poles*: the lowest target value maps to one,
the highest to the other. `make_layout` places both: the poles on the first axis and
the class prototypes in the directions orthogonal to it (for 3 dimensions: classes on
the equator, the target along the vertical axis). This is the layout that
`JointEstimator` trains on (see the notebook `03_joint`).
'''),
    code('''
layout = hsproto.make_layout(3, n_classes=5, n_targets=1, random_state=RANDOM_STATE)
print("strategy:", layout.strategy)
print("upper pole:", layout.poles[0])
print("cosines between the prototypes and the pole:",
      (layout.prototypes @ layout.poles.T).ravel().round(6))

Z, labels = samples_around(layout.prototypes, n=30, spread=0.15)
disp = SphereDisplay.from_embeddings(Z, labels, layout.prototypes,
                                     prototype_labels=np.arange(5), poles=layout.poles,
                                     pole_labels=[("highest target", "lowest target")])
'''),
]


# --------------------------------------------------------------------------- 03
JOINT = [
    md('''
# Joint classification and regression on rotated digits

`JointEstimator` learns a class and one or more continuous targets in one output space.
The class prototypes lie in the directions orthogonal to the regression poles, so on
the sphere S² the classes sit around the equator and the target is the height.

The task comes from the HPN paper: recognise a handwritten digit *and* the angle by which
its image was rotated.
'''),
    md('''
## Setup
'''),
    code(SETUP),
    md('''
## The data

`load_rotated_digits` rotates each 8 × 8 digit image of the classes 2, 3, 4, 5 and 7 by a
random angle between 0° and 180°. `y` has two columns: the digit and the angle in
degrees. This is the target format of `JointEstimator`: column 0 the class, the other
columns the targets.
'''),
    code('''
import matplotlib.pyplot as plt

from hsproto.datasets import load_rotated_digits

X, y = load_rotated_digits(random_state=RANDOM_STATE)
print("X:", X.shape, " y:", y.shape)
print(y[:4])

fig, axes = plt.subplots(1, 8, figsize=(10, 1.8))
for ax, image, (digit, angle) in zip(axes, X, y):
    ax.imshow(image[0], cmap="gray_r")
    ax.set_title(f"{digit:.0f}, {angle:.0f}°", fontsize=9)
    ax.axis("off")
'''),
    md('''
We keep a quarter of the images as a test set, stratified by digit.
'''),
    code('''
from sklearn.model_selection import train_test_split

X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y[:, 0], random_state=RANDOM_STATE)
print(len(X_train), "training and", len(X_test), "test images")
'''),
    md('''
## Training

A small convolutional network (`"cnn"`) maps each image to a point on S²
(`n_dims=3`). The loss is the sum of the classification loss and the regression loss,
without a weight between them. 15 epochs are enough for this demonstration.
'''),
    code('''
from hsproto import JointEstimator

joint = JointEstimator("cnn", n_dims=3, max_epochs=15, random_state=RANDOM_STATE)
joint.fit(X_train, y_train)
print("trained epochs:", len(joint.history_))
'''),
    md('''
## Predictions

`predict` returns the same two-column format as `y`. `predict_classes` and
`predict_values` give the two parts separately. `score` is the mean of the accuracy and
the R² of the angle, and `hsproto.joint_scorers()` gives the scorers of each part, for
example for `cross_validate`.
'''),
    code('''
np.set_printoptions(precision=1, suppress=True)
print("predicted [digit, angle]:")
print(joint.predict(X_test[:4]))
print("true:")
print(y_test[:4])

classes = joint.predict_classes(X_test)
angles = joint.predict_values(X_test)[:, 0]
print(f"\\ndigit accuracy: {np.mean(classes == y_test[:, 0]):.3f}")
print(f"angle mean absolute error: {np.mean(np.abs(angles - y_test[:, 1])):.1f}°")
print(f"score (mean of accuracy and R²): {joint.score(X_test, y_test):.3f}")
for name, scorer in hsproto.joint_scorers().items():
    print(f"  {name}: {scorer(joint, X_test, y_test):.3f}")
'''),
    md('''
## The output space

The fitted layout has one pole (the angle) and five class prototypes, each at 90° from
the pole.
'''),
    code('''
print("placement of the classes:", joint.layout_.strategy)
print("pole:", joint.poles_[0].round(3))
print("cosines between the prototypes and the pole:",
      (joint.prototypes_ @ joint.poles_.T).ravel().round(6))
'''),
    md('''
## The sphere picture

`SphereDisplay` draws the test embeddings on S², once coloured by digit and once by the
rotation angle. The classes fan out around the equator, and within each class the
angle runs from one pole to the other. The last panel shows the training loss per epoch.
'''),
    code('''
from hsproto.plotting import SphereDisplay, TrainingCurvesDisplay

fig = plt.figure(figsize=(16, 5), layout="constrained")
SphereDisplay.from_estimator(joint, X_test, y_test[:, 0].astype(int), target_type="discrete",
                             name="by digit", ax=fig.add_subplot(1, 3, 1, projection="3d"))
SphereDisplay.from_estimator(joint, X_test, y_test[:, 1], target_type="continuous",
                             y_label="angle (degrees)", name="by angle",
                             ax=fig.add_subplot(1, 3, 2, projection="3d"))
curves = TrainingCurvesDisplay.from_estimator(joint, ax=fig.add_subplot(1, 3, 3))
'''),
]


# --------------------------------------------------------------------------- 04
CALIBRATION = [
    md('''
# Calibration and uncertainty

A classifier is *calibrated* when its confidence matches its accuracy: of all the
predictions made with 80 % confidence, about 80 % are right. This notebook

1. compares the default probabilities of `HypersphericalClassifier` with calibrated ones
   (`proba_scale="auto"`),
2. uses the von Mises-Fisher loss (`loss="vmf"`), whose concentration κ measures how
   sure the network is about each sample,
3. detects inputs from classes never seen in training with `ood_score`.

[docs/reliability.md](../docs/reliability.md) describes these tools in detail.
'''),
    md('''
## Setup
'''),
    code(SETUP),
    md('''
## The data

The 8 × 8 handwritten digits of scikit-learn, scaled to [0, 1], with 30 % kept for
testing.
'''),
    code('''
from sklearn.model_selection import train_test_split

from hsproto.datasets import load_digits_data

X, y = load_digits_data()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=RANDOM_STATE)
print(len(X_train), "training and", len(X_test), "test digits")
'''),
    md('''
## Default and calibrated probabilities

The default loss, `cosine`, learns how peaked its probabilities are (a temperature)
while it trains. The HPN loss (`loss="hpn"`), used in this section, has no probability
model of its own: its `predict_proba` is a softmax of 10 × the cosines to the
prototypes, and the factor 10 (`proba_scale`) sets how peaked the probabilities are,
whatever the data.
`proba_scale="auto"` holds out 10 % of the training data (`validation_fraction`),
trains on the rest and then fits the factor that gives the best likelihood on the
held-out part (temperature scaling). The fitted factor is `proba_scale_`.

The expected calibration error (ECE) is the average gap between confidence and accuracy,
over 15 bins of equally many test samples (`hsproto.metrics.expected_calibration_error`).
'''),
    code('''
from hsproto import HypersphericalClassifier
from hsproto.metrics import expected_calibration_error

common = {"max_epochs": 30, "random_state": RANDOM_STATE}
default = HypersphericalClassifier(loss="hpn", **common).fit(X_train, y_train)
calibrated = HypersphericalClassifier(loss="hpn", proba_scale="auto", **common).fit(
    X_train, y_train)

for name, clf in [("default (proba_scale=10)", default), ('proba_scale="auto"', calibrated)]:
    ece = expected_calibration_error(y_test, clf.predict_proba(X_test))
    print(f"{name:<25} accuracy {clf.score(X_test, y_test):.3f}   ECE {ece:.4f}")
print(f"fitted proba_scale_: {calibrated.proba_scale_:.1f}")
'''),
    md('''
On these digits the fitted factor is close to the default, so both models are well
calibrated: their ECEs differ by less than the noise of 540 test samples (and the
calibrated model trained on 10 % less data). The factor itself matters a lot, though.
The cosines of `decision_function` let us try other factors on the default model:
'''),
    code('''
from scipy.special import softmax

cosines = default.decision_function(X_test)
for scale in [2, 3, 5, 10, 20, 50]:
    proba = softmax(scale * cosines, axis=1)
    print(f"proba_scale={scale:<3} mean confidence {proba.max(axis=1).mean():.3f}   "
          f"ECE {expected_calibration_error(y_test, proba):.4f}")
'''),
    md('''
A small factor makes the probabilities too flat (the model is underconfident), a large
one too peaked (overconfident). The right factor depends on the loss, the number of
output dimensions and how long the network trained; `proba_scale="auto"` finds it on
held-out training data, without looking at the test labels. It works the same way for
every loss: for `cosine` it rescales the learned logits.

`ReliabilityDisplay` draws the reliability diagram: each marker is one bin, its mean
confidence against its accuracy; a calibrated model follows the diagonal. The grey bars
at the bottom are the histogram of the confidences. With the factor 3 the markers lie
far above the diagonal.
'''),
    code('''
import matplotlib.pyplot as plt

from hsproto.plotting import ReliabilityDisplay

fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), layout="constrained")
ReliabilityDisplay.from_predictions(y_test, softmax(3 * cosines, axis=1),
                                    name="proba_scale=3", ax=axes[0])
ReliabilityDisplay.from_estimator(default, X_test, y_test, name="default (10)", ax=axes[1])
ReliabilityDisplay.from_estimator(calibrated, X_test, y_test, name="proba_scale='auto'",
                                  ax=axes[2]);
'''),
    md('''
## The von Mises-Fisher loss and its concentration κ

With `loss="vmf"` the network's output is a von Mises-Fisher distribution on the sphere:
its direction is the embedding, and its length sets the concentration κ. A large κ
means a confident embedding, a small one an ambiguous input. `embedding_norm(X)` returns
κ for this loss (and the length of the raw network output for the others).
Misclassified test digits tend to have a lower κ.
'''),
    code('''
vmf = HypersphericalClassifier(loss="vmf", **common).fit(X_train, y_train)
kappa = vmf.embedding_norm(X_test)
correct = vmf.predict(X_test) == y_test
print(f"accuracy {correct.mean():.3f}")
print(f"median κ of the correct predictions: {np.median(kappa[correct]):.1f}")
print(f"median κ of the wrong predictions:   {np.median(kappa[~correct]):.1f}")

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
bins = np.linspace(kappa.min(), kappa.max(), 30)
ax.hist(kappa[correct], bins=bins, alpha=0.7, density=True, label="correct")
ax.hist(kappa[~correct], bins=bins, alpha=0.7, density=True, label="wrong")
ax.set_xlabel("concentration κ")
ax.set_ylabel("density")
ax.legend();
'''),
    md('''
## Out-of-distribution detection

`ood_score(X, method=...)` gives one score per sample; higher means more likely out of
distribution (an input unlike the training data). Every method negates a confidence:

- `"max_cosine"`: minus the largest cosine between the embedding and a prototype;
- `"energy"`: minus the log-sum-exp of the logits behind `predict_proba`;
- `"msp"`: minus the largest predicted probability.

We train on the digits 0–4 only and treat the digits 5–9 as unknown inputs. The held-out
digits 0–4 are split in two halves: one to set the threshold, one to evaluate.
'''),
    code('''
known = y < 5
X_in_train, X_in_held, y_in_train, y_in_held = train_test_split(
    X[known], y[known], test_size=0.4, stratify=y[known], random_state=RANDOM_STATE)
X_in_val, X_in_test = X_in_held[::2], X_in_held[1::2]   # threshold / evaluation halves
X_out = X[~known]                                        # digits 5-9: never seen
ood_clf = HypersphericalClassifier(**common).fit(X_in_train, y_in_train)
print(f"accuracy on the held-out digits 0-4: {ood_clf.score(X_in_held, y_in_held):.3f}")
'''),
    md('''
`hsproto.metrics.ood_metrics` evaluates a method: the AUROC (the probability that an
unknown input scores higher than a known one; 1 is perfect, 0.5 chance) and the FPR95
(the fraction of unknown inputs accepted as known when the threshold keeps 95 % of the
known ones; lower is better).
'''),
    code('''
from hsproto.metrics import ood_metrics, ood_threshold

scores = {}
for method in ["max_cosine", "energy", "msp"]:
    scores[method] = (ood_clf.ood_score(X_in_test, method=method),
                      ood_clf.ood_score(X_out, method=method))
    m = ood_metrics(*scores[method])
    print(f"{method:<11} AUROC {m['auroc']:.3f}   FPR95 {m['fpr']:.3f}")
'''),
    md('''
In use, the threshold is set on held-out known data: `ood_threshold(scores, tpr=0.95)`
returns the score below which 95 % of them lie, and `score > threshold` flags an input.
'''),
    code('''
threshold = ood_threshold(ood_clf.ood_score(X_in_val), tpr=0.95)
s_in, s_out = scores["max_cosine"]
print(f"threshold (max_cosine): {threshold:.3f}")
print(f"flagged known digits (test half): {np.mean(s_in > threshold):.1%}")
print(f"flagged unknown digits 5-9:       {np.mean(s_out > threshold):.1%}")

fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
bins = np.linspace(min(s_in.min(), s_out.min()), max(s_in.max(), s_out.max()), 40)
ax.hist(s_in, bins=bins, alpha=0.7, density=True, label="known digits 0-4")
ax.hist(s_out, bins=bins, alpha=0.7, density=True, label="unknown digits 5-9")
ax.axvline(threshold, color="black", linestyle="--", label="threshold")
ax.set_xlabel('ood_score(method="max_cosine")')
ax.set_ylabel("density")
ax.legend();
'''),
    md('''
These scores rank inputs; they are no guarantee. An unknown input that the network maps
confidently onto a prototype is not flagged.
'''),
]


# --------------------------------------------------------------------------- 05
PLUGIN = [
    md('''
# Writing and registering a plugin

Prototype strategies, losses and backbones are *plugins*: hsproto finds them by name, and
its own built-ins are registered the same way as third-party ones. This notebook writes a
new prototype strategy and a new loss, checks them with hsproto's contract checkers,
registers them for this Python process with `hsproto.register`, uses them by name in an
estimator and removes them again with `hsproto.unregister`. The last section shows how
to publish them as a package.

The full contract of each kind of plugin is in [docs/plugins.md](../docs/plugins.md).
'''),
    md('''
## Setup
'''),
    code(SETUP),
    md('''
## A prototype strategy

A strategy subclasses `hsproto.prototypes.PrototypeStrategy` and implements
`_generate(n_classes, n_dims, seed)`, which returns one row per class (the base class
normalises the rows and checks them). `_unsupported(n_classes, n_dims)` returns `None`
or a sentence saying why a size cannot be placed. All randomness must come from `seed`.

Our strategy places the classes on the *Fibonacci lattice*: points along a spiral that
covers the sphere S² evenly, turned by a random rotation drawn from `seed`. It works in
three dimensions only.
'''),
    code('''
from hsproto.prototypes import PrototypeStrategy


class FibonacciStrategy(PrototypeStrategy):
    """Points of the Fibonacci spiral on the sphere S², randomly rotated."""

    name = "fibonacci"          # the name we register it under

    def _unsupported(self, n_classes, n_dims):
        return None if n_dims == 3 else "the Fibonacci lattice lives on S² (n_dims=3)"

    def _generate(self, n_classes, n_dims, seed):
        i = np.arange(n_classes) + 0.5
        height = 1 - 2 * i / n_classes
        turn = np.pi * (1 + 5 ** 0.5) * i                  # the golden angle per point
        radius = np.sqrt(1 - height ** 2)
        points = np.column_stack([radius * np.cos(turn), radius * np.sin(turn), height])
        rotation, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((3, 3)))
        return points @ rotation


P = FibonacciStrategy().generate(12, 3, random_state=RANDOM_STATE)
print("shape:", P.shape, " largest cosine:", round(hsproto.pairwise_cosine_stats(P)["max"], 3))
print("best known largest cosine for 12 points on S²:", round(hsproto.known_limit(12, 3)[0], 3))
'''),
    md('''
## Checking the contract

`hsproto.testing.check_prototype_strategy` runs the tests hsproto runs on its own
strategies: the sizes it accepts and refuses, unit and distinct rows, the same result for
the same `random_state`, no use of the global random generators, pickling, and
`make_prototypes`. It raises a `ContractError` naming the failed step.
'''),
    code('''
from hsproto.testing import ContractError, check_prototype_strategy

check_prototype_strategy(FibonacciStrategy)
print("FibonacciStrategy passes the contract checks")
'''),
    md('''
A strategy that draws from numpy's global random generator instead of `seed` is not
reproducible, and the checker says so:
'''),
    code('''
class GlobalRandomStrategy(PrototypeStrategy):
    """Breaks the contract: ignores seed and uses the global numpy generator."""

    def _generate(self, n_classes, n_dims, seed):
        return np.random.standard_normal((n_classes, n_dims))


try:
    check_prototype_strategy(GlobalRandomStrategy)
except ContractError as exc:
    print("ContractError:", exc)
'''),
    md('''
## Registering it and using it by name

`hsproto.register(group, name, obj)` makes the strategy selectable by name for the rest of
this process, in `make_prototypes` and in every estimator parameter. It runs the same
structural check as for an installed plugin. `hsproto.list_plugins` lists it with the
distribution `runtime`.
'''),
    code('''
hsproto.register("prototypes", "fibonacci", FibonacciStrategy)

for info in hsproto.list_plugins("prototypes"):
    if info.distribution == "runtime":
        print(info.group, info.name, info.distribution, info.status)

P = hsproto.make_prototypes("fibonacci", 10, 3, random_state=RANDOM_STATE)
print("make_prototypes('fibonacci', 10, 3):", P.shape)
try:
    hsproto.make_prototypes("fibonacci", 10, 5)
except ValueError as exc:
    print("ValueError:", exc)
'''),
    md('''
The estimator selects it with `prototypes="fibonacci"`:
'''),
    code('''
from sklearn.model_selection import train_test_split

from hsproto import HypersphericalClassifier
from hsproto.datasets import load_digits_data

X, y = load_digits_data()
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=RANDOM_STATE)

clf = HypersphericalClassifier(n_dims=3, prototypes="fibonacci", max_epochs=15,
                               random_state=RANDOM_STATE).fit(X_train, y_train)
print("placement:", clf.layout_.strategy)
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
'''),
    md('''
## A loss

A loss subclasses `hsproto.losses.PrototypeLoss` (a `torch.nn.Module`). hsproto builds it
as `Loss(layout, **loss_params)` from the placed output space; the prototypes are then
the buffer `self.prototypes`. It declares its tasks and implements one method per task,
returning one loss value per sample. This one raises `1 - cos` to a power, so that
samples already close to their prototype contribute little.
'''),
    code('''
import torch.nn.functional as F

from hsproto.losses import PrototypeLoss, unit


class PowerCosineLoss(PrototypeLoss):
    """(1 - cos(z, p_y)) ** power; soft labels weight the prototypes."""

    tasks = ("classification",)

    def __init__(self, layout, *, power=2.0):
        super().__init__(layout)
        self.power = power

    def classification(self, z, target):
        if target.dim() == 1:                      # class indices -> one-hot
            target = F.one_hot(target.long(), len(self.prototypes))
        cos = unit(z) @ self.prototypes.T          # (n, K)
        return (target.to(cos.dtype) * (1 - cos) ** self.power).sum(dim=1)
'''),
    md('''
`check_loss` builds the loss on a small layout and checks finite per-sample losses for
hard and soft labels, gradients (with `gradcheck`), that minimising it makes the class
scores predict the labels, the inference hooks, devices and dtypes, determinism and
pickling.
'''),
    code('''
from hsproto.testing import check_loss

check_loss(PowerCosineLoss, loss_params={"power": 2.0})
print("PowerCosineLoss passes the contract checks")

hsproto.register("losses", "power_cosine", PowerCosineLoss)
clf = HypersphericalClassifier(loss="power_cosine", loss_params={"power": 2.0},
                               max_epochs=15, random_state=RANDOM_STATE).fit(X_train, y_train)
print(f"test accuracy with loss='power_cosine': {clf.score(X_test, y_test):.3f}")
'''),
    md('''
## Removing them

`hsproto.unregister` removes a plugin added by `register`; the name is then unknown again.
'''),
    code('''
hsproto.unregister("prototypes", "fibonacci")
hsproto.unregister("losses", "power_cosine")
try:
    hsproto.make_prototypes("fibonacci", 10, 3)
except ValueError as exc:
    print("ValueError:", str(exc)[:120], "...")
'''),
    md('''
## Publishing a plugin as a package

`register` lasts for one process. To share a plugin, put it in a package and declare it
as an *entry point* in the package's `pyproject.toml`, in the group of its kind:

```toml
[project.entry-points."hsproto.prototypes"]
fibonacci = "my_package.strategies:FibonacciStrategy"

[project.entry-points."hsproto.losses"]
power_cosine = "my_package.losses:PowerCosineLoss"
```

After `pip install my-package` the names work everywhere, in every process, without a
`register` call. `python -m hsproto plugins` lists all installed plugins with their
package and version, and `python -m hsproto plugins --check` runs the contract checks on
them. Put the checks in the package's tests too:

```python
from hsproto.testing import check_loss, check_prototype_strategy

def test_contract():
    check_prototype_strategy("fibonacci")     # resolved by name, as the estimators do
    check_loss("power_cosine", loss_params={"power": 2.0})
```

A fitted model records the third-party plugins it needs in `plugins_`; loading it where
one is missing raises `hsproto.PluginError` naming the package to install. The example
package [plugins/hsproto-contrib](../plugins/hsproto-contrib) is a complete plugin
package with a strategy, a loss, a backbone and their tests.
'''),
]


# --------------------------------------------------------------------------- 06
TUNING = [
    md('''
# Tuning with Optuna

`hsproto.tuning.tune` searches hyperparameters with [Optuna](https://optuna.org): each
*trial* samples parameters, cross-validates the estimator with them and reports the mean
score. Trials that fall behind are *pruned*: stopped after a few epochs. At the end, the
best parameters are refitted on all the data.

This notebook runs a small study (8 trials × 3 folds) in memory and draws Optuna's own
plots with matplotlib. [docs/tuning.md](../docs/tuning.md) covers storage in SQLite or
PostgreSQL, several workers and the command line.
'''),
    md('''
## Setup

Optuna logs every trial; we only keep its warnings.
'''),
    code(SETUP + '''
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
'''),
    md('''
## The data

To keep the study short we use 600 of the digits for tuning and keep 400 others to test
the tuned model.
'''),
    code('''
from sklearn.model_selection import train_test_split

from hsproto.datasets import load_digits_data

X, y = load_digits_data()
X_tune, X_test, y_tune, y_test = train_test_split(
    X, y, train_size=600, test_size=400, stratify=y, random_state=RANDOM_STATE)
print(len(X_tune), "digits to tune on,", len(X_test), "to test")
'''),
    md('''
## The search space

`default_search_space` gives the distributions hsproto searches for an estimator: the
learning rate, weight decay, optimizer, batch size, number of epochs, output dimensions,
prototype strategy, loss and batch mixing. We fix the number of epochs at 15 to keep the
trials short, so we drop it from the space; every other parameter keeps the
estimator's value.
'''),
    code('''
from hsproto import HypersphericalClassifier
from hsproto.tuning import default_search_space, tune

estimator = HypersphericalClassifier(max_epochs=15, random_state=RANDOM_STATE)
space = default_search_space(estimator, X_tune, y_tune)
del space["max_epochs"]
for name, distribution in space.items():
    print(f"{name:<13} {distribution}")
'''),
    md('''
## The study

8 trials, each a 3-fold cross-validation. The study lives in memory (`storage=None`, the
default). Pruning compares each fold's held-out accuracy after every epoch with the
earlier trials (after the first 5 trials and 5 epochs) and stops trials that fall below
the median.
'''),
    code('''
result = tune(estimator, X_tune, y_tune, search_space=space, n_trials=8, cv=3,
              random_state=RANDOM_STATE)
study = result.study

for trial in study.trials:
    value = "" if trial.value is None else f"{trial.value:.3f}"
    print(f"trial {trial.number}: {trial.state.name:<8} {value:>6}  "
          f"lr={trial.params['lr']:.4f} optimizer={trial.params['optimizer']} "
          f"loss={trial.params['loss']} prototypes={trial.params['prototypes']} "
          f"n_dims={trial.params['n_dims']}")
'''),
    md('''
`tune` returns the study and the best estimator, refitted on all 600 digits with the
best parameters.
'''),
    code('''
print(f"best mean 3-fold accuracy: {result.best_score:.3f}")
for name, value in result.best_params.items():
    print(f"  {name}: {value}")
print(f"accuracy of the refitted best model on the 400 test digits: "
      f"{result.best_estimator.score(X_test, y_test):.3f}")
'''),
    md('''
## Optuna's plots

`optuna.visualization.matplotlib` draws the study with matplotlib (the functions in
`optuna.visualization` itself need plotly). The optimisation history shows the score of
each complete trial and the best score so far; pruned trials are left out. (The table
above gives a pruned trial the last held-out accuracy it reported before it was
stopped.)
'''),
    code('''
from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
ax = plot_optimization_history(study)
'''),
    md('''
The parameter importances estimate which parameters mattered most for the score. With
only a handful of complete trials they are a rough hint, not a result.
'''),
    code('''
ax = plot_param_importances(study)
'''),
    md('''
## Beyond this notebook

- `storage="sqlite:///study.db"` with a `study_name` keeps the study in a file; running
  the same call again resumes it.
- `storage="postgresql://..."` shares a study between workers on several machines.
- `python -m hsproto tune --dataset digits --n-trials 20` runs a study from the shell.
- `optuna_integration.OptunaSearchCV` is the scikit-learn search-object alternative,
  for use inside a `Pipeline` or nested cross-validation.
'''),
]


# --------------------------------------------------------------------------- 07
FINETUNE = [
    md('''
# Fine-tuning an image backbone with augmentation

hsproto's estimators also train deep networks on images. The `"torchvision"` backbone
takes any torchvision classification model by name, removes its classifier and adds
hsproto's hypersphere head. This notebook shows the fine-tuning recipe:

- weights loaded from a local state-dict file,
- random crops and flips for training (`augment`) and normalisation (`preprocess`),
- a learning rate of its own for the backbone (`backbone_lr`) and a cosine schedule.

No weights can be downloaded here, so the "pretrained" file holds a randomly initialised
ResNet-18; with a real checkpoint the code is the same. The data are the 8 × 8 digits
enlarged to 32 × 32 RGB images; a few epochs on a few hundred images keep it short on a
CPU.
'''),
    md('''
## Setup
'''),
    code(SETUP),
    md('''
## Images

Images go in as uint8 arrays of shape (n, channels, height, width); hsproto scales them
to [0, 1] per batch. We enlarge each digit 4 × in both directions and repeat it in three
colour channels, then keep 300 images for training and 200 for testing.
'''),
    code('''
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

digits, labels = load_digits(return_X_y=True)
images = np.round(digits.reshape(-1, 8, 8) * 255 / 16).astype(np.uint8)
images = images.repeat(4, axis=1).repeat(4, axis=2)           # 32 x 32
images = np.repeat(images[:, None], 3, axis=1)                # (n, 3, 32, 32)
X_train, X_test, y_train, y_test = train_test_split(
    images, labels, train_size=300, test_size=200, stratify=labels,
    random_state=RANDOM_STATE)
print("X_train:", X_train.shape, X_train.dtype)
'''),
    md('''
## A weights file

The backbone's `weights` accepts a torchvision weights name (`"DEFAULT"`,
`"IMAGENET1K_V1"`: torchvision reads its cache or downloads the file) or the path of a
local file saved with `torch.save(model.state_dict(), path)` for the unmodified
torchvision model. We write such a file from a randomly initialised ResNet-18.
'''),
    code('''
import os
import shutil
import tempfile

import torchvision

workdir = tempfile.mkdtemp()
weights_path = os.path.join(workdir, "resnet18.pt")
torch.manual_seed(RANDOM_STATE)
torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights_path)
print(f"{os.path.getsize(weights_path) / 1e6:.0f} MB written")
'''),
    md('''
## The estimator

- `module="torchvision"` with `module_params={"arch": "resnet18", "weights": path}`
  builds the ResNet-18, loads the file and replaces its classifier by the hypersphere
  head.
- `augment` is applied to each training image only: a random 32 × 32 crop of the image
  padded by 4 pixels, and a random horizontal flip. (A flip changes the look of a digit;
  it is the usual choice for natural images such as CIFAR.)
- `preprocess` is applied in training and at prediction, after the scaling to [0, 1]:
  here a normalisation per channel.
- `lr` is the learning rate of the new head, `backbone_lr` a smaller one for the loaded
  backbone, so that fine-tuning does not wash out what it learned before.
- `lr_schedule="cosine"` lowers both rates along a cosine curve over the epochs.
'''),
    code('''
from torchvision.transforms import v2

from hsproto import HypersphericalClassifier

clf = HypersphericalClassifier(
    "torchvision",
    module_params={"arch": "resnet18", "weights": weights_path},
    augment=v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()]),
    preprocess=v2.Normalize(mean=[0.5, 0.5, 0.5], std=[0.25, 0.25, 0.25]),
    optimizer="adam", lr=3e-3, backbone_lr=1e-3, lr_schedule="cosine",
    max_epochs=4, batch_size=32, random_state=RANDOM_STATE,
)
clf.fit(X_train, y_train)
print(f"test accuracy after {len(clf.history_)} epochs: {clf.score(X_test, y_test):.3f}")
'''),
    md('''
The learning rates of each epoch are recorded in `history_`: `"lr"` is the head's and
`"backbone_lr"` the backbone's; both follow the cosine schedule.
'''),
    code('''
from hsproto.plotting import TrainingCurvesDisplay

print("head learning rate per epoch:    ", np.round(clf.history_[:, "lr"], 6))
print("backbone learning rate per epoch:", np.round(clf.history_[:, "backbone_lr"], 6))
curves = TrainingCurvesDisplay.from_estimator(clf)
'''),
    md('''
## Images from a folder

A torch `Dataset` of `(image, label)` pairs works as input too, with `y=None`: the labels
come from the dataset. We write the test images as PNG files into one folder per class
and read them back with torchvision's `ImageFolder`; the accuracy is the same as on the
arrays.
'''),
    code('''
from PIL import Image
from torchvision.datasets import ImageFolder

folder = os.path.join(workdir, "test_images")
for i, (image, label) in enumerate(zip(X_test, y_test)):
    os.makedirs(os.path.join(folder, str(label)), exist_ok=True)
    Image.fromarray(image.transpose(1, 2, 0)).save(os.path.join(folder, str(label), f"{i}.png"))
dataset = ImageFolder(folder)
print(len(dataset), "images in", len(dataset.classes), "classes")
print(f"accuracy on the ImageFolder: {clf.score(dataset):.3f}")
'''),
    md('''
## Other options

- `small_input=True` (ResNet family) replaces the ImageNet stem, a 7 × 7 convolution
  with stride 2 followed by max-pooling, with a randomly initialised 3 × 3 convolution
  of stride 1, the usual choice for 32 × 32 images trained from scratch. The feature
  maps stay 16 × 16 times larger, and so does the cost per image: too slow for this
  notebook on a CPU. The two stems:
'''),
    code('''
from hsproto.backbones.torchvision import TorchvisionBackbone

for small_input in (False, True):
    backbone = TorchvisionBackbone((3, 32, 32), arch="resnet18", small_input=small_input)
    print(f"small_input={small_input!s:<5}  conv1: {backbone.trunk.conv1}  "
          f"maxpool: {type(backbone.trunk.maxpool).__name__}")
'''),
    md('''
- `freeze=True` keeps the whole torchvision model fixed (weights and batch-norm
  statistics) and trains only the head: a linear probe, much faster per epoch.
- `precision="bf16"` and `device="cuda"` speed up training on a GPU; `num_workers`
  loads and augments images in parallel.

Finally we delete the temporary files.
'''),
    code('''
shutil.rmtree(workdir)
'''),
]

NOTEBOOKS = {
    "01_quickstart": QUICKSTART,
    "02_prototypes": PROTOTYPES,
    "03_joint": JOINT,
    "04_calibration_uncertainty": CALIBRATION,
    "05_plugin": PLUGIN,
    "06_tuning": TUNING,
    "07_finetune_backbone": FINETUNE,
}


def build(cells):
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for kind, text in cells:
        text = textwrap.dedent(text).strip("\n")
        nb.cells.append(new_markdown_cell(text) if kind == "markdown"
                        else new_code_cell(text))
    for i, cell in enumerate(nb.cells):      # stable ids: no churn when regenerating
        cell["id"] = f"cell-{i:02d}"
    return nb


def execute(nb, name):
    from nbclient import NotebookClient

    with tempfile.TemporaryDirectory() as cwd:
        env = {"HSPROTO_CACHE_DIR": cwd}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            start = time.perf_counter()
            NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                           resources={"metadata": {"path": cwd}}).execute()
            print(f"{name}: executed in {time.perf_counter() - start:.1f} s", flush=True)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    nb.metadata["language_info"] = {"name": "python"}     # not the executing version
    return nb


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--execute", action="store_true", help="run and store outputs")
    parser.add_argument("names", nargs="*", help="notebooks to build (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebooks {unknown}; choose from {sorted(NOTEBOOKS)}")
    for name in args.names or NOTEBOOKS:
        nb = build(NOTEBOOKS[name])
        if args.execute:
            nb = execute(nb, name)
        nbformat.validate(nb)
        path = HERE / f"{name}.ipynb"
        nbformat.write(nb, path)
        print("wrote", path.relative_to(HERE.parent), file=sys.stderr)


if __name__ == "__main__":
    main()
