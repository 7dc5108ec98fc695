"""The skorch wiring: the net an estimator trains, and one-pass inference on it.

Everything skorch-specific lives here; the estimators compose it. Only skorch's
documented subclass points are used: ``get_loss`` (sample weights) and
``train_step_single`` (mixing, before skorch's own step), plus callbacks.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import signal
import sys
import threading

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, LRScheduler, PrintLog, ProgressBar
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import noop, to_tensor
from torch import nn

from ..backbones._base import HypersphereNet, infer_out_features
from ..data import Batches
from ._schedule import RecordLR, optimizer_params

__all__ = ["OPTIMIZERS", "PRECISIONS", "check_precision", "forward_outputs", "make_net",
           "net_callbacks", "resolve_device", "seeded", "valid_split"]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16-mixed": torch.float16}


class _Net(NeuralNet):
    """skorch net whose loss is a per-sample loss, weighted by ``X["sample_weight"]``,
    with optional batch mixing (``mixer``: MixUp/CutMix into soft targets) and mixed
    precision (``precision``: the forward pass under ``torch.autocast``, the loss in
    float32; float16 scales the loss with a ``GradScaler``)."""

    precision = "32"           # also for nets pickled before the parameter existed

    def __init__(self, *args, mixer=None, precision="32", **kwargs):
        super().__init__(*args, **kwargs)
        self.mixer = mixer
        self.precision = precision

    def autocast(self):
        """The ``torch.autocast`` context of ``precision`` (a no-op for "32")."""
        dtype = PRECISIONS[self.precision]
        device_type = torch.device(self.device).type
        return torch.autocast(device_type, dtype=dtype, enabled=dtype is not None)

    def infer(self, x, **fit_params):
        if self.precision == "32":
            return super().infer(x, **fit_params)
        with self.autocast():
            z = super().infer(x, **fit_params)
        return z.float()

    def _set_training(self, training=True):
        # skorch sets the mode of every submodule before each batch (5 % of an MLP epoch
        # on digits); it is set again only when this net last set another mode or the
        # top-level modules were switched since (e.g. by inference)
        modules = [getattr(self, name + "_") for name in self._modules + self._criteria]
        if self.__dict__.get("_mode_set") == training and all(
                m.training == training for m in modules if isinstance(m, nn.Module)):
            return
        super()._set_training(training)
        self.__dict__["_mode_set"] = training

    def initialize(self):
        self.__dict__.pop("_mode_set", None)
        return super().initialize()

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``, except that Ctrl-C propagates.

        skorch stops training on ``KeyboardInterrupt`` and returns normally: that is how
        ``EarlyStopping`` (and any callback) ends a fit, but it also swallows a real
        Ctrl-C, leaving a half-trained net that looks fitted. A SIGINT received during
        the fit (in the main thread) is raised again after skorch has stopped.
        """
        with _sigint_watch() as watch:
            super().partial_fit(X, y, classes, **fit_params)
        if watch.received:
            raise KeyboardInterrupt("training was interrupted (SIGINT)")
        problem = self.criterion_.loss.training_problem()
        if problem:
            raise self._diverged(problem, during=False)
        return self

    def torch_compile(self, module, name):
        # only the network: the losses hold small parameter-free or data-dependent code
        return super().torch_compile(module, name) if name == "module" else module

    def get_loss(self, y_pred, y_true, X=None, training=False):
        try:
            per_sample = self.criterion_(y_pred, to_tensor(y_true, device=self.device))
        except ValueError as exc:       # e.g. vmf's concentration of a NaN embedding
            if training and not bool(torch.isfinite(y_pred).all()):
                raise self._diverged("the network output") from exc
            raise
        if isinstance(X, dict) and "sample_weight" in X:
            weight = to_tensor(X["sample_weight"], device=self.device)
            loss = (per_sample * weight).mean()
        else:
            loss = per_sample.mean()
        if training:
            self._check_training_loss(loss)
        return loss

    def _check_training_loss(self, loss):
        if not math.isfinite(loss.item()):                 # skorch reads .item() anyway
            raise self._diverged("the training loss")

    def _diverged(self, what, during=True):
        """The error of a fit whose loss or outputs became NaN or infinite (``during``
        training), or whose trained loss reports ``what`` as a problem."""
        epoch = len(self.history)
        batch = max(1, len(self.history[-1]["batches"])) if epoch else 1
        lrs = sorted({group["lr"] for group in self.optimizer_.param_groups})
        where = (f"{what} became NaN or infinite in epoch {epoch}, batch {batch}" if during
                 else f"{what} after {epoch} epochs")
        return FloatingPointError(
            f"Training diverged: {where} (lr={lrs[0] if len(lrs) == 1 else lrs}, optimizer="
            f"{type(self.optimizer_).__name__}, precision={self.precision}"
            f"). The estimator is not fitted; lower lr, add warmup_epochs or scale X.")

    def _scaler(self):
        if self.precision != "16-mixed":
            return None
        if self.__dict__.get("scaler_") is None:
            self.scaler_ = torch.amp.GradScaler(torch.device(self.device).type)
        return self.scaler_

    def train_step_single(self, batch, **fit_params):
        try:
            return self._train_step_single(batch, **fit_params)
        except ValueError as exc:
            if "Expected more than 1 value per channel" in str(exc):
                raise ValueError("A training batch holds a single sample, which the "
                                 "backbone's BatchNorm cannot normalise; fit on at least "
                                 "2 samples (a last batch of one is dropped when "
                                 "shuffling).") from exc
            raise

    def _train_step_single(self, batch, **fit_params):
        # callbacks still see the unmixed batch: skorch hands them the loader's batch
        if self.mixer is not None:
            batch = self._mix(batch)
        scaler = self._scaler()
        if scaler is None:
            return super().train_step_single(batch, **fit_params)
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        scaler.scale(loss).backward()
        return {"loss": loss, "y_pred": y_pred}

    def _step_optimizer(self, step_fn):
        scaler = self._scaler()
        if scaler is None:
            return super()._step_optimizer(step_fn)
        step_fn()                  # GradScaler.step takes no closure
        for name in self._optimizers:
            scaler.step(getattr(self, name + "_"))
        scaler.update()
        return None

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("scaler_", None)     # device state; a new one starts with the next fit
        _drop_torch_schedulers(state)
        return state

    def _mix(self, batch):
        Xi, yi = unpack_data(batch)
        Xi, yi = to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)
        if isinstance(Xi, dict):
            x, yi, weight = self.mixer(Xi["X"], yi, Xi.get("sample_weight"))
            return ({"X": x} if weight is None else {"X": x, "sample_weight": weight}), yi
        Xi, yi, _ = self.mixer(Xi, yi)
        return Xi, yi


