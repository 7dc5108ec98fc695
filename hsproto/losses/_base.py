"""The loss contract: a ``torch.nn.Module`` that reads a :class:`~hsproto.Layout` and
holds its prototypes and poles as buffers."""

from __future__ import annotations

import inspect
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._layout import Layout
from .._validation import qualname

__all__ = ["CHUNKED_CE_MIN_CLASSES", "TASKS", "PrototypeLoss", "ScaledSoftmaxLoss",
           "chunked_cross_entropy", "mixed_prototypes", "plugin_problem",
           "soft_cross_entropy", "unit"]

TASKS = ("classification", "regression")


class PrototypeLoss(nn.Module):
    """Base class of a prototype loss.

    The estimator builds the loss as ``Loss(layout, **loss_params)`` from the placed
    :class:`~hsproto.Layout`: the loss reads what it needs from it (``layout.strategy``,
    ``layout.neighbour_angle``, ...) and keeps the class ``prototypes`` (K, D) and the
    regression ``poles`` (T, D) as buffers (None where the layout has none, or where a
    loss with learned class directions does not use them: ``softmax``). The
    network's raw output ``z`` (n, D) goes to every method; :func:`unit` gives its
    direction.

    Training, one loss per sample (n,) (the estimator applies sample weights and the mean):

    - ``classification(z, target)``: ``target`` holds class indices (n,) or soft labels
      (n, K) (mixing);
    - ``regression(z, r)``: ``r`` (n, T) are the targets scaled to [-1, 1].

    Inference (defaults suit losses that compare directions with fixed prototypes):

    - ``class_scores(z)`` (n, K): the class scores; ``predict`` is their argmax. Default:
      cosine to each prototype.
    - ``class_proba(z)`` (n, K) or None: class probabilities; None lets the estimator use
      ``softmax(proba_scale * class_scores)``.
    - ``regression_output(z)`` (n, T): the predicted scaled targets. Default: cosine to
      each upper pole.
    - ``concentration(z)`` (n,): a confidence score (default the norm of ``z``).
    - ``current_prototypes()``: the class directions now in use (after a dynamic
      assignment, or learned ones).

    ``set_epoch(epoch)`` is called at the start of every training epoch (e.g. a margin
    warm-up). :meth:`set_layout` is the one way to change the layout during training
    (the dynamic assignment uses it); ``layout`` is always the layout in use. Fixed
    tensors are buffers, so ``.to(device)`` and pickling carry them; learnable
    parameters (a temperature, concentrations) are optimised with the network.
    Subclasses set ``tasks`` to the tasks they implement and ``fixed_prototypes = False``
    when the class directions are learned (then no dynamic assignment),
    ``param_lr_factor`` to train the loss's own parameters at ``lr * param_lr_factor``,
    and ``sampled_proba = True`` when ``class_proba`` is a Monte-Carlo estimate whose
    argmax may differ from that of ``class_scores`` in near-ties (``vmf``).
    """

    tasks: tuple = ()
    fixed_prototypes = True
    param_lr_factor = 1.0
    sampled_proba = False
    #: trains a cross-entropy over logits, so that logit adjustment applies
    logit_adjustable = False
    logit_offset = None

    def __init__(self, layout):
        super().__init__()
        if not isinstance(layout, Layout):
            raise TypeError(f"{type(self).__name__} is built from a hsproto.Layout, got "
                            f"{type(layout).__name__}.")
        self.layout = layout
        self.register_buffer("prototypes", _as_buffer(layout.prototypes))
        self.register_buffer("poles", _as_buffer(layout.poles))
        self.epoch = 0

    def set_layout(self, layout):
        """Use ``layout`` from now on (same sizes; e.g. ``layout.reassign(...)``): the
        prototype buffer is overwritten in place, on its device."""
        old = self.layout
        if (layout.n_dims, layout.n_classes, layout.n_targets) != (
                old.n_dims, old.n_classes, old.n_targets):
            raise ValueError(f"set_layout needs a layout of the same sizes as {old!r}, got "
                             f"{layout!r}.")
        if self.prototypes is not None:
            self.prototypes.copy_(_as_buffer(layout.prototypes))
        self.layout = layout

    # training
    def classification(self, z, target):
        raise NotImplementedError(f"{type(self).__name__} does not do classification.")

    def regression(self, z, r):
        raise NotImplementedError(f"{type(self).__name__} does not do regression.")

    def cosines(self, u):
        """``u @ prototypes.T`` (n, K) in float32 (or ``u``'s float64) for unit rows, over chunks of
        :data:`CE_CHUNK` prototypes: the buffer may be stored in a 16-bit dtype (the
        estimator keeps it in the training precision) and is never copied whole."""
        u = u.to(torch.promote_types(u.dtype, torch.float32))
        n_classes = self.prototypes.shape[0]
        if n_classes <= CE_CHUNK:
            return u @ self.prototypes.T.to(u.dtype)
        out = u.new_empty((u.shape[0], n_classes))
        for start, p in _prototype_chunks(self.prototypes, u.dtype, CE_CHUNK):
            out[:, start:start + len(p)] = u @ p.T
        return out

    # inference
    def class_scores(self, z):
        return self.cosines(unit(z))

    def class_proba(self, z):
        return None

    def class_logits(self, z):
        """The logits of the loss's own probability model (n, K), or None when it has
        none (the estimator then scales the class scores by ``proba_scale``)."""
        return None

    def regression_output(self, z):
        return unit(z) @ self.poles.T

    def concentration(self, z):
        return z.norm(dim=1)

    def current_prototypes(self):
        return self.prototypes

    def set_logit_offset(self, offset):
        """Add ``offset`` (K,) to the training logits (logit adjustment, Menon et al.
        2021: ``tau * log(class prior)``); inference is unchanged. None removes it."""
        if not self.logit_adjustable:
            raise ValueError(f"{type(self).__name__} has no training logits to adjust.")
        self.logit_offset = None if offset is None else torch.as_tensor(
            offset, dtype=torch.float32)

    def adjusted(self, logits):
        """``logits`` plus the logit offset (training only)."""
        if self.logit_offset is None:
            return logits
        return logits + self.logit_offset.to(device=logits.device, dtype=logits.dtype)

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def chunked_training(self, target):
        """Whether a cross-entropy over the prototypes trains ``target`` through
        :func:`chunked_cross_entropy`: hard labels and at least
        :data:`CHUNKED_CE_MIN_CLASSES` prototypes."""
        return target.dim() == 1 and self.prototypes.shape[0] >= CHUNKED_CE_MIN_CLASSES

    def training_problem(self):
        """Why the trained loss cannot give a usable model (e.g. a collapsed learned
        temperature), or None; checked after training, before the model counts as
        fitted."""
        return None


