"""Machinery shared by the hyperspherical estimators (composition around a skorch net).

``fit`` runs one straight path: the parameter table (``_parameter_constraints``), the
plugins resolved by name, the data, the sizes, then the placement (a
:class:`~hsproto.Layout`), the loss built from it, the skorch net (``_net``) and
training. Every public inference method makes one forward pass (``_outputs``).
"""

from __future__ import annotations

import inspect
import os
import pickle
import warnings
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch.callbacks import Callback
from skorch.history import History
from torch import nn
from torch.optim import lr_scheduler

from .. import registry
from .._modelfile import write as write_model
from .._random import seed_from
from .._validation import Interval, Options, Satisfies, Subclass, Type, validate_params
from .._version import __version__
from ..backbones._base import build_backbone
from ..data import (
    SampleTransform,
    collect_labels,
    first_samples,
    inference_batches,
    is_dataset,
    is_image_uint8,
    training_items,
    training_steps,
)
from ..losses._base import PrototypeLoss, unit
from ..prototypes import PrototypeStrategy, get_strategy
from ._net import (
    OPTIMIZERS,
    PRECISIONS,
    check_precision,
    forward_outputs,
    make_net,
    net_callbacks,
    resolve_device,
    seeded,
    valid_split,
)
from ._requirements import check_requirements, plugins_used
from ._schedule import SCHEDULES, check_schedule, schedule_callback

__all__ = ["HypersphericalBase"]


def _callback_list(value):
    if value is None:
        return True
    if not isinstance(value, list | tuple):
        return False
    return all(isinstance(cb, Callback) or (isinstance(cb, tuple) and len(cb) == 2
                                            and isinstance(cb[0], str)
                                            and isinstance(cb[1], Callback))
               for cb in value)


_NONE = Options(None)
_DICT = Type(dict, describe="a dict")
_COUNT = Interval(int, 1, None)
_POSITIVE = Interval(float, 0, None, closed="neither")
_BOOL = Type(bool, np.bool_, describe="a bool")
_TRANSFORM = Satisfies(callable, "a callable transform (e.g. torchvision.transforms.v2)")


def _is_accelerator(value):
    # accelerate is imported only for a value to check (ImportError when missing)
    from ._accelerate import is_accelerator

    return is_accelerator(value)


def _plugin(base, noun, instance=None):
    """Constraints of a plugin parameter: a registered name, a class, an instance."""
    out = [Type(str, describe=f"a registered {noun} name"),
           Subclass(base, describe=f"a {base.__name__} subclass")]
    if instance is not None:
        out.append(Type(instance, describe=f"a {instance.__name__} instance"))
    return out


