import math

import numpy as np
import pytest

import hsproto
from hsproto import registry
from hsproto.prototypes import (
    SeparationStrategy,
    joint_layout,
    known_limit,
    make_prototypes,
    neighbour_angle,
    pairwise_cosine_stats,
    regression_poles,
    triplet_agreement,
)
from hsproto.prototypes.auto import choose

EMB = np.random.default_rng(0).standard_normal((6, 8))

# Fast settings and required inputs per strategy; an unsupported size for each.
PARAMS = {
    "separation": {"steps": 60}, "uniformity": {"steps": 60}, "auto": {"steps": 60},
    "privileged": {"steps": 60, "class_embeddings": EMB},
    "embedding": {"class_embeddings": EMB},
}
UNSUPPORTED = {"simplex": (6, 3), "orthoplex": (7, 3), "cube": (9, 3), "one_hot": (6, 5),
               "polygon": (2, 1), "embedding": (5, 4), "privileged": (5, 4)}
ALL = registry.available("prototypes")


def test_every_builtin_is_registered():
    assert set(ALL) >= {"auto", "separation", "uniformity", "privileged", "embedding",
                        "simplex", "orthoplex", "cube", "one_hot", "random", "polygon"}


# The strategy contract (shapes, unit rows, determinism, global RNGs, pickling) runs on
# every registered strategy through hsproto.testing in tests/test_testing.py.


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_size_raises(name):
    k, d = UNSUPPORTED[name]
    with pytest.raises(ValueError, match=rf"{name}.*does not support n_classes={k}, "
                                         rf"n_dims={d}"):
        make_prototypes(name, k, d, **PARAMS.get(name, {}))


def test_random_state_changes_stochastic_strategies():
    a = make_prototypes("random", 5, 4, random_state=0)
    b = make_prototypes("random", 5, 4, random_state=1)
    assert not np.allclose(a, b)
    rs = np.random.RandomState(3)
    c = make_prototypes("random", 5, 4, random_state=rs)
    assert c.shape == (5, 4)


@pytest.mark.parametrize("k,d", [(2, 2), (10, 2), (7, 2), (37, 2)])
def test_polygon_limit(k, d):
    P = make_prototypes("auto", k, d)
    assert abs(pairwise_cosine_stats(P)["max"] - math.cos(2 * math.pi / k)) < 1e-12


@pytest.mark.parametrize("k,d", [(2, 1), (3, 2), (10, 9), (100, 100), (5, 64)])
def test_simplex_limit(k, d):
    P = make_prototypes("auto", k, d)
    stats = pairwise_cosine_stats(P)
    assert abs(stats["max"] + 1 / (k - 1)) < 1e-12
    assert abs(stats["min"] + 1 / (k - 1)) < 1e-12         # equiangular (ETF)
    np.testing.assert_allclose(P.sum(axis=0), 0, atol=1e-12)


@pytest.mark.parametrize("k,d", [(100, 50), (7, 4), (8, 4)])
def test_orthoplex_limit(k, d):
    assert choose(k, d) == "orthoplex"
    assert pairwise_cosine_stats(make_prototypes("auto", k, d))["max"] == 0.0


def test_cube_and_one_hot():
    P = make_prototypes("cube", 8, 3)
    assert pairwise_cosine_stats(P)["max"] == pytest.approx(1 / 3)   # (d - 2) / d
    assert neighbour_angle("cube", 8, 3) == pytest.approx(math.acos(1 / 3))
    assert neighbour_angle("simplex", 4, 3) == pytest.approx(math.acos(-1 / 3))
    assert neighbour_angle("orthoplex", 6, 3) == pytest.approx(math.pi / 2)
    np.testing.assert_array_equal(make_prototypes("one_hot", 3, 5), np.eye(3, 5))
    with pytest.raises(ValueError, match="neighbour_angle"):
        neighbour_angle("random", 3, 3)


@pytest.mark.parametrize("k", [12, 24])
def test_separation_reaches_tammes(k):
    P = make_prototypes("auto", k, 3, random_state=0)
    angle = math.degrees(math.acos(pairwise_cosine_stats(P)["max"]))
    best = math.degrees(math.acos(known_limit(k, 3)[0]))
    assert angle > best - 0.5


