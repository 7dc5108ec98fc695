"""Integration, reproducibility and bad-input tests of the three estimators."""

import copy
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_blobs, make_regression
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from hsproto import (
    HypersphericalClassifier,
    HypersphericalRegressor,
    JointEstimator,
    joint_scorers,
)
from hsproto.datasets import load_digits_data, load_rotated_digits

FAST = {"max_epochs": 15, "lr": 1e-2, "random_state": 0,
        "module_params": {"hidden_layer_sizes": (32,)}}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(300, n_features=6, centers=4, cluster_std=1.5, random_state=0)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def reg_data():
    X, y = make_regression(200, n_features=5, noise=5.0, random_state=0)
    return X, y


@pytest.fixture(scope="module")
def joint_data():
    X, y = load_rotated_digits(as_images=False)
    return X[:400], y[:400]


def test_classifier_fits_and_predicts(blobs):
    X, y = blobs
    clf = HypersphericalClassifier(**FAST).fit(X, y)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X))
    assert clf.decision_function(X).shape == (300, 4)
    assert clf.prototypes_.shape == (4, 3)                  # default n_dims = K - 1
    Z = clf.transform(X)
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, rtol=1e-5)
    assert list(clf.get_feature_names_out()) == [f"hypersphericalclassifier{i}"
                                                 for i in range(3)]
    assert len(clf.history_) == 15


def test_string_labels_and_binary_decision(blobs):
    X, y = blobs
    labels = np.array(["cat", "dog"])[(y >= 2).astype(int)]
    clf = HypersphericalClassifier(**FAST).fit(X, labels)
    assert set(clf.predict(X)) <= {"cat", "dog"}
    d = clf.decision_function(X)
    assert d.shape == (300,)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(d > 0).astype(int)])


def test_class_weight_balanced_helps_minority():
    X, y = make_blobs(n_samples=[400, 20], n_features=2, centers=[[0, 0], [1.5, 1.5]],
                      cluster_std=1.0, random_state=0)
    plain = HypersphericalClassifier(**FAST).fit(X, y)
    balanced = HypersphericalClassifier(**FAST, class_weight="balanced").fit(X, y)
    recall = [np.mean(m.predict(X[y == 1]) == 1) for m in (plain, balanced)]
    assert recall[1] > recall[0]
    with pytest.raises(ValueError), pytest.warns(UserWarning, match="not labels of y"):
        HypersphericalClassifier(**FAST, class_weight={7: 1.0}).fit(X, y)


def test_pipeline_cv_grid_clone(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), HypersphericalClassifier(**FAST))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(HypersphericalClassifier(**FAST),
                        {"prototypes": ["auto", "random"], "n_dims": [3, 5]}, cv=2, n_jobs=2)
    grid.fit(X, y)
    assert set(grid.best_params_) == {"prototypes", "n_dims"}
    est = HypersphericalClassifier(**FAST).fit(X, y)
    fresh = clone(est)
    assert not hasattr(fresh, "net_") and fresh.get_params() == est.get_params()


def test_calibrated_classifier(blobs):
    X, y = blobs
    cal = CalibratedClassifierCV(HypersphericalClassifier(**FAST), cv=3).fit(X, y)
    np.testing.assert_allclose(cal.predict_proba(X).sum(1), 1, rtol=1e-6)
    assert cal.score(X, y) > 0.85


@pytest.mark.parametrize("make", [
    lambda: HypersphericalClassifier(**FAST),
    lambda: HypersphericalRegressor(**FAST),
])
def test_joblib_and_pickle_round_trip(tmp_path, blobs, make):
    X, y = blobs
    est = make().fit(X, y.astype(float) if "Regressor" in type(make()).__name__ else y)
    path = tmp_path / "model.joblib"
    joblib.dump(est, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).transform(X),
                                  est.transform(X))


