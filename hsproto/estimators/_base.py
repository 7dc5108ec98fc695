"""Machinery shared by the hyperspherical estimators (composition around a skorch net)."""

from __future__ import annotations

import contextlib
import copy
import functools
import importlib
import importlib.metadata
import inspect
import numbers
import pickle
import warnings

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, ProgressBar
from skorch.dataset import ValidSplit, unpack_data
from skorch.utils import to_tensor
from torch import nn

from .. import registry
from ..backbones._base import HypersphereNet, infer_out_features
from ..losses._base import PrototypeLoss, unit
from ..prototypes._api import seed_from
from ._loader import ArrayBatches

__all__ = ["HypersphericalBase"]

_PLUGIN_PARAMS = (("module", "hsproto.backbones"), ("loss", "hsproto.losses"),
                  ("prototypes", "hsproto.prototypes"))
_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


@functools.lru_cache(maxsize=1)
def _packages_distributions():
    # scans every installed distribution: once per process (pickling a model in a
    # grid search would otherwise pay it per candidate)
    return importlib.metadata.packages_distributions()


def _distribution_of(module):
    """(distribution, version) that installs ``module``, or (None, None)."""
    top = module.partition(".")[0]
    dists = _packages_distributions().get(top)
    if not dists:                               # installed since the last scan?
        _packages_distributions.cache_clear()
        dists = _packages_distributions().get(top)
    if not dists:
        return None, None
    try:
        return dists[0], importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        return dists[0], None


def _check_requirements(owner, requires):
    """Raise a :class:`~hsproto.registry.PluginError` naming the first plugin in
    ``requires`` that cannot be imported; warn when an installed version differs."""
    for req in requires:
        what = (f"{registry._NOUN[req['group']]} {req['name']!r} ({req['param']}=) from "
                f"distribution {req['distribution']!r} version {req['version']}")
        try:
            importlib.import_module(req["module"])
        except ImportError as exc:
            hint = (f" Install {req['distribution']}=={req['version']} to load it."
                    if req["distribution"] else "")
            raise registry.PluginError(
                f"This {owner} was fitted with the {what}, which cannot be imported here "
                f"({type(exc).__name__}: {exc}).{hint}") from exc
        if req["distribution"] and req["version"]:
            try:
                here = importlib.metadata.version(req["distribution"])
            except importlib.metadata.PackageNotFoundError:
                continue
            if here != req["version"]:
                warnings.warn(f"This {owner} was fitted with the {what}; version {here} is "
                              f"installed here.", registry.PluginWarning, stacklevel=3)


