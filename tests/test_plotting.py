"""hsproto.plotting: the Displays on small fitted models (Agg backend)."""

import math
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import hsproto
from hsproto.metrics import expected_calibration_error

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colorbar import Colorbar  # noqa: E402

from hsproto.plotting import (  # noqa: E402
    PrototypeGeometryDisplay,
    ReliabilityDisplay,
    SphereDisplay,
    TrainingCurvesDisplay,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


@pytest.fixture(scope="module")
def clf2(iris):
    return hsproto.HypersphericalClassifier(max_epochs=5, random_state=0).fit(*iris)


@pytest.fixture(scope="module")
def clf3(iris):
    X, y = iris
    return hsproto.HypersphericalClassifier(n_dims=3, max_epochs=5, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(n_samples=150, centers=6, n_features=4, random_state=0)


@pytest.fixture(scope="module")
def clf6(blobs):
    """D = 6 (> 3: PCA), early stopping (valid_loss) and a cosine schedule (lr)."""
    X, y = blobs
    return hsproto.HypersphericalClassifier(n_dims=6, max_epochs=6, early_stopping=True,
                                            lr_schedule="cosine", random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def reg(iris):
    X = iris[0]
    return hsproto.HypersphericalRegressor(max_epochs=5, random_state=0).fit(X[:, :3],
                                                                              X[:, 3])


@pytest.fixture(scope="module")
def joint(iris):
    X, label = iris
    y = np.column_stack([label, X[:, 3]])
    return hsproto.JointEstimator(max_epochs=5, random_state=0).fit(X[:, :3], y)


def _legend_labels(legend):
    return [text.get_text() for text in legend.get_texts()]


# ---------------------------------------------------------------- SphereDisplay


def test_sphere_d2_classifier_legend_one_entry_per_class(clf2, iris):
    X, y = iris
    disp = SphereDisplay.from_estimator(clf2, X, y)
    assert disp.projection_ == "circle"
    assert disp.ax_.name != "3d" and disp.figure_ is disp.ax_.figure
    assert _legend_labels(disp.legend_) == ["0", "1", "2"]
    assert disp.colorbar_ is None
    assert len(disp.scatter_) == 3
    assert sum(len(s.get_offsets()) for s in disp.scatter_) == len(X)
    # the prototypes as drawn are the model's, coloured like their classes
    assert np.allclose(disp.prototype_markers_.get_offsets(), clf2.prototypes_)
    faces = disp.prototype_markers_.get_facecolors()
    for k, points in enumerate(disp.scatter_):
        assert np.allclose(faces[k][:3], points.get_facecolors()[0][:3])
    assert np.allclose(np.linalg.norm(disp.coords_, axis=1), 1.0)
    assert disp.ax_.get_xlabel() and disp.ax_.get_ylabel() and disp.ax_.get_title()
    assert _legend_labels(disp.marker_legend_) == ["class prototype"]
    assert disp.pole_lines_ is None


def test_sphere_plot_returns_self_and_uses_given_ax(clf2, iris):
    X, _ = iris
    disp = SphereDisplay.from_estimator(clf2, X)
    _, ax = plt.subplots()
    assert disp.plot(ax=ax) is disp
    assert disp.ax_ is ax
    assert disp.legend_.get_title().get_text() == "predicted class"


def test_sphere_d3_on_the_sphere(clf3, iris):
    X, y = iris
    disp = SphereDisplay.from_estimator(clf3, X, y)
    assert disp.projection_ == "sphere"
    assert disp.ax_.name == "3d"
    assert disp.coords_.shape == (len(X), 3)
    assert len(disp.legend_.get_texts()) == 3
    assert disp.sphere_ is not None
    assert disp.ax_.get_zlabel()


def test_sphere_d3_needs_a_3d_axes(clf3, iris):
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="3-d Axes"):
        SphereDisplay.from_estimator(clf3, iris[0], ax=ax)
    disp = SphereDisplay.from_estimator(clf3, iris[0], ax=ax, projection="pca")
    assert disp.projection_ == "pca" and disp.ax_ is ax


def test_sphere_high_dims_pca(clf6, blobs):
    X, y = blobs
    disp = SphereDisplay.from_estimator(clf6, X, y)
    assert disp.projection_ == "pca"
    assert disp.pca_ is not None and disp.coords_.shape == (len(X), 2)
    assert "PC 1" in disp.ax_.get_xlabel() and "PC 2" in disp.ax_.get_ylabel()
    assert "PCA" in disp.ax_.get_title()
    assert len(disp.legend_.get_texts()) == 6
    assert np.allclose(disp.prototype_markers_.get_offsets(),
                       disp.pca_.transform(clf6.prototypes_))
    with pytest.raises(ValueError, match="projection='pca'"):
        SphereDisplay.from_estimator(clf6, X, projection="sphere")


def test_sphere_regressor_colour_bar_and_poles(reg, iris):
    X = iris[0][:, :3]
    disp = SphereDisplay.from_estimator(reg, X, iris[0][:, 3], y_label="petal width")
    assert isinstance(disp.colorbar_, Colorbar)
    assert disp.colorbar_.ax.get_ylabel() == "petal width"
    assert disp.legend_ is None and len(disp.scatter_) == 1
    assert disp.prototype_markers_ is None
    # the pole axis: dashed line plus the two end markers, labelled with y's range
    assert len(disp.pole_lines_) == 3
    assert reg.n_dims_ == 3                   # the default, n_targets + 2: on the sphere
    upper, lower = (np.column_stack(line.get_data_3d()) for line in disp.pole_lines_[1:])
    assert np.allclose(np.linalg.norm(upper), 1.0) and np.allclose(lower, -upper)
    labels = _legend_labels(disp.marker_legend_)
    assert labels == [f"pole: y = {reg.y_max_[0]:.3g}", f"pole: y = {reg.y_min_[0]:.3g}"]
    # no y: the prediction, still continuous
    assert SphereDisplay.from_estimator(reg, X).colorbar_ is not None


def test_sphere_joint_estimator(joint, iris):
    X, label = iris
    disp = SphereDisplay.from_estimator(joint, X[:, :3])          # predicted classes
    assert disp.projection_ == "sphere" and len(disp.legend_.get_texts()) == 3
    assert disp.pole_lines_ is not None and disp.prototype_markers_ is not None
    # the joint target colours by its label column; a value array gives a colour bar
    y = np.column_stack([label, X[:, 3]])
    assert len(SphereDisplay.from_estimator(joint, X[:, :3], y).legend_.get_texts()) == 3
    by_value = SphereDisplay.from_estimator(joint, X[:, :3], X[:, 3])
    assert by_value.colorbar_ is not None and by_value.legend_ is None
    assert by_value.colorbar_.ax.get_ylabel() == "y"
    # string labels of the user's choosing
    names = np.array(["setosa", "versicolor", "virginica"])[label]
    disp = SphereDisplay.from_estimator(joint, X[:, :3], names)
    assert _legend_labels(disp.legend_) == ["setosa", "versicolor", "virginica"]
    assert disp.legend_.get_title().get_text() == "class"


def test_sphere_pipeline(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), hsproto.HypersphericalClassifier(
        max_epochs=2, random_state=0)).fit(X, y)
    disp = SphereDisplay.from_estimator(pipe, X, y)
    assert len(disp.legend_.get_texts()) == 3 and disp.prototype_markers_ is not None
    assert np.allclose(disp.coords_, pipe.transform(X))
    label = y
    y = np.column_stack([label, X[:, 3]])
    joint = make_pipeline(StandardScaler(), hsproto.JointEstimator(
        max_epochs=2, random_state=0)).fit(X[:, :3], y)
    disp = SphereDisplay.from_estimator(joint, X[:, :3])        # predict_classes
    assert disp.legend_.get_title().get_text() == "predicted class"
    assert disp.pole_lines_ is not None
    assert ReliabilityDisplay.from_estimator(pipe, X, label).ece >= 0
    assert TrainingCurvesDisplay.from_estimator(pipe).lines_
    assert PrototypeGeometryDisplay.from_estimator(pipe).n_classes == 3


def test_sphere_from_embeddings():
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(40, 2)) * 3                       # normalised by the Display
    disp = SphereDisplay.from_embeddings(Z, y=np.repeat(["a", "b"], 20),
                                         prototypes=[[1, 0], [-1, 0]],
                                         prototype_labels=["a", "b"])
    assert np.allclose(np.linalg.norm(disp.coords_, axis=1), 1.0)
    assert _legend_labels(disp.legend_) == ["a", "b"]
    # many distinct numbers: continuous; few integers: discrete
    assert SphereDisplay.from_embeddings(Z, y=rng.normal(size=40)).colorbar_ is not None
    disp = SphereDisplay.from_embeddings(Z, y=np.arange(40) % 4)
    assert len(disp.legend_.get_texts()) == 4 and disp.colorbar_ is None
    disp = SphereDisplay.from_embeddings(Z, y=np.arange(40) % 4, target_type="continuous")
    assert disp.colorbar_ is not None
    # no y: one colour, no legend, no colour bar
    disp = SphereDisplay.from_embeddings(rng.normal(size=(30, 5)))
    assert disp.legend_ is None and disp.colorbar_ is None and disp.projection_ == "pca"


