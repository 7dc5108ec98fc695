"""Tests of the von Mises–Fisher helpers in ``hsproto.losses._vmf_math``.

Exact references come from ``scipy.special.ive``; where ``ive`` underflows (large order, small
kappa) the power series of ``I_v`` is summed in log space instead. The references are checked
against closed forms (n = 3) and against each other where both apply; against mpmath (40
digits) they agree to < 2e-12 relative over the grids used here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, special, stats

from hsproto.losses._vmf_math import bessel_ratio, log_cn, sample_vmf

NS = (3, 8, 64, 512)
KAPPA = np.logspace(-3, 4, 141)
DTYPES = (torch.float32, torch.float64)


# ----------------------------------------------------------------------------- references
def _log_iv_series(v: float, x: np.ndarray) -> np.ndarray:
    """log I_v(x) from its power series (fine wherever x**2 / 4 is not large next to v)."""
    q = x**2 / 4
    term = np.ones_like(x)
    total = np.ones_like(x)
    for k in range(1, 2000):
        term = term * q / (k * (v + k))
        total = total + term
        if np.all(term < 1e-17 * total):
            break
    else:  # pragma: no cover - reference misuse
        raise RuntimeError("series did not converge")
    return v * np.log(x / 2) - special.gammaln(v + 1) + np.log(total)


def _log_iv(v: float, x: np.ndarray) -> np.ndarray:
    """log I_v(x): log(ive) + x where ive is representable, the series elsewhere."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(all="ignore"):
        e = special.ive(v, x)
    good = np.isfinite(e) & (e > 1e-290)
    out = np.empty_like(x)
    out[good] = np.log(e[good]) + x[good]
    if not good.all():
        out[~good] = _log_iv_series(v, x[~good])
    return out


def exact_ratio(kappa, n: int) -> np.ndarray:
    """A_n(kappa) = I_{n/2}(kappa) / I_{n/2-1}(kappa)."""
    return np.exp(_log_iv(n / 2, kappa) - _log_iv(n / 2 - 1, kappa))


def exact_log_cn(kappa, n: int) -> np.ndarray:
    """log C_n(kappa) = (n/2-1) log kappa - (n/2) log(2 pi) - log I_{n/2-1}(kappa)."""
    kappa = np.asarray(kappa, dtype=np.float64)
    return (n / 2 - 1) * np.log(kappa) - (n / 2) * np.log(2 * np.pi) - _log_iv(n / 2 - 1, kappa)


def _t(x, dtype=torch.float64, grad=False) -> torch.Tensor:
    return torch.tensor(x, dtype=dtype, requires_grad=grad)


def test_reference_closed_form_n3():
    # I_{1/2} and I_{3/2} are elementary: A_3 = coth k - 1/k, C_3 = k / (4 pi sinh k).
    k = KAPPA
    a3 = 1 / np.tanh(k) - 1 / k
    np.testing.assert_allclose(exact_ratio(k, 3)[k > 1e-2], a3[k > 1e-2], rtol=1e-10)
    log_sinh = k + np.log1p(-np.exp(-2 * k)) - np.log(2)
    np.testing.assert_allclose(exact_log_cn(k, 3), np.log(k / (4 * np.pi)) - log_sinh, rtol=1e-12)


@pytest.mark.parametrize("v", [0.5, 3.0, 31.0, 255.0, 256.0])
def test_reference_series_matches_ive(v):
    x = np.array([1e-2, 0.5, 3.0, 20.0, 50.0, 100.0, 200.0])
    with np.errstate(all="ignore"):
        e = special.ive(v, x)
    ok = e > 1e-250
    assert ok.sum() >= 2
    np.testing.assert_allclose(_log_iv_series(v, x[ok]), np.log(e[ok]) + x[ok], rtol=1e-12)


# ----------------------------------------------------------------------------- bessel_ratio
# Measured max relative error over KAPPA (1e-3 .. 1e4): n=3 0.2500, n=8 0.0714,
# n=64 7.94e-3, n=512 9.78e-4, in each case at the smallest kappa. As kappa -> 0 the lower
# bound is exact to first order (kappa / n) while the upper bound tends to kappa / (n - 1), so
# the error of their mean tends to 1 / (2 (n - 1)): that limit is the tolerance (the error is
# not the ~1e-2 one might expect for small n). It decays fast once kappa >> n.
RATIO_TOL = {n: 1 / (2 * (n - 1)) * (1 + 1e-6) for n in NS}
# Measured max relative error for kappa >= 1e3: n=3 2.5e-7, n=8 2.4e-7, n=64 2.5e-7,
# n=512 2.4e-5.
RATIO_TOL_LARGE = {3: 1e-6, 8: 1e-6, 64: 1e-6, 512: 5e-5}