class ScaledSoftmaxLoss(PrototypeLoss):
    """Cross-entropy over ``scale * cos(z, p_k)`` (soft labels allowed), the base of the
    normalised-softmax losses. Subclasses change the logits through :meth:`logits`.

    Parameters
    ----------
    scale : float
        The inverse temperature ``beta`` (its initial value when learned).
    learn_scale : bool
        Learn ``tau = log(beta)`` (unconstrained) with the network (seed 003, App. F).
    param_lr_factor : float
        Learning-rate factor of ``tau``: the paper starts at ``tau = 0`` and trains for
        many thousands of steps; in short fits ``tau`` barely moves at the network's lr
        and the posterior stays far too flat (digits, 100 epochs: ECE 0.16 at factor 1,
        0.013 at 10, see docs/losses.md).
    min_scale : float
        Lower bound of a learned ``beta``: before each training step ``tau`` is projected
        onto ``[log(min_scale), inf)`` (projected gradient descent). Without it, SGD with
        momentum at the papers' learning rates can drive ``beta`` to zero within a few
        steps, where every gradient vanishes and training never recovers (digits,
        SGD lr 0.1, momentum 0.9: ``beta`` 55 after 7 steps, 1e-9 after 100). At
        ``beta = 1`` ten classes already get at most 0.25 probability, so the bound does
        not stop a calibrated posterior. ``0`` turns it off; it must not exceed ``scale``.
    """

    tasks = ("classification",)
    logit_adjustable = True

    def __init__(self, layout, *, scale=1.0, learn_scale=True, param_lr_factor=10.0,
                 min_scale=1.0):
        super().__init__(layout)
        self.param_lr_factor = _check_factor(param_lr_factor)
        if isinstance(scale, bool) or not (isinstance(scale, int | float)
                                           and 0 < scale < math.inf):
            raise ValueError(f"scale must be a positive number, got {scale!r}.")
        if isinstance(min_scale, bool) or not (isinstance(min_scale, int | float)
                                               and 0 <= min_scale <= scale):
            raise ValueError(f"min_scale must be a number in [0, scale] (scale={scale!r}), "
                             f"got {min_scale!r}.")
        self.min_scale = float(min_scale)
        log_scale = torch.tensor(float(scale)).log()
        if learn_scale:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def inverse_temperature(self):
        """``beta = exp(tau)``."""
        return self.log_scale.exp()

    def _project_scale(self):
        """Project a learned ``tau`` onto ``[log(min_scale), inf)``: called once at the
        start of each training forward pass, before ``tau`` enters the graph."""
        if self.training and self.min_scale > 0 and isinstance(self.log_scale,
                                                               nn.Parameter):
            with torch.no_grad():
                self.log_scale.clamp_(min=math.log(self.min_scale))

    def logits(self, cos, target):
        """Training logits from the cosines (n, K); the target allows a margin."""
        return self.inverse_temperature() * cos

    def target_logit(self, cos_y):
        """The training logit of the true class from its cosine (n,), hard labels."""
        return self.inverse_temperature() * cos_y

    def classification(self, z, target):
        self._project_scale()
        if self.chunked_training(target):
            return chunked_cross_entropy(self, unit(z), target, self.inverse_temperature())
        cos = self.cosines(unit(z))
        return soft_cross_entropy(self.adjusted(self.logits(cos, target)), target)

    def class_logits(self, z):
        return self.inverse_temperature() * self.class_scores(z)

    def class_proba(self, z):
        return torch.softmax(self.class_logits(z), dim=1)

    def training_problem(self):
        beta = float(self.log_scale.detach().exp())
        if not beta * 2.0 >= 1e-3:          # logits span < 1e-3: uniform probabilities
            return (f"the learned inverse temperature collapsed to {beta:.3g} (log "
                    f"{float(self.log_scale.detach()):.4g}), so every predicted "
                    f"probability is uniform")
        return None