class HypersphericalBase(TransformerMixin, BaseEstimator):
    """Common parameters and the fit/transform machinery; see the estimators' docs."""

    _task = None

    #: Every public parameter and what it allows, checked at the top of ``fit``.
    _parameter_constraints: ClassVar[dict] = {
        "module": _plugin(nn.Module, "backbone", nn.Module),
        "module_params": [_NONE, _DICT],
        "n_dims": [_NONE, _COUNT],
        "prototypes": _plugin(PrototypeStrategy, "prototype strategy",
                              PrototypeStrategy),
        "prototype_params": [_NONE, _DICT],
        "loss": _plugin(PrototypeLoss, "loss"),
        "loss_params": [_NONE, _DICT],
        "max_epochs": [_COUNT],
        "batch_size": [_COUNT],
        "predict_batch_size": [Options("auto"), _COUNT],
        "lr": [_POSITIVE],
        "optimizer": [Options(*OPTIMIZERS),
                      Subclass(torch.optim.Optimizer, "a torch.optim.Optimizer subclass")],
        "weight_decay": [Interval(float, 0, None)],
        "early_stopping": [_BOOL],
        "validation_fraction": [Interval(float, 0, 1, closed="neither")],
        "n_iter_no_change": [_COUNT],
        "device": [Options("cpu", "cuda", "auto"),
                   Type(str, describe="a torch device string such as 'cuda:1'"),
                   Type(torch.device)],
        "random_state": [_NONE, Interval(int, 0, 2**32 - 1),
                         Type(np.random.RandomState, np.random.Generator,
                              describe="a numpy RandomState or Generator")],
        "verbose": [Interval(int, 0, None), Type(bool, describe="a bool")],
        "callbacks": [Satisfies(_callback_list, "None or a list of skorch callbacks or "
                                                "(name, callback) pairs")],
        "augment": [_NONE, _TRANSFORM],
        "preprocess": [_NONE, _TRANSFORM],
        "num_workers": [Interval(int, 0, None)],
        "lr_schedule": [Options(*SCHEDULES),
                        Subclass((lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau),
                                 "a torch.optim.lr_scheduler class")],
        "lr_schedule_params": [_NONE, _DICT],
        "warmup_epochs": [Interval(int, 0, None)],
        "momentum": [_NONE, Interval(float, 0, 1, closed="left")],
        "nesterov": [_BOOL],
        "backbone_lr": [_NONE, _POSITIVE],
        "precision": [Options(*PRECISIONS)],
        "compile": [_BOOL, Type(dict, describe="a dict of torch.compile arguments")],
        "accelerator": [_NONE, Satisfies(_is_accelerator, "an accelerate.Accelerator")],
    }

    def __init__(self, module="mlp", *, module_params=None, n_dims=None, prototypes="auto",
                 prototype_params=None, loss="hpn", loss_params=None, max_epochs=100,
                 batch_size=128, lr=1e-3, optimizer="adam", weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 device="cpu", random_state=None, verbose=0, callbacks=None,
                 predict_batch_size="auto", augment=None, preprocess=None, num_workers=0,
                 lr_schedule=None, lr_schedule_params=None, warmup_epochs=0, momentum=None,
                 nesterov=False, backbone_lr=None, precision="32", compile=False,
                 accelerator=None):
        self.module = module
        self.module_params = module_params
        self.n_dims = n_dims
        self.prototypes = prototypes
        self.prototype_params = prototype_params
        self.loss = loss
        self.loss_params = loss_params
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.predict_batch_size = predict_batch_size
        self.augment = augment
        self.preprocess = preprocess
        self.num_workers = num_workers
        self.lr_schedule = lr_schedule
        self.lr_schedule_params = lr_schedule_params
        self.warmup_epochs = warmup_epochs
        self.momentum = momentum
        self.nesterov = nesterov
        self.backbone_lr = backbone_lr
        self.precision = precision
        self.compile = compile
        self.accelerator = accelerator

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        # The state is pickled into bytes next to the list of third-party plugins it
        # needs, so that loading where a plugin is missing names the plugin and its
        # distribution instead of failing deep inside pickle.
        state = dict(super().__getstate__())
        # an accelerator is a handle on the processes of one launch, not part of the model
        state["accelerator"] = None
        requires = state.get("plugins_")
        if requires is None:
            requires = plugins_used(state, names=False)
        return {"_hsproto_requires": requires, "_hsproto_version": __version__,
                "_hsproto_state": pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)}

    def __setstate__(self, state):
        if "_hsproto_state" in state:
            check_requirements(type(self).__name__, state["_hsproto_requires"])
            _check_version(type(self).__name__, state.get("_hsproto_version"))
            state = pickle.loads(state["_hsproto_state"])
        super().__setstate__(state)

    # ---------------------------------------------------------------- hooks
    def _validate_fit(self, X, y, sample_weight):
        """Return ``(X, encoded target, sample weights or None, state)``, where ``state``
        holds the target-related fitted attributes; X is read by :meth:`_fit_inputs`."""
        raise NotImplementedError

    def _default_n_dims(self, state):
        raise NotImplementedError

    def _place(self, n_dims, seed, state):
        """The :class:`~hsproto.Layout` of this task; placement goes by
        ``self.prototypes`` (checked up front) so that errors name it as the user
        selected it."""
        raise NotImplementedError

    def _check_fit_sizes(self, sample_shape, target, n_dims, state, strategy):
        """Data-dependent checks run before placement (subclasses add theirs);
        ``sample_shape`` is the shape of one sample as the network sees it."""
        if self.early_stopping:
            n_valid = int(np.ceil(self.validation_fraction * len(target)))
            if len(target) - n_valid < 1 or n_valid < 1:
                raise ValueError(f"early_stopping needs at least 2 samples to hold out "
                                 f"validation_fraction={self.validation_fraction}; got "
                                 f"n_samples={len(target)}.")

    def _extra_callbacks(self):
        return []

    def _make_mixer(self, sample_shape, target):
        return None

    def _check_loss(self, loss):
        """Checks that need the built loss (before training)."""

    # ---------------------------------------------------------------- inputs
    def _fit_inputs(self, X, y, *, multi_output=False, y_numeric=False):
        """``(X, y)`` checked for fit: arrays and DataFrames through ``validate_data``
        (uint8 images stay uint8), tensors where they are, a Dataset as it is with its
        labels collected (``y`` must then be None). Sets ``n_features_in_``."""
        if is_dataset(X):
            if y is not None:
                raise ValueError("y must be None when X is a torch Dataset: the labels "
                                 "are the second element of each (x, y) item.")
            y = collect_labels(X)
            self._reset_features(first_samples(X, self._transform(False), 1).shape[1:])
            return X, _check_y(y, multi_output, y_numeric)
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the "
                             f"target y is None (y may be None only when X is a torch "
                             f"Dataset of (x, y) items).")
        if isinstance(X, torch.Tensor):
            X = _check_tensor(type(self).__name__, X)
            if isinstance(y, torch.Tensor):
                y = y.detach().cpu().numpy()
            y = _check_y(y, multi_output, y_numeric)
            check_consistent_length(X, y)
            self._reset_features(X.shape[1:])
            return X, y
        X, y = validate_data(self, X, y, allow_nd=True, dtype=_array_dtype(X),
                             multi_output=multi_output, y_numeric=y_numeric)
        return _check_float32_range(type(self).__name__, X), y

    def _score_target(self, X, y):
        """``y`` for ``score``: a Dataset's own labels when y is None, a tensor on the
        host."""
        if y is None:
            if not is_dataset(X):
                raise ValueError("y is required unless X is a torch Dataset of (x, y) "
                                 "items.")
            return collect_labels(X)
        if isinstance(y, torch.Tensor):
            return y.detach().cpu().numpy()
        return y

    def _reset_features(self, sample_shape):
        self.n_features_in_ = int(sample_shape[0]) if len(sample_shape) else 1
        self.__dict__.pop("feature_names_in_", None)

    def _transform(self, train):
        """The per-sample transform of training (``augment``) or inference."""
        return SampleTransform(self.augment if train else None, self.preprocess)

    # ---------------------------------------------------------------- fit
    def fit(self, X, y=None, sample_weight=None):
        """Fit the network to map X onto the prototypes of y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W), a torch
            tensor (CPU or CUDA), or a torch Dataset of ``(x, y)`` items
            uint8 images (3 or more dimensions) are scaled to [0, 1] per batch.
        y : array-like, see the estimator; None when X is a Dataset
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> clf.classes_
        array([0, 1, 2])
        """
        try:
            return self._fit(X, y, sample_weight)
        except BaseException:
            self._forget_fit()
            raise

    def _forget_fit(self):
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)

    def _fit(self, X, y, sample_weight):
        validate_params(type(self).__name__, self.get_params(deep=False),
                        self._parameter_constraints)
        check_schedule(self.lr_schedule, self.lr_schedule_params, self.warmup_epochs,
                       self.max_epochs)
        loss_class, module, strategy = self._resolve_plugins()
        device = self._fit_device()
        X, target, weight, state = self._validate_fit(X, y, sample_weight)
        seed = seed_from(self.random_state)
        if self.accelerator is not None:
            from ._accelerate import shared_seed

            seed = shared_seed(self.accelerator, seed)
        X, target, weight, held_out = self._hold_out(X, target, weight, seed)
        with seeded(seed, device):
            sample = self._first_samples(X)
        n_dims = int(self.n_dims) if self.n_dims is not None else self._default_n_dims(state)
        self._check_fit_sizes(tuple(sample.shape[1:]), target, n_dims, state, strategy)
        layout = self._place(n_dims, seed, state)
        with seeded(seed, device):
            # the loss may hold randomly initialised parameters (softmax's classifier)
            loss = self._build_loss(loss_class, layout)
            self._check_loss(loss)
            net = self._make_net(sample, target, n_dims, module, loss, device, seed,
                                 accelerator=self.accelerator)
            net.initialize()
            # fitted attributes come first, so that a callback can use the estimator
            # (e.g. score a held-out set after every epoch, as tuning does)
            self._set_fitted(state, net, tuple(sample.shape[1:]))
            if is_dataset(X):
                net.partial_fit(training_items(X, target, weight), target)
            else:
                net.partial_fit(X if weight is None else {"X": X, "sample_weight": weight},
                                target)
        self._set_fitted(state, net, tuple(sample.shape[1:]))
        if held_out is not None:
            self._fit_held_out(*held_out)
        return self

    def _fit_device(self):
        """The device to train on: ``device``, or the accelerator's (see
        :func:`~hsproto.estimators._accelerate.check_accelerator`)."""
        if self.accelerator is None:
            device = resolve_device(self.device)
            check_precision(self.precision, device)
            return device
        from ._accelerate import check_accelerator

        device = check_accelerator(self.accelerator, precision=self.precision,
                                   device=self.device, owner=type(self).__name__)
        self._check_data_parallel(self.accelerator.num_processes)
        return device

    def _check_data_parallel(self, n_processes):
        """Settings that data-parallel training over ``n_processes`` cannot honour
        (a ValueError; subclasses add theirs)."""

    def _hold_out(self, X, target, weight, seed):
        """``(X, target, weight, held_out)``: the part to train on and a held-out part
        ``(X, target, weight)`` for :meth:`_fit_held_out` (None: train on everything)."""
        return X, target, weight, None

    def _fit_held_out(self, X, target, weight):
        """Fit post-training parameters on the held-out part (see :meth:`_hold_out`)."""

    def _first_samples(self, X):
        """Two samples as the network sees them; ``augment`` may not change the shape."""
        sample = first_samples(X, self._transform(False))
        if self.augment is not None:
            shape = tuple(first_samples(X, self._transform(True)).shape[1:])
            if shape != tuple(sample.shape[1:]):
                raise ValueError(f"augment changes the sample shape from "
                                 f"{tuple(sample.shape[1:])} to {shape}; inference would "
                                 f"see the first. Resize in preprocess (applied to both) "
                                 f"or keep augment's output shape.")
        return sample

    def _set_fitted(self, state, net, input_shape):
        for key, value in state.items():
            setattr(self, key, value)
        loss = net.criterion_.loss
        layout = loss.layout
        self.n_dims_ = layout.n_dims
        self.layout_ = layout
        self.prototypes_ = layout.prototypes
        if layout.prototypes is not None and not loss.fixed_prototypes:
            self.prototypes_ = loss.current_prototypes().detach().cpu().double().numpy()
        self.poles_ = layout.poles
        self.net_ = net
        self.history_ = net.history
        self.plugins_ = plugins_used(self.get_params(deep=False))
        self._input_shape = tuple(int(d) for d in input_shape)
        self._input_ndim = 1 + len(self._input_shape)

    # ---------------------------------------------------------------- model files
    def save(self, path):
        """Write the fitted model to one file that is safe to share and load.

        A ``.safetensors`` file: the network's and the loss's weights and buffers, and a
        JSON document (parameters, classes, target bounds, layout, history, plugins,
        versions) with a SHA-256 of everything, checked by :func:`hsproto.load`, which
        never unpickles. Use it instead of pickle for files that leave your hands.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        str
            The path written.

        Examples
        --------
        >>> import tempfile, os
        >>> from sklearn.datasets import load_iris
        >>> import hsproto
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = hsproto.HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> path = clf.save(os.path.join(tempfile.mkdtemp(), "iris.safetensors"))
        >>> bool((hsproto.load(path).predict(X) == clf.predict(X)).all())
        True

        With an ``accelerator``, only the main process writes: on the others ``save``
        returns the path without writing (call ``accelerator.wait_for_everyone()``
        before another process reads the file).
        """
        check_is_fitted(self)
        if self.accelerator is not None and not self.accelerator.is_main_process:
            return os.fspath(path)
        return write_model(self, path)

    def _stub_target(self):
        """A target of the fitted shape, to rebuild the net when loading a model file."""
        return np.zeros(2, dtype=np.float32)

    def _restore(self, fitted, layout, state, history):
        """Rebuild the fitted net from a model file's parts (see hsproto.load)."""
        validate_params(type(self).__name__, self.get_params(deep=False),
                        self._parameter_constraints)
        loss_class, module, _ = self._resolve_plugins()
        device = resolve_device(self.device)
        for key, value in fitted.items():
            setattr(self, key, value)
        shape = tuple(fitted["_input_shape"])
        with seeded(0, device):
            loss = self._build_loss(loss_class, layout)
            net = self._make_net(torch.zeros(2, *shape), self._stub_target(), layout.n_dims,
                                 module, loss, device, 0)
            net.initialize()
        parts = {"module": getattr(net.module_, "_orig_mod", net.module_),
                 "criterion": net.criterion_}
        for prefix, part in parts.items():
            own = {k.partition("/")[2]: v for k, v in state.items()
                   if k.startswith(prefix + "/")}
            try:
                part.load_state_dict(own)
            except RuntimeError as exc:
                raise ValueError(f"The model file's {prefix} weights do not fit the "
                                 f"network built from its parameters: {exc}") from exc
        net.history = History(history)
        self._set_fitted({}, net, shape)
        return self

    def _resolve_plugins(self):
        """(loss class, backbone class or instance, strategy instance), each checked for
        this estimator and its ``*_params`` before any data is touched."""
        loss = self.loss
        if isinstance(loss, str):
            loss = registry.get("hsproto.losses", loss)
        needed = {"classification", "regression"} if self._task == "joint" else {self._task}
        missing = needed - set(loss.tasks)
        if missing:
            raise ValueError(f"loss {self.loss!r} does not support {sorted(missing)}; it "
                             f"supports {list(loss.tasks)}.")
        _check_binds(loss, self.loss_params, "loss", self.loss, first="layout")
        module = self.module
        if isinstance(module, str):
            module = registry.get("hsproto.backbones", module)
        if isinstance(module, nn.Module):
            if self.module_params:
                raise ValueError("module_params cannot be used with a module instance.")
        else:
            _check_binds(module, self.module_params, "module", module.__name__,
                         first="input_shape")
        try:
            strategy = get_strategy(self.prototypes, **(self.prototype_params or {}))
        except TypeError as exc:
            raise ValueError(str(exc)) from exc
        return loss, module, strategy

    def _build_loss(self, cls, layout):
        params = self.loss_params or {}
        try:
            return cls(layout, **params)
        except TypeError as exc:
            raise ValueError(f"Cannot build loss {cls.__name__} with loss_params "
                             f"{sorted(params)}: {exc}") from exc

    def _can_stratify(self, target):
        """Stratify the validation split when every class fits in it twice over."""
        if self._task != "classification":
            return False
        n_valid = int(np.ceil(self.validation_fraction * len(target)))
        counts = np.bincount(target)
        return n_valid >= len(counts) and counts.min() >= 2

    def _make_net(self, sample, target, n_dims, module, loss, device, seed, accelerator=None):
        """The skorch net of a fit (trained through ``accelerator`` when given; a model
        file's net is rebuilt without one: it only predicts)."""
        backbone = build_backbone(module, self.module_params, tuple(sample.shape[1:]))
        n_train = len(target)
        if self.early_stopping:
            n_train -= int(np.ceil(self.validation_fraction * len(target)))
        processes = 1 if accelerator is None else accelerator.num_processes
        steps = training_steps(n_train, self.batch_size, processes)
        schedule = schedule_callback(self.lr_schedule, self.lr_schedule_params,
                                     self.warmup_epochs, self.max_epochs, steps)
        extra = self._extra_callbacks()
        if schedule is not None:
            extra = [*extra, ("lr_schedule", schedule)]
        callbacks = net_callbacks(self.callbacks, early_stopping=self.early_stopping,
                                  patience=self.n_iter_no_change,
                                  progress=int(self.verbose) >= 2, extra=extra,
                                  printing=accelerator is None or accelerator.is_main_process)
        split = (valid_split(self.validation_fraction, self._can_stratify(target), seed)
                 if self.early_stopping else None)
        return make_net(backbone=backbone, sample=sample, n_dims=n_dims, loss=loss,
                        task=self._task, optimizer=self.optimizer, lr=self.lr,
                        weight_decay=self.weight_decay, max_epochs=self.max_epochs,
                        batch_size=self.batch_size, callbacks=callbacks, valid_split=split,
                        verbose=self.verbose, device=device,
                        mixer=self._make_mixer(tuple(sample.shape[1:]), target),
                        momentum=self.momentum, nesterov=self.nesterov,
                        backbone_lr=self.backbone_lr,
                        transforms=(self._transform(True), self._transform(False)),
                        num_workers=self.num_workers, precision=self.precision,
                        compile=self.compile, **self._accelerated(accelerator))

    @staticmethod
    def _accelerated(accelerator):
        """make_net's arguments for training through ``accelerator`` (none without)."""
        if accelerator is None:
            return {}
        from ._accelerate import AcceleratedNet

        return {"net_class": AcceleratedNet, "accelerator": accelerator}

    # ---------------------------------------------------------------- inference
    def _outputs(self, X, outputs):
        """``outputs(loss, z)`` over all of ``X`` in one forward pass (see
        :func:`~hsproto.estimators._net.forward_outputs`)."""
        check_is_fitted(self)
        X, shape = self._validate_X(X)
        return self._checked_outputs(X, shape, outputs)

    def _checked_outputs(self, X, shape, outputs):
        """:meth:`_outputs` on X already validated (an array, tensor or Dataset)."""
        loss = self.net_.criterion_.loss
        batches = inference_batches(X, self._transform(False),
                                    self._predict_batch_size(shape[1:]),
                                    num_workers=self.num_workers, device=self.net_.device)
        return forward_outputs(self.net_, batches, len(X), lambda z: outputs(loss, z))

    def transform(self, X):
        """Unit-norm embeddings on the hypersphere.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, ``n_dims_``)
            The direction of each sample's network output.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> Z = clf.transform(X[:3])
        >>> Z.shape, bool(np.allclose(np.linalg.norm(Z, axis=1), 1.0))
        ((3, 2), True)
        """
        return self._outputs(X, lambda loss, z: unit(z))

    def embedding_norm(self, X):
        """A per-sample confidence score.

        The norm of the network output before it is projected onto the sphere; for
        ``loss="vmf"`` the concentration kappa of the embedding's vMF distribution
        (seed 003: low values flag ambiguous inputs).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples,)

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> bool((clf.embedding_norm(X[:3]) > 0).all())
        True
        """
        return self._outputs(X, lambda loss, z: loss.concentration(z))

    def get_feature_names_out(self, input_features=None):
        """Names of the ``n_dims_`` embedding axes (the columns of :meth:`transform`).

        Parameters
        ----------
        input_features : array-like of str, default=None
            Ignored (the output names do not depend on the input's); for the
            scikit-learn API.

        Returns
        -------
        ndarray of str objects, shape (n_dims_,)
            ``["<estimator>0", "<estimator>1", ...]``, e.g. in a ``Pipeline`` with
            ``set_output(transform="pandas")``.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> clf.get_feature_names_out().tolist()
        ['hypersphericalclassifier0', 'hypersphericalclassifier1']
        """
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_dims_)], dtype=object)

    def _validate_X(self, X):
        """X checked for inference against what the model was fitted on."""
        ndim = getattr(self, "_input_ndim", None)      # None: pickled by an older version
        name = type(self).__name__
        if is_dataset(X):
            shape = tuple(first_samples(X, self._transform(False), 1).shape)
        elif isinstance(X, torch.Tensor):
            X = _check_tensor(name, X)
            shape = tuple(X.shape)
        else:
            X = validate_data(self, X, reset=False, allow_nd=True, dtype=_array_dtype(X))
            X = _check_float32_range(name, X)
            shape = X.shape
        if ndim is not None and len(shape) != ndim:
            raise ValueError(f"X has shape {shape}, but {name} was fitted on {ndim}-d X; "
                             f"pass samples of the same rank as in fit.")
        n_features = int(shape[1]) if len(shape) > 1 else 1
        if n_features != self.n_features_in_:
            raise ValueError(f"X has {n_features} features, but {name} is expecting "
                             f"{self.n_features_in_} features as input.")
        return X, shape

    def _predict_batch_size(self, sample_shape):
        """``predict_batch_size``; "auto": 4096 rows for up to 1024 values per sample,
        fewer for larger samples (2**22 values per batch: 1024 CIFAR images, and
        ``batch_size`` for ImageNet-sized ones), at least ``batch_size``."""
        if self.predict_batch_size != "auto":
            return int(self.predict_batch_size)
        values = max(1, int(np.prod(sample_shape)))
        rows = 1 << max(0, (2**22 // values).bit_length() - 1)
        return int(max(self.batch_size, min(4096, rows)))


def _array_dtype(X):
    """uint8 images stay uint8 (scaled per batch); other arrays become floats."""
    return None if is_image_uint8(X) else [np.float32, np.float64]


def _check_float32_range(owner, X):
    """float64 X whose values float32 (the network's type) cannot hold is refused: the
    cast would turn them into inf and train a NaN model."""
    if X.dtype == np.float64 and X.size:
        largest = max(float(X.max()), -float(X.min()))     # no |X| copy of the data
        if largest > float(np.finfo(np.float32).max):
            raise ValueError(f"X holds values up to {largest:.3g}, beyond float32 "
                             f"(max {np.finfo(np.float32).max:.3g}), the type {owner} "
                             f"computes in; rescale X (e.g. StandardScaler).")
    return X


def _check_tensor(owner, X):
    """A tensor X as the network can read it, on its own device."""
    if X.dtype in (torch.bool, torch.complex64, torch.complex128) or X.is_complex():
        raise ValueError(f"{owner} needs a real-valued X tensor; got dtype {X.dtype}.")
    if X.dim() < 2:
        raise ValueError(f"Expected a 2-d or higher X tensor (n_samples, ...); got shape "
                         f"{tuple(X.shape)}. Reshape it, e.g. X.reshape(-1, 1).")
    if len(X) < 1:
        raise ValueError(f"Found a tensor with 0 samples (shape={tuple(X.shape)}), while "
                         f"a minimum of 1 is required by {owner}.")
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise ValueError(f"The X tensor passed to {owner} contains NaN or infinity.")
    return X.detach()


def _check_y(y, multi_output, y_numeric):
    """y of a tensor or Dataset input, checked as ``validate_data`` checks it."""
    if y is None:
        raise ValueError("y is required when X is an array or tensor (it may be None only "
                         "for a torch Dataset of (x, y) items).")
    if multi_output:
        return check_array(y, ensure_2d=False, dtype=np.float64 if y_numeric else None,
                           input_name="y")
    y = column_or_1d(y, warn=True)
    if y_numeric and y.dtype.kind == "O":
        y = y.astype(np.float64)
    return y


def _check_version(owner, saved):
    """Warn when a pickle comes from another hsproto version (the estimator and loss
    internals may differ: 0.2 changed how losses hold their prototypes)."""
    if saved != __version__:
        warnings.warn(f"This {owner} was pickled by hsproto {saved or '0.1 or older'} and "
                      f"is loaded by hsproto {__version__}; models are only guaranteed to "
                      f"load in the version that saved them. Refit it, or load it with "
                      f"that version.", UserWarning, stacklevel=3)


def _check_binds(cls, params, what, name, first):
    """A ValueError naming ``what``'s accepted parameters when ``params`` don't bind."""
    params = dict(params or {})
    signature = inspect.signature(cls)
    try:
        signature.bind_partial(**params)
    except TypeError as exc:
        allowed = [p for p in signature.parameters if p != first]
        raise ValueError(f"Invalid {what}_params {sorted(params)} for {what} {name!r}: "
                         f"{exc}; it accepts {allowed or 'none'}.") from exc
    if first in params:
        raise ValueError(f"{what}_params cannot set {first!r}: the estimator passes it.")


def as_float32(X):
    """A float array ``X`` as a C-contiguous float32 array (no copy when it already is
    one); tensors, Datasets and uint8 images are left as they are."""
    if not isinstance(X, np.ndarray) or X.dtype == np.uint8:
        return X
    return np.ascontiguousarray(X, dtype=np.float32)
