"""Contract and correctness tests for every registered loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hsproto import make_prototypes, registry
from hsproto.losses import PrototypeLoss, mixed_prototypes
from hsproto.losses.arcface import ArcFaceLoss, arcface_target_logit

LOSSES = registry.available("hsproto.losses")
K, D, T = 5, 4, 1


def build(name, **params):
    cls = registry.get("hsproto.losses", name)
    protos = make_prototypes("auto", K, D, random_state=0)
    poles = np.eye(T, D)
    return cls(prototypes=protos, poles=poles, strategy="simplex", **params).double()


def seeded(fn, seed=0):
    """``fn`` with torch reseeded on every call (sampling losses become deterministic)."""
    def wrapped(*args):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return fn(*args)
    return wrapped


def test_builtin_losses_registered():
    assert {"hpn", "mce", "cosine", "arcface", "vmf", "softmax", "mse"} <= set(LOSSES)


@pytest.mark.parametrize("name", LOSSES)
def test_contract(name):
    loss = build(name)
    assert isinstance(loss, PrototypeLoss)
    assert set(loss.tasks) <= {"classification", "regression"} and loss.tasks
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6, D, dtype=torch.float64, generator=gen)
    if "classification" in loss.tasks:
        labels = torch.tensor([0, 1, 2, 3, 4, 0])
        soft = torch.softmax(torch.randn(6, K, dtype=torch.float64, generator=gen), dim=1)
        for target in (labels, soft):
            out = seeded(loss.classification)(z, target)
            assert out.shape == (6,) and torch.isfinite(out).all()
        scores = seeded(loss.class_scores)(z)
        assert scores.shape == (6, K) and torch.isfinite(scores).all()
        proba = seeded(loss.class_proba)(z)
        if proba is not None:
            assert proba.shape == (6, K)
            np.testing.assert_allclose(proba.sum(1).detach().numpy(), 1.0, atol=1e-9)
            assert torch.equal(proba.argmax(1), scores.argmax(1))
        protos = loss.current_prototypes()
        assert protos.shape == (K, D)
        np.testing.assert_allclose(protos.norm(dim=1).detach().numpy(), 1.0, atol=1e-6)
    if "regression" in loss.tasks:
        r = torch.rand(6, T, dtype=torch.float64, generator=gen) * 2 - 1
        out = loss.regression(z, r)
        assert out.shape == (6,) and torch.isfinite(out).all()
        assert loss.regression_output(z).shape == (6, T)
    assert loss.concentration(z).shape == (6,)


@pytest.mark.parametrize("name", LOSSES)
def test_gradcheck_float64(name):
    loss = build(name)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(4, D, dtype=torch.float64, generator=gen, requires_grad=True)
    if "classification" in loss.tasks:
        hard = torch.tensor([0, 1, 2, 3])
        soft = torch.softmax(torch.randn(4, K, dtype=torch.float64, generator=gen), dim=1)
        for target in (hard, soft):
            assert torch.autograd.gradcheck(seeded(lambda z, t=target: loss.classification(
                z, t)), (z,), eps=1e-6, atol=1e-5)
        params = [p for p in loss.parameters() if p.requires_grad]
        if params:                # learnable temperature / concentrations / classifier
            out = seeded(loss.classification)(z.detach(), hard).sum()
            grads = torch.autograd.grad(out, params)
            assert all(torch.isfinite(g).all() for g in grads)
    if "regression" in loss.tasks:
        r = torch.rand(4, T, dtype=torch.float64, generator=gen) * 2 - 1
        assert torch.autograd.gradcheck(lambda z: loss.regression(z, r), (z,), eps=1e-6,
                                        atol=1e-5)


@pytest.mark.parametrize("name", [n for n in LOSSES if n not in ("softmax", "mse")])
def test_half_half_mix_of_antipodal_prototypes_is_finite(name):
    cls = registry.get("hsproto.losses", name)
    protos = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = cls(prototypes=protos, poles=None).double()
    z = torch.tensor([[0.3, 0.4, 0.5], [0.0, 0.0, 1.0]], dtype=torch.float64,
                     requires_grad=True)
    target = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    out = seeded(loss.classification)(z, target)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(z.grad).all()


def test_mixed_prototype_of_antipodal_pair_is_zero_and_hard_labels_unchanged():
    protos = torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    assert torch.equal(mixed_prototypes(protos, torch.tensor([2, 0])), protos[[2, 0]])
    mixed = mixed_prototypes(protos, torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.0, 0.5]]))
    assert torch.equal(mixed[0], torch.zeros(2))
    np.testing.assert_allclose(mixed[1].numpy(), [2 ** -0.5, 2 ** -0.5], atol=1e-7)


def test_hpn_soft_label_equals_hard_label_for_one_hot():
    loss = build("hpn")
    z = torch.randn(5, D, dtype=torch.float64)
    hard = torch.arange(5)
    soft = torch.nn.functional.one_hot(hard, K).double()
    torch.testing.assert_close(loss.classification(z, hard), loss.classification(z, soft))


def test_arcface_equals_closed_form():
    loss = build("arcface", margin=0.4, scale=16.0)
    z = torch.randn(7, D, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y = torch.tensor([0, 1, 2, 3, 4, 1, 2])
    P = loss.prototypes.numpy()
    s = float(loss.log_scale.exp())          # 16 up to the float32 rounding of log(16)
    zn = z.numpy() / np.linalg.norm(z.numpy(), axis=1, keepdims=True)
    theta = np.arccos(np.clip(zn @ P.T, -1, 1))
    logits = s * np.cos(theta)
    for i, c in enumerate(y.numpy()):
        t = theta[i, c]
        psi = np.cos(t + 0.4) if t + 0.4 <= np.pi else np.cos(t) + np.cos(0.4) - 1
        logits[i, c] = s * psi
    expected = -logits[np.arange(7), y.numpy()] + np.log(np.exp(logits).sum(1))
    np.testing.assert_allclose(loss.classification(z, y).detach().numpy(), expected,
                               rtol=1e-9, atol=1e-9)


def test_arcface_target_logit_is_continuous_and_decreasing():
    theta = torch.linspace(0.01, math.pi - 0.01, 2001, dtype=torch.float64)
    psi = arcface_target_logit(theta.cos(), 1.0)
    assert (psi.diff() < 0).all()
    assert psi.diff().abs().max() < 0.01


@pytest.mark.parametrize(("strategy", "k", "d", "angle"), [
    ("simplex", 5, 4, math.acos(-1 / 4)), ("orthoplex", 6, 3, math.pi / 2),
    ("cube", 8, 3, math.acos(1 / 3)), ("separation", 5, 4, 0.5)])
def test_arcface_default_margin_is_the_polytope_neighbour_angle(strategy, k, d, angle):
    loss = ArcFaceLoss(prototypes=make_prototypes(strategy, k, d, random_state=0),
                       strategy=strategy)
    assert loss.margin == pytest.approx(angle)


def test_arcface_warmup_has_no_margin():
    loss = build("arcface", margin=0.5, warmup_epochs=2)
    z = torch.randn(4, D, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3])
    plain = build("cosine", scale=30.0, learn_scale=False)
    torch.testing.assert_close(loss.classification(z, y), plain.classification(z, y))
    loss.set_epoch(2)
    assert (loss.classification(z, y) > plain.classification(z, y)).all()


@pytest.mark.parametrize(("name", "params", "match"), [
    ("arcface", {"margin": -1.0}, "margin"), ("arcface", {"warmup_epochs": -1}, "warmup"),
    ("cosine", {"scale": 0.0}, "scale"), ("vmf", {"n_samples": 0}, "n_samples"),
    ("vmf", {"init_ratio": 1.5}, "init_ratio")])
def test_bad_loss_params(name, params, match):
    with pytest.raises(ValueError, match=match):
        build(name, **params)


def test_mse_is_unbounded_linear_output():
    loss = build("mse")
    z = torch.tensor([[3.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    assert float(loss.regression_output(z)[0, 0]) == 3.0
    assert float(build("hpn").regression_output(z)[0, 0]) == pytest.approx(3 / 10 ** 0.5)
