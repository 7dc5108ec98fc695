"""Training recipes: schedules, warm-up, SGD momentum, backbone lr, precision, compile."""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from hsproto import HypersphericalClassifier, HypersphericalRegressor


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16.0).astype(np.float32), y[:300]


def _clf(**kw):
    kw.setdefault("max_epochs", 6)
    kw.setdefault("lr_schedule", None)      # a constant lr unless a test names one
    return HypersphericalClassifier(random_state=0, **kw)


def _lrs(est):
    return np.asarray(est.history_[:, "lr"])


def test_step_schedule_with_warmup_in_history(digits):
    X, y = digits
    clf = _clf(max_epochs=8, lr=0.1, optimizer="sgd", lr_schedule="step", loss="hpn",
               lr_schedule_params={"milestones": [5, 7], "gamma": 0.1},
               warmup_epochs=2).fit(X, y)
    np.testing.assert_allclose(_lrs(clf), [0.1 / 3, 0.2 / 3, 0.1, 0.1, 0.1, 0.01, 0.01,
                                           0.001], rtol=1e-6)


def test_step_schedule_defaults_to_hpn_fractions(digits):
    X, y = digits
    clf = _clf(max_epochs=10, lr=0.1, optimizer="sgd", lr_schedule="step",
               loss="hpn").fit(X, y)
    # HPN: ÷10 at 100 and 200 of 250 epochs -> at 4 and 8 of 10
    np.testing.assert_allclose(_lrs(clf), [0.1] * 4 + [0.01] * 4 + [0.001] * 2, rtol=1e-6)


def test_cosine_and_constant_lr(digits):
    X, y = digits
    lrs = _lrs(_clf(lr=0.01, lr_schedule="cosine").fit(X, y))
    expected = 0.005 * (1 + np.cos(np.pi * np.arange(6) / 6))
    np.testing.assert_allclose(lrs, expected, rtol=1e-6)
    # the classifier's default schedule is the cosine one (docs/defaults.md)
    default = HypersphericalClassifier(lr=0.01, max_epochs=6, random_state=0).fit(X, y)
    np.testing.assert_allclose(_lrs(default), expected, rtol=1e-6)
    np.testing.assert_allclose(_lrs(_clf(lr=0.01).fit(X, y)), [0.01] * 6)
    # the regressor keeps a constant learning rate by default
    reg = HypersphericalRegressor(lr=0.01, max_epochs=3, random_state=0).fit(
        X, y.astype(np.float32))
    np.testing.assert_allclose(_lrs(reg), [0.01] * 3)


def test_onecycle_steps_per_batch(digits):
    X, y = digits
    clf = _clf(lr=0.01, lr_schedule="onecycle", batch_size=64).fit(X, y)
    lrs = _lrs(clf)
    assert lrs[0] < 0.01 / 10 and lrs.max() > lrs[0] * 5 and lrs[-1] < lrs.max()
    # with early stopping the steps count the training part only
    _clf(lr=0.01, lr_schedule="onecycle", early_stopping=True, batch_size=64).fit(X, y)


def test_torch_scheduler_class(digits):
    X, y = digits
    clf = _clf(lr=0.01, lr_schedule=torch.optim.lr_scheduler.ExponentialLR,
               lr_schedule_params={"gamma": 0.5}).fit(X, y)
    np.testing.assert_allclose(_lrs(clf), 0.01 * 0.5 ** np.arange(6), rtol=1e-6)
    _clf(lr=0.01, lr_schedule=torch.optim.lr_scheduler.ReduceLROnPlateau,
         lr_schedule_params={"patience": 1}).fit(X, y)


def test_schedule_errors(digits):
    X, y = digits
    with pytest.raises(ValueError, match="warms up by itself"):
        _clf(lr_schedule="onecycle", warmup_epochs=2).fit(X, y)
    with pytest.raises(ValueError, match=r"accepts lr_schedule_params \['eta_min'\]"):
        _clf(lr_schedule="cosine", lr_schedule_params={"gamma": 2}).fit(X, y)
    with pytest.raises(ValueError, match="milestones"):
        _clf(lr_schedule="step", lr_schedule_params={"milestones": [0]},
             warmup_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="warmup_epochs=6 must be smaller"):
        _clf(warmup_epochs=6).fit(X, y)
    with pytest.raises(ValueError, match="without an lr_schedule"):
        _clf(lr_schedule_params={"gamma": 2}).fit(X, y)
    with pytest.raises(ValueError, match="Invalid lr_schedule_params"):
        _clf(lr_schedule=torch.optim.lr_scheduler.StepLR,
             lr_schedule_params={"nope": 1}).fit(X, y)
    with pytest.raises(ValueError, match="'lr_schedule' parameter"):
        _clf(lr_schedule="linear").fit(X, y)