@pytest.mark.parametrize("loss", ["hpn", "mce", "cosine", "arcface", "vmf", "softmax"])
def test_reproducible_and_global_rng_untouched(blobs, loss):
    """Every loss, also those with randomly initialised parameters (softmax's classifier
    was once built outside the seeded block: different fits per process)."""
    X, y = blobs
    torch.manual_seed(123)
    state = torch.get_rng_state()
    np_state = np.random.get_state()  # noqa: NPY002 (the legacy global RNG)
    a = HypersphericalClassifier(**FAST, loss=loss).fit(X, y).predict_proba(X)
    torch.manual_seed(7)                          # the global seed must not matter
    state = torch.get_rng_state()
    b = HypersphericalClassifier(**FAST, loss=loss).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert torch.equal(torch.get_rng_state(), state)
    after = np.random.get_state()  # noqa: NPY002
    np.testing.assert_array_equal(after[1], np_state[1])
    assert after[2:] == np_state[2:]          # position in the key and the cached gaussian
    c = HypersphericalClassifier(**{**FAST, "random_state": 1}, loss=loss).fit(X, y)
    assert not np.array_equal(a, c.predict_proba(X))


def test_regressor(reg_data):
    X, y = reg_data
    reg = make_pipeline(StandardScaler(), HypersphericalRegressor(
        max_epochs=150, random_state=0)).fit(X, y)
    assert reg.score(X, y) > 0.8
    pred = reg.predict(X)
    assert pred.shape == (200,) and pred.min() >= y.min() - 1e-6 and pred.max() <= y.max() + 1e-6


def test_regressor_multi_output(reg_data):
    X, y = reg_data
    Y = np.column_stack([y, -2 * y + 3])
    reg = HypersphericalRegressor(max_epochs=100, random_state=0).fit(X, Y)
    assert reg.poles_.shape == (2, 4)                       # default n_dims = T + 2
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, Y) > 0.7
    with pytest.raises(ValueError, match=r"too small for 2 regression target.*>= 3"):
        HypersphericalRegressor(n_dims=2, **FAST).fit(X, Y)


def test_sgd_lr_robustness(reg_data):
    """HPN's claim: the cosine regression loss stays finite for large SGD steps."""
    X, y = reg_data
    X = StandardScaler().fit_transform(X)
    for lr in (1e-1, 1e-2):
        reg = HypersphericalRegressor(**{**FAST, "optimizer": "sgd", "lr": lr}).fit(X, y)
        assert np.all(np.isfinite(reg.predict(X)))
        assert np.isfinite(reg.history_[-1, "train_loss"])


def test_joint_estimator(joint_data):
    X, y = joint_data
    # the mechanics, without the default dropout (which needs more epochs here)
    est = JointEstimator(max_epochs=40, random_state=0, n_dims=3,
                         module_params={"dropout": 0.0}).fit(X, y)
    assert est.prototypes_.shape == (5, 3) and est.poles_.shape == (1, 3)
    np.testing.assert_allclose(est.prototypes_ @ est.poles_.T, 0, atol=1e-12)
    pred = est.predict(X)
    assert pred.shape == (400, 2)
    assert np.mean(pred[:, 0] == y[:, 0]) > 0.8
    assert 0.0 < est.score(X, y) <= 1.0
    res = cross_validate(JointEstimator(max_epochs=20, random_state=0), X, y,
                         cv=KFold(2, shuffle=True, random_state=0), scoring=joint_scorers())
    assert res["test_accuracy"].mean() > 0.5 and res["test_neg_mae"].mean() < 0


def test_joint_string_labels_and_dataframe(joint_data):
    pd = pytest.importorskip("pandas")
    X, y = joint_data
    df = pd.DataFrame({"digit": [f"d{int(v)}" for v in y[:, 0]], "angle": y[:, 1]})
    est = JointEstimator(**FAST).fit(X, df)
    pred = est.predict(X)
    assert pred.dtype == object and str(pred[0, 0]).startswith("d")
    assert est.predict_values(X).shape == (400, 1)


def test_joint_object_array_with_numeric_labels(joint_data):
    """An object array of numbers (e.g. built with np.column_stack over mixed columns)
    keeps numeric labels, like the float array does."""
    X, y = joint_data
    obj = np.empty(y.shape, dtype=object)
    obj[:, 0], obj[:, 1] = y[:, 0].astype(int), y[:, 1]
    est = JointEstimator(**FAST).fit(X, obj)
    assert est.classes_.dtype.kind in "iu"
    np.testing.assert_array_equal(est.classes_, np.unique(y[:, 0]))
    mixed = obj.copy()
    mixed[0, 0] = "seven"
    with pytest.raises(ValueError, match="labels mix strings and numbers"):
        JointEstimator(**FAST).fit(X, mixed)
    with pytest.raises(ValueError, match="labels mix strings and numbers"):
        HypersphericalClassifier(**FAST).fit(X, mixed[:, 0])