@pytest.mark.parametrize("k,d,margin", [(10, 2, 0.05), (40, 5, 0.02)])
def test_separation_beats_hpn_reference(k, d, margin):
    ours = make_prototypes("separation", k, d, random_state=0, steps=300)
    paper = make_prototypes("separation", k, d, random_state=0, solver="hpn")
    assert pairwise_cosine_stats(ours)["max"] < pairwise_cosine_stats(paper)["max"] - margin


def test_separation_neighbour_mode():
    P = make_prototypes("separation", 600, 8, random_state=0, steps=100)
    rnd = make_prototypes("random", 600, 8, random_state=0)
    assert pairwise_cosine_stats(P)["max"] < pairwise_cosine_stats(rnd)["max"] - 0.1


def test_uniformity_spreads_points():
    P = make_prototypes("uniformity", 30, 3, random_state=0, steps=300)
    rnd = make_prototypes("random", 30, 3, random_state=0)
    assert pairwise_cosine_stats(P)["max"] < pairwise_cosine_stats(rnd)["max"] - 0.05
    assert abs(pairwise_cosine_stats(P)["mean"] + 1 / 29) < 0.01   # centred cloud


def test_uniformity_subset():
    P = make_prototypes("uniformity", 30, 3, random_state=0, steps=50, subset_size=10)
    assert P.shape == (30, 3)


def grouped_embeddings(n_groups=5, per_group=4):
    """Two-level semantics: cos 0.8 within a group, 0 across groups."""
    n = n_groups * per_group
    return np.hstack([np.repeat(np.eye(n_groups), per_group, 0), 0.5 * np.eye(n)])


def test_privileged_follows_semantics():
    emb = grouped_embeddings()
    P = make_prototypes("privileged", 20, 4, random_state=0, class_embeddings=emb,
                        steps=300)
    S = make_prototypes("separation", 20, 4, random_state=0, steps=300)
    assert triplet_agreement(P, emb) > triplet_agreement(S, emb) + 0.2
    sim = P @ P.T
    same = np.kron(np.eye(5), np.ones((4, 4))).astype(bool) & ~np.eye(20, dtype=bool)
    assert sim[same].mean() > sim[~same & ~np.eye(20, dtype=bool)].mean() + 0.3


def test_privileged_samples_triplets_for_large_k():
    emb = grouped_embeddings(10, 6)
    P = make_prototypes("privileged", 60, 6, random_state=0, class_embeddings=emb,
                        steps=50, max_triplets=500)
    assert P.shape == (60, 6)


def test_embedding_projects_and_pads():
    emb = grouped_embeddings()
    P = make_prototypes("embedding", 20, 10, class_embeddings=emb)
    assert triplet_agreement(P, emb) > 0.8
    Q = make_prototypes("embedding", 20, 64, class_embeddings=emb)
    np.testing.assert_array_equal(Q[:, 25:], 0)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(Q[:, :25], e)


@pytest.mark.parametrize("k,d,err,match", [
    (1, 3, ValueError, "n_classes must be >= 2"),
    (3, 0, ValueError, "n_dims must be >= 1"),
    (3, 1, ValueError, "n_dims=1 holds at most 2"),
    (2.5, 3, TypeError, "n_classes must be an integer"),
    (3, "4", TypeError, "n_dims must be an integer"),
    (True, 3, TypeError, "n_classes must be an integer"),
])
def test_bad_sizes(k, d, err, match):
    with pytest.raises(err, match=match):
        make_prototypes("auto", k, d)


