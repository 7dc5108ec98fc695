"""``hpn``: HPN's squared cosine losses (Eq. 1 classification, Eq. 7 regression)."""

from __future__ import annotations

from ._base import PrototypeLoss, mixed_prototypes, unit

__all__ = ["HPNLoss"]


class HPNLoss(PrototypeLoss):
    """Squared cosine distance to fixed prototypes.

    - classification (Eq. 1): ``(1 - cos(z, p_y))^2``; soft labels use the mixed
      prototype ``P^T y / ||P^T y||`` (HMPN Eq. 3);
    - regression (Eq. 7): ``sum_t (r_t - cos(z, p_u,t))^2`` with ``r`` in [-1, 1].

    Parameters
    ----------
    classify_orthogonal : bool, default=True
        Only matters in a joint output space (class prototypes *and* regression poles,
        ``JointEstimator``): compare the part of ``z`` orthogonal to the poles with the
        class prototypes, in the loss and in the class scores. The prototypes lie in that
        complement, so this changes nothing for the class direction, but the class term no
        longer pulls ``cos(z, pole)`` towards 0: with the paper's literal sum
        (``False``) the per-sample optimum of ``L_c + L_r`` is
        ``cos(z, pole) = r / sqrt(1 + r^2)`` instead of ``r``, which shrinks predictions
        towards the middle of the target range (rotated digits: angle MAE 11.4 degrees
        with ``False``, see benchmarks/rotated_digits.py and docs/losses.md). Still
        ``L_c + L_r`` with no task weight.
    """

    tasks = ("classification", "regression")

    def __init__(self, layout, *, classify_orthogonal=True):
        super().__init__(layout)
        if not isinstance(classify_orthogonal, bool):
            raise ValueError(f"classify_orthogonal must be a bool, got "
                             f"{classify_orthogonal!r}.")
        self.classify_orthogonal = classify_orthogonal

    def _class_part(self, z):
        """``z`` without its components along the (orthonormal) poles, in joint mode."""
        if self.classify_orthogonal and self.poles is not None \
                and self.prototypes is not None:
            return z - (z @ self.poles.T) @ self.poles
        return z

    def classification(self, z, target):
        cos = (unit(self._class_part(z)) * mixed_prototypes(self.prototypes, target)).sum(1)
        return (1.0 - cos) ** 2

    def class_scores(self, z):
        return self.cosines(unit(self._class_part(z)))

    def regression(self, z, r):
        return ((r - unit(z) @ self.poles.T) ** 2).sum(dim=1)