class _SigintState:
    received = False


@contextlib.contextmanager
def _sigint_watch():
    """Record a SIGINT while keeping its usual effect (``KeyboardInterrupt``); only in
    the main thread and when SIGINT has Python's default handler or a callable one."""
    state = _SigintState()
    previous = (signal.getsignal(signal.SIGINT)
                if threading.current_thread() is threading.main_thread() else None)
    if not callable(previous):
        yield state
        return

    def handler(signum, frame):
        state.received = True
        previous(signum, frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)


class _LossEpoch(Callback):
    """Tells the loss the epoch number (``set_epoch``), e.g. for a margin warm-up."""

    def on_epoch_begin(self, net, **kwargs):
        net.criterion_.loss.set_epoch(len(net.history) - 1)


def _stdout_is_terminal():
    """Whether ``sys.stdout`` is a terminal (False for a file, a pipe, a captured or
    closed stream, or when the ``NO_COLOR`` environment variable is set)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(sys.stdout, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:                          # I/O operation on a closed file
        return False


class _PrintLog(PrintLog):
    """skorch's epoch table (``verbose``), with the best values coloured only on a terminal.

    skorch wraps each new best score in ANSI colour codes; in a log file, a pipe or a
    notebook cell captured as text they are noise, so the table is plain unless the
    output goes to ``print`` and ``sys.stdout`` is a terminal (checked at every epoch,
    so redirecting stdout mid-fit takes effect).
    """

    def format_row(self, row, key, color):
        if self.sink is print and _stdout_is_terminal():
            return super().format_row(row, key, color)
        # without its "<key>_best" flag the value is formatted but not highlighted
        return super().format_row({key: row[key]}, key, color)


class _Criterion(nn.Module):
    """Routes a batch target to the loss's classification and/or regression term.

    Joint targets are float rows ``[class index, r_1 .. r_T]``; the terms are summed with
    no task weight (HPN §3.3: both live in the same range).
    """

    def __init__(self, loss, task):
        super().__init__()
        self.loss, self.task = loss, task

    def forward(self, z, y):
        if self.task == "classification":
            return self.loss.classification(z, y)
        if self.task == "regression":
            return self.loss.regression(z, y)
        return self.loss.classification(z, y[:, 0].long()) + self.loss.regression(z, y[:, 1:])


def resolve_device(device):
    """``"auto"`` -> cuda if available; a CUDA device without CUDA is a ValueError."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device)
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"Invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use "
                         f"device='cpu' or 'auto'.")
    return device