@pytest.mark.parametrize("name", ["privileged", "embedding"])
def test_bad_embeddings(name):
    bad = EMB.copy()
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(rows \[2\]\)"):
        make_prototypes(name, 6, 3, class_embeddings=bad)
    with pytest.raises(ValueError, match="class_embeddings has 6 rows"):
        make_prototypes(name, 5, 3, class_embeddings=EMB)
    with pytest.raises(ValueError, match="class_embeddings is required"):
        make_prototypes(name, 5, 3)
    zero = EMB.copy()
    zero[1] = 0
    with pytest.raises(ValueError, match=r"rows \[1\] are zero"):
        make_prototypes(name, 6, 3, class_embeddings=zero)
    with pytest.raises(ValueError, match="must be 2-d"):
        make_prototypes(name, 6, 3, class_embeddings=EMB[0])
    with pytest.raises(ValueError, match="numeric"):
        make_prototypes(name, 2, 3, class_embeddings=[["a", "b"], ["c", "d"]])


def test_bad_strategy_parameters():
    with pytest.raises(ValueError, match="Invalid parameters.*'separation'.*accepts"):
        make_prototypes("separation", 5, 3, stepz=10)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        make_prototypes("separation", 5, 3, steps=0)
    with pytest.raises(ValueError, match="solver must be"):
        SeparationStrategy(solver="magic")
    with pytest.raises(TypeError, match="random_state must be"):
        make_prototypes("random", 5, 3, random_state="seed")
    with pytest.raises(ValueError, match="Parameters cannot be passed"):
        make_prototypes(SeparationStrategy(), 5, 3, steps=3)


def test_cache_avoids_recomputation(tmp_path, monkeypatch):
    calls = []
    original = SeparationStrategy.optimise

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SeparationStrategy, "optimise", counting)
    with hsproto.config_context(cache_dir=str(tmp_path)):
        a = make_prototypes("separation", 20, 3, random_state=0, steps=30)
        b = make_prototypes("separation", 20, 3, random_state=0, steps=30)
        make_prototypes("separation", 20, 3, random_state=1, steps=30)
        make_prototypes("separation", 20, 3, random_state=None, steps=30)  # not cached
    np.testing.assert_array_equal(a, b)
    assert len(calls) == 3
    assert any(tmp_path.iterdir())


def test_config_validation():
    with pytest.raises(TypeError, match="cache_dir must be a path or None"):
        hsproto.set_config(cache_dir=3)


def test_regression_poles_and_joint_layout():
    poles = regression_poles(2, 5)
    np.testing.assert_array_equal(poles, np.eye(2, 5))
    poles, P = joint_layout(5, 3, random_state=0)
    assert poles.shape == (1, 3) and P.shape == (5, 3)
    np.testing.assert_allclose(P @ poles.T, 0, atol=1e-12)       # orthogonal complement
    assert pairwise_cosine_stats(P)["max"] == pytest.approx(math.cos(2 * math.pi / 5))
    with pytest.raises(ValueError, match="too small for 3 regression targets"):
        regression_poles(3, 2)
    with pytest.raises(ValueError, match="use n_dims >= 3"):
        joint_layout(5, 2)
    with pytest.raises(ValueError, match="n_targets must be >= 1"):
        joint_layout(5, 4, n_targets=0)
    with pytest.raises(ValueError, match="simplex.*does not support"):
        joint_layout(5, 3, strategy="simplex")


def test_metrics():
    P = np.array([[1.0, 0], [0, 1], [-1, 0]])
    stats = hsproto.pairwise_cosine_stats(P)
    assert stats == {"min": -1.0, "max": 0.0, "mean": pytest.approx(-1 / 3)}
    assert known_limit(10, 2) == (pytest.approx(math.cos(math.pi / 5)), "optimal")
    assert known_limit(10, 9) == (pytest.approx(-1 / 9), "optimal")
    assert known_limit(100, 50) == (0.0, "optimal")
    assert known_limit(12, 3)[1] == "best known"
    assert known_limit(100, 25) == (0.0, "lower bound")
    with pytest.raises(ValueError, match="at least 2 rows"):
        pairwise_cosine_stats(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        pairwise_cosine_stats(np.array([[np.nan, 1], [1, 0]]))
    # chunked path agrees with the direct one
    R = make_prototypes("random", 50, 4, random_state=0)
    g = R @ R.T
    np.fill_diagonal(g, np.nan)
    assert pairwise_cosine_stats(R, chunk=7)["max"] == pytest.approx(np.nanmax(g))