#: From this many classes on, the cross-entropy losses over fixed prototypes (mce,
#: cosine, arcface) train hard labels through :func:`chunked_cross_entropy`.
CHUNKED_CE_MIN_CLASSES = 4096
#: Classes per chunk of :func:`chunked_cross_entropy`.
CE_CHUNK = 4096


def chunked_cross_entropy(loss, u, target, scale, chunk=None):
    """Per-sample cross-entropy over ``scale * cos(u, p_k) (+ logit offset)``, exact,
    without a (n, K) tensor: O(n * chunk) memory instead of several (n, K) float32
    tensors (logits, softmax, their gradients) when K is large.

    The true class's logit is ``loss.target_logit(cos_y)`` (a margin may change it) and
    goes through autograd; the log-sum-exp of the other classes' logits is computed over
    chunks of ``chunk`` prototypes and recomputed chunk by chunk in the backward pass
    (the gradient reaches ``u`` and a learned ``scale``). The prototypes may be stored
    in a 16-bit dtype; each chunk is used in float32. Hard labels only.
    """
    prototypes = loss.prototypes
    target = target.long()
    u = u.float()
    offset = loss.logit_offset
    if offset is not None:
        offset = offset.to(device=u.device, dtype=u.dtype)
    cos_y = (u * prototypes[target].to(u.dtype)).sum(dim=1)
    true = loss.target_logit(cos_y)
    if offset is not None:
        true = true + offset[target]
    others = _OtherClassesLSE.apply(u, scale.float(), prototypes, target, offset,
                                    int(chunk or CE_CHUNK))
    return torch.logaddexp(others, true) - true


def _prototype_chunks(prototypes, dtype, chunk):
    """``(start, prototypes[start:start + chunk] in dtype)`` over the rows: a 16-bit
    buffer is cast one chunk at a time, never whole."""
    for start in range(0, prototypes.shape[0], chunk):
        yield start, prototypes[start:start + chunk].to(dtype)


