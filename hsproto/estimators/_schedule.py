"""Learning-rate schedules and the optimiser recipe, on skorch's ``LRScheduler``.

``lr_schedule`` names a torch scheduler (``"cosine"``, ``"step"``, ``"onecycle"``) or is
a torch scheduler class; ``warmup_epochs`` puts a linear warm-up in front (torch's
``SequentialLR``). Milestones are absolute epochs, as the papers give them (HPN: ÷10 at
epochs 100 and 200 of 250). The learning rate of each epoch is recorded in the history
as ``lr``.
"""

from __future__ import annotations

import inspect

import torch
from skorch.callbacks import Callback, LRScheduler
from torch.optim import lr_scheduler as sched

__all__ = ["SCHEDULES", "RecordLR", "check_schedule", "optimizer_params",
           "schedule_callback"]

SCHEDULES = (None, "cosine", "step", "onecycle")


def _step_milestones(max_epochs):
    """HPN's ÷10 at epochs 100 and 200 of 250, scaled to ``max_epochs``."""
    return sorted({max(1, round(0.4 * max_epochs)), max(1, round(0.8 * max_epochs))})


def check_schedule(schedule, params, warmup_epochs, max_epochs):
    """Raise a ValueError naming the problem with this schedule (before any work)."""
    params = dict(params or {})
    if warmup_epochs >= max_epochs and warmup_epochs:
        raise ValueError(f"warmup_epochs={warmup_epochs} must be smaller than "
                         f"max_epochs={max_epochs}.")
    if schedule is None:
        if params:
            raise ValueError(f"lr_schedule_params {sorted(params)} given without an "
                             f"lr_schedule.")
        return
    if schedule == "onecycle" and warmup_epochs:
        raise ValueError("lr_schedule='onecycle' warms up by itself (pct_start in "
                         "lr_schedule_params); set warmup_epochs=0.")
    if inspect.isclass(schedule) and issubclass(schedule, sched.ReduceLROnPlateau) \
            and warmup_epochs:
        raise ValueError("warmup_epochs cannot precede ReduceLROnPlateau (torch's "
                         "SequentialLR does not chain it).")
    allowed = {"cosine": {"eta_min"}, "step": {"milestones", "gamma"},
               "onecycle": {"pct_start", "anneal_strategy", "div_factor",
                            "final_div_factor", "three_phase"}}.get(schedule)
    if allowed is not None and set(params) - allowed:
        raise ValueError(f"lr_schedule={schedule!r} accepts lr_schedule_params "
                         f"{sorted(allowed)}; got {sorted(set(params) - allowed)}.")
    if inspect.isclass(schedule):
        try:
            inspect.signature(schedule).bind_partial(None, **params)
        except TypeError as exc:
            raise ValueError(f"Invalid lr_schedule_params {sorted(params)} for "
                             f"{schedule.__name__}: {exc}.") from exc
    if schedule == "step":
        milestones = params.get("milestones", _step_milestones(max_epochs))
        if (not isinstance(milestones, list | tuple) or not milestones
                or any(not isinstance(m, int) or m <= warmup_epochs for m in milestones)):
            raise ValueError(f"lr_schedule='step' needs milestones: a list of epochs after "
                             f"warmup_epochs={warmup_epochs}; got {milestones!r}.")


def build_schedule(optimizer, last_epoch=-1, *, schedule, params, warmup_epochs,
                   max_epochs, steps_per_epoch):
    """The torch scheduler of a fit (called by skorch's ``LRScheduler`` at train begin)."""
    params = dict(params or {})
    main_epochs = max_epochs - warmup_epochs
    if schedule == "onecycle":
        lrs = [group["lr"] for group in optimizer.param_groups]
        return sched.OneCycleLR(optimizer, max_lr=lrs,
                                total_steps=max_epochs * steps_per_epoch, **params)
    if schedule == "cosine":
        main = sched.CosineAnnealingLR(optimizer, T_max=main_epochs, **params)
    elif schedule == "step":
        milestones = params.pop("milestones", _step_milestones(max_epochs))
        main = sched.MultiStepLR(optimizer, [m - warmup_epochs for m in milestones],
                                 gamma=params.pop("gamma", 0.1))
    elif schedule is None:
        main = sched.ConstantLR(optimizer, factor=1.0, total_iters=0)
    else:
        main = schedule(optimizer, **params)
    if not warmup_epochs:
        return main
    warm = sched.LinearLR(optimizer, start_factor=1.0 / (warmup_epochs + 1),
                          total_iters=warmup_epochs)
    return sched.SequentialLR(optimizer, [warm, main], milestones=[warmup_epochs],
                              last_epoch=last_epoch)


def schedule_callback(schedule, params, warmup_epochs, max_epochs, steps_per_epoch):
    """skorch's ``LRScheduler`` running :func:`build_schedule`, or None."""
    if schedule is None and not warmup_epochs:
        return None
    plateau = inspect.isclass(schedule) and issubclass(schedule, sched.ReduceLROnPlateau)
    if plateau:
        return LRScheduler(policy=schedule, monitor="train_loss", event_name=None,
                           **dict(params or {}))
    return LRScheduler(policy=build_schedule, event_name=None,
                       step_every="batch" if schedule == "onecycle" else "epoch",
                       schedule=schedule, params=params, warmup_epochs=warmup_epochs,
                       max_epochs=max_epochs, steps_per_epoch=steps_per_epoch)


class RecordLR(Callback):
    """Records at each epoch's start the learning rate of the head's parameter group, the
    estimator's ``lr`` ("lr"; skorch puts the groups named in ``param_groups`` first and
    the remaining parameters, the head's, last), and with ``backbone_lr`` the backbone's
    ("backbone_lr")."""

    def on_epoch_begin(self, net, **kwargs):
        groups = net.optimizer_.param_groups
        net.history.record("lr", float(groups[-1]["lr"]))
        named = [pattern for pattern, _ in getattr(net, "optimizer__param_groups", [])]
        if named[:1] == ["backbone.*"] and len(groups) > 1:
            net.history.record("backbone_lr", float(groups[0]["lr"]))


def optimizer_params(optimizer, momentum, nesterov):
    """(optimizer class, net keywords): momentum (0.9 for "sgd" when None) and nesterov,
    each refused by an optimizer that does not take it."""
    keywords = {}
    accepts = inspect.signature(optimizer).parameters
    if momentum is None and optimizer is torch.optim.SGD:
        momentum = 0.9
    for name, value, given in (("momentum", momentum, momentum is not None),
                               ("nesterov", nesterov, bool(nesterov))):
        if not given:
            continue
        if name not in accepts:
            raise ValueError(f"{name}={value!r} was given but the optimizer "
                             f"{optimizer.__name__} takes no {name!r} argument (Adam-type "
                             f"optimizers use betas); use optimizer='sgd'.")
        keywords[f"optimizer__{name}"] = value
    if nesterov and not momentum:
        raise ValueError("nesterov=True needs momentum > 0.")
    return keywords