def test_cnn_backbone():
    X, y = load_digits_data(as_images=True)
    clf = HypersphericalClassifier("cnn", max_epochs=3, random_state=0).fit(X[:300], y[:300])
    assert clf.predict(X[:10]).shape == (10,)
    with pytest.raises(ValueError, match="'mlp' backbone expects 2-d X"):
        HypersphericalClassifier("mlp", **{k: v for k, v in FAST.items()
                                           if k != "module_params"}).fit(X[:50], y[:50])
    with pytest.raises(ValueError, match="'cnn' backbone expects 4-d X"):
        HypersphericalClassifier("cnn", max_epochs=1).fit(X[:50].reshape(50, -1), y[:50])


def test_cnn_backbone_runs_channels_last_and_matches_nchw():
    """The cnn keeps its conv weights and activations channels-last; NCHW input gives the
    same output as the same weights computed in NCHW, and a fitted model round-trips."""
    from hsproto.backbones import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN((3, 10, 10)).eval()
    conv = net[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    assert not conv.is_contiguous()
    x = torch.randn(4, 3, 10, 10)                               # plain NCHW input
    with torch.no_grad():
        out = net(x)
        reference = torch.nn.Sequential.forward(
            copy.deepcopy(net).to(memory_format=torch.contiguous_format), x)
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)
    X, y = load_digits_data(as_images=True)
    clf = HypersphericalClassifier("cnn", max_epochs=1, random_state=0).fit(X[:100], y[:100])
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.decision_function(X[:20]),
                                  clf.decision_function(X[:20]))
    with pytest.raises(ValueError, match=r"shape \(5, 1, 64\).*fitted on 4-d X"):
        clf.predict(X[:5].reshape(5, 1, 64))                     # same n_features, wrong rank


def test_custom_module_class_and_instance(blobs):
    X, y = blobs

    class Tiny(torch.nn.Module):
        def __init__(self, width=8):
            super().__init__()
            self.layer = torch.nn.Linear(6, width)

        def forward(self, x):
            return torch.relu(self.layer(x))

    a = HypersphericalClassifier(Tiny, module_params={"width": 16}, max_epochs=5).fit(X, y)
    assert a.net_.module_.head.linear.in_features == 16
    inst = Tiny()
    b = HypersphericalClassifier(inst, max_epochs=5).fit(X, y)
    assert b.net_.module_.backbone is not inst                 # deep-copied
    with pytest.raises(ValueError, match="must return a 2-d tensor"):
        HypersphericalClassifier(torch.nn.Identity(), max_epochs=1).fit(
            X.reshape(300, 2, 3), y)


def test_user_callbacks_and_early_stopping(blobs):
    X, y = blobs

    class Count(Callback):
        def initialize(self):
            self.epochs = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = Count()
    est = HypersphericalClassifier(**FAST, callbacks=[counter]).fit(X, y)
    assert dict(est.net_.callbacks_)["user_0"].epochs == 15   # a copy is trained
    assert not hasattr(counter, "epochs")                      # the parameter is untouched
    es = HypersphericalClassifier(**{**FAST, "max_epochs": 300}, early_stopping=True,
                                  n_iter_no_change=3).fit(X, y)
    assert len(es.history_) < 300 and "valid_loss" in es.history_[-1]