def test_momentum_nesterov_and_backbone_lr(digits):
    X, y = digits
    clf = _clf(max_epochs=1, optimizer="sgd", momentum=0.8, nesterov=True,
               backbone_lr=1e-4, loss="hpn").fit(X, y)       # no learned-scale group
    groups = clf.net_.optimizer_.param_groups
    assert all(g["momentum"] == 0.8 and g["nesterov"] for g in groups)
    lrs = sorted(g["lr"] for g in groups)
    assert lrs == [1e-4, 1e-3]
    assert _clf(max_epochs=1, optimizer="sgd").fit(X, y).net_.optimizer_.param_groups[0][
        "momentum"] == 0.9
    with pytest.raises(ValueError, match="Adam takes no 'momentum'"):
        _clf(momentum=0.9).fit(X, y)
    with pytest.raises(ValueError, match="nesterov=True needs momentum"):
        _clf(optimizer="sgd", momentum=0.0, nesterov=True).fit(X, y)


def test_bf16_on_cpu_runs_the_network_in_bf16(digits):
    X, y = digits
    clf = _clf(max_epochs=15, precision="bf16", lr=1e-2).fit(X, y)
    dtypes = []
    hook = clf.net_.module_.backbone.register_forward_hook(
        lambda m, i, o: dtypes.append(o.dtype))
    proba = clf.predict_proba(X)
    hook.remove()
    assert dtypes == [torch.bfloat16]
    assert proba.dtype == np.float64 and np.all(np.isfinite(proba))
    assert clf.score(X, y) > 0.9
    assert next(clf.net_.module_.parameters()).dtype == torch.float32
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    reg = HypersphericalRegressor(max_epochs=2, precision="bf16", random_state=0)
    assert np.all(np.isfinite(reg.fit(X, X[:, 10]).predict(X)))


def test_precision_the_device_cannot_run(digits):
    X, y = digits
    with pytest.raises(ValueError, match="'16-mixed'.*needs a CUDA device"):
        _clf(precision="16-mixed").fit(X, y)
    with pytest.raises(ValueError, match="'precision' parameter"):
        _clf(precision="fp8").fit(X, y)


def test_compile_through_skorch(digits):
    X, y = digits
    clf = _clf(max_epochs=2, compile={"backend": "eager"}).fit(X, y)
    assert isinstance(clf.net_.module_, torch._dynamo.eval_frame.OptimizedModule)
    ref = _clf(max_epochs=2).fit(X, y)
    np.testing.assert_allclose(clf.decision_function(X), ref.decision_function(X),
                               atol=1e-5)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(loaded.decision_function(X), clf.decision_function(X),
                               atol=1e-6)


def test_scheduled_model_pickles_and_refits(digits):
    X, y = digits
    clf = _clf(max_epochs=4, optimizer="sgd", lr=0.05, lr_schedule="cosine",
               warmup_epochs=1).fit(X, y)
    loaded = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(loaded.decision_function(X), clf.decision_function(X))
    np.testing.assert_allclose(_lrs(loaded.fit(X, y)), _lrs(clf))


def test_history_lr_is_the_heads_and_backbone_lr_is_recorded(digits):
    # the cosine loss's learned scale has a parameter group of its own (lr x 10) and the
    # backbone another: "lr" is still the estimator's lr, the head's
    X, y = digits
    clf = _clf(max_epochs=2, loss="cosine", lr=2e-3, backbone_lr=1e-4).fit(X, y)
    assert clf.history_[:, "lr"] == [2e-3, 2e-3]
    assert clf.history_[:, "backbone_lr"] == [1e-4, 1e-4]
    plain = _clf(max_epochs=1, loss="cosine", lr=2e-3).fit(X, y)
    assert plain.history_[:, "lr"] == [2e-3]
    assert "backbone_lr" not in plain.history_[-1]
