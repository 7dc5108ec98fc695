"""Out-of-distribution scores (``ood_score``) and the OOD metrics of hsproto.metrics."""

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError

from hsproto import HypersphericalClassifier, JointEstimator
from hsproto.estimators.classifier import OOD_METHODS
from hsproto.metrics import ood_metrics, ood_threshold

FAST = {"max_epochs": 20, "lr": 1e-2, "random_state": 0,
        "module_params": {"hidden_layer_sizes": (32,)}}
CENTERS = 6.0 * np.eye(4, 6)


@pytest.fixture(scope="module")
def data():
    """Four well separated blobs (train and test), and out-of-distribution samples from a
    blob at their centroid, where no class is confident."""
    X, y = make_blobs(400, centers=CENTERS, cluster_std=1.0, random_state=0)
    rng = np.random.default_rng(0)
    X_out = rng.normal(loc=CENTERS.mean(axis=0), scale=1.0, size=(100, 6))
    X, X_out = X.astype(np.float32), X_out.astype(np.float32)
    return X[:300], y[:300], X[300:], X_out


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _ = data
    cache = {}

    def get(loss):
        if loss not in cache:
            cache[loss] = HypersphericalClassifier(loss=loss, **FAST).fit(X, y)
        return cache[loss]
    return get


def _methods(loss):
    return [m for m in OOD_METHODS if m != "kappa" or loss == "vmf"]


@pytest.mark.parametrize("loss", ["hpn", "softmax", "vmf"])
def test_every_method_gives_finite_float_scores(data, fitted, loss):
    _, _, X_test, _ = data
    clf = fitted(loss)
    for method in _methods(loss):
        scores = clf.ood_score(X_test, method=method)
        assert scores.shape == (len(X_test),), method
        assert scores.dtype == np.float64 and np.all(np.isfinite(scores)), method
    assert np.array_equal(clf.ood_score(X_test), clf.ood_score(X_test, "max_cosine"))