@pytest.mark.parametrize("n", NS)
def test_bessel_ratio_accuracy(n):
    approx = bessel_ratio(_t(KAPPA), n).numpy()
    exact = exact_ratio(KAPPA, n)
    rel = np.abs(approx - exact) / exact
    assert rel.max() <= RATIO_TOL[n]
    assert rel[KAPPA >= 1e3].max() <= RATIO_TOL_LARGE[n]


@pytest.mark.parametrize("n", NS)
def test_bessel_ratio_bounds_bracket_exact(n):
    # The two bounds of Eq. 9 bracket the exact ratio; their mean sits between them. (Slack
    # 1e-10: at small kappa and large n the lower bound is exact to ~1e-12, the reference's
    # own accuracy.)
    k = KAPPA
    lower = k / ((n - 1) / 2 + np.sqrt(((n + 1) / 2) ** 2 + k**2))
    upper = k / ((n - 1) / 2 + np.sqrt(((n - 1) / 2) ** 2 + k**2))
    exact = exact_ratio(k, n)
    assert np.all(lower <= exact * (1 + 1e-10))
    assert np.all(exact <= upper * (1 + 1e-10))
    np.testing.assert_allclose(bessel_ratio(_t(k), n).numpy(), (lower + upper) / 2, rtol=1e-13)


def test_bessel_ratio_zero_and_shape():
    k = torch.zeros(2, 3, dtype=torch.float64)
    out = bessel_ratio(k, 5)
    assert out.shape == (2, 3) and out.dtype == torch.float64
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("bad", [1, 0, -3])
def test_invalid_n(bad):
    with pytest.raises(ValueError, match="n must be >= 2"):
        bessel_ratio(torch.ones(1), bad)
    with pytest.raises(ValueError, match="n must be >= 2"):
        log_cn(torch.ones(1), bad)
    with pytest.raises(TypeError):
        log_cn(torch.ones(1), 2.5)


# ----------------------------------------------------------------------------- log_cn
# Measured max absolute error over KAPPA: n=3 0.110 (at kappa ~ 5.6), n=8 0.0956 (kappa ~ 32),
# n=64 0.0960 (kappa ~ 2.4e3), n=512 0.0964 (kappa = 1e4). The error of the integrated
# approximation stays bounded (~0.09-0.11) as kappa grows, while |log C_n| grows to ~1e4
# at kappa = 1e4 (it crosses zero at moderate kappa, so no relative tolerance is used).
LOG_CN_ABS_TOL = 0.12


@pytest.mark.parametrize("n", NS)
def test_log_cn_accuracy(n):
    approx = log_cn(_t(KAPPA), n).numpy()
    exact = exact_log_cn(KAPPA, n)
    err = np.abs(approx - exact)
    assert err.max() <= LOG_CN_ABS_TOL
    # Exact as kappa -> 0, where log C_n(0) = -log |S^{n-1}|.
    assert err[KAPPA < 1e-2].max() < 1e-5
    if n < 300:
        area = 2 * math.pi ** (n / 2) / math.gamma(n / 2)
        assert log_cn(_t([0.0]), n).item() == pytest.approx(-math.log(area), rel=1e-12)


@pytest.mark.parametrize("n", (2, *NS))
def test_log_cn_derivative_is_minus_ratio(n):
    k = _t(np.concatenate([[0.0], np.logspace(-3, 5, 81)]), grad=True)
    (grad,) = torch.autograd.grad(log_cn(k, n).sum(), k)
    torch.testing.assert_close(grad, -bessel_ratio(k.detach(), n), rtol=1e-13, atol=1e-300)


# ----------------------------------------------------------------------------- finiteness
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", (2, *NS, 4096))
def test_finite_values_and_gradients(n, dtype):
    grid = np.concatenate([[0.0], np.logspace(-3, 5, 161)])
    k = _t(grid, dtype=dtype, grad=True)
    r = bessel_ratio(k, n)
    c = log_cn(k, n)
    assert r.dtype == c.dtype == dtype
    assert torch.isfinite(r).all() and torch.isfinite(c).all()
    g_r, g_c = (torch.autograd.grad(out.sum(), k, retain_graph=True)[0] for out in (r, c))
    assert torch.isfinite(g_r).all() and torch.isfinite(g_c).all()
    assert (r >= 0).all() and (r < 1).all()
    if dtype == torch.float32:
        # float32 agrees with float64 evaluated at the same (float32-rounded) kappa.
        k64 = k.detach().double()
        r64, c64 = bessel_ratio(k64, n), log_cn(k64, n)
        rel_r = ((r.detach().double() - r64).abs() / r64.clamp_min(1e-300))[1:]
        assert rel_r.max() < 1e-6
        assert ((c.detach().double() - c64).abs() / c64.abs().clamp_min(1)).max() < 1e-5


