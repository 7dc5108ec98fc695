"""``mse``: the regression baseline, squared error on a linear output."""

from __future__ import annotations

from ._base import PrototypeLoss

__all__ = ["MSELoss"]


class MSELoss(PrototypeLoss):
    """``sum_t (r_t - z^T e_t)^2`` on the raw (not normalised) output, with the targets
    scaled to [-1, 1] as for ``hpn``: ordinary least-squares regression through the
    same network, the baseline of HPN's regression experiments. Predictions are not
    bounded."""

    tasks = ("regression",)

    def regression(self, z, r):
        return ((r - z @ self.poles.T) ** 2).sum(dim=1)

    def regression_output(self, z):
        return z @ self.poles.T