class _Net(NeuralNet):
    """skorch net whose loss is a per-sample loss, weighted by ``X["sample_weight"]``,
    with optional batch mixing (``mixer``: MixUp/CutMix into soft targets)."""

    def __init__(self, *args, mixer=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.mixer = mixer

    def get_loss(self, y_pred, y_true, X=None, training=False):
        per_sample = self.criterion_(y_pred, to_tensor(y_true, device=self.device))
        if isinstance(X, dict) and "sample_weight" in X:
            weight = to_tensor(X["sample_weight"], device=self.device)
            return (per_sample * weight).mean()
        return per_sample.mean()

    def train_step_single(self, batch, **fit_params):
        # skorch calls module.train() on every batch, a recursive walk over all submodules;
        # here only when something left training mode (a validation pass, a callback).
        if not (self.module_.training and self.criterion_.training):
            self._set_training(True)
        Xi, yi = unpack_data(batch)
        if self.mixer is not None:
            Xi, yi = to_tensor(Xi, device=self.device), to_tensor(yi, device=self.device)
            if isinstance(Xi, dict):
                x, yi, weight = self.mixer(Xi["X"], yi, Xi.get("sample_weight"))
                Xi = {"X": x} if weight is None else {"X": x, "sample_weight": weight}
            else:
                Xi, yi, _ = self.mixer(Xi, yi)
        y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        loss.backward()
        return {"loss": loss, "y_pred": y_pred}


class _LossEpoch(Callback):
    """Tells the loss the epoch number (``set_epoch``), e.g. for a margin warm-up."""

    def on_epoch_begin(self, net, **kwargs):
        net.criterion_.loss.set_epoch(len(net.history) - 1)


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


def encode_labels(owner, labels):
    """Check class labels and fit a ``LabelEncoder`` on them (>= 2 classes, one type)."""
    labels = np.asarray(labels)
    if labels.dtype == object:
        text = [v for v in labels.ravel() if isinstance(v, str)]
        other = [v for v in labels.ravel() if not isinstance(v, str)]
        if text and other:
            raise ValueError(f"{owner} class labels mix strings and numbers (e.g. "
                             f"{text[0]!r} and {other[0]!r}); use one label type.")
    check_classification_targets(labels)
    encoder = LabelEncoder().fit(labels)
    if len(encoder.classes_) < 2:
        raise ValueError(f"{owner} needs samples of at least 2 classes; got 1 class: "
                         f"{encoder.classes_.tolist()}.")
    return encoder


def prepare_sample_weight(sample_weight, X, factor=None):
    """Validated sample weights times ``factor`` (e.g. class weights), scaled to mean 1 so
    the loss scale does not depend on them; None when neither is given."""
    weight = None
    if sample_weight is not None:
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
    if factor is not None:
        weight = factor if weight is None else weight * factor
    if weight is None:
        return None
    if np.any(weight < 0):
        raise ValueError("sample_weight must be non-negative.")
    if weight.mean() <= 0:
        raise ValueError("sample_weight sums to zero; at least one sample needs weight.")
    return (weight / weight.mean()).astype(np.float32)


def scale_targets(values):
    """Targets (n, T) -> (r in [-1, 1], low, high): HPN Eq. 7's bounds from the data."""
    low, high = values.min(axis=0), values.max(axis=0)
    return 2.0 * (values - low) / _span(low, high) - 1.0, low, high


def unscale_targets(cos, low, high):
    """Cosines to the upper poles -> targets: ``v_l + (cos + 1) / 2 (v_u - v_l)``."""
    return low + (cos + 1.0) / 2.0 * _span(low, high)


def _span(low, high):
    """``high - low``, with 1 for constant targets (predictions then stay constant)."""
    span = high - low
    return np.where(span > 0, span, 1.0)


def resolve_device(device):
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be 'cpu', 'cuda', 'auto' or a torch.device, got "
                         f"{device!r}.")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"Invalid device {device!r}: {exc}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available; use "
                         f"device='cpu' or 'auto'.")
    return device


