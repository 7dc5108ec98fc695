"""Contract and correctness tests for every registered loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hsproto import Layout, registry
from hsproto.losses import mixed_prototypes
from hsproto.losses.arcface import ArcFaceLoss, arcface_target_logit
from hsproto.losses.hpn import HPNLoss
from hsproto.prototypes import make_layout

LOSSES = registry.available("hsproto.losses")
K, D, T = 5, 4, 1


def build(name, **params):
    cls = registry.get("hsproto.losses", name)
    layout = make_layout(D, n_classes=K, random_state=0)
    layout = Layout(D, prototypes=layout.prototypes, poles=np.eye(T, D),
                    strategy=layout.strategy, neighbour_angle=layout.neighbour_angle)
    return cls(layout, **params).double()


def seeded(fn, seed=0):
    """``fn`` with torch reseeded on every call (sampling losses become deterministic)."""
    def wrapped(*args):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return fn(*args)
    return wrapped


def test_builtin_losses_registered():
    assert {"hpn", "mce", "cosine", "arcface", "vmf", "softmax", "mse"} <= set(LOSSES)


# The loss contract (shapes, soft labels, gradcheck, hooks, devices, pickling) runs on
# every registered loss through hsproto.testing.check_loss in tests/test_testing.py.


@pytest.mark.parametrize("name", [n for n in LOSSES if n not in ("softmax", "mse")])
def test_half_half_mix_of_antipodal_prototypes_is_finite(name):
    cls = registry.get("hsproto.losses", name)
    protos = np.array([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = cls(Layout(3, prototypes=protos)).double()
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
def test_arcface_polytope_margin_is_the_neighbour_angle(strategy, k, d, angle):
    layout = make_layout(d, n_classes=k, strategy=strategy, random_state=0)
    assert layout.strategy == strategy
    assert ArcFaceLoss(layout, margin="polytope").margin == pytest.approx(angle)
    # the default ("auto") is 0.5 whatever the placement: the suite's choice
    assert ArcFaceLoss(layout).margin == 0.5


def test_arcface_reads_the_angle_of_the_placement_auto_chose():
    layout = make_layout(4, n_classes=5, strategy="auto")     # auto places a simplex
    assert (layout.strategy, layout.neighbour_angle) == ("simplex", math.acos(-1 / 4))
    assert ArcFaceLoss(layout, margin="polytope").margin == layout.neighbour_angle
    polygon = make_layout(2, n_classes=5)                             # no neighbour angle
    assert ArcFaceLoss(polygon, margin="polytope").margin == 0.5


def test_set_layout_is_the_one_way_to_change_the_prototypes():
    loss = build("hpn")
    new = loss.layout.reassign([1, 0, 2, 3, 4])
    loss.set_layout(new)
    assert loss.layout is new
    torch.testing.assert_close(loss.prototypes, torch.as_tensor(new.prototypes))
    torch.testing.assert_close(loss.prototypes[0].double(),
                               torch.as_tensor(new.placed_prototypes[1]))
    with pytest.raises(ValueError, match="same sizes"):
        loss.set_layout(make_layout(D, n_classes=K - 1))


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
    ("cosine", {"scale": 0.0}, "scale"), ("cosine", {"min_scale": -1.0}, "min_scale"),
    ("cosine", {"scale": 0.5}, "min_scale"), ("cosine", {"min_scale": True}, "min_scale"),
    ("cosine", {"min_scale": float("nan")}, "min_scale"),
    ("arcface", {"scale": 2.0, "min_scale": 3.0}, "min_scale"),
    ("vmf", {"n_samples": 0}, "n_samples"),
    ("vmf", {"init_ratio": 1.5}, "init_ratio")])
def test_bad_loss_params(name, params, match):
    with pytest.raises(ValueError, match=match):
        build(name, **params)


def test_mse_is_unbounded_linear_output():
    loss = build("mse")
    z = torch.tensor([[3.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    assert float(loss.regression_output(z)[0, 0]) == 3.0
    assert float(build("hpn").regression_output(z)[0, 0]) == pytest.approx(3 / 10 ** 0.5)


@pytest.mark.parametrize(("orthogonal", "expected"), [
    (True, lambda r: r), (False, lambda r: r / np.sqrt(1 + r ** 2))])
def test_hpn_joint_optimum_with_and_without_orthogonal_classification(orthogonal, expected):
    """The minimiser of L_c + L_r over z reads cos(z, pole) = r when L_c ignores the
    pole component, and the paper's literal sum shrinks it to r / sqrt(1 + r^2)."""
    from hsproto import joint_layout

    poles, protos = joint_layout(3, 4, random_state=0)
    loss = HPNLoss(Layout(4, prototypes=protos, poles=poles),
                   classify_orthogonal=orthogonal).double()
    r = torch.tensor([[-0.9], [-0.3], [0.5], [0.95]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    z = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=0.02)
    for _ in range(3000):
        opt.zero_grad()
        (loss.classification(z, y) + loss.regression(z, r)).sum().backward()
        opt.step()
    got = loss.regression_output(z.detach()).numpy()
    np.testing.assert_allclose(got, expected(r.numpy()), atol=2e-3)
    assert torch.equal(loss.class_scores(z.detach()).argmax(1), y)


def test_hpn_orthogonal_classification_ignores_the_pole_component():
    from hsproto import joint_layout

    poles, protos = joint_layout(3, 4, random_state=0)
    loss = HPNLoss(Layout(4, prototypes=protos, poles=poles))
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    moved = z + 3.0 * torch.as_tensor(poles, dtype=torch.float32)[0]
    y = torch.tensor([0, 1, 2, 0, 1])
    torch.testing.assert_close(loss.classification(moved, y), loss.classification(z, y))
    # without poles (a plain classifier) nothing is projected
    plain = HPNLoss(Layout(4, prototypes=protos))
    assert not torch.allclose(plain.classification(moved, y), plain.classification(z, y))
    with pytest.raises(ValueError, match="classify_orthogonal must be a bool"):
        HPNLoss(Layout(4, prototypes=protos, poles=poles), classify_orthogonal="yes")


def test_learned_temperature_is_projected_onto_min_scale_while_training():
    z = torch.randn(6, D, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    loss = build("cosine")                              # min_scale=1.0: tau >= 0
    with torch.no_grad():
        loss.log_scale.fill_(-3.0)
    loss.eval()
    loss.classification(z, y)                           # predicting leaves tau alone
    assert float(loss.log_scale) == -3.0
    loss.train()
    out = loss.classification(z, y)
    assert float(loss.log_scale) == 0.0                 # projected before use
    out.sum().backward()                                # and the graph is intact
    assert torch.isfinite(loss.log_scale.grad)
    torch.testing.assert_close(out, build("cosine").classification(z, y))
    free = build("cosine", min_scale=0)
    with torch.no_grad():
        free.log_scale.fill_(-3.0)
    free.classification(z, y)
    assert float(free.log_scale) == -3.0                # min_scale=0: no bound
    fixed = build("cosine", scale=0.5, min_scale=0.25, learn_scale=False)
    fixed.classification(z, y)
    assert math.isclose(float(fixed.log_scale.exp()), 0.5, rel_tol=1e-6)


def test_cosine_trains_with_sgd_at_the_papers_learning_rate():
    """SGD, lr 0.1, momentum 0.9 (HPN's CIFAR recipe) on digits: a big early step
    throws the network off, momentum then drives the unbounded temperature to 1e-9
    and every gradient vanishes; the lower bound lets training recover."""
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    from hsproto import HypersphericalClassifier

    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype("float32")
    # the collapse is a matter of seed and noise: this one was found with dropout 0.2
    params = dict(loss="cosine", optimizer="sgd", lr=0.1, momentum=0.9, max_epochs=20,
                  random_state=0, module_params={"dropout": 0.2})
    with pytest.raises(FloatingPointError, match="inverse temperature collapsed"):
        HypersphericalClassifier(**params, loss_params={"min_scale": 0}).fit(X[:1347],
                                                                         y[:1347])
    clf = HypersphericalClassifier(**params).fit(X[:1347], y[:1347])
    assert clf.score(X[1347:], y[1347:]) > 0.9
    assert float(clf.net_.criterion_.loss.log_scale) >= 0.0
