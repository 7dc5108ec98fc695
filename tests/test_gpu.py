"""Every estimator, loss, backbone and training policy on a CUDA device.

Marked ``gpu``: skipped without CUDA (see conftest.py). Each test fits on the GPU,
checks that the network really lives there, and that the fitted model pickles and
predicts the same on a machine where CUDA is switched off.
"""

import pickle
from unittest import mock

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.preprocessing import StandardScaler

from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


@pytest.fixture(scope="module")
def images():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return X[:300], y[:300]


def _on_cuda(est):
    assert next(est.net_.module_.parameters()).device.type == "cuda"
    for buf in est.net_.criterion_.buffers():
        assert buf.device.type == "cuda"


def _loads_on_cpu_only(est):
    blob = pickle.dumps(est)
    with mock.patch("torch.cuda.is_available", return_value=False), \
            pytest.warns(UserWarning, match="CUDA"):
        loaded = pickle.loads(blob)
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    return loaded


@pytest.mark.parametrize("loss", ["hpn", "mce", "cosine", "arcface", "vmf", "softmax"])
def test_each_classification_loss_on_gpu(iris, loss):
    X, y = iris
    clf = HypersphericalClassifier(loss=loss, max_epochs=60, lr=1e-2, random_state=0,
                                   device="cuda").fit(X, y)
    _on_cuda(clf)
    assert clf.score(X, y) > 0.9
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-6)
    loaded = _loads_on_cpu_only(clf)
    np.testing.assert_allclose(loaded.predict_proba(X), proba, atol=1e-5)
    np.testing.assert_array_equal(loaded.predict(X), clf.predict(X))


def test_auto_device_picks_the_gpu(iris):
    X, y = iris
    clf = HypersphericalClassifier(max_epochs=2, device="auto", random_state=0).fit(X, y)
    assert str(clf.net_.device).startswith("cuda")
    _on_cuda(clf)


@pytest.mark.parametrize("loss", ["hpn", "mse"])
def test_regressor_on_gpu(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = np.column_stack([X @ [1.0, -1.0, 0.5], X[:, 0] - X[:, 2]])
    reg = HypersphericalRegressor(loss=loss, max_epochs=150, lr=1e-2, random_state=0,
                                  device="cuda").fit(X, y)
    _on_cuda(reg)
    assert reg.score(X, y) > 0.8
    np.testing.assert_allclose(_loads_on_cpu_only(reg).predict(X), reg.predict(X), atol=1e-4)


def test_joint_on_gpu(iris):
    X, labels = iris
    y = np.column_stack([labels, X[:, 0] * 2.0 + 1.0])
    est = JointEstimator(max_epochs=100, lr=1e-2, random_state=0, device="cuda").fit(X, y)
    _on_cuda(est)
    pred = est.predict(X)
    assert np.mean(pred[:, 0] == labels) > 0.85
    loaded = _loads_on_cpu_only(est)
    np.testing.assert_allclose(loaded.predict(X), pred, atol=1e-4)


def test_dynamic_assignment_on_gpu(iris):
    X, y = iris
    clf = HypersphericalClassifier(n_dims=2, prototypes="polygon", assignment="dynamic",
                                   max_epochs=30, lr=1e-2, random_state=0,
                                   device="cuda").fit(X, y)
    _on_cuda(clf)
    assert "assignment_cost" in clf.history_[-1]
    assert clf.score(X, y) > 0.85
    np.testing.assert_allclose(np.linalg.norm(clf.prototypes_, axis=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("mixing", ["mixup", "cutmix", "both"])
def test_mixing_with_the_cnn_on_gpu(images, mixing):
    X, y = images
    clf = HypersphericalClassifier("cnn", mixing=mixing, max_epochs=8, random_state=0,
                                   device="cuda").fit(X, y)
    _on_cuda(clf)
    assert clf.score(X, y) > 0.5
    np.testing.assert_array_equal(_loads_on_cpu_only(clf).predict(X), clf.predict(X))


def test_vmf_uncertainty_on_gpu(iris):
    X, y = iris
    clf = HypersphericalClassifier(loss="vmf", max_epochs=30, lr=1e-2, random_state=0,
                                   device="cuda").fit(X, y)
    kappa = clf.embedding_norm(X)
    assert kappa.shape == (len(X),) and np.all(np.isfinite(kappa)) and np.all(kappa > 0)
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X))


def test_gpu_fit_leaves_the_callers_cuda_rng_alone(iris):
    X, y = iris
    torch.cuda.manual_seed(123)
    before = torch.cuda.get_rng_state()
    HypersphericalClassifier(max_epochs=3, random_state=0, device="cuda").fit(X, y)
    assert torch.equal(torch.cuda.get_rng_state(), before)


# ---------------------------------------------------------------------- deep-network path
@pytest.fixture(scope="module")
def rgb():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (96, 3, 32, 32), dtype=np.uint8)
    y = np.arange(96) % 4
    X[y == 1, 0] = 255                      # learnable: class 1 has a saturated red plane
    return X, y


