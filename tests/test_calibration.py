"""Calibrated probabilities: ``proba_scale="auto"`` (temperature scaling on a held-out
split) and scikit-learn's ``CalibratedClassifierCV`` on hsproto's scores."""

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import load_iris, make_blobs
from torch.utils.data import TensorDataset

import hsproto
from hsproto import HypersphericalClassifier
from hsproto.estimators.classifier import fit_logit_scale


def test_fit_logit_scale_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(20000, 4))
    proba = softmax(2.5 * logits, axis=1)
    target = (proba.cumsum(1) > rng.random((len(proba), 1))).argmax(1)
    assert fit_logit_scale(logits, target) == pytest.approx(2.5, rel=0.05)


def test_fit_logit_scale_stays_finite_on_a_perfectly_separated_held_out_set():
    # every held-out sample right by a wide margin: the likelihood alone wants t -> inf
    logits = np.array([[1.0, -1.0], [-1.0, 1.0], [1.0, -1.0]])
    t = fit_logit_scale(logits, np.array([0, 1, 0]), prior=10.0)
    assert 10.0 < t < 100.0


def test_fit_logit_scale_weights_samples():
    logits = np.array([[2.0, 0.0], [2.0, 0.0]])
    # the wrong sample weighs 3 times the right one: a lower factor (flatter) fits better
    plain = fit_logit_scale(logits, np.array([0, 1]))
    weighted = fit_logit_scale(logits, np.array([0, 1]), weight=np.array([1.0, 3.0]))
    assert weighted < plain


def _blobs():
    X, y = make_blobs(400, 5, centers=3, cluster_std=4.0, random_state=0)
    return X.astype(np.float32), y


def _nll(y, proba):
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None))))


def test_auto_calibrates_an_overconfident_scale():
    X, y = _blobs()
    Xtr, ytr, Xte, yte = X[:300], y[:300], X[300:], y[300:]
    sharp = HypersphericalClassifier(proba_scale=500.0, max_epochs=30,
                                     random_state=0).fit(Xtr, ytr)
    auto = HypersphericalClassifier(proba_scale="auto", max_epochs=30,
                                    random_state=0).fit(Xtr, ytr)
    assert 0 < auto.proba_scale_ < 500.0
    proba = auto.predict_proba(Xte)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    assert (auto.classes_[proba.argmax(1)] == auto.predict(Xte)).all()
    assert _nll(yte, proba) < _nll(yte, sharp.predict_proba(Xte))


@pytest.mark.parametrize("loss", ["cosine", "softmax", "vmf"])
def test_auto_scales_the_loss_logits(loss):
    X, y = _blobs()
    clf = HypersphericalClassifier(loss=loss, proba_scale="auto", max_epochs=10,
                                   random_state=0).fit(X, y)
    logits = clf._outputs(X[:20], clf._class_logits)
    np.testing.assert_allclose(clf.predict_proba(X[:20]), softmax(logits, axis=1),
                               atol=1e-5)
    assert clf.proba_scale_ > 0


def test_auto_trains_on_the_rest_and_holds_out_validation_fraction():
    X, y = _blobs()
    clf = HypersphericalClassifier(proba_scale="auto", validation_fraction=0.25,
                                   batch_size=1000, max_epochs=2, random_state=0).fit(X, y)
    # one batch per epoch holds the training part: 300 of the 400 samples
    assert clf.history_[-1, "batches", 0, "train_batch_size"] == 300


def test_auto_is_refused_when_nothing_is_left_to_train_on():
    X, y = _blobs()
    clf = HypersphericalClassifier(proba_scale="auto", validation_fraction=0.999,
                                   max_epochs=2)
    with pytest.raises(ValueError, match="leaves none to train on"):
        clf.fit(X[:20], y[:20])


def test_auto_takes_tensors_and_datasets():
    X, y = _blobs()
    a = HypersphericalClassifier(proba_scale="auto", max_epochs=5, random_state=0)
    a.fit(torch.as_tensor(X), y)
    b = HypersphericalClassifier(proba_scale="auto", max_epochs=5, random_state=0)
    b.fit(TensorDataset(torch.as_tensor(X), torch.as_tensor(y)))
    for clf in (a, b):
        assert 0 < clf.proba_scale_ < 1e3
        np.testing.assert_allclose(clf.predict_proba(X).sum(1), 1.0, atol=1e-6)


def test_auto_survives_a_model_file(tmp_path):
    X, y = _blobs()
    clf = HypersphericalClassifier(proba_scale="auto", max_epochs=5, random_state=0)
    clf.fit(X, y)
    loaded = hsproto.load(clf.save(tmp_path / "m.safetensors"))
    assert loaded.proba_scale_ == clf.proba_scale_
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-6)


def test_calibrated_classifier_cv_temperature_on_hsproto():
    X, y = load_iris(return_X_y=True)
    base = HypersphericalClassifier(max_epochs=40, batch_size=16, random_state=0)
    cal = CalibratedClassifierCV(base, method="temperature", cv=3).fit(X, y)
    proba = cal.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    assert cal.score(X, y) > 0.8
