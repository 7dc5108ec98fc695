"""The loss variants, dynamic assignment, mixing and calibration through the estimators."""

from __future__ import annotations

import pickle
import typing
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris
from sklearn.preprocessing import StandardScaler

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator, Layout
from hsproto.assignment import DynamicAssignment, assign
from hsproto.losses.hpn import HPNLoss
from hsproto.metrics import expected_calibration_error
from hsproto.mixing import Mixer


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.mark.parametrize("loss", ["hpn", "mce", "cosine", "arcface", "vmf", "softmax"])
def test_each_classification_loss_learns_iris(iris, loss):
    X, y = iris
    clf = HypersphericalClassifier(loss=loss, max_epochs=60, lr=1e-2, random_state=0)
    clf.fit(X, y)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    if loss != "vmf":           # vmf's probabilities are sampled: a borderline may differ
        np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], clf.predict(X))
    np.testing.assert_array_equal(clf.classes_[clf.decision_function(X).argmax(1)],
                                  clf.predict(X))
    assert clf.prototypes_.shape == (3, clf.n_dims_)
    np.testing.assert_allclose(np.linalg.norm(clf.prototypes_, axis=1), 1.0, atol=1e-6)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), proba)


def test_vmf_predictions_are_deterministic_and_kappa_is_exposed(iris):
    X, y = iris
    clf = HypersphericalClassifier(loss="vmf", max_epochs=30, lr=1e-2, random_state=0)
    clf.fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))
    kappa = clf.embedding_norm(X)
    assert kappa.shape == (len(X),) and np.all(kappa > 0)
    loss = clf.net_.criterion_.loss
    assert float(loss.alpha) > 0          # the App. D scale was set from the data
    refit = HypersphericalClassifier(loss="vmf", max_epochs=30, lr=1e-2, random_state=0)
    np.testing.assert_array_equal(refit.fit(X, y).predict_proba(X), clf.predict_proba(X))


def test_softmax_baseline_reports_learned_directions(iris):
    X, y = iris
    clf = HypersphericalClassifier(loss="softmax", max_epochs=20, random_state=0).fit(X, y)
    weight = clf.net_.criterion_.loss.classifier.weight.detach().double().numpy()
    expected = weight / np.linalg.norm(weight, axis=1, keepdims=True)
    np.testing.assert_allclose(clf.prototypes_, expected, atol=1e-6)


def test_regression_mse_baseline_and_loss_task_errors():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3)).astype(np.float32)
    y = X @ [1.0, -1.0, 0.5]
    reg = HypersphericalRegressor(loss="mse", max_epochs=100, lr=1e-2, random_state=0)
    assert reg.fit(X, y).score(X, y) > 0.9
    with pytest.raises(ValueError, match="does not support.*regression"):
        HypersphericalRegressor(loss="cosine").fit(X, y)
    with pytest.raises(ValueError, match="does not support"):
        JointEstimator(loss="softmax").fit(X, np.column_stack([y > 0, y]))
    with pytest.raises(ValueError, match="does not support.*classification"):
        HypersphericalClassifier(loss="mse").fit(X, y > 0)


def test_unknown_loss_params_are_named(iris):
    X, y = iris
    with pytest.raises(ValueError, match="loss_params.*nonsense"):
        HypersphericalClassifier(loss="arcface", loss_params={"nonsense": 1}).fit(X, y)


def test_arcface_warmup_reaches_the_loss(iris):
    X, y = iris
    clf = HypersphericalClassifier(loss="arcface", loss_params={"warmup_epochs": 3},
                                   max_epochs=5, random_state=0).fit(X, y)
    assert clf.net_.criterion_.loss.epoch == 4


# ---------------------------------------------------------------- dynamic assignment
def test_assignment_recovers_a_planted_permutation():
    rng = np.random.default_rng(0)
    protos = np.linalg.qr(rng.normal(size=(40, 40)))[0][:30]
    planted = rng.permutation(30)
    means = protos[planted] + 0.05 * rng.normal(size=(30, 40))
    found, cost = assign(means, protos)
    np.testing.assert_array_equal(found, planted)
    assert cost == pytest.approx(-np.sum(means * protos[planted]))
    # the callback passes float32 tensors: same answer
    found_t, cost_t = assign(torch.as_tensor(means, dtype=torch.float32),
                             torch.as_tensor(protos, dtype=torch.float32))
    np.testing.assert_array_equal(found_t, planted)
    assert cost_t == pytest.approx(cost, rel=1e-5)