def test_cuda_tensor_input_stays_on_the_gpu(images):
    from skorch.dataset import Dataset as SkorchDataset

    from hsproto.data import Batches

    X, y = images
    Xc = torch.from_numpy(X).cuda()
    batches = Batches(SkorchDataset(Xc, y), batch_size=64, shuffle=True)
    xb, _ = next(iter(batches))
    assert xb.device.type == "cuda"
    clf = HypersphericalClassifier("cnn", max_epochs=3, random_state=0,
                                   device="cuda").fit(Xc, torch.from_numpy(y).cuda())
    _on_cuda(clf)
    np.testing.assert_array_equal(clf.predict(Xc), clf.predict(X))


def test_resident_array_data_and_dataset_workers(rgb):
    from skorch.dataset import Dataset as SkorchDataset
    from torch.utils.data import TensorDataset

    from hsproto.data import Batches

    X, y = rgb
    xb, _ = next(iter(Batches(SkorchDataset(X, y), batch_size=32, device="cuda")))
    assert xb.device.type == "cuda"                 # moved once, then indexed there
    ds = TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    clf = HypersphericalClassifier("resnet_cifar", num_workers=2, max_epochs=2,
                                   batch_size=32, random_state=0, device="cuda").fit(ds)
    _on_cuda(clf)
    assert clf.predict(ds).shape == (len(X),)


@pytest.mark.parametrize("precision", ["bf16", "16-mixed"])
def test_mixed_precision_on_gpu(rgb, precision):
    from torchvision.transforms import v2

    X, y = rgb
    clf = HypersphericalClassifier(
        "resnet_cifar", precision=precision, augment=v2.RandomHorizontalFlip(),
        preprocess=v2.Normalize([0.5] * 3, [0.25] * 3), optimizer="sgd", lr=0.05,
        lr_schedule="cosine", warmup_epochs=1, max_epochs=6, batch_size=32,
        random_state=0, device="cuda").fit(X, y)
    _on_cuda(clf)
    assert np.all(np.isfinite(clf.history_[:, "train_loss"]))
    assert clf.score(X, y) > 0.5
    if precision == "16-mixed":
        assert clf.net_.scaler_ is not None
    loaded = _loads_on_cpu_only(clf)
    assert (loaded.predict(X) == clf.predict(X)).mean() > 0.95


def test_compile_on_gpu(images):
    X, y = images
    clf = HypersphericalClassifier("cnn", compile=True, max_epochs=2, random_state=0,
                                   device="cuda").fit(X, y)
    _on_cuda(clf)
    assert clf.score(X, y) > 0.3


def test_torchvision_backbone_frozen_on_gpu(rgb, tmp_path):
    import torchvision

    X, y = rgb
    path = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(num_classes=7).state_dict(), path)
    clf = HypersphericalClassifier(
        "torchvision", module_params={"arch": "resnet18", "weights": str(path),
                                      "freeze": True},
        max_epochs=2, batch_size=32, random_state=0, device="cuda").fit(X, y)
    _on_cuda(clf)
    saved = torch.load(path, weights_only=True)
    trunk = clf.net_.module_.backbone.trunk.state_dict()
    for key, value in trunk.items():
        assert torch.equal(value.cpu(), saved[key]), key
    _loads_on_cpu_only(clf)


def test_model_file_saved_on_gpu_loads_on_cpu(images, tmp_path):
    import hsproto

    X, y = images
    clf = HypersphericalClassifier("cnn", max_epochs=2, random_state=0,
                                   device="cuda").fit(X, y)
    path = clf.save(tmp_path / "m.safetensors")
    with mock.patch("torch.cuda.is_available", return_value=False):
        loaded = hsproto.load(path)
    assert next(loaded.net_.module_.parameters()).device.type == "cpu"
    np.testing.assert_allclose(loaded.predict_proba(X), clf.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("loss", ["mce", "cosine", "arcface"])
def test_chunked_cross_entropy_and_bf16_buffers_on_gpu(loss, monkeypatch):
    from hsproto.losses import _base

    # 40 classes through the chunked path (chunks of 16), prototypes in bfloat16
    monkeypatch.setattr(_base, "CHUNKED_CE_MIN_CLASSES", 32)
    monkeypatch.setattr(_base, "CE_CHUNK", 16)
    rng = np.random.default_rng(0)
    centroids = rng.standard_normal((40, 16)).astype(np.float32)
    y = np.repeat(np.arange(40), 6)
    X = centroids[y] + 0.3 * rng.standard_normal((240, 16)).astype(np.float32)
    clf = HypersphericalClassifier(loss=loss, n_dims=16, device="cuda", precision="bf16",
                                   max_epochs=60, random_state=0).fit(X, y)
    _on_cuda(clf)
    assert clf.net_.criterion_.loss.prototypes.dtype == torch.bfloat16
    assert clf.score(X, y) > 0.8