@pytest.mark.parametrize("loss", ["hpn", "softmax", "vmf"])
def test_scores_match_their_definitions(data, fitted, loss):
    _, _, X_test, _ = data
    clf = fitted(loss)
    cosines = clf.transform(X_test) @ clf.prototypes_.T
    np.testing.assert_allclose(clf.ood_score(X_test, "max_cosine"), -cosines.max(axis=1),
                               atol=1e-5)
    np.testing.assert_allclose(clf.ood_score(X_test, "msp"),
                               -clf.predict_proba(X_test).max(axis=1), atol=1e-6)
    norm = clf.ood_score(X_test, "norm")
    assert np.all(norm < 0)
    if loss == "vmf":
        np.testing.assert_allclose(clf.ood_score(X_test, "kappa"),
                                   -clf.embedding_norm(X_test), rtol=1e-6)
    else:
        np.testing.assert_allclose(norm, -clf.embedding_norm(X_test), rtol=1e-6)
    if loss == "hpn":       # no logits of its own: proba_scale times the cosines
        logits = clf.proba_scale * clf.decision_function(X_test)
    else:                   # softmax: its logits; vmf: the expected logits
        logits = clf.decision_function(X_test)
    np.testing.assert_allclose(clf.ood_score(X_test, "energy"), -logsumexp(logits, axis=1),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("loss", ["hpn", "softmax", "vmf"])
def test_scores_separate_out_of_distribution_samples(data, fitted, loss):
    _, _, X_test, X_out = data
    clf = fitted(loss)
    for method in ("max_cosine", "energy", "msp"):
        result = ood_metrics(clf.ood_score(X_test, method), clf.ood_score(X_out, method))
        assert result["auroc"] > 0.75, (method, result)


def test_kappa_needs_the_vmf_loss(data, fitted):
    X, _, _, _ = data
    with pytest.raises(ValueError, match=r"loss='vmf'.*loss='hpn'.*'norm'"):
        fitted("hpn").ood_score(X, method="kappa")


@pytest.mark.parametrize("method", ["cosine", "MSP", "", None, 1])
def test_unknown_method_is_refused(data, fitted, method):
    X, _, _, _ = data
    with pytest.raises(ValueError, match=r"method must be one of \['max_cosine'"):
        fitted("hpn").ood_score(X, method=method)


@pytest.mark.parametrize("est", [HypersphericalClassifier(), JointEstimator()])
def test_not_fitted(est):
    with pytest.raises(NotFittedError):
        est.ood_score(np.zeros((2, 3)))


def test_one_forward_pass_in_batches(data):
    X, y, X_test, _ = data
    clf = HypersphericalClassifier(**FAST, predict_batch_size=40).fit(X, y)
    calls = []
    clf.net_.module_.register_forward_hook(lambda m, i, o: calls.append(len(i[0])))
    for method in _methods("hpn"):
        calls.clear()
        clf.ood_score(X_test, method)
        assert calls == [40, 40, 20], method


def test_two_classes(data):
    X, y, X_test, _ = data
    clf = HypersphericalClassifier(**FAST).fit(X, y % 2)
    for method in _methods("hpn"):
        assert clf.ood_score(X_test, method).shape == (len(X_test),)


def test_joint_estimator(data):
    X, y, X_test, X_out = data
    target = np.column_stack([y, X[:, 4]])
    est = JointEstimator(**FAST).fit(X, target)
    for method in _methods("hpn"):
        scores = est.ood_score(X_test, method=method)
        assert scores.shape == (len(X_test),) and scores.dtype == np.float64
    # the class part (orthogonal to the pole): its cosines to the class prototypes, and
    # hpn's logits 10 * cosine
    t = est.transform(X_test)
    part = t - (t @ est.poles_.T) @ est.poles_
    cosines = (part / np.linalg.norm(part, axis=1, keepdims=True)) @ est.prototypes_.T
    np.testing.assert_allclose(est.ood_score(X_test, "max_cosine"), -cosines.max(axis=1),
                               atol=1e-5)
    np.testing.assert_allclose(est.ood_score(X_test, "energy"),
                               -logsumexp(10 * cosines, axis=1), atol=1e-4)
    proba = np.exp(10 * cosines - logsumexp(10 * cosines, axis=1, keepdims=True))
    np.testing.assert_allclose(est.ood_score(X_test, "msp"), -proba.max(axis=1), atol=1e-5)
    result = ood_metrics(est.ood_score(X_test), est.ood_score(X_out))
    assert result["auroc"] > 0.75
    with pytest.raises(ValueError, match="loss='vmf'"):
        est.ood_score(X_test, method="kappa")
    with pytest.raises(ValueError, match="method must be one of"):
        est.ood_score(X_test, method="entropy")


# ------------------------------------------------------------------ metrics
def test_threshold_on_known_numbers():
    scores = np.arange(1.0, 21.0)[::-1]        # 20 .. 1, unsorted input is fine
    assert ood_threshold(scores) == 19.0       # 19 of 20 (95 %) are <= 19
    assert ood_threshold(scores, tpr=1.0) == 20.0
    assert ood_threshold(scores, tpr=0.5) == 10.0
    assert ood_threshold(scores, tpr=0.51) == 11.0
    assert ood_threshold(scores, tpr=0.01) == 1.0
    assert ood_threshold([3.5], tpr=0.2) == 3.5
    assert ood_threshold([1, 2, 3, 4, 5], tpr=0.8) == 4.0


@pytest.mark.parametrize("tpr", [0.05, 0.3, 0.9, 0.95, 0.99, 1.0])
def test_threshold_keeps_the_fraction(tpr):
    rng = np.random.default_rng(1)
    for scores in (rng.normal(size=137), rng.integers(0, 5, size=50).astype(float)):
        t = ood_threshold(scores, tpr)
        assert np.mean(scores <= t) >= tpr           # keeps at least tpr ...
        assert np.mean(scores < t) < tpr             # ... and is the smallest that does
        assert t in scores


@pytest.mark.parametrize("scores, message", [
    (np.zeros((3, 2)), "1-d"),
    (5.0, "1-d"),
    ([], "empty"),
    ([0.1, np.nan], "NaN or infinity"),
    ([0.1, np.inf], "NaN or infinity"),
    (["a", "b"], "numbers"),
])
def test_threshold_rejects_bad_scores(scores, message):
    with pytest.raises(ValueError, match=message):
        ood_threshold(scores)
    with pytest.raises(ValueError, match=message):
        ood_metrics(scores, [1.0, 2.0])
    with pytest.raises(ValueError, match=message):
        ood_metrics([1.0, 2.0], scores)


@pytest.mark.parametrize("tpr", [0, 0.0, -0.1, 1.01, np.nan, True, "0.95", None])
def test_threshold_rejects_bad_tpr(tpr):
    with pytest.raises(ValueError, match=r"tpr must be a number in \(0, 1\]"):
        ood_threshold([1.0, 2.0], tpr=tpr)
    with pytest.raises(ValueError, match=r"tpr must be a number in \(0, 1\]"):
        ood_metrics([1.0, 2.0], [3.0], tpr=tpr)


def test_metrics_on_known_numbers():
    perfect = ood_metrics(np.linspace(0, 1, 40), np.linspace(2, 3, 10))
    assert perfect["auroc"] == 1.0 and perfect["fpr"] == 0.0
    reversed_ = ood_metrics(np.linspace(2, 3, 40), np.linspace(0, 1, 10))
    assert reversed_["auroc"] == 0.0 and reversed_["fpr"] == 1.0
    # in: 1..20, threshold 19 at 95 %; out: 5 samples, 2 of them <= 19
    s_in, s_out = np.arange(1.0, 21.0), np.array([10.5, 19.0, 19.5, 25.0, 30.0])
    result = ood_metrics(s_in, s_out)
    assert result["threshold"] == 19.0
    assert result["fpr"] == pytest.approx(2 / 5)
    # AUROC = P(out > in) + P(out == in) / 2 over all 100 pairs
    greater = (s_out[:, None] > s_in[None, :]).sum()
    ties = (s_out[:, None] == s_in[None, :]).sum()
    assert result["auroc"] == pytest.approx((greater + ties / 2) / 100)
    assert result["auroc"] == pytest.approx((10 + 18.5 + 19 + 20 + 20) / 100)
    assert ood_metrics(s_in, s_out, tpr=0.5)["fpr"] == 0.0      # threshold 10
