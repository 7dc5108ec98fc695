"""``privileged``: separation plus class semantics (HPN Eq. 5 + Eq. 6)."""

from __future__ import annotations

import numpy as np
import torch

from ._params import check_embeddings, check_number, embedding_count_problem
from .separation import SeparationStrategy

__all__ = ["PrivilegedStrategy"]


class PrivilegedStrategy(SeparationStrategy):
    """Separated prototypes whose similarity order follows class embeddings.

    Minimises HPN's separation objective (Eq. 5, the mean over prototypes of the largest
    cosine to another, here with an annealed soft maximum) plus ``weight * L_PI``
    (Eq. 6). Both terms are means over classes, so they are on the same scale, as in
    the paper. For class triplets (i, j, k) with ``cos(w_i, w_j) >= cos(w_i, w_k)`` the
    prototypes should satisfy ``cos(p_i, p_j) > cos(p_i, p_k)`` (a logistic loss on the difference).
    All K(K-1)(K-2) triplets are used when there are at most ``max_triplets``;
    otherwise ``max_triplets`` random ones are drawn at each step.

    Parameters
    ----------
    class_embeddings : array of shape (n_classes, n_features)
    weight : float, default=3.0
        Weight of ``L_PI``. The paper adds the two losses (``weight=1``); with the soft
        maximum, 3.0 keeps >= 0.9 of the triplet orders of a two-level class hierarchy
        for D in {3, 4, 6, 8} at a largest cosine within 0.02 of ``separation``'s
        (``benchmarks/prototypes.py``).
    max_triplets : int, default=20000
    **separation parameters : see :class:`SeparationStrategy`
    """

    name = "privileged"

    @classmethod
    def example_params(cls):
        """Six classes with random 8-d semantics (for the contract checks)."""
        return {"class_embeddings": np.random.default_rng(0).standard_normal((6, 8))}

    def __init__(self, class_embeddings=None, weight=3.0, max_triplets=20000, steps="auto",
                 lr=None, n_restarts=1, t_start=5.0, t_end=3000.0, n_neighbours=16):
        super().__init__(steps=steps, lr=lr, n_restarts=n_restarts, t_start=t_start,
                         t_end=t_end, n_neighbours=n_neighbours)
        self.class_embeddings = check_embeddings(class_embeddings)
        self.weight = check_number("weight", weight, low=0)
        self.max_triplets = check_number("max_triplets", max_triplets, low=1, integer=True)

    def _unsupported(self, n_classes, n_dims):
        return embedding_count_problem(self.class_embeddings, n_classes)

    def _generate(self, n_classes, n_dims, seed):
        emb = self.class_embeddings / np.linalg.norm(self.class_embeddings, axis=1,
                                                      keepdims=True)
        sim = torch.from_numpy(emb @ emb.T)
        rng = np.random.default_rng(seed)
        all_triplets = None
        if n_classes * (n_classes - 1) * (n_classes - 2) <= self.max_triplets:
            all_triplets = _all_triplets(n_classes)

        def extra_grad(x):
            trip = all_triplets if all_triplets is not None else _sample_triplets(
                rng, n_classes, self.max_triplets)
            with torch.enable_grad():
                xs = x.detach().requires_grad_(True)
                loss = sum(privileged_loss(xs[r], sim, trip) for r in range(xs.shape[0]))
                (grad,) = torch.autograd.grad(self.weight * loss, xs)
            return grad

        return self.optimise(n_classes, n_dims, seed, extra_grad=extra_grad,
                             per_row=True)


def _all_triplets(n):
    i, j, k = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    keep = (i != j) & (i != k) & (j != k)
    return torch.from_numpy(np.stack([i[keep], j[keep], k[keep]], axis=1))


def _sample_triplets(rng, n, m):
    t = rng.integers(0, n, size=(2 * m, 3))
    t = t[(t[:, 0] != t[:, 1]) & (t[:, 0] != t[:, 2]) & (t[:, 1] != t[:, 2])][:m]
    return torch.from_numpy(t)


def privileged_loss(p, sim, triplets):
    """HPN Eq. 6: mean logistic loss of prototype vs embedding similarity order."""
    i, j, k = triplets.T
    target = (sim[i, j] >= sim[i, k]).to(p.dtype)
    o = (p[i] * p[j]).sum(-1) - (p[i] * p[k]).sum(-1)
    return torch.nn.functional.binary_cross_entropy_with_logits(o, target)


def triplet_agreement(prototypes, class_embeddings):
    """Fraction of triplets (i, j, k), with distinct similarities in the embedding,
    whose prototype-similarity order matches the embedding order."""
    emb = check_embeddings(class_embeddings, len(prototypes))
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    p = np.asarray(prototypes, dtype=np.float64)
    se, sp = emb @ emb.T, p @ p.T
    n = len(p)
    agree = total = 0
    for i in range(n):
        others = np.delete(np.arange(n), i)
        de = se[i, others][:, None] - se[i, others][None, :]
        dp = sp[i, others][:, None] - sp[i, others][None, :]
        mask = np.abs(de) > 1e-9
        agree += np.sum((np.sign(de) == np.sign(dp)) & mask)
        total += np.sum(mask)
    return float(agree / total) if total else 1.0
