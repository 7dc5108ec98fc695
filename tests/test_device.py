"""Devices: CUDA-pickled models load and predict on CPU-only machines; GPU fits."""

import io
import pickle
from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs

from hsproto import HypersphericalClassifier

FAST = {"max_epochs": 5, "lr": 1e-2, "random_state": 0,
        "module_params": {"hidden_layer_sizes": (16,)}}


@pytest.fixture(scope="module")
def data():
    X, y = make_blobs(120, n_features=4, centers=3, random_state=0)
    return X.astype(np.float32), y


def _pickled_as_if_on_cuda(est):
    """Pickle ``est`` the way a CUDA-fitted model is stored: the net's device is "cuda"
    and every tensor carries the "cuda:0" location tag."""
    est.net_.device = "cuda"
    with mock.patch("torch.serialization.location_tag", lambda storage: "cuda:0"):
        return pickle.dumps(est)


def test_cuda_pickle_loads_on_cpu_only_machine(data):
    X, y = data
    est = HypersphericalClassifier(**FAST).fit(X, y)
    expected = est.predict_proba(X)
    blob = _pickled_as_if_on_cuda(est)
    assert b"cuda:0" in blob
    with mock.patch("torch.cuda.is_available", return_value=False), \
            pytest.warns(UserWarning, match="CUDA"):
        loaded = pickle.loads(blob)
    assert str(loaded.net_.device) == "cpu"
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-6)


def test_cuda_requested_without_gpu_is_a_clear_error(data):
    X, y = data
    with mock.patch("torch.cuda.is_available", return_value=False):
        with pytest.raises(ValueError, match="CUDA is not available"):
            HypersphericalClassifier(**FAST, device="cuda").fit(X, y)
        est = HypersphericalClassifier(**FAST, device="auto").fit(X, y)
    assert est.net_.device == "cpu"


@pytest.mark.gpu
def test_fit_on_gpu_predict_on_cpu(data):
    X, y = data
    gpu = HypersphericalClassifier(**FAST, device="cuda").fit(X, y)
    assert next(gpu.net_.module_.parameters()).device.type == "cuda"
    cpu = HypersphericalClassifier(**FAST).fit(X, y)
    assert np.mean(gpu.predict(X) == cpu.predict(X)) > 0.95
    buffer = io.BytesIO()
    pickle.dump(gpu, buffer)
    with mock.patch("torch.cuda.is_available", return_value=False), \
            pytest.warns(UserWarning, match="CUDA"):
        loaded = pickle.loads(buffer.getvalue())
    np.testing.assert_allclose(loaded.predict_proba(X), gpu.predict_proba(X), atol=1e-5)


@pytest.mark.gpu
def test_gpu_fit_is_reproducible(data):
    X, y = data
    a = HypersphericalClassifier(**FAST, device="cuda").fit(X, y).transform(X)
    b = HypersphericalClassifier(**FAST, device="cuda").fit(X, y).transform(X)
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert torch.cuda.is_available()


def test_a_scheduled_cuda_model_loads_on_a_cpu_only_machine(data):
    """The torch scheduler holds the optimizer: pickled through it, the optimizer state
    escaped skorch's CUDA-to-CPU mapping (and was stored twice)."""
    X, y = data
    est = HypersphericalClassifier(**{**FAST, "lr_schedule": "step"}).fit(X, y)
    expected = est.predict_proba(X)
    blob = _pickled_as_if_on_cuda(est)
    with mock.patch("torch.cuda.is_available", return_value=False), \
            pytest.warns(UserWarning, match="CUDA"):
        loaded = pickle.loads(blob)
    np.testing.assert_allclose(loaded.predict_proba(X), expected, rtol=1e-6)
    assert est.net_.callbacks_ and any(                      # the live model keeps it
        getattr(cb, "lr_scheduler_", None) is not None for _, cb in est.net_.callbacks_)
    unscheduled = pickle.dumps(HypersphericalClassifier(**{**FAST, "lr_schedule": None})
                               .fit(X, y))
    assert len(pickle.dumps(est)) < 1.2 * len(unscheduled)  # the optimizer once, not twice
    loaded.set_params(max_epochs=2).fit(X, y)               # refits with a new scheduler
