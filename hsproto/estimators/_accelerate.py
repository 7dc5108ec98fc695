"""Training through Hugging Face Accelerate (the estimators' ``accelerator`` parameter).

Imported only when an ``accelerator`` is given, so ``accelerate`` stays optional. The net
is skorch's :class:`~skorch.hf.AccelerateMixin` on hsproto's :class:`~._net._Net`, with
these differences from the mixin (each for a reason given where it is done):

- the data: hsproto's :class:`~hsproto.data.Batches` is not a ``DataLoader`` that
  ``accelerator.prepare`` could shard, so each process takes its own piece of every
  global batch itself (:meth:`~hsproto.data.Batches.shard`), from one shuffled order
  (the processes' torch RNG made equal at each epoch). Validation and inference run on
  all of their data in every process, so nothing is gathered: the mixin's gathering
  ``evaluation_step`` would return each process's rows once per process;
- the loss (the criterion) is not wrapped in DDP (hsproto reads it as
  ``criterion_.loss``); its trainable parameters' gradients are averaged over the
  processes by hand, as DDP does the network's;
- the recorded training loss is the mean over the processes (so every process has the
  same history, and ``ReduceLROnPlateau`` or a divergence check decides the same
  everywhere); the network's buffers (e.g. BatchNorm statistics) are the main process's
  after training, so every process ends with the same model;
- the gradients are zeroed after each optimizer step, not before each batch as skorch
  does (which, with gradient accumulation, wiped the accumulated gradients at the step);
- the modules are unwrapped after ``partial_fit`` has returned, not in the net's
  ``on_train_end``, which runs before the callbacks' (``EarlyStopping(load_best=True)``
  restores the state dict it saved from the wrapped module); the optimizer is unwrapped
  too and the accelerator keeps no reference to either (a search fits many models);
- the net has the accelerator's device (hsproto's batches and inference need one),
  printing goes to the main process only, and a pickled net drops the accelerator.
"""

from __future__ import annotations

import torch
import torch.distributed
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.hf import AccelerateMixin
from skorch.utils import noop

from ._net import _Net

__all__ = ["AcceleratedNet", "check_accelerator", "is_accelerator", "shared_seed"]

#: Distributed types that are not DDP (sharded or pipelined parameters): not supported.
_UNSUPPORTED = ("DEEPSPEED", "FSDP", "MEGATRON_LM", "XLA")


def _accelerator_class():
    try:
        from accelerate import Accelerator
    except ImportError as exc:
        raise ImportError("accelerator= needs the accelerate package: pip install "
                          "'hsproto[accelerate]' (or accelerate>=0.26).") from exc
    return Accelerator


def is_accelerator(value):
    """Whether ``value`` is an ``accelerate.Accelerator`` (ImportError without accelerate)."""
    return isinstance(value, _accelerator_class())


def check_accelerator(accelerator, *, precision, device, owner):
    """The device a fit with ``accelerator`` runs on; a ValueError for settings that
    conflict with it."""
    if not is_accelerator(accelerator):
        raise ValueError(f"The 'accelerator' parameter of {owner} must be None or an "
                         f"accelerate.Accelerator; got {type(accelerator).__name__}.")
    kind = accelerator.distributed_type.name
    if kind in _UNSUPPORTED:
        raise ValueError(f"{owner} trains data-parallel (DDP) through an accelerator; its "
                         f"distributed type {kind} is not supported. Use a single device "
                         f"or `accelerate launch --multi_gpu` / `--cpu` processes.")
    if precision != "32":
        raise ValueError(f"precision={precision!r} conflicts with the accelerator, which "
                         f"sets the mixed precision itself (mixed_precision="
                         f"{accelerator.mixed_precision!r}). With an accelerator leave "
                         f"precision='32' and choose it on the accelerator: "
                         f"Accelerator(mixed_precision='bf16') or `accelerate launch "
                         f"--mixed_precision bf16`.")
    target = accelerator.device
    if str(device) not in ("cpu", "auto"):
        try:
            asked = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"Invalid device {device!r}: {exc}") from exc
        if asked.type != target.type:
            raise ValueError(f"device={str(device)!r} conflicts with the accelerator, "
                             f"which places this process's network on {target}. With an "
                             f"accelerator the device is the accelerator's: leave device "
                             f"at its default.")
    return str(target)


def shared_seed(accelerator, seed):
    """The main process's ``seed`` in every process: one initialisation, prototype
    placement, validation split and order of batches everywhere, also when
    ``random_state`` is None."""
    if accelerator.num_processes < 2:
        return seed
    from accelerate.utils import broadcast_object_list

    return int(broadcast_object_list([int(seed)], from_process=0)[0])


def _same_torch_rng():
    """Give every process the main process's torch CPU RNG state (a collective)."""
    from accelerate.utils import RNGType, synchronize_rng_state

    synchronize_rng_state(RNGType.TORCH)


class _NoLog(Callback):
    """skorch's ``print_log`` slot when quiet: the mixin always sets the log's sink, which
    skorch refuses for an absent (None) callback; this one takes it and prints nothing."""

    def __init__(self, sink=None):
        self.sink = sink