_SEEDED = threading.RLock()


@contextlib.contextmanager
def seeded(seed, device):
    """Seed torch inside a forked RNG state, leaving the caller's global RNG untouched.

    torch's generator is process-global, so seeded sections of different threads take
    turns (a lock): a seeded fit gives the same model alone or beside others in threads.
    """
    devices = [torch.cuda.current_device()] if str(device).startswith("cuda") else []
    with _SEEDED, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def check_precision(precision, device):
    """A ValueError when ``device`` cannot run ``precision``."""
    kind = torch.device(device).type
    if precision == "16-mixed" and kind != "cuda":
        raise ValueError(f"precision='16-mixed' (float16 autocast with a GradScaler) needs "
                         f"a CUDA device; device={device!r}. Use precision='bf16' on a "
                         f"CPU, or '32'.")
    if precision == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"precision='bf16' is not supported by the CUDA device {device!r} "
                         f"({torch.cuda.get_device_name(torch.device(device))}); use "
                         f"'16-mixed' or '32'.")


def make_net(*, backbone, sample, n_dims, loss, task, optimizer, lr, weight_decay,
             max_epochs, batch_size, callbacks, valid_split, verbose, device, mixer,
             momentum=None, nesterov=False, backbone_lr=None, transforms=(None, None),
             num_workers=0, precision="32", compile=False, net_class=None,
             accelerator=None):
    """The skorch net of ``backbone`` + hypersphere head trained with ``loss``.

    ``sample`` is a small float batch of X to size the head; ``valid_split`` a skorch
    ``ValidSplit`` or None; ``callbacks`` the (name, callback) pairs; ``transforms`` the
    (training, validation) :class:`~hsproto.data.SampleTransform`; ``compile`` False,
    True or a dict of ``torch.compile`` arguments. ``net_class`` (default
    :class:`_Net`) is the net's class; an ``accelerator`` is passed to it (see
    :mod:`hsproto.estimators._accelerate`).
    """
    in_features = infer_out_features(backbone, sample)
    optimizer = OPTIMIZERS.get(optimizer, optimizer)
    extra = optimizer_params(optimizer, momentum, nesterov)
    # the epoch table, plain off a terminal; none when quiet (skorch's PrintLog formats
    # a table every epoch even when it prints nothing)
    extra["callbacks__print_log"] = _PrintLog if verbose else None
    groups = []
    if backbone_lr is not None:
        groups.append(("backbone.*", {"lr": backbone_lr}))
    factor = getattr(loss, "param_lr_factor", 1.0)
    if factor != 1.0 and any(p.requires_grad for p in loss.parameters()):
        # the loss's own parameters (temperature, concentrations) get their own lr
        groups.append(("loss.*", {"lr": lr * factor}))
    if groups:
        extra["optimizer__param_groups"] = groups
    if valid_split is None:
        extra["callbacks__valid_loss"] = None     # no validation data to score
    if accelerator is not None:
        extra["accelerator"] = accelerator
    if compile:
        extra["compile"] = True
        extra.update({f"compile__{k}": v for k, v in
                      (compile.items() if isinstance(compile, dict) else [])})
    train_transform, valid_transform = transforms
    dtype = PRECISIONS[precision]
    if accelerator is not None:      # its mixed precision is the training precision
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(
            str(accelerator.mixed_precision))
    if dtype is not None and loss.fixed_prototypes and loss.prototypes is not None:
        # fixed prototypes are a buffer in the training precision: half the memory of
        # float32 at large K; every product with them casts a chunk back (PrototypeLoss)
        loss.prototypes = loss.prototypes.to(dtype)
    # Classes plus ``module__*`` / ``criterion__*`` arguments (not instances): skorch
    # pickles those through its device mapping, so a model fitted on a GPU loads on a
    # CPU-only machine.
    return (net_class or _Net)(
        HypersphereNet, module__backbone=backbone, module__in_features=in_features,
        module__n_dims=n_dims, criterion=_Criterion, criterion__loss=loss,
        criterion__task=task, optimizer=optimizer, lr=lr,
        optimizer__weight_decay=weight_decay, max_epochs=max_epochs,
        batch_size=batch_size, train_split=valid_split, callbacks=callbacks,
        iterator_train=Batches, iterator_valid=Batches,
        iterator_train__shuffle=True, iterator_train__transform=train_transform,
        iterator_valid__transform=valid_transform,
        iterator_train__num_workers=num_workers,
        iterator_valid__num_workers=num_workers,
        iterator_train__device=device, iterator_valid__device=device,
        verbose=int(verbose), device=device, predict_nonlinearity=None,
        mixer=mixer, precision=precision, **extra)