# ----------------------------------------------------------------------------- sampler
def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def _random_mu(n: int, rows: int, gen: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    return _unit(torch.randn(rows, n, dtype=dtype, generator=gen))


@pytest.mark.parametrize(
    ("n", "kappa", "n_samples"),
    [
        (2, 2.0, 1000),
        (3, 1.0, 1000),
        (8, 10.0, 1000),
        (64, 50.0, 500),
        (512, 1000.0, 50),
        (3, 1e-3, 1000),
        (16, 1e4, 500),
    ],
)
def test_sampler_mean_resultant_length(n, kappa, n_samples):
    gen = torch.Generator().manual_seed(1234 + n)
    mu = _random_mu(n, 8, gen)
    x = sample_vmf(mu, torch.full((8,), kappa, dtype=torch.float64), n_samples, generator=gen)
    assert x.shape == (n_samples, 8, n) and x.dtype == torch.float64
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(n_samples, 8, dtype=torch.float64))
    c = (x * mu).sum(-1).flatten()
    se = c.std().item() / math.sqrt(c.numel())
    a = exact_ratio(np.array([kappa]), n)[0]
    assert abs(c.mean().item() - a) <= 4 * se, (c.mean().item(), a, se)
    # Full mean vector E[x] = A_n(kappa) mu (tests the rotation, not only w).
    mean = x.mean(0)
    se_vec = x.std(0) / math.sqrt(n_samples)
    z = (mean - a * mu).abs() / se_vec.clamp_min(1e-300)
    assert z.max() <= 5.5


def _theta_cdf(n: int, kappa: float):
    """CDF of the angle theta = arccos(x^T mu); density ∝ exp(k cos t) sin(t)^(n-2)."""
    t = np.linspace(0.0, np.pi, 200_001)
    logp = kappa * (np.cos(t) - 1)
    if n > 2:
        with np.errstate(divide="ignore"):
            logp = logp + (n - 2) * np.log(np.sin(t))
    p = np.exp(logp - logp.max())
    cdf = integrate.cumulative_trapezoid(p, t, initial=0.0)
    cdf /= cdf[-1]
    return lambda s: np.interp(s, t, cdf)


@pytest.mark.parametrize(("n", "kappa"), [(2, 1.0), (3, 5.0), (8, 10.0), (64, 50.0), (16, 1e4)])
def test_sampler_angle_distribution(n, kappa):
    gen = torch.Generator().manual_seed(7)
    mu = _random_mu(n, 1, gen)[0]
    x = sample_vmf(mu, kappa, 4000, generator=gen)
    w = (x @ mu).clamp(-1, 1).numpy()
    theta = np.arctan2(np.linalg.norm(x.numpy() - np.outer(w, mu.numpy()), axis=1), w)
    assert stats.kstest(theta, _theta_cdf(n, kappa)).pvalue > 1e-3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("n", "kappa"), [(2, 1e-3), (2, 1e4), (3, 1.0), (64, 50.0), (512, 1e-3), (512, 1e4)]
)
def test_sampler_unit_norm_and_finite_gradients(n, kappa, dtype):
    gen = torch.Generator().manual_seed(0)
    raw = torch.randn(4, n, dtype=dtype, generator=gen).requires_grad_()
    log_k = torch.full((4,), math.log(kappa), dtype=dtype, requires_grad=True)
    x = sample_vmf(_unit(raw), log_k.exp(), 20, generator=gen)
    assert x.dtype == dtype and x.shape == (20, 4, n)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert (x.norm(dim=-1) - 1).abs().max() < tol
    target = torch.randn(n, dtype=dtype, generator=gen)
    loss = (x @ target).sum() + (x * _unit(raw)).sum()
    g_raw, g_k = torch.autograd.grad(loss, [raw, log_k])
    assert torch.isfinite(g_raw).all() and torch.isfinite(g_k).all()


def test_sampler_grad_kappa_positive():
    # Reparameterised gradient of E[x^T mu] w.r.t. kappa. Without the rejection correction
    # term it is biased low for small n (measured ~0.99 of the exact dA/dkappa here).
    n, kappa = 64, 50.0
    gen = torch.Generator().manual_seed(3)
    mu = _random_mu(n, 1, gen)[0]
    k = _t(kappa, grad=True)
    x = sample_vmf(mu, k, 2000, generator=gen)
    (g,) = torch.autograd.grad((x @ mu).mean(), k)
    a = exact_ratio(np.array([kappa]), n)[0]
    exact = 1 - a * a - (n - 1) / kappa * a  # A_n'(k)
    assert g.item() > 0
    assert g.item() == pytest.approx(exact, rel=0.1)


