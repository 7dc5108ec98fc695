"""``vmf``: the von Mises-Fisher loss (seed 003): stochastic embeddings and classes."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from ._base import PrototypeLoss, _check_factor, unit
from ._vmf_math import bessel_ratio, log_cn, sample_vmf

__all__ = ["VMFLoss"]


class VMFLoss(PrototypeLoss):
    """vMF loss: ``z ~ vMF(z_hat, kappa = ||alpha z||)``, class k ``w_k ~ vMF(p_k,
    kappa_k)``, trained on the Eq. 13 upper bound of ``E[-log softmax(beta w^T z)]``.

    The bound is ``E_z[log sum_k C_n(kappa_k) / C_n(||kappa_k p_k + beta z||)] -
    beta E[w_y]^T E[z]`` with ``E[z] = A_n(kappa) z_hat``; ``A_n`` (the Bessel ratio) and
    ``log C_n`` use the paper's closed-form approximations, ``z`` is sampled with the
    rejection-sampling reparameterisation (``n_samples`` draws). Initialisation
    (App. D): ``kappa_k = lambda (n - 1) / (1 - lambda^2)`` and a fixed scale ``alpha``
    on the network output, set on the first training batch so that the mean ``kappa``
    has that value. ``beta = exp(tau)`` is learned from ``tau = 0``.

    The class directions are hsproto's fixed prototypes and only the concentrations are
    learned; ``learn_directions=True`` learns the whole class parameters from the
    prototypes, as in the paper. ``predict_proba`` is the Monte-Carlo estimate of
    ``E[softmax(beta w^T z)]`` over ``n_samples`` draws of both z and w (fixed seed, so
    predictions are deterministic); the embedding concentration ``kappa`` is the
    ``concentration`` (uncertainty) score.

    Parameters
    ----------
    n_samples : int, default=10
    init_ratio : float, default=0.4
        lambda of App. D: the initial Bessel ratio ``A_n(kappa)``.
    learn_directions : bool, default=False
    seed : int, default=0
        Seed of the Monte-Carlo draws at prediction.
    param_lr_factor : float, default=10.0
        ``tau`` and the class concentrations train at ``lr * param_lr_factor``: they
        start at App. D's small values, and in a short fit at the network's lr the
        posterior stays too flat (digits, 100 epochs: ECE 0.27 at factor 1, 0.009 at 10).
    """

    tasks = ("classification",)
    sampled_proba = True

    def __init__(self, layout, *, n_samples=10,
                 init_ratio=0.4, learn_directions=False, seed=0, param_lr_factor=10.0):
        super().__init__(layout)
        self.param_lr_factor = _check_factor(param_lr_factor)
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) \
                or n_samples < 1:
            raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}.")
        if not (isinstance(init_ratio, numbers.Real) and 0 < init_ratio < 1):
            raise ValueError(f"init_ratio must be in (0, 1), got {init_ratio!r}.")
        self.n_samples, self.seed = int(n_samples), int(seed)
        self.fixed_prototypes = not learn_directions
        n_classes, n_dims = self.prototypes.shape
        self.n_dims = n_dims
        self.kappa0 = init_ratio * (n_dims - 1) / (1 - init_ratio ** 2)
        if learn_directions:
            self.class_params = nn.Parameter(self.kappa0 * self.prototypes.clone())
        else:
            self.log_kappa = nn.Parameter(torch.full((n_classes,), math.log(self.kappa0)))
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.register_buffer("alpha", torch.zeros(()))

    def class_weights(self):
        """The class parameters ``w~_k = kappa_k mu_k`` (K, D)."""
        if self.fixed_prototypes:
            return self.log_kappa.exp()[:, None] * self.prototypes
        return self.class_params

    def _embedding(self, z):
        """(direction, kappa) of the scaled network output."""
        if float(self.alpha) == 0.0:
            with torch.no_grad():
                self.alpha.fill_(self.kappa0 / float(z.norm(dim=1).mean().clamp_min(1e-12)))
        kappa = (self.alpha * z).norm(dim=1).clamp_min(1e-6)
        return unit(z), kappa

    def classification(self, z, target):
        mu, kappa = self._embedding(z)
        w = self.class_weights()
        kappa_w = w.norm(dim=1).clamp_min(1e-6)
        beta = self.log_scale.exp()
        samples = sample_vmf(mu, kappa, self.n_samples)                    # (S, n, D)
        dot = samples @ w.T                                                # (S, n, K)
        joint = (kappa_w ** 2 + 2 * beta * dot + beta ** 2).clamp_min(1e-12).sqrt()
        n = self.n_dims
        bound = torch.logsumexp(log_cn(kappa_w, n) - log_cn(joint, n), dim=-1).mean(0)
        expected = self._expected_logits(mu, kappa, w, kappa_w)            # (n, K)
        if target.dim() == 1:
            fit = expected.gather(1, target.long()[:, None])[:, 0]
        else:
            fit = (target.to(expected.dtype) * expected).sum(dim=1)
        return bound - fit

    def class_proba(self, z):
        mu, kappa = self._embedding(z)
        w = self.class_weights()
        kappa_w = w.norm(dim=1).clamp_min(1e-6)
        gen = torch.Generator(device=z.device).manual_seed(self.seed)
        zs = sample_vmf(mu, kappa, self.n_samples, generator=gen)          # (S, n, D)
        ws = sample_vmf(unit(w), kappa_w, self.n_samples, generator=gen)   # (S, K, D)
        logits = self.log_scale.exp() * zs @ ws.transpose(1, 2)
        return logits.softmax(dim=-1).mean(dim=0)

    def class_logits(self, z):
        """The expected logits (:meth:`class_scores`); ``class_proba`` samples instead."""
        return self.class_scores(z)

    def class_scores(self, z):
        """The logits of the mean embedding against the mean class vectors,
        ``beta E[w_k]^T E[z] = beta A_n(kappa_k) A_n(kappa) cos(z, mu_k)``: deterministic
        and one pass (``predict`` is their argmax; ``predict_proba`` samples)."""
        w = self.class_weights()
        return self._expected_logits(*self._embedding(z), w, w.norm(dim=1).clamp_min(1e-6))

    def _expected_logits(self, mu, kappa, w, kappa_w):
        """``beta E[w_k]^T E[z]`` with ``E[z] = A_n(kappa) mu`` (n, K)."""
        mean_z = bessel_ratio(kappa, self.n_dims)[:, None] * mu
        mean_w = bessel_ratio(kappa_w, self.n_dims)[:, None] * w / kappa_w[:, None]
        return self.log_scale.exp() * mean_z @ mean_w.T

    def concentration(self, z):
        return self._embedding(z)[1]

    def current_prototypes(self):
        return unit(self.class_weights().detach())
