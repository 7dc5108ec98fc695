"""Tests of the example plugin package: hsproto's contract checkers plus the maths."""

import math

import numpy as np
import pytest
import torch
from hsproto_contrib.cosface import CosFaceLoss
from hsproto_contrib.hadamard import HadamardStrategy
from hsproto_contrib.resnet import ResNet

from hsproto import HypersphericalClassifier, Layout, make_prototypes, registry
from hsproto.testing import check_backbone, check_loss, check_prototype_strategy


def test_found_by_name_through_entry_points():
    assert registry.get("prototypes", "hadamard") is HadamardStrategy
    assert registry.get("losses", "cosface") is CosFaceLoss
    assert registry.get("backbones", "resnet") is ResNet
    infos = {(i.group, i.name): i for i in registry.list_plugins()}
    info = infos[("hsproto.losses", "cosface")]
    assert (info.distribution, info.status) == ("hsproto-contrib", "ok")


@pytest.mark.slow
def test_contracts():
    check_prototype_strategy("hadamard", sizes=[(2, 2), (3, 4), (7, 8), (10, 16), (5, 6)])
    check_prototype_strategy(HadamardStrategy(skip_constant=False), sizes=[(4, 4), (8, 8)])
    check_loss("cosface")
    check_loss(CosFaceLoss, loss_params={"margin": 0.1, "learn_scale": True})
    check_backbone("resnet", input_shape=(1, 8, 8), fit=False)  # fitted below


@pytest.mark.parametrize("skip", [True, False])
def test_hadamard_rows_are_orthogonal_and_dense(skip):
    k, d = (15, 16) if skip else (16, 16)
    P = make_prototypes(HadamardStrategy(skip_constant=skip), k, d)
    np.testing.assert_allclose(P @ P.T, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(np.abs(P), 1 / math.sqrt(d))
    if skip:
        np.testing.assert_allclose(P.sum(axis=1), 0.0, atol=1e-12)


@pytest.mark.parametrize(("k", "d", "match"), [
    (3, 6, "power of two"), (8, 8, "at most 7 orthogonal rows"), (9, 8, "at most 7")])
def test_hadamard_unsupported_sizes(k, d, match):
    with pytest.raises(ValueError, match=match):
        make_prototypes("hadamard", k, d)


def test_cosface_equals_closed_form():
    P = make_prototypes("hadamard", 3, 4)
    loss = CosFaceLoss(Layout(4, prototypes=P), scale=10.0, margin=0.2).double()
    z = torch.tensor([[0.3, -0.2, 0.9, 0.1], [1.0, 0.5, -0.5, 0.2]], dtype=torch.float64)
    y = torch.tensor([2, 0])
    zn = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    cos = zn @ P.T
    expected = []
    for i, t in enumerate(y.tolist()):
        logits = 10.0 * (cos[i] - 0.2 * (np.arange(3) == t))
        expected.append(np.log(np.exp(logits).sum()) - logits[t])
    # the scale is stored as a float32 log, hence rtol 1e-6
    np.testing.assert_allclose(loss.classification(z, y).numpy(), expected, rtol=1e-6)
    one_hot = torch.nn.functional.one_hot(y, 3).double()
    torch.testing.assert_close(loss.classification(z, one_hot), loss.classification(z, y))


def test_cosface_bad_margin():
    with pytest.raises(ValueError, match="margin must be a number in"):
        CosFaceLoss(Layout(3, prototypes=np.eye(3)), margin=1.5)


def test_resnet_rejects_flat_input_and_bad_depth():
    with pytest.raises(ValueError, match="expects images"):
        ResNet(input_shape=(64,))
    with pytest.raises(ValueError, match="depth must be one of"):
        ResNet(input_shape=(1, 8, 8), depth=50)


@pytest.mark.slow
def test_fit_with_the_plugins():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    clf = HypersphericalClassifier(n_dims=16, prototypes="hadamard", loss="cosface",
                                   max_epochs=20, random_state=0).fit(X[:400], y[:400])
    np.testing.assert_allclose(clf.prototypes_, make_prototypes("hadamard", 10, 16))
    assert clf.score(X[400:800], y[400:800]) > 0.7   # chance is 0.1 (this gave 0.81)
    images = X[:64].reshape(-1, 1, 8, 8)
    net = HypersphericalClassifier("resnet", n_dims=16, prototypes="hadamard",
                                   loss="cosface", max_epochs=1, batch_size=32,
                                   random_state=0).fit(images, y[:64])
    assert net.predict(images).shape == (64,)
    assert net.transform(images).shape == (64, 16)
