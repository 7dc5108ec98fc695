"""``hpn``: HPN's squared cosine losses (Eq. 1 classification, Eq. 7 regression)."""

from __future__ import annotations

from ._base import PrototypeLoss, mixed_prototypes, unit

__all__ = ["HPNLoss"]


class HPNLoss(PrototypeLoss):
    """Squared cosine distance to fixed prototypes.

    - classification (Eq. 1): ``(1 - cos(z, p_y))^2``; soft labels use the mixed
      prototype ``P^T y / ||P^T y||`` (HMPN Eq. 3);
    - regression (Eq. 7): ``sum_t (r_t - cos(z, p_u,t))^2`` with ``r`` in [-1, 1].
    """

    tasks = ("classification", "regression")

    def classification(self, z, target):
        cos = (unit(z) * mixed_prototypes(self.prototypes, target)).sum(dim=1)
        return (1.0 - cos) ** 2

    def regression(self, z, r):
        return ((r - unit(z) @ self.poles.T) ** 2).sum(dim=1)
