"""The estimators' one straight path: the parameter table runs first, the layout flows
from placement to the loss to ``layout_``, and every inference call is one forward pass."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from hsproto import (
    HypersphericalClassifier,
    HypersphericalRegressor,
    JointEstimator,
    Layout,
    PrototypeStrategy,
    make_layout,
)
from hsproto._validation import InvalidParameterError
from hsproto.losses import unit
from hsproto.losses._vmf_math import bessel_ratio
from hsproto.prototypes import layout as layout_module

ESTIMATORS = [HypersphericalClassifier, HypersphericalRegressor, JointEstimator]
CLASSIFICATION_LOSSES = ["hpn", "mce", "cosine", "arcface", "vmf", "softmax"]


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(300, 8, n_informative=6, n_classes=3, random_state=0)
    return X.astype(np.float32), y


def _y(make, y):
    if make is HypersphericalRegressor:
        return y.astype(float)
    if make is JointEstimator:
        return np.column_stack([y, np.linspace(0, 1, len(y))])
    return y


# --------------------------------------------------------------------- parameters
@pytest.mark.parametrize("make", ESTIMATORS)
def test_the_table_covers_every_public_parameter(make):
    assert set(make._parameter_constraints) == set(make().get_params())


@pytest.mark.parametrize("make", ESTIMATORS)
def test_every_parameter_is_checked_before_any_placement(make, data, monkeypatch):
    def no_placement(*args, **kwargs):
        raise AssertionError("placement ran before the parameters were checked")

    monkeypatch.setattr(layout_module, "make_prototypes", no_placement)
    X, y = data
    for name in make().get_params():
        est = make(max_epochs=1).set_params(**{name: object()})
        with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of "
                                                        f"{make.__name__} must be"):
            est.fit(X, _y(make, y))
        assert not hasattr(est, "net_")


@pytest.mark.parametrize(("params", "match"), [
    ({"proba_scale": -1.0}, "'proba_scale' parameter .* finite number > 0 or 'auto'. Got -1.0"),
    ({"proba_scale": math.inf}, "'proba_scale'"),
    ({"lr": True}, "'lr' parameter"),
    ({"batch_size": 2.5}, "'batch_size' parameter .* an integer >= 1"),
    ({"random_state": -1}, "'random_state' parameter .* None or an integer in"),
    ({"loss_params": {"margn": 0.2}, "loss": "arcface"}, "Invalid loss_params \\['margn'\\] "
                                                           "for loss 'arcface'.*margin"),
    ({"module_params": {"input_shape": (3,)}}, "cannot set 'input_shape'"),
    ({"assignment": "dynamic", "assignment_params": {"speed": 1}}, "assignment_params"),
    ({"loss": "mse"}, "loss 'mse' does not support \\['classification'\\]"),
])
def test_bad_values_are_named_before_placement(params, match, data, monkeypatch):
    monkeypatch.setattr(layout_module, "make_prototypes",
                        lambda *a, **k: pytest.fail("placement ran first"))
    with pytest.raises(ValueError, match=match):
        HypersphericalClassifier(max_epochs=1, **params).fit(*data)


def test_table_accepts_numpy_scalars_and_sklearn_style_values(data):
    X, y = data
    clf = HypersphericalClassifier(max_epochs=np.int64(2), lr=np.float32(1e-3),
                                   early_stopping=np.bool_(False), verbose=False,
                                   random_state=np.random.RandomState(0),
                                   device=torch.device("cpu")).fit(X, y)
    assert clf.predict(X).shape == (len(X),)


# --------------------------------------------------------------------- layout
def test_layout_records_the_placement_and_is_read_only():
    layout = make_layout(3, n_classes=4)                  # auto chooses the simplex
    assert (layout.strategy, layout.n_classes, layout.n_targets) == ("simplex", 4, 0)
    assert layout.neighbour_angle == pytest.approx(math.acos(-1 / 3))
    with pytest.raises(ValueError, match="read-only"):
        layout.prototypes[0, 0] = 2.0
    assert make_layout(3, n_classes=7).strategy == "separation"
    assert make_layout(3, n_classes=7).neighbour_angle is None
    joint = make_layout(4, n_classes=3, n_targets=1)
    np.testing.assert_array_equal(joint.poles, [[1, 0, 0, 0]])
    np.testing.assert_allclose(joint.prototypes[:, 0], 0.0)
    assert make_layout(3, n_targets=2).prototypes is None


def test_reassign_permutes_without_moving_the_placement():
    layout = Layout(2, prototypes=np.eye(2), strategy="one_hot")
    moved = layout.reassign([1, 0])
    np.testing.assert_array_equal(moved.prototypes, [[0, 1], [1, 0]])
    np.testing.assert_array_equal(moved.placed_prototypes, np.eye(2))
    assert layout.assignment is None and moved.strategy == "one_hot"
    for bad in ([0, 0], [0, 1, 2], [0.0, 1.0]):
        with pytest.raises(ValueError, match="permutation"):
            layout.reassign(bad)
    with pytest.raises(ValueError, match="no class prototypes"):
        Layout(2, poles=np.eye(1, 2)).reassign([0])
    with pytest.raises(ValueError, match="needs class prototypes"):
        Layout(2)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_fitted_layout_is_what_the_loss_trained_with(make, data):
    X, y = data
    est = make(max_epochs=2, random_state=0).fit(X, _y(make, y))
    assert est.layout_ is est.net_.criterion_.loss.layout
    np.testing.assert_array_equal(est.poles_, est.layout_.poles)
    if est.layout_.prototypes is not None:
        np.testing.assert_array_equal(est.prototypes_, est.layout_.prototypes)


def test_attributes_are_set_before_training_so_callbacks_can_predict(data):
    from skorch.callbacks import Callback

    X, y = data
    seen = []

    class Peek(Callback):
        def on_epoch_end(self, net, **kwargs):
            seen.append(float(np.mean(clf.predict(X) == y)))

    clf = HypersphericalClassifier(max_epochs=3, random_state=0, callbacks=[Peek()])
    clf.fit(X, y)
    assert len(seen) == 3 and seen[-1] == clf.score(X, y)


# --------------------------------------------------------------------- inference
def _forward_calls(est):
    calls = []
    est.net_.module_.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    return calls


@pytest.mark.parametrize("loss", CLASSIFICATION_LOSSES)
def test_classifier_inference_is_one_pass_in_large_batches(loss, data):
    X, y = data
    clf = HypersphericalClassifier(loss=loss, max_epochs=3, random_state=0,
                                   predict_batch_size=128).fit(X, y)
    calls = _forward_calls(clf)
    for method in ("predict", "predict_proba", "decision_function", "transform",
                   "embedding_norm"):
        calls.clear()
        getattr(clf, method)(X)
        assert calls == [128, 128, 44], method
    scores, proba = clf.decision_function(X), clf.predict_proba(X)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[scores.argmax(1)])
    if loss != "vmf":       # vmf's probabilities are sampled (documented)
        np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(1)])
    assert proba.dtype == np.float64 and np.allclose(proba.sum(1), 1.0)


@pytest.mark.parametrize("make", [HypersphericalRegressor, JointEstimator])
def test_regression_and_joint_inference_is_one_pass(make, data):
    X, y = data
    est = make(max_epochs=2, random_state=0).fit(X, _y(make, y))
    calls = _forward_calls(est)
    est.predict(X)
    assert calls == [300]               # predict_batch_size=4096 by default


def test_float64_input_is_converted_per_batch_and_matches_float32(data):
    X, y = data
    clf = HypersphericalClassifier(max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.transform(X.astype(np.float64)), clf.transform(X))


def test_vmf_predict_uses_the_mean_directions(data):
    X, y = data
    clf = HypersphericalClassifier(loss="vmf", max_epochs=20, random_state=0).fit(X, y)
    loss = clf.net_.criterion_.loss
    with torch.no_grad():
        z = clf.net_.module_.eval()(torch.as_tensor(X))
        w = loss.class_weights()
        kappa_w = w.norm(dim=1)
        # beta E[w_k]^T E[z] = beta A(kappa) A(kappa_k) cos(z, mu_k): the argmax of
        # A(kappa_k) cos(z, mu_k), no sampling
        ratio = torch.as_tensor([float(bessel_ratio(k[None], clf.n_dims_)[0])
                                 for k in kappa_w])
        expected = (ratio * (unit(z) @ (w / kappa_w[:, None]).T)).argmax(1)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[expected.numpy()])
    # early in training the sampled posterior is flat and its argmax noisy; the mean
    # directions are at least as accurate (digits, 100 epochs: 0.980 vs 0.978 held out)
    sampled = clf.classes_[clf.predict_proba(X).argmax(1)]
    assert np.mean(clf.predict(X) == y) >= np.mean(sampled == y)


def test_a_pickle_from_another_version_warns(data, monkeypatch):
    import pickle

    from hsproto.estimators import _base

    X, y = data
    clf = HypersphericalClassifier(max_epochs=1, random_state=0).fit(X, y)
    blob = pickle.dumps(clf)
    pickle.loads(blob)                                  # same version: silent
    monkeypatch.setattr(_base, "__version__", "9.9.9")
    with pytest.warns(UserWarning, match=r"pickled by hsproto .* loaded by hsproto 9.9.9"):
        again = pickle.loads(blob)
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))


class _Stretched(PrototypeStrategy):
    """Overrides generate (bypassing the base class's normalisation): rows of norm 2."""

    def generate(self, n_classes, n_dims, *, random_state=None):
        return 2 * np.eye(n_classes, n_dims)


def test_a_placement_of_non_unit_rows_is_refused_naming_the_class(data):
    X, y = data
    with pytest.raises(ValueError, match=r"prototype strategy \S*test_straight_path\._Stretched "
                                         r"returned rows that are not unit vectors"):
        HypersphericalClassifier(prototypes=_Stretched, n_dims=3, max_epochs=1).fit(X, y)


def test_duplicate_rows_are_found_by_the_pairwise_and_the_rounded_check(monkeypatch):
    from hsproto.prototypes import _api

    P = make_layout(8, n_classes=40, strategy="separation", random_state=0).prototypes.copy()
    P[17] = P[3] * (1 + 1e-9)
    P[17] /= np.linalg.norm(P[17])
    for limit in (_api._PAIRWISE_LIMIT, 0):        # 0: the path of very large layouts
        monkeypatch.setattr(_api, "_PAIRWISE_LIMIT", limit)
        assert _api._duplicate_pair(P)[:2] in ((3, 17), (17, 3))
        assert _api._duplicate_pair(np.delete(P, 17, axis=0)) is None


@pytest.mark.parametrize(("k", "d"), [(1, 3), (0, 3), (3, 0), (2.5, 3), ("3", 3), (3, 1)])
def test_supports_answers_for_sizes_no_strategy_can_place(k, d):
    from hsproto.prototypes import get_strategy

    for name in ("auto", "simplex", "random"):
        assert get_strategy(name).supports(k, d) is False
    assert get_strategy("random").supports(2, 1) is True
