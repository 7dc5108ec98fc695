"""``cosine``: normalised softmax with a learned temperature (seed 003's COSINE)."""

from __future__ import annotations

from ._base import ScaledSoftmaxLoss

__all__ = ["CosineLoss"]


class CosineLoss(ScaledSoftmaxLoss):
    """``p(y | z) = softmax_k(beta cos(z, p_k))`` with ``beta = exp(tau)``; ``tau`` is
    learned, starting at ``log(scale)`` (0 by default, seed 003 App. F).
    ``predict_proba`` is this posterior.

    Parameters
    ----------
    scale : float, default=1.0
        Initial (or, with ``learn_scale=False``, fixed) inverse temperature.
    learn_scale : bool, default=True
    param_lr_factor : float, default=10.0
        The temperature trains at ``lr * param_lr_factor`` (see
        :class:`~hsproto.losses.ScaledSoftmaxLoss`).
    """
