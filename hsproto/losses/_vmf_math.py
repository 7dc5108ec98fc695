"""Differentiable von Mises–Fisher helpers in pure torch.

``n`` is always the ambient dimension: the distribution lives on the unit sphere
:math:`S^{n-1} \\subset \\mathbb{R}^n`. The Bessel-function quantities use the closed-form
approximations of Scott et al. (2021, Eq. 9–12), so no special functions are evaluated and
everything runs on any device and is differentiable.
"""

from __future__ import annotations

import math
import operator

import torch

__all__ = ["bessel_ratio", "log_cn", "sample_vmf"]


def _check_n(n) -> int:
    if isinstance(n, bool):
        raise TypeError("n must be an int, got bool")
    n = operator.index(n)
    if n < 2:
        raise ValueError(f"n must be >= 2 (vMF on S^(n-1) in R^n), got {n}")
    return n


def _bounds_params(n: int) -> tuple[float, float, float]:
    """``a`` and the two ``b`` of the bounds ``kappa / (a + sqrt(b**2 + kappa**2))``."""
    return (n - 1) / 2, (n + 1) / 2, (n - 1) / 2


def bessel_ratio(kappa: torch.Tensor, n: int) -> torch.Tensor:
    """Approximate :math:`A_n(\\kappa) = I_{n/2}(\\kappa) / I_{n/2-1}(\\kappa)`.

    Mean of the lower and upper bounds of Ruiz-Antolín & Segura (Scott et al. 2021, Eq. 9–10),
    ``kappa / (a + sqrt(b**2 + kappa**2))`` with ``a = (n-1)/2`` and ``b = (n+1)/2`` or
    ``(n-1)/2``. It is the mean resultant length ``E[x^T mu]`` of vMF(mu, kappa).

    Parameters
    ----------
    kappa : torch.Tensor
        Concentrations, any shape, ``>= 0``. Finite and differentiable for ``kappa`` in
        ``[0, 1e5]`` and beyond; ``bessel_ratio(0, n) == 0``.
    n : int
        Ambient dimension, ``>= 2``.

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``kappa``, values in ``[0, 1)``.

    Examples
    --------
    >>> import torch
    >>> bessel_ratio(torch.tensor([0.0, 1.0, 1e4], dtype=torch.float64), 3)
    tensor([0.0000, 0.3616, 0.9999], dtype=torch.float64)

    (exact: ``0, coth(1) - 1 = 0.3130, 0.9999``). The relative error is largest as
    ``kappa -> 0``, where it tends to ``1 / (2 (n - 1))`` (25% for ``n = 3``, 0.1% for
    ``n = 512``), and falls off as ``kappa`` grows past ``n``.
    """
    n = _check_n(n)
    a, b_lo, b_hi = _bounds_params(n)
    lower = kappa / (a + torch.hypot(kappa, torch.full_like(kappa, b_lo)))
    upper = kappa / (a + torch.hypot(kappa, torch.full_like(kappa, b_hi)))
    return 0.5 * (lower + upper)