def test_sphere_many_classes_distinct_colours():
    rng = np.random.default_rng(0)
    y = np.arange(250) % 25
    disp = SphereDisplay.from_embeddings(rng.normal(size=(250, 3)), y=y,
                                         target_type="discrete")
    assert len(disp.legend_.get_texts()) == 25
    colours = {tuple(np.round(s.get_facecolors()[0], 6)) for s in disp.scatter_}
    assert len(colours) == 25


@pytest.mark.parametrize("Z, kwargs, match", [
    (np.ones(5), {}, "2-d"),
    (np.ones((4, 1)), {}, "at least 2 columns"),
    (np.zeros((3, 2)), {}, "zero row"),
    (np.full((3, 2), np.nan), {}, "NaN"),
    (np.ones((3, 2)), {"y": [0, 1]}, "y has 2 values"),
    (np.ones((3, 2)), {"y": np.ones((3, 2))}, "1-d"),
    (np.ones((3, 2)), {"prototypes": np.ones((2, 3))}, "dimensions"),
    (np.ones((3, 2)), {"projection": "tsne"}, "projection"),
    (np.ones((3, 2)), {"target_type": "ordinal"}, "target_type"),
    (np.ones((3, 2)), {"y": ["a", "b", "c"], "target_type": "continuous"}, "numeric"),
    (np.ones((1, 5)), {}, "at least 2 embeddings"),
])
def test_sphere_bad_input(Z, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SphereDisplay.from_embeddings(Z, **kwargs)


def test_sphere_bad_estimator_input(clf2, iris):
    X, y = iris
    with pytest.raises(ValueError, match="y has 149 values"):
        SphereDisplay.from_estimator(clf2, X, y[1:])
    with pytest.raises(NotFittedError):
        SphereDisplay.from_estimator(hsproto.HypersphericalClassifier(), X)
    with pytest.raises(ValueError, match="features"):
        SphereDisplay.from_estimator(clf2, X[:, :2])


# ----------------------------------------------------------- ReliabilityDisplay


def test_reliability_ece_matches_the_metric(clf6, blobs):
    X, y = blobs
    disp = ReliabilityDisplay.from_estimator(clf6, X, y, n_bins=10)
    ece = expected_calibration_error(y, clf6.predict_proba(X), n_bins=10,
                                     labels=clf6.classes_)
    assert disp.ece == pytest.approx(ece)
    assert _legend_labels(disp.legend_)[0] == f"ECE = {ece:.4f}"
    assert disp.line_.get_label() == f"ECE = {ece:.4f}"
    # the drawn bins are the metric's: their weighted gap is the ECE
    n = disp.bin_counts.sum()
    gap = np.sum(disp.bin_counts / n * np.abs(disp.prob_true - disp.prob_pred))
    assert gap == pytest.approx(ece)
    assert n == len(X) and len(disp.bin_counts) == 10
    assert disp.diagonal_ is not None and disp.bars_ is not None
    assert sum(bar.get_height() for bar in disp.bars_) > 0
    assert disp.ax_.get_xlabel() and disp.ax_.get_ylabel() and disp.ax_.get_title()


def test_reliability_from_predictions():
    y = [0, 1, 1, 0]
    proba = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]
    disp = ReliabilityDisplay.from_predictions(y, proba, n_bins=2)
    assert disp.ece == pytest.approx(0.15)
    assert np.allclose(disp.prob_pred, [0.65, 0.85])
    assert np.allclose(disp.prob_true, [0.5, 1.0])
    # string labels with labels= and a 1-d binary probability
    names = np.array(["no", "yes"])
    disp = ReliabilityDisplay.from_predictions(names[y], proba, labels=names, n_bins=2)
    assert disp.ece == pytest.approx(0.15)
    disp = ReliabilityDisplay.from_predictions(y, np.asarray(proba)[:, 1], n_bins=2)
    assert disp.ece == pytest.approx(0.15)


