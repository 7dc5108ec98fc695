"""Projected gradient descent on the sphere for prototype placement.

All optimised strategies share this loop: rows are unit vectors, each step moves them
along the tangent part of the gradient (Adam or SGD) and re-projects onto the sphere.
Objectives are given as functions returning the Euclidean gradient.

The workhorse objective is the *smooth maximum* of pairwise cosines,
``(1/t) log sum_{i != j} exp(t cos_ij)``, with ``t`` annealed geometrically: at small
``t`` it spreads the points like an energy (it is the Gaussian potential of seed 001 with
``t/2``); at large ``t`` it is the largest cosine itself (HPN Eq. 4, the Tammes problem).
For large K only each row's nearest neighbours enter the sum; they are refreshed
periodically with a chunked Gram matrix, so memory stays O(K k + chunk K).
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = ["NeighbourGraph", "descend", "max_cosine", "random_sphere", "smooth_max_grad"]


def random_sphere(n_restarts, n_classes, n_dims, seed, dtype=torch.float64):
    """Uniform points on the sphere, shape (R, K, D), from a private generator."""
    gen = torch.Generator().manual_seed(int(seed))
    x = torch.randn(n_restarts, n_classes, n_dims, generator=gen, dtype=dtype)
    return x / x.norm(dim=-1, keepdim=True)


def max_cosine(x, chunk=1024):
    """Largest off-diagonal cosine per restart; x is (R, K, D) or (K, D) unit rows."""
    batched = x.dim() == 3
    x = x if batched else x.unsqueeze(0)
    best = torch.full((x.shape[0],), -math.inf, dtype=x.dtype)
    n = x.shape[1]
    for start in range(0, n, chunk):
        gram = x[:, start:start + chunk] @ x.transpose(1, 2)
        rows = torch.arange(gram.shape[1])
        gram[:, rows, rows + start] = -math.inf
        best = torch.maximum(best, gram.flatten(1).max(dim=1).values)
    return best if batched else best[0]


class NeighbourGraph:
    """Sparse pair structure: each row and its ``k`` nearest other rows.

    Built from a chunked Gram matrix (ranked in ``rank_dtype``, e.g. bfloat16 for a
    twice faster pass on large K; the pair cosines themselves are always computed in
    ``x``'s dtype); the per-step work is then one sampled dense-dense
    product (the pair cosines) and two sparse-dense products (the gradient), with no
    (K, k, D) temporary.
    """

    def __init__(self, x, k, chunk=1024, rank_dtype=None):
        n = x.shape[0]
        idx = torch.empty(n, k, dtype=torch.long)
        xr = x if rank_dtype is None else x.to(rank_dtype)
        for start in range(0, n, chunk):
            gram = xr[start:start + chunk] @ xr.T
            rows = torch.arange(gram.shape[0])
            gram[rows, rows + start] = -math.inf
            idx[start:start + chunk] = gram.topk(k, dim=1).indices
        self.shape = (n, n)
        self.col = idx.flatten()
        self.crow = torch.arange(0, n * k + 1, k)
        self.perm = torch.argsort(self.col, stable=True)
        self.col_t = torch.arange(n).repeat_interleave(k)[self.perm]
        self.crow_t = torch.zeros(n + 1, dtype=torch.long)
        self.crow_t[1:] = torch.cumsum(torch.bincount(self.col, minlength=n), 0)

    def matrix(self, values, crow=None, col=None):
        with warnings.catch_warnings():  # "sparse CSR support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(self.crow if crow is None else crow,
                                           self.col if col is None else col, values,
                                           self.shape)

    def cosines(self, x):
        pattern = self.matrix(torch.zeros(len(self.col), dtype=x.dtype))
        return torch.sparse.sampled_addmm(pattern, x, x.T, beta=0.0).values()

    def symmetric_product(self, values, x):
        """``(W + W^T) x`` for the sparse W with these values."""
        w_t = self.matrix(values[self.perm], self.crow_t, self.col_t)
        return self.matrix(values) @ x + w_t @ x


def smooth_max_grad(x, t, graph=None, per_row=False):
    """Gradient of ``(1/t) logsumexp(t cos_ij)`` over ordered pairs, per restart.

    ``x`` is (R, K, D). With a :class:`NeighbourGraph` only its pairs enter (R must
    be 1). ``per_row=True`` takes the mean over rows of each row's smooth maximum
    instead (HPN Eq. 5 with a soft max).
    """
    if per_row:
        if graph is not None:
            raise ValueError("per_row is only available with all pairs.")
        gram = x @ x.transpose(1, 2)
        gram.diagonal(dim1=1, dim2=2).fill_(-math.inf)
        w = torch.softmax(t * gram, dim=2) / x.shape[1]
        return (w + w.transpose(1, 2)) @ x
    if graph is None:
        gram = x @ x.transpose(1, 2)
        gram.diagonal(dim1=1, dim2=2).fill_(-math.inf)
        w = torch.softmax(t * gram.flatten(1), dim=1).view_as(gram)
        return 2.0 * (w @ x)
    w = torch.softmax(t * graph.cosines(x[0]), dim=0)
    return graph.symmetric_product(w, x[0]).unsqueeze(0)


def descend(x, grad_fn, *, steps, lr, method="adam", momentum=0.9, lr_final=0.01,
            tangent=True):
    """Projected descent with a cosine-decayed learning rate.

    ``grad_fn(x, step)`` returns the Euclidean gradient for ``x`` of shape (R, K, D).
    ``method`` is ``"adam"`` (scale-free steps: the smooth max puts most of its weight
    on a few pairs, so raw gradients span orders of magnitude) or ``"sgd"`` (with
    ``momentum``). ``lr_final`` is the final learning rate as a fraction of ``lr``;
    ``tangent=False`` steps along the raw gradient (as the HPN reference code does).
    After every step the rows are projected back onto the sphere.
    """
    if method not in ("adam", "sgd"):
        raise ValueError(f"method must be 'adam' or 'sgd', got {method!r}.")
    x = x.clone()
    first = torch.zeros_like(x)
    second = torch.zeros_like(x) if method == "adam" else None
    beta1, beta2 = 0.9, 0.999
    for step in range(steps):
        grad = grad_fn(x, step)
        if tangent:
            grad = grad - (grad * x).sum(-1, keepdim=True) * x
        frac = step / max(steps - 1, 1)
        rate = lr * (lr_final + (1 - lr_final) * 0.5 * (1 + math.cos(math.pi * frac)))
        if method == "adam":
            first.mul_(beta1).add_(grad, alpha=1 - beta1)
            second.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            m_hat = first / (1 - beta1 ** (step + 1))
            v_hat = second / (1 - beta2 ** (step + 1))
            update = m_hat / (v_hat.sqrt() + 1e-8)
        else:
            update = first.mul_(momentum).add_(grad)
        x = x - rate * update
        x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return x


def anneal(t_start, t_end, steps):
    """Geometric temperature schedule: ``schedule(step) -> t``."""
    ratio = t_end / t_start

    def schedule(step):
        return t_start * ratio ** (step / max(steps - 1, 1))

    return schedule


def best_restart(x):
    """The restart (K, D) with the smallest maximum cosine, as float64 numpy."""
    if x.shape[0] == 1:               # one start: nothing to compare (no O(K^2 D) pass)
        return x[0].double().numpy()
    scores = max_cosine(x)
    return x[int(torch.argmin(scores))].double().numpy()