def test_sampler_deterministic_given_generator():
    mu = _unit(torch.ones(3, 5, dtype=torch.float64))
    kappa = torch.tensor([0.5, 5.0, 50.0], dtype=torch.float64)
    a = sample_vmf(mu, kappa, 10, generator=torch.Generator().manual_seed(42))
    b = sample_vmf(mu, kappa, 10, generator=torch.Generator().manual_seed(42))
    c = sample_vmf(mu, kappa, 10, generator=torch.Generator().manual_seed(43))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with torch.random.fork_rng():
        torch.manual_seed(5)
        d = sample_vmf(mu, kappa, 10)
        torch.manual_seed(5)
        e = sample_vmf(mu, kappa, 10)
    assert torch.equal(d, e)


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sampler_mu_at_poles(sign, dtype):
    n, kappa, n_samples = 5, 20.0, 2000
    mu = torch.zeros(n, dtype=dtype)
    mu[0] = sign
    raw = mu.clone().requires_grad_()
    gen = torch.Generator().manual_seed(11)
    x = sample_vmf(raw, _t(kappa, dtype), n_samples, generator=gen)
    assert torch.isfinite(x).all()
    w = x.double() @ mu.double()
    a = exact_ratio(np.array([kappa]), n)[0]
    assert abs(w.mean().item() - a) <= 4 * w.std().item() / math.sqrt(n_samples)
    tangent = x.double()[:, 1:]
    assert (tangent.mean(0).abs() / (tangent.std(0) / math.sqrt(n_samples))).max() <= 5.0
    (g,) = torch.autograd.grad(x[..., 1:].sum(), raw)
    assert torch.isfinite(g).all()


def test_sampler_mu_first_coordinate_zero():
    # sign(mu_1) switches the reflection branch; both sides and the boundary are fine.
    gen = torch.Generator().manual_seed(2)
    mu = torch.tensor([[0.0, 1.0, 0.0], [1e-9, 0.0, 1.0], [-1e-9, 0.0, 1.0]], dtype=torch.float64)
    mu = _unit(mu)
    x = sample_vmf(mu, 1e4, 200, generator=gen)
    w = (x * mu).sum(-1)
    assert (w > 0.99).all()
    torch.testing.assert_close(x.mean(0), mu, atol=5e-3, rtol=0)


def test_sampler_broadcasting_and_float_kappa():
    gen = torch.Generator().manual_seed(0)
    mu = _unit(torch.randn(2, 3, 6, generator=gen))
    assert sample_vmf(mu, 3.0, 4, generator=gen).shape == (4, 2, 3, 6)
    assert sample_vmf(mu, torch.ones(3), 4, generator=gen).shape == (4, 2, 3, 6)
    one = sample_vmf(mu[0, 0], torch.ones(5), 2, generator=gen)
    assert one.shape == (2, 5, 6)
    assert sample_vmf(mu[0, 0], 1.0, 3, generator=gen).shape == (3, 6)


def test_sampler_errors():
    mu = _unit(torch.ones(4))
    with pytest.raises(ValueError, match="kappa"):
        sample_vmf(mu, -1.0, 3)
    with pytest.raises(ValueError, match="kappa"):
        sample_vmf(mu, float("nan"), 3)
    with pytest.raises(ValueError, match="n_samples"):
        sample_vmf(mu, 1.0, 0)
    with pytest.raises(ValueError, match="n must be >= 2"):
        sample_vmf(torch.ones(1), 1.0, 3)
    gen = torch.Generator().manual_seed(0)
    big = _unit(torch.ones(64, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="still rejected after 1 rounds"):
        sample_vmf(big, 1e3, 2000, generator=gen, max_rounds=1)


@pytest.mark.gpu
def test_sampler_cuda():
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    mu = _unit(torch.randn(16, 128, device=dev, generator=gen))
    kappa = torch.full((16,), 100.0, device=dev, requires_grad=True)
    x = sample_vmf(mu, kappa, 64, generator=gen)
    assert x.device.type == "cuda" and x.dtype == torch.float32
    assert (x.norm(dim=-1) - 1).abs().max().item() < 1e-5
    (g,) = torch.autograd.grad((x * mu).sum(), kappa)
    assert torch.isfinite(g).all()
    a = exact_ratio(np.array([100.0]), 128)[0]
    assert abs((x * mu).sum(-1).mean().item() - a) < 0.01
    y1 = sample_vmf(mu, kappa, 8, generator=torch.Generator(device=dev).manual_seed(1))
    y2 = sample_vmf(mu, kappa, 8, generator=torch.Generator(device=dev).manual_seed(1))
    assert torch.equal(y1, y2)
