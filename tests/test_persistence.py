"""Model files: JSON + safetensors, verified on load, never unpickled (issue 16, part 1)."""

import json
import pickle
import subprocess
import sys
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_iris
from torch import nn
from torchvision.transforms import v2

import hsproto
from hsproto import HypersphericalClassifier, HypersphericalRegressor, JointEstimator
from hsproto._modelfile import _digest


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X.astype(np.float32), y


def _same(a, b, X, methods=("predict", "transform")):
    for name in methods:
        np.testing.assert_array_equal(getattr(a, name)(X), getattr(b, name)(X), err_msg=name)


@pytest.mark.parametrize("loss", ["hpn", "mce", "cosine", "arcface", "vmf", "softmax"])
def test_classifier_round_trip_every_loss(iris, tmp_path, loss):
    X, y = iris
    clf = HypersphericalClassifier(loss=loss, max_epochs=4, random_state=0).fit(X, y)
    loaded = hsproto.load(clf.save(tmp_path / "m.safetensors"))
    _same(clf, loaded, X, ("predict", "predict_proba", "decision_function", "transform",
                           "embedding_norm"))
    assert loaded.get_params() == clf.get_params()
    np.testing.assert_array_equal(loaded.layout_.prototypes, clf.layout_.prototypes)
    assert loaded.history_[:, "train_loss"] == clf.history_[:, "train_loss"]
    assert loaded.plugins_ == clf.plugins_ and loaded.n_features_in_ == 4
    if loss == "hpn":                    # a loaded model pickles and refits as usual
        _same(clf, pickle.loads(pickle.dumps(loaded)), X)
        _same(clf, loaded.fit(X, y), X)  # same parameters and seed: the same model


@pytest.mark.parametrize("loss", ["hpn", "mse"])
def test_regressor_and_joint_round_trip(iris, tmp_path, loss):
    X, y = iris
    reg = HypersphericalRegressor(loss=loss, max_epochs=3, random_state=0).fit(X, X[:, 0])
    _same(reg, hsproto.load(reg.save(tmp_path / "r.safetensors")), X)
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)[y]
    yj = pd.DataFrame({"label": names, "a": X[:, 0], "b": X[:, 1]})
    Xdf = pd.DataFrame(X, columns=["w", "x", "y", "z"])
    joint = JointEstimator(max_epochs=3, random_state=0).fit(Xdf, yj)
    loaded = hsproto.load(joint.save(tmp_path / "j.safetensors"))
    _same(joint, loaded, Xdf)
    assert list(loaded.classes_) == ["setosa", "versicolor", "virginica"]
    assert list(loaded.feature_names_in_) == ["w", "x", "y", "z"]


def test_dynamic_assignment_images_and_unsaved_parameters(tmp_path):
    X = np.random.default_rng(0).integers(0, 256, (40, 1, 8, 8), dtype=np.uint8)
    y = np.arange(40) % 4
    norm = v2.Normalize([0.5], [0.25])
    clf = HypersphericalClassifier("cnn", n_dims=2, assignment="dynamic",
                                   augment=v2.RandomHorizontalFlip(), preprocess=norm,
                                   precision="bf16", max_epochs=3,
                                   random_state=0).fit(X, y)
    path = clf.save(tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match=r"could not store \['preprocess'\].*preprocess=\.\.\."):
        hsproto.load(path)
    with pytest.warns(UserWarning, match=r"does not hold \['augment'\]"):
        loaded = hsproto.load(path, preprocess=norm)
    _same(clf, loaded, X)
    np.testing.assert_array_equal(loaded.layout_.assignment, clf.layout_.assignment)


class _UserNet(nn.Module):
    def __init__(self, input_shape, width=8):
        super().__init__()
        self.fc = nn.Linear(input_shape[0], width)

    def forward(self, x):
        return torch.relu(self.fc(x))


def test_a_users_own_module_is_passed_back_explicitly(iris, tmp_path):
    X, y = iris
    clf = HypersphericalClassifier(_UserNet, module_params={"width": 6}, max_epochs=2,
                                   random_state=0).fit(X, y)
    path = clf.save(tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="_UserNet.*neither hsproto's.*pass module=\\.\\.\\."):
        hsproto.load(path)
    _same(clf, hsproto.load(path, module=_UserNet), X)


