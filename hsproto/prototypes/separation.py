"""``separation``: minimise the largest pairwise cosine (HPN Eq. 4-5)."""

from __future__ import annotations

import torch

from . import _solver
from ._base import PrototypeStrategy
from ._params import check_number

__all__ = ["SeparationStrategy"]

_FULL_MAX_K = 512       # above this, only each row's nearest neighbours enter the loss


def _auto_restarts(n_classes, n_dims):
    work = n_classes * n_classes * n_dims
    return int(min(8, max(1, round(4e6 / work))))


class SeparationStrategy(PrototypeStrategy):
    """Prototypes with maximal separation: the smallest largest pairwise cosine.

    The HPN objective (Eq. 5: the mean over prototypes of the largest cosine to another
    one) is a relaxation of the Tammes problem (Eq. 4: the largest cosine overall). The
    default solver minimises a smooth maximum of all pairwise cosines,
    ``(1/t) log sum exp(t cos_ij)``, annealing ``t`` from ``t_start`` to ``t_end`` so that
    it goes from spreading the points to the max itself, with projected Adam steps and
    a cosine-decayed learning rate, from several random starts run as one batch (the
    best one is kept). Large K use each row's ``n_neighbours`` nearest prototypes only.

    ``solver="hpn"`` runs the paper's own procedure instead: the mean row maximum with
    plain SGD (lr 0.1; the reference code's momentum never accumulates), for
    reproduction and comparison.

    Parameters
    ----------
    steps : int or "auto", default="auto"
        1000, or 300 when K > 4096 (each step is then O(K k D), and a neighbour
        refresh O(K^2 D)).
    lr : float, default=None
        Adam learning rate: 0.01 with all pairs, 0.003 with neighbour lists (slower
        moves keep the lists valid between refreshes); ``solver="hpn"``: 0.1.
    n_restarts : int or "auto", default="auto"
        "auto" uses up to 8 starts on small problems and 1 on large ones.
    t_start, t_end : float, default=5, 3000
        Temperature of the smooth maximum at the first and last step.
    n_neighbours : int, default=16
        Neighbours per prototype when K > 512.
    refresh : int, default=10
        Steps between recomputations of the neighbour lists (K > 512).
    solver : {"smooth-max", "hpn"}, default="smooth-max"
    """

    name = "separation"
    cacheable = True

    def __init__(self, steps="auto", lr=None, n_restarts="auto", t_start=5.0,
                 t_end=3000.0, n_neighbours=16, refresh=10, solver="smooth-max"):
        if steps != "auto":
            check_number("steps", steps, low=1, integer=True)
        self.steps = steps
        if lr is not None:
            check_number("lr", lr, low=0, inclusive_low=False)
        self.lr = lr
        if n_restarts != "auto":
            check_number("n_restarts", n_restarts, low=1, integer=True)
        self.n_restarts = n_restarts
        self.t_start = check_number("t_start", t_start, low=0, inclusive_low=False)
        self.t_end = check_number("t_end", t_end, low=t_start)
        self.n_neighbours = check_number("n_neighbours", n_neighbours, low=1, integer=True)
        self.refresh = check_number("refresh", refresh, low=1, integer=True)
        if solver not in ("smooth-max", "hpn"):
            raise ValueError(f"solver must be 'smooth-max' or 'hpn', got {solver!r}.")
        self.solver = solver

    def _generate(self, n_classes, n_dims, seed):
        if self.solver == "hpn":
            steps = 1000 if self.steps == "auto" else self.steps
            return hpn_reference(n_classes, n_dims, seed, steps=steps, lr=self.lr or 0.1)
        return self.optimise(n_classes, n_dims, seed)

    def optimise(self, n_classes, n_dims, seed, extra_grad=None, per_row=False):
        """Run the smooth-max solver.

        ``extra_grad(x)`` adds another objective's gradient; ``per_row`` minimises the
        mean of each row's smooth maximum (HPN Eq. 5) instead of the global one.
        """
        full = per_row or n_classes <= _FULL_MAX_K
        restarts = (_auto_restarts(n_classes, n_dims) if self.n_restarts == "auto"
                    else self.n_restarts) if full else 1
        small = restarts * n_classes * n_classes * n_dims <= 2e7
        dtype = torch.float64 if small else torch.float32
        x = _solver.random_sphere(restarts, n_classes, n_dims, seed, dtype)
        steps = self.steps
        if steps == "auto":
            steps = 1000 if n_classes <= 4096 else 300
        temperature = _solver.anneal(self.t_start, self.t_end, steps)
        k = min(n_classes - 1, self.n_neighbours)
        state = {"graph": None}
        # neighbour lists ranked in bfloat16 (twice as fast, same lists up to near-ties)
        # when each refresh is a large Gram pass; the cosines stay in float32
        rank_dtype = torch.bfloat16 if n_classes * n_classes * n_dims > 1e10 else None

        def grad(x, step):
            if not full and step % self.refresh == 0:
                state["graph"] = _solver.NeighbourGraph(x[0], k, rank_dtype=rank_dtype)
            g = _solver.smooth_max_grad(x, temperature(step), state["graph"], per_row)
            if extra_grad is not None:
                g = g + extra_grad(x)
            return g

        with torch.no_grad():
            lr = self.lr or (0.01 if full else 0.003)
            x = _solver.descend(x, grad, steps=steps, lr=lr)
            return _solver.best_restart(x)


def hpn_reference(n_classes, n_dims, seed, *, steps=1000, lr=0.1):
    """HPN's published procedure: SGD on the mean row maximum of ``P P^T - 2I``."""
    x = _solver.random_sphere(1, n_classes, n_dims, seed, torch.float32)

    def grad(x, step):
        xs = x[0]
        gram = xs @ xs.T
        gram.fill_diagonal_(-2.0)
        j = gram.argmax(dim=1)
        g = xs[j] / n_classes
        g.index_add_(0, j, xs / n_classes)
        return g.unsqueeze(0)

    with torch.no_grad():
        x = _solver.descend(x, grad, steps=steps, lr=lr, method="sgd", momentum=0.0,
                            lr_final=1.0,
                             tangent=False)
    return x[0].double().numpy()