def test_reliability_uniform_bins():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 200)
    y = (rng.uniform(size=200) < p).astype(int)
    disp = ReliabilityDisplay.from_predictions(y, np.column_stack([1 - p, p]),
                                               n_bins=10, strategy="uniform")
    assert np.allclose(disp.bin_edges, np.linspace(0, 1, 11))
    assert disp.bin_counts.sum() == 200 and disp.bin_counts[:5].sum() == 0
    assert np.all(np.isnan(disp.prob_true[:5]))
    assert len(disp.line_.get_xdata()) == 5                   # empty bins not drawn
    assert disp.ece == pytest.approx(expected_calibration_error(
        y, np.column_stack([1 - p, p]), n_bins=10))


def test_reliability_bad_input(clf2, reg, joint, iris):
    X, y = iris
    with pytest.raises(ValueError, match="strategy"):
        ReliabilityDisplay.from_predictions([0, 1], [[0.5, 0.5], [0.2, 0.8]],
                                            strategy="kmeans")
    with pytest.raises(ValueError, match="shape"):
        ReliabilityDisplay.from_predictions([0, 1, 1], [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(ValueError, match="sum to 1"):
        ReliabilityDisplay.from_predictions([0, 1], [[0.5, 0.6], [0.2, 0.8]])
    with pytest.raises(ValueError, match="n_bins"):
        ReliabilityDisplay.from_predictions([0, 1], [[0.5, 0.5], [0.2, 0.8]], n_bins=0)
    with pytest.raises(ValueError, match="shape"):
        ReliabilityDisplay.from_estimator(clf2, X, y[:-1])
    with pytest.raises(ValueError, match="predict_proba"):
        ReliabilityDisplay.from_estimator(reg, X[:, :3], y)
    with pytest.raises(ValueError, match="predict_proba"):
        ReliabilityDisplay.from_estimator(joint, X[:, :3], y)
    with pytest.raises(NotFittedError):
        ReliabilityDisplay.from_estimator(hsproto.HypersphericalClassifier(), X, y)


# ------------------------------------------------------ PrototypeGeometryDisplay


@pytest.mark.parametrize("k, d", [(3, 2), (6, 3), (12, 3), (10, 4)])
def test_geometry_limit_line(k, d):
    P = hsproto.make_prototypes("auto", k, d, random_state=0)
    disp = PrototypeGeometryDisplay.from_prototypes(P)
    limit = math.degrees(math.acos(hsproto.known_limit(k, d)[0]))
    assert disp.limit_line_.get_xdata()[0] == pytest.approx(limit)
    assert disp.limit_angle == pytest.approx(limit)
    assert disp.limit_kind == hsproto.known_limit(k, d)[1]
    stats = hsproto.pairwise_cosine_stats(P)
    assert disp.min_line_.get_xdata()[0] == pytest.approx(
        math.degrees(math.acos(stats["max"])))
    assert len(disp.angles) == k * (k - 1) // 2
    assert sum(bar.get_height() for bar in disp.bars_) == k * (k - 1) // 2
    assert disp.ax_.get_xlabel() and disp.ax_.get_ylabel()
    assert f"K = {k}, D = {d}" in disp.ax_.get_title()
    labels = _legend_labels(disp.legend_)
    assert any(f"{limit:.2f}°" in text for text in labels)


def test_geometry_from_estimator(clf2, joint, reg):
    disp = PrototypeGeometryDisplay.from_estimator(clf2)
    assert disp.n_classes == 3 and disp.n_dims == 2
    assert np.allclose(disp.angles, 120.0)
    assert disp.limit_angle == pytest.approx(120.0)
    assert PrototypeGeometryDisplay.from_estimator(joint).n_dims == joint.n_dims_
    with pytest.raises(ValueError, match="no class prototypes"):
        PrototypeGeometryDisplay.from_estimator(reg)
    with pytest.raises(NotFittedError):
        PrototypeGeometryDisplay.from_estimator(hsproto.HypersphericalClassifier())


@pytest.mark.parametrize("P, match", [
    (np.ones((1, 3)), "at least 2 rows"),
    (np.ones(3), "2-d"),
    (np.array([[1.0, 0.0], [np.nan, 1.0]]), "NaN"),
])
def test_geometry_bad_input(P, match):
    with pytest.raises(ValueError, match=match):
        PrototypeGeometryDisplay.from_prototypes(P)


def test_geometry_bad_bins():
    with pytest.raises(ValueError, match="bins"):
        PrototypeGeometryDisplay.from_prototypes(np.eye(3), bins=0)


# -------------------------------------------------------- TrainingCurvesDisplay


def test_training_curves_with_validation_and_lr(clf6):
    disp = TrainingCurvesDisplay.from_estimator(clf6)
    assert set(disp.lines_) == {"train_loss", "valid_loss"}
    assert np.allclose(disp.lines_["train_loss"].get_ydata(), clf6.history_[:, "train_loss"])
    assert np.allclose(disp.lines_["valid_loss"].get_ydata(), clf6.history_[:, "valid_loss"])
    assert list(disp.lines_["train_loss"].get_xdata()) == list(clf6.history_[:, "epoch"])
    assert disp.ax_lr_ is not None and disp.ax_lr_ is not disp.ax_
    assert np.allclose(disp.lr_line_.get_ydata(), clf6.history_[:, "lr"])
    assert _legend_labels(disp.legend_) == ["train_loss", "valid_loss", "learning rate"]
    assert disp.ax_.get_xlabel() == "epoch" and disp.ax_.get_ylabel() == "loss"
    assert disp.ax_lr_.get_ylabel() == "learning rate" and disp.ax_.get_title()


def test_training_curves_keys_and_lr_switch(clf2):
    disp = TrainingCurvesDisplay.from_estimator(clf2, show_lr=False)
    assert list(disp.lines_) == ["train_loss"] and disp.ax_lr_ is None
    disp = TrainingCurvesDisplay.from_estimator(clf2, keys="dur")
    assert list(disp.lines_) == ["dur"] and disp.ax_.get_ylabel() == "value"
    with pytest.raises(ValueError, match="does not record"):
        TrainingCurvesDisplay.from_estimator(clf2, keys=["valid_loss"])
    with pytest.raises(ValueError, match="show_lr"):
        TrainingCurvesDisplay.from_estimator(clf2, show_lr="yes")
    with pytest.raises(NotFittedError):
        TrainingCurvesDisplay.from_estimator(hsproto.HypersphericalClassifier())


def test_training_curves_from_history():
    history = [{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": 0.5,
                                                 "valid_loss": 0.7}]
    disp = TrainingCurvesDisplay.from_history(history)
    assert np.isnan(disp.curves["valid_loss"][0]) and disp.ax_lr_ is None
    with pytest.raises(ValueError, match="no 'lr'"):
        TrainingCurvesDisplay.from_history(history, show_lr=True)
    with pytest.raises(ValueError, match="non-empty"):
        TrainingCurvesDisplay.from_history([])


# ------------------------------------------------------------- no matplotlib


def test_without_matplotlib_import_works_and_use_says_what_to_install():
    code = """
import sys
sys.modules["matplotlib"] = None          # import matplotlib raises ImportError
import numpy as np
import hsproto.plotting as plotting
for call in (lambda: plotting.PrototypeGeometryDisplay.from_prototypes(np.eye(3)),
             lambda: plotting.SphereDisplay.from_embeddings(np.eye(3)),
             lambda: plotting.ReliabilityDisplay.from_predictions([0, 1], [0.2, 0.9]),
             lambda: plotting.TrainingCurvesDisplay.from_history([{"train_loss": 1.0}]),
             lambda: plotting.SphereDisplay(np.eye(3)).plot()):
    try:
        call()
    except ImportError as exc:
        assert 'pip install "hsproto[plot]"' in str(exc) and "matplotlib" in str(exc), exc
    else:
        raise AssertionError("no ImportError")
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


def test_missing_matplotlib_in_process(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "hsproto\[plot\]"'):
        PrototypeGeometryDisplay.from_prototypes(np.eye(3))