def _bound_integral(kappa: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """Closed form of ``int_0^kappa t / (a + sqrt(b**2 + t**2)) dt`` (``a >= 0``, ``b > 0``).

    With ``s = sqrt(b**2 + t**2)`` one has ``t dt = s ds`` and ``s / (a + s) = 1 - a / (a + s)``,
    so the integral is ``(s - b) - a * log((a + s) / (a + b))``. ``s - b`` is evaluated as
    ``kappa**2 / (s + b)`` and the logarithm as ``log1p((s - b) / (a + b))``: no cancellation
    at small ``kappa``, no overflow at large ``kappa``.
    """
    s = torch.hypot(kappa, torch.full_like(kappa, b))
    s_minus_b = kappa * (kappa / (s + b))
    return s_minus_b - a * torch.log1p(s_minus_b / (a + b))


def log_cn(kappa: torch.Tensor, n: int) -> torch.Tensor:
    """Approximate the log normaliser :math:`\\log C_n(\\kappa)` of the vMF density.

    :math:`C_n(\\kappa) = \\kappa^{n/2-1} / ((2\\pi)^{n/2} I_{n/2-1}(\\kappa))`, so that the
    density on :math:`S^{n-1}` is :math:`C_n(\\kappa) \\exp(\\kappa \\mu^T x)`. Since
    :math:`d \\log C_n / d\\kappa = -A_n(\\kappa)`, this returns
    :math:`\\log C_n(0) - \\int_0^\\kappa \\tilde A_n(t)\\, dt` with :math:`\\tilde A_n` the
    approximation of :func:`bessel_ratio`, integrated in closed form (Scott et al. 2021,
    Eq. 12), and :math:`\\log C_n(0) = -\\log |S^{n-1}| = \\log\\Gamma(n/2) - \\log 2 -
    (n/2) \\log \\pi`. Its autograd derivative is exactly ``-bessel_ratio(kappa, n)``.

    Parameters
    ----------
    kappa : torch.Tensor
        Concentrations, any shape, ``>= 0``. Finite and differentiable for ``kappa`` in
        ``[0, 1e5]`` and beyond, for any ``n``.
    n : int
        Ambient dimension, ``>= 2``.

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``kappa``.

    Examples
    --------
    >>> import torch
    >>> log_cn(torch.tensor([0.0, 2.0], dtype=torch.float64), 3)
    tensor([-2.5310, -3.2007], dtype=torch.float64)

    (exact, from ``C_3(k) = k / (4 pi sinh k)``: ``-log(4 pi) = -2.5310`` and ``-3.1262``).
    The absolute error is 0 at ``kappa = 0`` and stays below about 0.11 for all ``kappa``
    (measured for ``n`` from 3 to 512 and ``kappa`` up to 1e4); it does not grow with
    ``kappa`` although ``|log C_n|`` does.
    """
    n = _check_n(n)
    a, b_lo, b_hi = _bounds_params(n)
    log_c0 = math.lgamma(n / 2) - math.log(2.0) - (n / 2) * math.log(math.pi)
    integral = 0.5 * (_bound_integral(kappa, a, b_lo) + _bound_integral(kappa, a, b_hi))
    return log_c0 - integral


def _sample_w(
    kappa: torch.Tensor, n: int, generator: torch.Generator | None, max_rounds: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``w = x^T mu`` and ``sqrt(1 - w**2)`` of vMF samples, Wood's (1994) rejection sampler.

    ``kappa`` is 1-D (one entry per sample). The proposal is
    ``eps ~ Beta((n-1)/2, (n-1)/2)`` mapped to ``w = (1 - (1+b) eps) / (1 - (1-b) eps)``;
    the candidate is accepted when
    ``log u <= kappa (w - x0) + (n-1) [log(1 - x0 w) - log(1 - x0**2)]`` with
    ``x0 = (1-b)/(1+b)``. In terms of ``eps`` and ``D = 1 - (1-b) eps`` this is
    ``kappa * 2b (1 - 2 eps) / ((1+b) D) + (n-1) * log((1+b) / (2 D))``, free of the
    cancellations of the textbook form when ``kappa`` is large (``b -> 0``, ``x0 -> 1``).
    """
    m1 = float(n - 1)
    alpha = m1 / 2
    # b = (-2k + sqrt(4k^2 + (n-1)^2)) / (n-1), written without cancellation.
    b = m1 / (2 * kappa + torch.hypot(2 * kappa, torch.full_like(kappa, m1)))

    b_d = b.detach()
    total = kappa.shape[0]
    eps_acc = torch.empty_like(b_d)  # accepted eps
    comp_acc = torch.empty_like(b_d)  # accepted 1 - eps, kept separately (no cancellation)
    pending = torch.arange(total, device=kappa.device)
    with torch.no_grad():
        for _ in range(max_rounds):
            if pending.numel() == 0:
                break
            k = pending.numel()
            conc = torch.full((2, k), alpha, dtype=b_d.dtype, device=b_d.device)
            gam = torch._standard_gamma(conc, generator=generator)
            tot = gam[0] + gam[1]
            eps, comp = gam[0] / tot, gam[1] / tot  # eps ~ Beta(alpha, alpha)
            u = torch.rand(k, dtype=b_d.dtype, device=b_d.device, generator=generator)
            bb, kk = b_d[pending], kappa.detach()[pending]
            denom = comp + bb * eps  # 1 - (1-b) eps
            log_accept = kk * (2 * bb * (comp - eps)) / ((1 + bb) * denom) + m1 * (
                torch.log1p(bb) - math.log(2.0) - torch.log(denom)
            )
            ok = torch.log(u) <= log_accept
            idx = pending[ok]
            eps_acc[idx] = eps[ok]
            comp_acc[idx] = comp[ok]
            pending = pending[~ok]
        if pending.numel() > 0:
            raise RuntimeError(
                f"vMF rejection sampler: {pending.numel()} of {total} samples still rejected "
                f"after {max_rounds} rounds (n={n}); check that kappa is finite and >= 0"
            )
    # w and sqrt(1 - w**2) as differentiable functions of kappa (through b) at the accepted
    # eps, from 1 - w = 2 b eps / D and 1 + w = 2 (1 - eps) / D: accurate near w = +-1.
    denom = comp_acc + b * eps_acc
    w = (comp_acc - b * eps_acc) / denom
    radius = 2 * torch.sqrt(b) * torch.sqrt(eps_acc * comp_acc) / denom
    return w, radius


def sample_vmf(
    mu: torch.Tensor,
    kappa: torch.Tensor | float,
    n_samples: int,
    generator: torch.Generator | None = None,
    *,
    max_rounds: int = 1000,
) -> torch.Tensor:
    """Draw reparameterised samples from vMF(mu, kappa) on :math:`S^{n-1}`.

    Wood's (1994) rejection sampler for ``w = x^T mu`` (see Davidson et al. 2018), a tangent
    direction uniform on :math:`S^{n-2}` (normalised Gaussian) and an orthogonal map taking
    ``e1`` to ``mu``. The map is the Householder reflection along ``e1 + sign(mu_1) mu``
    composed with a sign flip of the first coordinate, so the reflection vector never has norm
    below ``sqrt(2)``: stable for ``mu`` near ``e1`` or ``-e1`` (the map jumps where
    ``mu_1`` changes sign, which leaves the distribution unchanged).

    Gradients flow to ``mu`` and ``kappa``: ``w`` is a differentiable function of ``kappa``
    at the accepted Beta proposal, which is held fixed. Only this reparameterisation part of
    the gradient is returned; no correction term for the accept/reject step (Naesseth et al.
    2017; Davidson et al. 2018) is added. That term is not zero, so the ``kappa`` gradient is
    biased low where rejections are frequent: for ``d E[x^T mu] / d kappa`` about 44% low at
    ``n = 2, kappa = 1``, 20% at ``n = 3, kappa = 1``, 5–10% at ``n`` in 2–16 and
    ``kappa = 10``, about 1% or less for ``n >= 64`` and for ``kappa`` far above ``n``.

    Parameters
    ----------
    mu : torch.Tensor
        Mean directions, shape ``(..., n)`` with ``n >= 2``, unit-norm rows. Sets the dtype
        and device of the computation.
    kappa : torch.Tensor or float
        Concentrations ``>= 0``, shape broadcastable to ``mu.shape[:-1]``.
    n_samples : int
        Number of samples per distribution.
    generator : torch.Generator, optional
        Source of all randomness (on ``mu``'s device); torch's default generator if None.
    max_rounds : int, default=1000
        Maximum number of rejection rounds (one candidate per still-pending sample each round).

    Returns
    -------
    torch.Tensor
        Unit vectors of shape ``(n_samples, *batch, n)``, ``batch`` the broadcast of
        ``mu.shape[:-1]`` and ``kappa.shape``.

    Raises
    ------
    RuntimeError
        If some samples are still rejected after ``max_rounds`` rounds.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> mu = torch.eye(3, dtype=torch.float64)[:2]
    >>> x = sample_vmf(mu, torch.tensor([1.0, 100.0], dtype=torch.float64), 5, generator=g)
    >>> x.shape
    torch.Size([5, 2, 3])
    >>> bool(torch.allclose(x.norm(dim=-1), torch.ones(5, 2, dtype=torch.float64)))
    True
    """
    if mu.dim() < 1:
        raise ValueError("mu must have shape (..., n)")
    n = _check_n(mu.shape[-1])
    n_samples = operator.index(n_samples)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
    if isinstance(kappa, torch.Tensor):
        kappa = kappa.to(dtype=mu.dtype, device=mu.device)
    else:
        kappa = torch.as_tensor(kappa, dtype=mu.dtype, device=mu.device)
    if not bool(torch.isfinite(kappa).all()) or bool((kappa < 0).any()):
        raise ValueError("kappa must be finite and >= 0")
    batch = torch.broadcast_shapes(mu.shape[:-1], kappa.shape)
    mu = mu.expand(*batch, n)
    kappa = kappa.expand(batch)
    shape = (n_samples, *batch)

    kappa_flat = kappa.unsqueeze(0).expand(shape).reshape(-1)
    w, radius = _sample_w(kappa_flat, n, generator, max_rounds)
    w, radius = w.reshape(shape), radius.reshape(shape)

    v = torch.randn((*shape, n - 1), dtype=mu.dtype, device=mu.device, generator=generator)
    v = v / torch.linalg.vector_norm(v, dim=-1, keepdim=True).clamp_min(torch.finfo(mu.dtype).tiny)

    # R = H diag(-sigma, 1, ..., 1) maps e1 to mu, with H the reflection along
    # u = e1 + sigma mu (H e1 = -sigma mu) and sigma = sign(mu_1) (+1 at 0): |u|^2 >= 2.
    sigma = torch.where(mu[..., :1] >= 0, 1.0, -1.0).to(mu.dtype)
    u = sigma * mu
    u = torch.cat([u[..., :1] + 1, u[..., 1:]], dim=-1)
    x = torch.cat([(-sigma * w.unsqueeze(-1)), radius.unsqueeze(-1) * v], dim=-1)
    coef = 2 * (x * u).sum(-1, keepdim=True) / (u * u).sum(-1, keepdim=True)
    return x - coef * u