class AcceleratedNet(AccelerateMixin, _Net):
    """hsproto's net trained through an ``accelerate.Accelerator`` (see the module)."""

    def __init__(self, *args, accelerator, **kwargs):
        if kwargs.get("callbacks__print_log") is None:
            kwargs["callbacks__print_log"] = _NoLog
        # print, not accelerator.print: a bound method would pickle the accelerator
        sink = print if accelerator.is_main_process else noop
        super().__init__(*args, accelerator=accelerator, unwrap_after_train=False,
                         callbacks__print_log__sink=sink, **kwargs)

    def _validate_params(self):
        # skorch's checks, without the mixin's device=None rule: the net's device is the
        # accelerator's own (make_net), so skorch's moves agree with accelerate's
        super(AccelerateMixin, self)._validate_params()

    def initialize(self):
        self.__dict__.pop("_mode_set", None)
        return super().initialize()

    def _initialize_accelerator(self):
        """Prepare the network(s) and optimizer(s); the criterion stays as it is."""
        if self._wrapped_with_accelerator:
            return self
        for name in self._modules + self._optimizers:
            part = getattr(self, name + "_")
            if isinstance(part, torch.nn.Module | torch.optim.Optimizer):
                setattr(self, name + "_", self.accelerator.prepare(part))
        self._wrapped_with_accelerator = True
        return self

    # ---------------------------------------------------------------- data
    def get_iterator(self, dataset, training=False):
        # hsproto's batches, sharded by hand for training (not a DataLoader to prepare)
        iterator = super(AccelerateMixin, self).get_iterator(dataset, training=training)
        processes = self.accelerator.num_processes
        if training and processes > 1:
            iterator.shard(self.accelerator.process_index, processes, _same_torch_rng)
        return iterator

    def evaluation_step(self, batch, training=False):
        # every process holds all of the data it predicts: nothing to gather
        return super(AccelerateMixin, self).evaluation_step(batch, training=training)

    # ---------------------------------------------------------------- training
    def train_step_single(self, batch, **fit_params):
        # hsproto's step (batch mixing, the BatchNorm message) around _train_step_single
        return _Net.train_step_single(self, batch, **fit_params)

    def _train_step_single(self, batch, **fit_params):
        if self.mixer is not None:
            batch = self._mix(batch)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        with self.accelerator.autocast():
            y_pred = self.infer(Xi, **fit_params)
        # the loss in float32, outside the autocast (as hsproto's own precision does)
        loss = self.get_loss(y_pred.float(), yi, X=Xi, training=True)
        self.accelerator.backward(loss)
        self._average_loss_gradients()
        loss = self._mean_over_processes(loss.detach())
        _Net._check_training_loss(self, loss)
        return {"loss": loss, "y_pred": y_pred}

    def _zero_grad_optimizer(self, set_to_none=None):
        """Nothing here: skorch zeroes the gradients before each batch's backward, which
        on the batch that steps (the only one where accelerate's optimizer zeroes) would
        wipe what the cycle's earlier batches accumulated; :meth:`_step_optimizer`
        zeroes them after each optimizer step instead."""

    def _step_optimizer(self, step_fn):
        step_fn()                            # no closure: accelerate's optimizer takes none
        for name in self._optimizers:
            optimizer = getattr(self, name + "_")
            optimizer.step()                 # both skipped between accumulated batches
            optimizer.zero_grad()

    def _check_training_loss(self, loss):
        """Checked on the processes' mean in the training step instead, so that every
        process raises (or none does)."""

    def _mean_over_processes(self, tensor):
        if self.accelerator.num_processes < 2:
            return tensor
        return self.accelerator.reduce(tensor, reduction="mean")

    def _average_loss_gradients(self):
        """Average the loss's own trainable parameters' gradients over the processes (DDP
        does the network's), when the optimizer steps (not between accumulated steps)."""
        if self.accelerator.num_processes < 2 or not self.accelerator.sync_gradients:
            return
        for param in self.criterion_.parameters():
            if param.grad is not None:
                param.grad.copy_(self._mean_over_processes(param.grad))

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        try:
            super().partial_fit(X, y, classes, **fit_params)
        except BaseException:
            self._release()
            raise
        self._same_buffers()
        self._release()
        return self

    def _same_buffers(self):
        """The main process's network buffers (e.g. BatchNorm running statistics, which
        each process updates on its own batches) in every process."""
        if self.accelerator.num_processes < 2:
            return
        for name in self._modules:
            module = getattr(self, name + "_")
            if isinstance(module, torch.nn.Module):
                for buffer in module.buffers():
                    torch.distributed.broadcast(buffer, src=0)

    def _release(self):
        """Unwrap the network(s) and optimizer(s) and drop the accelerator's references
        to them (it keeps every prepared object; a search would keep every model)."""
        parts = [getattr(self, name + "_", None) for name in self._modules + self._optimizers]
        self._unwrap_accelerator()
        for name in self._optimizers:
            optimizer = getattr(self, name + "_", None)
            plain = getattr(optimizer, "optimizer", optimizer)
            setattr(self, name + "_", plain)
            self._rebind_schedulers(optimizer, plain)
        parts += [getattr(self, name + "_", None) for name in self._modules]
        for store in ("_models", "_optimizers"):
            held = getattr(self.accelerator, store, None)
            if isinstance(held, list):
                held[:] = [obj for obj in held if not any(obj is p for p in parts)]

    def _rebind_schedulers(self, wrapped, plain):
        """Point the torch schedulers of the ``LRScheduler`` callbacks at the plain
        optimizer (the wrapper, whose ``step`` a scheduler patches, does not pickle)."""
        for _, callback in getattr(self, "callbacks_", []):
            stack = [getattr(callback, "lr_scheduler_", None)]
            while stack:
                scheduler = stack.pop()
                if scheduler is None:
                    continue
                if getattr(scheduler, "optimizer", None) is wrapped:
                    scheduler.optimizer = plain
                stack.extend(getattr(scheduler, "_schedulers", []))     # SequentialLR

    def __getstate__(self):
        state = super().__getstate__()
        # a handle on this launch's processes: not data, and not usable elsewhere
        state["accelerator"] = None
        return state