def test_loading_never_unpickles(iris, tmp_path):
    X, y = iris
    clf = HypersphericalClassifier(max_epochs=2, random_state=0).fit(X, y)
    path = clf.save(tmp_path / "m.safetensors")
    refuse = mock.Mock(side_effect=AssertionError("unpickled"))
    with mock.patch.object(pickle, "loads", refuse), \
            mock.patch.object(pickle, "load", refuse), \
            mock.patch.object(pickle, "Unpickler", refuse), \
            mock.patch.object(torch, "load", refuse):
        loaded = hsproto.load(path)
    _same(clf, loaded, X)


def _rewrite(path, edit):
    """Change the document of a model file and give it a valid digest again (what an
    attacker can do: the digest detects damage, not a crafted file)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as f:
        doc = json.loads(f.metadata()["hsproto"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    edit(doc)
    text = json.dumps(doc)
    save_file(tensors, str(path), metadata={"hsproto": text,
                                            "sha256": _digest(text, tensors)})


def test_a_crafted_file_cannot_import_or_run_code(iris, tmp_path):
    X, y = iris
    path = HypersphericalClassifier(max_epochs=1, random_state=0).fit(X, y).save(
        tmp_path / "m.safetensors")
    marker = tmp_path / "pwned"

    def evil_class(doc):
        doc["params"]["optimizer"] = {"__class__": "os:system"}

    _rewrite(path, evil_class)
    with pytest.raises(ValueError, match="'os:system' for 'optimizer'.*neither hsproto's"):
        hsproto.load(path)

    def evil_estimator(doc):
        doc["estimator"] = "subprocess:Popen"

    _rewrite(path, evil_estimator)
    with pytest.raises(ValueError, match="not an hsproto one"):
        hsproto.load(path)
    assert not marker.exists()


def test_a_flipped_bit_or_a_truncated_file_is_refused(iris, tmp_path):
    X, y = iris
    path = HypersphericalClassifier(max_epochs=1, random_state=0).fit(X, y).save(
        tmp_path / "m.safetensors")
    blob = bytearray(path.read_bytes() if hasattr(path, "read_bytes") else
                     open(path, "rb").read())
    flipped = bytearray(blob)
    flipped[-10] ^= 0x01                           # one bit of the last weights
    (tmp_path / "flip.safetensors").write_bytes(bytes(flipped))
    with pytest.raises(ValueError, match="failed its integrity check"):
        hsproto.load(tmp_path / "flip.safetensors")
    (tmp_path / "cut.safetensors").write_bytes(bytes(blob[: len(blob) // 2]))
    with pytest.raises(ValueError, match="not a readable hsproto model file"):
        hsproto.load(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x80\x04junk")
    with pytest.raises(ValueError, match="not a readable hsproto model file"):
        hsproto.load(tmp_path / "junk.safetensors")
    with pytest.raises(FileNotFoundError):
        hsproto.load(tmp_path / "missing.safetensors")


def test_a_missing_plugin_names_its_distribution(iris, tmp_path):
    pytest.importorskip("hsproto_contrib")
    X, y = iris
    clf = HypersphericalClassifier(loss="cosface", max_epochs=2, random_state=0).fit(X, y)
    path = clf.save(tmp_path / "m.safetensors")
    _same(clf, hsproto.load(path), X)
    script = ("import sys, hsproto\n"
              "sys.modules['hsproto_contrib'] = None\n"
              f"hsproto.load({str(path)!r})\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode != 0
    assert "PluginError" in done.stderr and "hsproto-contrib" in done.stderr


def test_a_gpu_device_loads_on_a_cpu_only_machine(iris, tmp_path):
    X, y = iris
    clf = HypersphericalClassifier(max_epochs=1, random_state=0).fit(X, y)
    path = clf.save(tmp_path / "m.safetensors")
    _rewrite(path, lambda doc: doc["params"].update(device="cuda"))
    with mock.patch("torch.cuda.is_available", return_value=False):
        loaded = hsproto.load(path)
    assert loaded.device == "cpu"
    _same(clf, loaded, X)