class HypersphericalBase(TransformerMixin, BaseEstimator):
    """Common parameters and the fit/transform machinery; see the estimators' docs."""

    _task = None

    def __init__(self, module="mlp", *, module_params=None, n_dims=None, prototypes="auto",
                 prototype_params=None, loss="hpn", loss_params=None, max_epochs=100,
                 batch_size=128, lr=1e-3, optimizer="adam", weight_decay=0.0,
                 early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, device="cpu",
                 random_state=None, verbose=0, callbacks=None):
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

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        # The state is pickled into bytes next to the list of third-party plugins it
        # needs, so that loading where a plugin is missing names the plugin and its
        # distribution instead of failing deep inside pickle.
        state = super().__getstate__()
        requires = state.get("plugins_")
        if requires is None:
            requires = self._plugins_used(names=False)
        return {"_hsproto_requires": requires,
                "_hsproto_state": pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)}

    def __setstate__(self, state):
        if "_hsproto_state" in state:
            _check_requirements(type(self).__name__, state["_hsproto_requires"])
            state = pickle.loads(state["_hsproto_state"])
        super().__setstate__(state)

    def _plugins_used(self, names=True):
        """The third-party code a fitted model needs to be loaded: plugins selected by
        name from a distribution other than hsproto (``names=True``) and classes or
        instances from outside hsproto given as ``module``, ``loss`` or ``prototypes``."""
        used = []
        for param, group in _PLUGIN_PARAMS:
            value = getattr(self, param, None)
            if isinstance(value, str):
                if not names:
                    continue
                info = registry.describe(group, value)
                if info.distribution.lower() == "hsproto":
                    continue
                used.append({"param": param, "group": group, "name": info.name,
                             "distribution": info.distribution, "version": info.version,
                             "module": info.value.partition(":")[0]})
            elif value is not None and not isinstance(value, np.ndarray):
                cls = value if inspect.isclass(value) else type(value)
                if cls.__module__.partition(".")[0] == "hsproto":
                    continue
                dist, version = _distribution_of(cls.__module__)
                used.append({"param": param, "group": group, "name": cls.__qualname__,
                             "distribution": dist, "version": version,
                             "module": cls.__module__})
        return used

    # ---------------------------------------------------------------- hooks
    def _validate_fit(self, X, y, sample_weight):
        """Return ``(X float32, encoded target, sample weights or None, state)``, where
        ``state`` holds the target-related fitted attributes set after a successful fit."""
        raise NotImplementedError

    def _layout(self, n_dims, seed, state):
        """Return (prototypes or None, poles or None)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- fit
    def fit(self, X, y, sample_weight=None):
        """Fit the network to map X onto the prototypes of y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, C, H, W)
        y : array-like, see the estimator
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
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
        self._check_params()
        loss_class = self._loss_class()          # before any expensive placement
        X, target, weight, state = self._validate_fit(X, y, sample_weight)
        device = resolve_device(self.device)
        seed = seed_from(self.random_state)
        n_dims = self._resolve_n_dims(state)
        prototypes, poles = self._layout(n_dims, seed, state)
        fit_X = X if weight is None else {"X": X, "sample_weight": weight}
        with _seeded(seed, device):
            # the loss may hold randomly initialised parameters (softmax's classifier)
            loss = self._make_loss(loss_class, prototypes, poles, n_dims, state)
            net = self._make_net(X, target, n_dims, loss, device, seed)
            net.fit(fit_X, target)
        for key, value in state.items():
            setattr(self, key, value)
        self.n_dims_ = n_dims
        self.prototypes_ = self._final_prototypes(net, prototypes)
        self.poles_ = poles
        self.net_ = net
        self.history_ = net.history
        self.plugins_ = self._plugins_used()
        self._n_features_out = n_dims
        self._input_ndim = X.ndim
        return self

    def _check_params(self):
        checks = [("max_epochs", self.max_epochs, 1, True), ("batch_size", self.batch_size, 1,
                  True), ("n_iter_no_change", self.n_iter_no_change, 1, True)]
        for name, value, low, integer in checks:
            kind = numbers.Integral if integer else numbers.Real
            if isinstance(value, bool) or not isinstance(value, kind) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        for name, value in (("lr", self.lr), ("weight_decay", self.weight_decay)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
                    np.isfinite(value) and value >= 0) or (name == "lr" and value == 0):
                raise ValueError(f"{name} must be a finite number {'>' if name == 'lr' else '>='}"
                                 f" 0, got {value!r}.")
        if not (isinstance(self.validation_fraction, numbers.Real)
                and 0 < self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in (0, 1), got "
                             f"{self.validation_fraction!r}.")
        if self.n_dims is not None and (isinstance(self.n_dims, bool) or not isinstance(
                self.n_dims, numbers.Integral) or self.n_dims < 1):
            raise ValueError(f"n_dims must be None or an integer >= 1, got {self.n_dims!r}.")

    def _resolve_n_dims(self, state):
        return int(self.n_dims) if self.n_dims is not None else self._default_n_dims(state)

    def _loss_class(self):
        """The loss class, checked to support this estimator's task(s)."""
        cls = registry.get("hsproto.losses", self.loss) if isinstance(self.loss, str) \
            else self.loss
        if not (inspect.isclass(cls) and issubclass(cls, PrototypeLoss)):
            raise ValueError(f"loss must be a registered name or a PrototypeLoss subclass, "
                             f"got {self.loss!r}.")
        task = "classification" if self._task == "joint" else self._task
        needed = {"classification", "regression"} if self._task == "joint" else {task}
        missing = needed - set(cls.tasks)
        if missing:
            raise ValueError(f"loss {self.loss!r} does not support {sorted(missing)}; it "
                             f"supports {list(cls.tasks)}.")
        return cls

    def _make_loss(self, loss_class, prototypes, poles, n_dims, state):
        strategy = self.prototypes if isinstance(self.prototypes, str) else getattr(
            self.prototypes, "name", None)
        if strategy == "auto" and prototypes is not None:
            from ..prototypes.auto import choose

            strategy = choose(len(prototypes), n_dims - (0 if poles is None else len(poles)))
        params = dict(self.loss_params or {})
        try:
            return loss_class(prototypes=prototypes, poles=poles, strategy=strategy, **params)
        except TypeError as exc:
            raise ValueError(f"Cannot build loss {self.loss!r} with loss_params "
                             f"{sorted(params)}: {exc}") from exc

    def _final_prototypes(self, net, prototypes):
        """The class directions after training: the placed ones, permuted by a dynamic
        assignment, or the learned ones of a loss that learns them."""
        loss = net.criterion_.loss
        if prototypes is None:
            return None
        if not loss.fixed_prototypes:
            return loss.current_prototypes().detach().cpu().double().numpy()
        for _, cb in net.callbacks_:
            if hasattr(cb, "assignment_"):
                return prototypes[cb.assignment_]
        return prototypes

    def _make_backbone(self, X):
        params = dict(self.module_params or {})
        module = self.module
        if isinstance(module, str):
            module = registry.get("hsproto.backbones", module)
        if isinstance(module, nn.Module):
            if params:
                raise ValueError("module_params cannot be used with a module instance.")
            return copy.deepcopy(module)
        if inspect.isclass(module) and issubclass(module, nn.Module):
            takes_shape = "input_shape" in inspect.signature(module).parameters
            if takes_shape:
                params["input_shape"] = X.shape[1:]
            try:
                return module(**params)
            except TypeError as exc:
                raise ValueError(f"Cannot build module {module.__name__} with module_params "
                                 f"{sorted(params)}: {exc}") from exc
        raise ValueError(f"module must be a registered backbone name, a torch.nn.Module "
                         f"class or instance, got {self.module!r}.")

    def _can_stratify(self, target):
        """Stratify the validation split when every class fits in it twice over."""
        n_valid = int(np.ceil(self.validation_fraction * len(target)))
        if len(target) - n_valid < 1 or n_valid < 1:
            raise ValueError(f"early_stopping needs at least 2 samples to hold out "
                             f"validation_fraction={self.validation_fraction}; got "
                             f"n_samples={len(target)}.")
        if self._task != "classification":
            return False
        counts = np.bincount(target)
        return n_valid >= len(counts) and counts.min() >= 2

    def _make_net(self, X, target, n_dims, loss, device, seed):
        backbone = self._make_backbone(X)
        in_features = infer_out_features(backbone, torch.as_tensor(X[:2]))
        optimizer = self.optimizer
        if isinstance(optimizer, str):
            if optimizer not in _OPTIMIZERS:
                raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)} or a "
                                 f"torch.optim.Optimizer class, got {optimizer!r}.")
            extra = {"optimizer__momentum": 0.9} if optimizer == "sgd" else {}
            optimizer = _OPTIMIZERS[optimizer]
        elif inspect.isclass(optimizer) and issubclass(optimizer, torch.optim.Optimizer):
            extra = {}
        else:
            raise ValueError(f"optimizer must be a name or a torch.optim.Optimizer class, got "
                             f"{optimizer!r}.")
        callbacks = self._callbacks()
        if not self.verbose:
            # skorch's PrintLog formats a table every epoch even when it prints nothing
            extra["callbacks__print_log"] = None
        factor = getattr(loss, "param_lr_factor", 1.0)
        if factor != 1.0 and any(p.requires_grad for p in loss.parameters()):
            # the loss's own parameters (temperature, concentrations) get their own lr
            extra["optimizer__param_groups"] = [("loss.*", {"lr": self.lr * factor})]
        train_split = None
        if self.early_stopping:
            train_split = ValidSplit(self.validation_fraction,
                                     stratified=self._can_stratify(target),
                                     random_state=seed % 2**31)
        else:
            extra["callbacks__valid_loss"] = None     # no validation data to score
        # Classes plus ``module__*`` / ``criterion__*`` arguments (not instances): skorch
        # pickles those through its device mapping, so a model fitted on a GPU loads on a
        # CPU-only machine.
        return _Net(HypersphereNet, module__backbone=backbone,
                    module__in_features=in_features, module__n_dims=n_dims,
                    criterion=_Criterion, criterion__loss=loss, criterion__task=self._task,
                    optimizer=optimizer, lr=self.lr,
                    optimizer__weight_decay=self.weight_decay, max_epochs=self.max_epochs,
                    batch_size=self.batch_size, train_split=train_split, callbacks=callbacks,
                    iterator_train=ArrayBatches, iterator_valid=ArrayBatches,
                    iterator_train__shuffle=True, verbose=int(self.verbose), device=device,
                    predict_nonlinearity=None, mixer=self._make_mixer(X, target), **extra)

    def _make_mixer(self, X, target):
        return None

    def _callbacks(self):
        out = [("loss_epoch", _LossEpoch())]
        for i, cb in enumerate(self.callbacks or []):
            name, cb = cb if isinstance(cb, tuple) else (f"user_{i}", cb)
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks must be skorch Callback instances, got {cb!r}.")
            out.append((name, copy.deepcopy(cb)))
        if self.early_stopping:
            out.append(("early_stopping", EarlyStopping(patience=self.n_iter_no_change,
                                                        load_best=True)))
        if self.verbose and int(self.verbose) >= 2:
            out.append(("progress_bar", ProgressBar()))
        return out

    # ---------------------------------------------------------------- inference
    def _raw(self, X):
        """The network's raw output (n, D) on CPU (the data loader's seed draw is kept
        off the caller's global RNG)."""
        with torch.random.fork_rng(devices=[]):
            return self.net_.forward(X, training=False, device="cpu").detach()

    def _loss_output(self, method, X):
        """``loss.<method>(raw output)`` as a float64 array (None stays None)."""
        loss = self.net_.criterion_.loss
        device = next(iter(loss.buffers())).device
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            out = getattr(loss, method)(self._raw(X).to(device))
        return None if out is None else out.detach().cpu().double().numpy()

    def transform(self, X):
        """Unit-norm embeddings on the hypersphere, shape (n_samples, n_dims_)."""
        check_is_fitted(self)
        return unit(self._raw(self._validate_X(X))).double().numpy()

    def embedding_norm(self, X):
        """A per-sample confidence score: the norm of the network output before it is
        projected onto the sphere; for ``loss="vmf"`` the concentration kappa of the
        embedding's vMF distribution (seed 003: low values flag ambiguous inputs)."""
        check_is_fitted(self)
        return self._loss_output("concentration", self._validate_X(X))

    def get_feature_names_out(self, input_features=None):
        """``["<estimator>0", "<estimator>1", ...]`` for the ``n_dims_`` embedding axes."""
        check_is_fitted(self)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_dims_)], dtype=object)

    def _validate_X(self, X):
        from sklearn.utils.validation import validate_data

        X = validate_data(self, X, reset=False, allow_nd=True, dtype=[np.float32, np.float64])
        ndim = getattr(self, "_input_ndim", None)      # None: pickled by an older version
        if ndim is not None and X.ndim != ndim:
            raise ValueError(f"X has shape {X.shape}, but {type(self).__name__} was fitted on "
                             f"{ndim}-d X; pass samples of the same rank as in fit.")
        return np.array(X, dtype=np.float32, order="C")


@contextlib.contextmanager
def _seeded(seed, device):
    """Seed torch inside a forked RNG state, leaving the caller's global RNG untouched."""
    devices = [torch.cuda.current_device()] if str(device).startswith("cuda") else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