def net_callbacks(user_callbacks, *, early_stopping, patience, progress, extra=(),
                  printing=True):
    """The (name, callback) pairs of a fit: the epoch counter of the loss, the user's
    (deep-copied), ``extra`` (e.g. the dynamic assignment), early stopping, progress.
    Without ``printing`` (a process other than the main one of a data-parallel fit),
    early stopping is silent and there is no progress bar."""
    out = [("loss_epoch", _LossEpoch()), ("record_lr", RecordLR())]
    for i, cb in enumerate(user_callbacks or []):
        name, cb = cb if isinstance(cb, tuple) else (f"user_{i}", cb)
        out.append((name, copy.deepcopy(cb)))
    out.extend(extra)
    if early_stopping:
        out.append(("early_stopping", EarlyStopping(patience=patience, load_best=True,
                                                    sink=print if printing else noop)))
    if progress and printing:
        out.append(("progress_bar", ProgressBar()))
    return out


def valid_split(fraction, stratified, seed):
    return ValidSplit(fraction, stratified=stratified, random_state=seed % 2**31)


# ---------------------------------------------------------------------- inference
def forward_outputs(net, batches, n, outputs):
    """Run the trained network once over ``batches`` (``n`` samples in order) and return
    ``outputs(z)`` for all rows.

    ``batches`` yields float32 tensors (or ``(x, _)`` pairs), see
    :func:`~hsproto.data.inference_batches`; each is sent to the net's device, the
    network runs in eval mode without autograd (under the net's autocast precision), and
    ``outputs`` maps each batch's raw output ``z`` (n_b, D, float32) to a tensor or a
    tuple of tensors on the device. Each result is written into one preallocated tensor
    on the device (floating point as float64) and moved to the host once, as a numpy
    array. The caller's global torch RNG is not used (unless the user's own module
    draws from it in eval mode).
    """
    module, criterion = net.module_, net.criterion_
    device = next(module.parameters()).device
    module.eval()
    criterion.eval()
    results, start = None, 0
    # no fork_rng here: restoring the global generator at the end would rewind it under
    # a seeded fit running in another thread; hsproto's inference draws no random
    # numbers from it (vmf's Monte-Carlo sampling has its own generator)
    with torch.no_grad():
        for batch in batches:
            xb = batch[0] if isinstance(batch, tuple | list) else batch
            xb = xb.to(device, torch.float32, non_blocking=True)
            with net.autocast():
                z = module(xb)
            out = outputs(z.float())
            out = out if isinstance(out, tuple) else (out,)
            if results is None:
                results = [_result_buffer(o, n) for o in out]
            for buffer, part in zip(results, out, strict=True):
                buffer[start:start + len(part)] = part
            start += len(xb)
    if start != n:
        raise ValueError(f"The data gave {start} samples for inference; expected {n}.")
    host = [r.cpu().numpy() for r in results]
    return host[0] if len(host) == 1 else tuple(host)


def _result_buffer(first, n):
    dtype = torch.float64 if first.is_floating_point() else first.dtype
    return torch.empty((n, *first.shape[1:]), dtype=dtype, device=first.device)


def _drop_torch_schedulers(state):
    """Pickle skorch ``LRScheduler`` callbacks without their torch scheduler.

    The scheduler holds the optimizer, whose state skorch pickles on its own as a
    device-dependent attribute (mapped to the CPU when a CUDA model is loaded where no
    GPU is). Through the scheduler it would be pickled a second time, outside that
    mapping: the model file doubled the optimizer state and a CUDA-trained model failed
    to load on a CPU-only machine. The callback builds a new scheduler at the start of
    every fit.
    """
    copies = {}

    def clean(entry):
        named = isinstance(entry, tuple) and len(entry) == 2
        callback = entry[1] if named else entry
        if not isinstance(callback, LRScheduler) \
                or getattr(callback, "lr_scheduler_", None) is None:
            return entry
        if id(callback) not in copies:
            copies[id(callback)] = copy.copy(callback)
            copies[id(callback)].lr_scheduler_ = None
        return (entry[0], copies[id(callback)]) if named else copies[id(callback)]

    for key in ("callbacks", "callbacks_"):
        if isinstance(state.get(key), list):
            state[key] = [clean(entry) for entry in state[key]]