class _OtherClassesLSE(torch.autograd.Function):
    """``log sum_{k != y_i} exp(scale cos(u_i, p_k) + offset_k)`` (n,), chunked over k,
    recomputed in the backward pass."""

    @staticmethod
    def _chunks(u, scale, prototypes, target, offset, chunk):
        rows = torch.arange(u.shape[0], device=u.device)
        for start, p in _prototype_chunks(prototypes, u.dtype, chunk):
            cos = u @ p.T
            logits = scale * cos
            if offset is not None:
                logits = logits + offset[start:start + chunk]
            inside = (target >= start) & (target < start + p.shape[0])
            logits[rows[inside], target[inside] - start] = -math.inf
            yield p, cos, logits

    @staticmethod
    def forward(ctx, u, scale, prototypes, target, offset, chunk):
        with torch.autocast(u.device.type, enabled=False):
            lse = torch.full((u.shape[0],), -math.inf, device=u.device, dtype=u.dtype)
            for _, _, logits in _OtherClassesLSE._chunks(u, scale, prototypes, target,
                                                         offset, chunk):
                lse = torch.logaddexp(lse, torch.logsumexp(logits, dim=1))
        ctx.save_for_backward(u, scale, prototypes, target, lse)
        ctx.offset, ctx.chunk = offset, chunk
        return lse

    @staticmethod
    def backward(ctx, grad):
        u, scale, prototypes, target, lse = ctx.saved_tensors
        grad_u = torch.zeros_like(u) if ctx.needs_input_grad[0] else None
        grad_scale = torch.zeros_like(scale) if ctx.needs_input_grad[1] else None
        with torch.autocast(u.device.type, enabled=False):
            for p, cos, logits in _OtherClassesLSE._chunks(u, scale, prototypes, target,
                                                           ctx.offset, ctx.chunk):
                weight = torch.exp(logits - lse[:, None]) * grad[:, None]   # 0 at y_i
                if grad_u is not None:
                    grad_u += scale * (weight @ p)
                if grad_scale is not None:
                    grad_scale += (weight * cos).sum()
        return grad_u, grad_scale, None, None, None, None


def _check_factor(value):
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"param_lr_factor must be a number > 0, got {value!r}.")
    return float(value)


def unit(z, eps=1e-12):
    """Rows of ``z`` scaled to unit norm (a zero row stays zero).

    Each row is divided by its largest magnitude first: ``F.normalize`` squares the
    entries, which overflows float32 for rows beyond about 1.8e19 (their "unit" vector
    then came out as zeros) and underflows for rows below about 1e-19."""
    scale = z.detach().abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(z.dtype).tiny)
    return F.normalize(z / scale, dim=1, eps=eps)


def soft_cross_entropy(logits, target):
    """Per-sample cross-entropy for class indices (n,) or soft labels (n, K)."""
    if target.dim() == 1:
        return F.cross_entropy(logits, target.long(), reduction="none")
    return -(target.to(logits.dtype) * F.log_softmax(logits, dim=1)).sum(dim=1)


def _as_buffer(array):
    if array is None:
        return None
    return torch.from_numpy(np.array(array, dtype=np.float32))


def mixed_prototypes(prototypes, target, eps=1e-6):
    """Target directions: ``p_y`` for hard labels, ``P^T y / ||P^T y||`` for soft ones.

    A mix whose prototypes cancel (antipodal pair mixed 1/2-1/2) has no direction; it
    becomes the zero vector, so its cosine loss is a finite constant with no gradient.
    """
    if target.dim() == 1:
        return prototypes[target.long()]
    dtype = torch.promote_types(prototypes.dtype, torch.float32)
    mixed = target.to(dtype) @ prototypes.to(dtype)
    norm = mixed.norm(dim=1, keepdim=True)
    return torch.where(norm > eps, mixed / norm.clamp_min(eps), torch.zeros_like(mixed))


def plugin_problem(obj):
    """Why ``obj`` cannot be registered as a loss (a message), or None.

    The structural contract, checked by the registry on every plugin it loads: a
    :class:`PrototypeLoss` subclass (the class: the estimator builds it from the layout)
    declaring non-empty ``tasks`` drawn from ``TASKS`` and implementing each, whose
    constructor takes the layout first. ``hsproto.testing.check_loss`` checks the
    behaviour.
    """
    if not (inspect.isclass(obj) and issubclass(obj, PrototypeLoss)):
        return (f"{qualname(obj)} is not a hsproto.losses.PrototypeLoss subclass "
                f"(register the class: the estimator builds it from the layout)")
    tasks = obj.tasks
    if not (isinstance(tasks, tuple | list) and tasks and set(tasks) <= set(TASKS)):
        return f"{obj.__name__}.tasks must be a non-empty tuple drawn from {TASKS}, got {tasks!r}"
    missing = [t for t in tasks if getattr(obj, t) is getattr(PrototypeLoss, t)]
    if missing:
        return f"{obj.__name__} declares tasks {missing} but does not implement them"
    params = list(inspect.signature(obj.__init__).parameters.values())[1:]
    if not params or not (params[0].name == "layout"
                          or params[0].kind is inspect.Parameter.VAR_POSITIONAL):
        names = ", ".join(p.name for p in params)
        return (f"{obj.__name__}.__init__ must take the layout as its first argument, "
                f"Loss(layout, **loss_params), got ({names}); hsproto 0.1's "
                f"(prototypes, poles, strategy) arguments are now layout.prototypes, "
                f"layout.poles and layout.strategy")
    return None
