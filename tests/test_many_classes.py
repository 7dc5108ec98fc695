"""Many classes: the chunked cross-entropy, 16-bit prototype buffers, the exact screened
pairwise statistics and the large-K neighbour graph."""

import math

import numpy as np
import pytest
import torch

from hsproto import HypersphericalClassifier
from hsproto.losses import _base
from hsproto.losses._base import chunked_cross_entropy, unit
from hsproto.losses.arcface import ArcFaceLoss
from hsproto.losses.cosine import CosineLoss
from hsproto.losses.mce import MCELoss
from hsproto.prototypes import (
    AutoStrategy,
    GoldStrategy,
    _solver,
    make_layout,
    make_prototypes,
    metrics,
    pairwise_cosine_stats,
)
from hsproto.prototypes.auto import choose
from hsproto.prototypes.codes import gold_bound, gold_degree

LAYOUT = make_layout(8, n_classes=11, random_state=0)


@pytest.mark.parametrize("cls, params", [(MCELoss, {}), (CosineLoss, {"scale": 3.0}),
                                         (ArcFaceLoss, {"margin": 0.3, "scale": 8.0,
                                                        "learn_scale": True})])
@pytest.mark.parametrize("offset", [False, True])
def test_chunked_cross_entropy_equals_the_dense_one(cls, params, offset):
    gen = torch.Generator().manual_seed(0)
    loss = cls(LAYOUT, **params)
    if offset:
        loss.set_logit_offset(torch.randn(11, generator=gen))
    z = torch.randn(9, 8, generator=gen, requires_grad=True)
    y = torch.randint(0, 11, (9,), generator=gen)
    weights = torch.rand(9, generator=gen)        # a non-uniform upstream gradient
    params_ = [z, *loss.parameters()]
    dense = loss.classification(z, y)             # 11 classes: the dense path
    dense_grads = torch.autograd.grad((dense * weights).sum(), params_)
    scale = loss.log_scale.exp() if hasattr(loss, "log_scale") else torch.ones(())
    chunked = chunked_cross_entropy(loss, unit(z), y, scale, chunk=3)  # 4 chunks
    chunked_grads = torch.autograd.grad((chunked * weights).sum(), params_)
    torch.testing.assert_close(chunked, dense, rtol=1e-5, atol=1e-5)
    for a, b in zip(chunked_grads, dense_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_the_loss_switches_to_the_chunked_path_at_many_classes(monkeypatch):
    loss = CosineLoss(LAYOUT, scale=2.0)
    z, y = torch.randn(5, 8), torch.tensor([0, 3, 10, 10, 7])
    dense = loss.classification(z, y)
    calls = []
    real = _base.chunked_cross_entropy
    monkeypatch.setattr(_base, "chunked_cross_entropy",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(_base, "CHUNKED_CE_MIN_CLASSES", 10)
    monkeypatch.setattr(_base, "CE_CHUNK", 4)
    torch.testing.assert_close(loss.classification(z, y), dense, rtol=1e-5, atol=1e-6)
    assert calls
    # soft labels (mixing) keep the dense path
    soft = torch.softmax(torch.randn(5, 11), dim=1)
    assert loss.classification(z, soft).shape == (5,)
    assert len(calls) == 1


def test_16_bit_prototype_buffers_give_the_float32_scores(monkeypatch):
    monkeypatch.setattr(_base, "CE_CHUNK", 4)     # chunked products over 11 prototypes
    loss = CosineLoss(LAYOUT)
    z = torch.randn(6, 8)
    full = loss.class_scores(z)
    loss.prototypes = loss.prototypes.to(torch.bfloat16)
    half = loss.class_scores(z)
    assert half.dtype == torch.float32 and half.shape == (6, 11)
    torch.testing.assert_close(half, full, atol=2 ** -7, rtol=0)
    y = torch.tensor([1, 2, 3, 4, 5, 6])
    assert torch.isfinite(loss.classification(z, y)).all()


def test_bf16_training_keeps_the_prototype_buffer_in_bf16():
    X = np.random.default_rng(0).standard_normal((60, 5)).astype(np.float32)
    y = np.arange(60) % 3
    clf = HypersphericalClassifier(precision="bf16", max_epochs=3, random_state=0).fit(X, y)
    buffer = clf.net_.criterion_.loss.prototypes
    assert buffer.dtype == torch.bfloat16
    # the estimator's prototypes_ stay the exact float64 placement
    assert clf.prototypes_.dtype == np.float64
    np.testing.assert_allclose(buffer.float().numpy(), clf.prototypes_, atol=2 ** -8)
    assert clf.predict(X).shape == (60,)


def test_screened_pairwise_extremes_are_the_float64_ones(monkeypatch):
    rng = np.random.default_rng(0)
    P = rng.standard_normal((700, 24))
    P[5] = P[17] + 1e-3 * rng.standard_normal(24)      # one very close pair
    exact = pairwise_cosine_stats(P)
    monkeypatch.setattr(metrics, "_FLOAT64_PASS", 0)   # force the bf16 screening pass
    screened = pairwise_cosine_stats(P, chunk=128)
    assert screened["max"] == exact["max"] and screened["min"] == exact["min"]
    assert math.isclose(screened["mean"], exact["mean"], rel_tol=0, abs_tol=1e-12)
    Pn = P / np.linalg.norm(P, axis=1, keepdims=True)
    G = Pn @ Pn.T
    np.fill_diagonal(G, np.nan)
    assert exact["max"] == pytest.approx(np.nanmax(G), abs=1e-12)
    assert exact["mean"] == pytest.approx(np.nanmean(G), abs=1e-12)


def test_neighbour_graph_ranked_in_bf16_finds_the_same_neighbours():
    x = _solver.random_sphere(1, 600, 32, seed=0, dtype=torch.float32)[0]
    exact = _solver.NeighbourGraph(x, 4)
    ranked = _solver.NeighbourGraph(x, 4, rank_dtype=torch.bfloat16)
    same = (exact.col.view(600, 4).sort(1).values == ranked.col.view(600, 4).sort(1).values)
    assert same.float().mean() > 0.95


def test_the_full_gold_code_has_three_correlation_values():
    P = make_prototypes("gold", 31 * 33, 31, random_state=0)    # every codeword, m = 5
    G = np.rint(P @ P.T * 31)
    np.fill_diagonal(G, 0)
    assert set(np.unique(G)) == {-9.0, -1.0, 0.0, 7.0}
    assert pairwise_cosine_stats(P)["max"] == pytest.approx(gold_bound(5)) == 7 / 31
    np.testing.assert_allclose(np.linalg.norm(P, axis=1), 1.0)


def test_the_gold_code_built_in_chunks_equals_it_built_whole(monkeypatch):
    from hsproto.prototypes import codes

    whole = GoldStrategy()._generate(31 * 33, 31, 5)
    monkeypatch.setattr(codes, "_CHUNK", 100)        # 11 chunks, the last one short
    np.testing.assert_array_equal(GoldStrategy()._generate(31 * 33, 31, 5), whole)
    # every codeword once: no two rows equal (off the diagonal, correlations <= 7)
    G = np.rint(whole @ whole.T * 31)
    assert (np.diag(G) == 31).all() and (G[~np.eye(len(G), dtype=bool)] <= 7).all()


def test_gold_refuses_sizes_it_cannot_hold():
    with pytest.raises(ValueError, match="Gold code"):
        make_prototypes("gold", 31 * 33 + 1, 31)
    with pytest.raises(ValueError, match="Gold code"):
        make_prototypes("gold", 10, 6)
    assert gold_degree(100_000, 512) == 9 and gold_degree(100, 255) == 7   # m = 8: none


def test_auto_keeps_the_better_of_the_optimiser_and_the_gold_code():
    # 1000 classes in 31 dims: the code (7/31) beats the optimiser (0.286)
    many = make_prototypes("auto", 1000, 31, random_state=0)
    assert pairwise_cosine_stats(many)["max"] == pytest.approx(7 / 31)
    # 300 classes: the optimiser wins (0.178) and is kept
    few = make_prototypes("auto", 300, 31, random_state=0)
    sep = make_prototypes("separation", 300, 31, random_state=0)
    np.testing.assert_array_equal(few, sep)
    assert pairwise_cosine_stats(few)["max"] < 7 / 31


def test_auto_uses_the_gold_code_beyond_the_optimisers_reach():
    assert choose(20_000, 512) == "gold"
    assert choose(16_384, 512) == "separation"          # optimised, then compared
    assert choose(20_000, 64) == "separation"           # the code holds 4095 there
    assert isinstance(AutoStrategy().resolve(20_000, 512), GoldStrategy)
    np.testing.assert_array_equal(AutoStrategy()._generate(20_000, 512, 3),
                                  GoldStrategy()._generate(20_000, 512, 3))


@pytest.mark.parametrize("loss, precision", [("cosine", "32"), ("mce", "32")])
def test_a_fit_through_the_chunked_path_learns(monkeypatch, loss, precision):
    monkeypatch.setattr(_base, "CHUNKED_CE_MIN_CLASSES", 32)
    monkeypatch.setattr(_base, "CE_CHUNK", 16)
    calls = []
    real = _base._OtherClassesLSE
    monkeypatch.setattr(_base, "_OtherClassesLSE", type(
        "Counted", (real,), {"apply": staticmethod(
            lambda *a: calls.append(1) or real.apply(*a))}))
    rng = np.random.default_rng(0)
    centroids = rng.standard_normal((40, 16)).astype(np.float32)
    y = np.repeat(np.arange(40), 6)
    X = centroids[y] + 0.3 * rng.standard_normal((240, 16)).astype(np.float32)
    clf = HypersphericalClassifier(loss=loss, n_dims=16, precision=precision,
                                   max_epochs=40, random_state=0).fit(X, y)
    assert calls and clf.score(X, y) > 0.8


def test_dynamic_assignment_keeps_float32_sums_with_a_bf16_buffer():
    X = np.random.default_rng(0).standard_normal((60, 5)).astype(np.float32)
    y = np.arange(60) % 4
    clf = HypersphericalClassifier(precision="bf16", assignment="dynamic", max_epochs=2,
                                   random_state=0).fit(X, y)
    assignment = dict(clf.net_.callbacks_)["assignment"]
    assert clf.net_.criterion_.loss.prototypes.dtype == torch.bfloat16
    assert assignment.sums_.dtype == torch.float32
    assert sorted(clf.layout_.assignment) == [0, 1, 2, 3]


def test_a_nan_output_stays_nan_through_the_chunked_path(monkeypatch):
    # the estimator's divergence check sees a NaN loss (no silent finite value)
    monkeypatch.setattr(_base, "CHUNKED_CE_MIN_CLASSES", 10)
    monkeypatch.setattr(_base, "CE_CHUNK", 4)
    loss = CosineLoss(LAYOUT)
    z = torch.randn(3, 8)
    z[1, 2] = float("nan")
    out = loss.classification(z, torch.tensor([0, 5, 10]))
    assert torch.isfinite(out[[0, 2]]).all() and torch.isnan(out[1])