def test_dynamic_assignment_in_fit(iris):
    X, y = iris
    clf = HypersphericalClassifier(n_dims=2, prototypes="polygon", assignment="dynamic",
                                   max_epochs=40, lr=1e-2, random_state=0).fit(X, y)
    costs = clf.history_[:, "assignment_cost"]
    assert len(costs) == 40 and np.all(np.isfinite(costs))
    placed = HypersphericalClassifier(n_dims=2, prototypes="polygon", max_epochs=1,
                                      random_state=0).fit(X, y).prototypes_
    layout = clf.layout_
    assert layout.assignment is not None and layout.strategy == "polygon"
    np.testing.assert_allclose(layout.placed_prototypes, placed)
    np.testing.assert_allclose(clf.prototypes_, placed[layout.assignment])
    changes = clf.history_[:, "assignment_changes"]
    # a final assignment other than the identity took changes (changes may also cancel)
    if not np.array_equal(layout.assignment, np.arange(3)):
        assert sum(changes) > 0
    np.testing.assert_allclose(clf.net_.criterion_.loss.prototypes.numpy(),
                               clf.prototypes_, atol=1e-6)
    assert clf.score(X, y) > 0.8


def test_dynamic_assignment_keeps_the_layout_the_network_last_trained_on():
    """A reassignment at the end of the final epoch has no epoch to train on: it is
    undone, so the model does not predict with prototypes it never learned."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X, y = X[:500] / 16, y[:500]
    one = HypersphericalClassifier(assignment="dynamic", max_epochs=1,
                                   random_state=0).fit(X, y)
    assert one.history_[-1, "assignment_changes"] > 0          # proposed ...
    assert one.layout_.assignment is None                      # ... and undone
    np.testing.assert_allclose(one.prototypes_, one.layout_.placed_prototypes)
    two = HypersphericalClassifier(assignment="dynamic", max_epochs=2,
                                   random_state=0).fit(X, y)
    # epoch 1's reassignment was trained on in epoch 2 and is kept
    assert two.layout_.assignment is not None
    np.testing.assert_allclose(two.net_.criterion_.loss.prototypes.numpy(),
                               two.prototypes_, atol=1e-6)


def test_dynamic_assignment_interval_and_bad_params(iris):
    X, y = iris
    clf = HypersphericalClassifier(assignment="dynamic", assignment_params={"interval": 3},
                                   max_epochs=6, random_state=0).fit(X, y)
    assert "assignment_cost" in clf.history_[2] and "assignment_cost" not in clf.history_[1]
    for params, match in [({"interval": 0}, "interval"), ({"momentum": 1.0}, "momentum"),
                          ({"speed": 2}, "assignment_params")]:
        with pytest.raises(ValueError, match=match):
            HypersphericalClassifier(assignment="dynamic", assignment_params=params,
                                     max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="'assignment' parameter .* one of 'static', 'dynamic'"):
        HypersphericalClassifier(assignment="greedy", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="fixed prototypes"):
        HypersphericalClassifier(assignment="dynamic", loss="softmax", max_epochs=1).fit(X, y)
    assert not hasattr(HypersphericalClassifier(), "classes_")


@pytest.mark.parametrize("buffer_size", [1, 7, 10_000])
def test_dynamic_assignment_means_equal_the_sequential_per_sample_update(buffer_size):
    """The buffered, vectorised update equals Eq. 8 applied sample by sample in order
    (bias-corrected), whatever the buffer size and batch boundaries."""
    k, d, alpha = 4, 3, 0.7
    protos = torch.nn.functional.normalize(torch.randn(k, d), dim=1)
    layout = Layout(d, prototypes=protos.double().numpy())
    net = SimpleNamespace(criterion_=SimpleNamespace(loss=SimpleNamespace(prototypes=protos,
                                                                          layout=layout)))
    cb = DynamicAssignment(momentum=alpha, buffer_size=buffer_size).initialize()
    cb.on_train_begin(net)
    gen = torch.Generator().manual_seed(0)
    m, w = torch.zeros(k, d), torch.zeros(k)
    for size in (5, 9, 1, 12):
        z = torch.randn(size, d, generator=gen)
        labels = torch.randint(0, k - 1, (size,), generator=gen)    # class 3 never seen
        soft = torch.nn.functional.one_hot(labels, k).float() if size == 9 else labels
        cb.on_batch_end(net, batch=(None, soft), training=True, y_pred=z)
        for zi, c in zip(torch.nn.functional.normalize(z, dim=1), labels, strict=True):
            m[c] = alpha * m[c] + (1 - alpha) * zi
            w[c] = alpha * w[c] + (1 - alpha)
    expected = m / w.clamp_min(1e-12)[:, None]
    torch.testing.assert_close(cb.means, expected, atol=1e-6, rtol=1e-5)
    assert torch.equal(cb.means[3], torch.zeros(d))
    with pytest.raises(ValueError, match="buffer_size"):
        DynamicAssignment(buffer_size=0).initialize()


@pytest.mark.parametrize("n_classes", [5, 2**15 - 1, 2**15 + 10])
def test_stable_order_is_torchs_stable_argsort(n_classes):
    """The numpy radix path (CPU, < 2**15 classes) and the torch fallback both give the
    stable argsort the within-class positions rely on (ties in input order)."""
    from hsproto.assignment import _stable_order

    labels = torch.randint(0, n_classes, (3000,), generator=torch.Generator().manual_seed(1))
    labels[:50] = n_classes - 1                       # many ties, including the largest key
    assert torch.equal(_stable_order(labels, n_classes), torch.argsort(labels, stable=True))


# ---------------------------------------------------------------- mixing
def test_mixer_soft_labels_and_weights():
    torch.manual_seed(0)
    mixer = Mixer("mixup", 1.0, n_classes=3, n_input_dims=2)
    X = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    y = torch.tensor([0, 1, 2, 0])
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    Xm, soft, wm = mixer(X, y, weight)
    lam = float(soft[1, 1])
    np.testing.assert_allclose(soft.sum(1).numpy(), 1.0, atol=1e-6)
    torch.testing.assert_close(Xm, lam * X + (1 - lam) * X.roll(1, 0))
    torch.testing.assert_close(wm, lam * weight + (1 - lam) * weight.roll(1, 0))


def test_mixing_errors_and_fits(iris):
    X, y = iris
    with pytest.raises(ValueError, match="CutMix.*image"):
        HypersphericalClassifier(mixing="cutmix", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="'mixing' parameter .* must be one of None, 'mixup'"):
        HypersphericalClassifier(mixing="blend", max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="mixing_alpha"):
        HypersphericalClassifier(mixing="mixup", mixing_alpha=0, max_epochs=1).fit(X, y)
    for loss in ("hpn", "mce", "vmf"):
        clf = HypersphericalClassifier(mixing="mixup", loss=loss, class_weight="balanced",
                                       max_epochs=40, lr=1e-2, random_state=0).fit(X, y)
        assert clf.score(X, y) > 0.85
    rng = np.random.default_rng(0)
    images = rng.random((40, 1, 8, 8), dtype=np.float32)
    labels = np.arange(40) % 2
    images[labels == 1, :, :4] += 1.0
    clf = HypersphericalClassifier("cnn", mixing="both", max_epochs=5, random_state=0)
    assert clf.fit(images, labels).score(images, labels) >= 0.5


# ---------------------------------------------------------------- calibration
def test_ece_values_and_errors():
    y = np.array([0, 1, 1, 0, 1, 0])
    perfect = np.eye(2)[y]
    assert expected_calibration_error(y, perfect) == 0.0
    assert expected_calibration_error(y, np.eye(2)[1 - y]) == 1.0
    assert expected_calibration_error(y, np.full((6, 2), 0.5), n_bins=1) == pytest.approx(0.0)
    assert expected_calibration_error(["a", "b"], [[0.8, 0.2], [0.3, 0.7]],
                                      labels=["a", "b"]) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error(y, np.full((6, 2), np.nan))
    with pytest.raises(ValueError, match="n_bins"):
        expected_calibration_error(y, perfect, n_bins=0)
    with pytest.raises(ValueError, match="shapes"):
        expected_calibration_error(y, perfect[:3])
    with pytest.raises(ValueError, match="labels="):
        expected_calibration_error(["a", "b", "c"], np.full((3, 2), 0.5))


class _RecordingLoss(HPNLoss):
    seen: typing.ClassVar[list] = []

    def classification(self, z, target):
        _RecordingLoss.seen.append(tuple(target.shape))
        return super().classification(z, target)


@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_mixed_soft_labels_reach_the_loss(iris, class_weight):
    X, y = iris
    _RecordingLoss.seen.clear()
    HypersphericalClassifier(loss=_RecordingLoss, mixing="mixup", class_weight=class_weight,
                             max_epochs=1, batch_size=50).fit(X, y)
    assert _RecordingLoss.seen == [(50, 3)] * 3


@pytest.mark.parametrize(("loss", "factor"), [("vmf", 10.0), ("cosine", 10.0), ("hpn", None)])
def test_loss_parameters_get_their_own_learning_rate(iris, loss, factor):
    X, y = iris
    clf = HypersphericalClassifier(loss=loss, lr=2e-3, max_epochs=1, lr_schedule=None,
                                   random_state=0)
    groups = clf.fit(X, y).net_.optimizer_.param_groups
    if factor is None:
        assert [g["lr"] for g in groups] == [2e-3]
    else:
        assert sorted(g["lr"] for g in groups) == pytest.approx([2e-3, 2e-3 * factor])
    with pytest.raises(ValueError, match="param_lr_factor"):
        HypersphericalClassifier(loss="vmf", loss_params={"param_lr_factor": 0}).fit(X, y)