def test_verbose_prints_epoch_table(blobs, capsys):
    X, y = blobs
    HypersphericalClassifier(**{**FAST, "max_epochs": 2}, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "train_loss" in out and "epoch" in out


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("make", [HypersphericalClassifier, HypersphericalRegressor])
def test_unfitted(make, blobs):
    with pytest.raises(NotFittedError):
        make().predict(blobs[0])
    with pytest.raises(NotFittedError):
        make().transform(blobs[0])


@pytest.mark.parametrize("params,match", [
    ({"prototypes": "nope"}, "Unknown prototype strategy 'nope'"),
    ({"loss": "nope"}, "Unknown loss 'nope'"),
    ({"module": "nope"}, "Unknown backbone 'nope'"),
    ({"n_dims": 2, "prototypes": "simplex"}, "simplex.*does not support n_classes=4"),
    ({"optimizer": "adagrad"}, "'optimizer' parameter .* must be one of 'adam'"),
    ({"device": "cuda:7" if not torch.cuda.is_available() else "tpu"}, "device"),
    ({"max_epochs": 0}, "'max_epochs' parameter .* must be an integer >= 1. Got 0"),
    ({"lr": -1.0}, "'lr' parameter .* must be a finite number > 0. Got -1.0"),
    ({"validation_fraction": 1.5}, "'validation_fraction' .* in \\(0, 1\\)"),
    ({"n_dims": 0}, "'n_dims' parameter .* must be None or an integer >= 1. Got 0 instead"),
    ({"module_params": {"widht": 3}}, "Invalid module_params \\['widht'\\] for module 'MLP'"),
    ({"callbacks": ["not a callback"]}, "'callbacks' .* list of skorch callbacks"),
    ({"proba_scale": 0.0}, "'proba_scale' parameter .* must be a finite number > 0"),
    ({"proba_scale": float("nan")}, "'proba_scale'"),
    ({"loss": "hpn", "loss_params": {"margin": 0.3}},
     "Invalid loss_params \\['margin'\\] for loss 'hpn'"),
    ({"prototype_params": {"steps": 3}, "prototypes": "simplex"}, "accepts none"),
    ({"predict_batch_size": 0}, "'predict_batch_size'"),
])
def test_bad_parameters_leave_nothing_fitted(params, match, blobs):
    X, y = blobs
    est = HypersphericalClassifier(**{**FAST, **params})
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)
    assert not [k for k in vars(est) if k.endswith("_") and not k.startswith("__")]
    with pytest.raises(NotFittedError):
        est.predict(X)


def test_bad_data(blobs):
    X, y = blobs
    clf = HypersphericalClassifier(**FAST)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(bad, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.fit(bad, y)
    with pytest.raises(ValueError, match="at least 2 classes; got 1 class"):
        clf.fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match="Expected 2D array|Expected a 2-dimensional"):
        clf.fit(X[:, 0], y)
    with pytest.raises(ValueError, match="could not convert|numeric"):
        clf.fit(np.array([["a", "b"]] * 10), [0, 1] * 5)
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, len(X)))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="has 6 features|expecting 6 features"):
        clf.predict(X[:, :4])
    with pytest.raises(ValueError, match="non-zero"):
        HypersphericalClassifier(**FAST).fit(X, y, sample_weight=np.zeros(len(X)))


def test_bad_regression_targets(reg_data):
    X, y = reg_data
    bad = y.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        HypersphericalRegressor(**FAST).fit(X, bad)


def test_bad_joint_targets(joint_data):
    X, y = joint_data
    with pytest.raises(ValueError, match=r"shape \(n_samples, 1 \+ n_targets\)"):
        JointEstimator(**FAST).fit(X, y[:, 0])
    bad = y.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="regression targets .* NaN"):
        JointEstimator(**FAST).fit(X, bad)
    with pytest.raises(ValueError, match="use n_dims >= 3"):
        JointEstimator(**FAST, n_dims=2).fit(X, y)


@pytest.mark.parametrize("make", [HypersphericalClassifier, HypersphericalRegressor])
def test_mlp_default_dropout_is_the_suites_choice(make, blobs, reg_data):
    """docs/defaults.md, fourth round: the mlp backbone drops 0.4 of each hidden layer's
    activations by default; module_params={"dropout": 0.2} gives the old default back."""
    X, y = blobs if make is HypersphericalClassifier else reg_data

    def rates(est):
        return [m.p for m in est.net_.module_.modules() if isinstance(m, torch.nn.Dropout)]

    assert rates(make(**FAST).fit(X, y)) == [0.4]
    old = dict(FAST, module_params={**FAST["module_params"], "dropout": 0.2})
    assert rates(make(**old).fit(X, y)) == [0.2]
