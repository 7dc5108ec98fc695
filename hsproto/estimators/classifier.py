"""``HypersphericalClassifier``: classes as fixed prototypes on the hypersphere."""

from __future__ import annotations

import warnings
from typing import ClassVar

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_is_fitted

from .._validation import Interval, Options, Type
from ..assignment import DynamicAssignment
from ..data import take
from ..losses import PrototypeLoss
from ..losses._base import unit
from ..losses.vmf import VMFLoss
from ..mixing import MIXING, Mixer
from ..prototypes import make_layout
from ._base import HypersphericalBase, as_float32
from ._targets import check_label_types, encode_labels, prepare_sample_weight

__all__ = ["HypersphericalClassifier"]

_DEFAULT_PROBA_SCALE = 10.0


class HypersphericalClassifier(ClassifierMixin, HypersphericalBase):
    """Classifier with fixed class prototypes on the unit hypersphere (HPN).

    Each class gets a prototype placed before training (``prototypes``, maximally
    separated by default); a network (``module`` + a linear head normalised onto the
    sphere) is trained to map inputs onto their class prototype (``loss``, HPN's squared
    cosine by default). Prediction is the class of the most similar prototype.

    Parameters
    ----------
    module : str, torch.nn.Module class or instance, default="mlp"
        Backbone: a registered name (``"mlp"`` for (n, features) input, ``"cnn"`` for
        (n, C, H, W) images), a module class (built with ``module_params``, plus
        ``input_shape`` if it takes one) or an instance (deep-copied at fit). hsproto
        adds the head that maps to ``n_dims`` and normalises.
    module_params : dict, default=None
        Keyword arguments of the backbone, e.g. ``{"hidden_layer_sizes": (256,)}``.
    n_dims : int, default=None
        Output dimension D; None uses ``max(2, n_classes - 1)`` (room for the simplex).
    prototypes : str or PrototypeStrategy, default="auto"
        Prototype strategy (see ``hsproto.make_prototypes``).
    prototype_params : dict, default=None
        Parameters of the strategy (e.g. ``class_embeddings``).
    loss : str or PrototypeLoss class, default="cosine"
        The default, ``"cosine"``, ranked best of the losses on the cross-dataset suite
        (docs/defaults.md); its learned temperature is bounded below (``min_scale``), so
        it also trains with SGD at the papers' learning rates. For many thousands of
        classes prefer ``"hpn"``: its cost per batch does not grow with the number of
        classes (docs/scaling.md). A registered loss: ``"hpn"`` (squared cosine, HPN),
        ``"mce"`` (cross-entropy over the cosines, HMPN), ``"cosine"`` (normalised
        softmax, learned temperature), ``"arcface"`` (angular margin; the polytope's
        neighbour angle for simplex, orthoplex and cube prototypes), ``"vmf"`` (von
        Mises-Fisher, Monte-Carlo probabilities) or ``"softmax"`` (a learned linear
        classifier: the baseline).
    loss_params : dict, default=None
        Keyword arguments of the loss, e.g. ``{"margin": 0.3, "warmup_epochs": 5}``.
    max_epochs : int, default=200
        With the default cosine-annealed learning rate, 200 epochs beat 100 on the
        cross-dataset suite (docs/defaults.md).
    batch_size : int, default=128
    lr : float, default=1e-3
    optimizer : {"adam", "adamw", "sgd"} or torch optimizer class, default="adam"
        "sgd" uses momentum 0.9.
    weight_decay : float, default=0.0
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified) and stop when the validation loss
        has not improved for ``n_iter_no_change`` epochs, restoring the best weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    device : {"cpu", "cuda", "auto"} or torch.device, default="cpu"
    random_state : int, RandomState or None, default=None
        Seeds prototypes, initialisation and shuffling, without touching the global
        torch RNG.
    verbose : int, default=0
        1 prints skorch's epoch table; 2 adds a per-batch progress bar.
    callbacks : list of skorch callbacks or (name, callback), default=None
    class_weight : None, "balanced" or dict, default=None
        Weights samples by class (inverse frequency for "balanced").
    logit_adjustment : float, default=None
        Logit-adjusted training for imbalanced classes (Menon et al., 2021, "Long-tail
        learning via logit adjustment"): ``logit_adjustment * log(prior_k)`` (the
        training class frequencies) is added to the training logits, so that the
        network's plain logits at prediction target balanced accuracy; 1.0 is the
        paper's choice. For losses trained by cross-entropy over logits (``mce``,
        ``cosine``, ``arcface``, ``softmax``); use it instead of, not with,
        ``class_weight="balanced"``. With ``mixing="mixup"`` and the default loss it is
        the best long-tail recipe measured (docs/defaults.md); ``logit_adjustment=2``
        with MixUp over-predicted the rare classes there.
    proba_scale : float or "auto", default=10.0
        For losses without a probability model of their own (``hpn``, ``mce``),
        ``predict_proba`` is ``softmax(proba_scale * cos(z, p_k))``: cosines lie in
        [-1, 1], so the scale sets how peaked probabilities are. ``cosine``, ``arcface``
        use their learned/fixed scale, ``vmf`` its Monte-Carlo posterior and ``softmax``
        its logits. "auto" calibrates (temperature scaling, Guo et al. 2017): a
        stratified ``validation_fraction`` of the training data is held out (the
        network trains on the rest), and ``proba_scale_``, the factor of the logits
        (the cosines for ``hpn``/``mce``, the loss's logits otherwise) that minimises
        the held-out negative log-likelihood, is fitted after training. Also possible:
        ``CalibratedClassifierCV(clf, method="temperature")``.
    assignment : {"static", "dynamic"}, default="static"
        "dynamic": re-assign classes to the fixed prototypes during training by a linear
        assignment on momentum class means (seed 001; helps most when n_dims << K).
        The per-epoch cost is in ``history_`` (``assignment_cost``).
    assignment_params : dict, default=None
        ``{"interval": epochs between assignments (1), "momentum": 0.9}``.
    mixing : {None, "mixup", "cutmix", "both"}, default=None
        Mix training batches (torchvision MixUp/CutMix; "both" picks one per batch) into
        soft labels that the loss receives (HMPN, seed 002). CutMix needs image input.
    mixing_alpha : float, default=1.0
        Beta(alpha, alpha) parameter of the mixing coefficient.
    predict_batch_size : int or "auto", default="auto"
        Rows per forward pass at inference (``predict``, ``predict_proba``,
        ``decision_function``, ``transform``, ``embedding_norm``): each call runs the
        network once over X in batches of this size on the net's device. "auto" takes
        4096 rows for samples of up to 1024 values (tabular data, small images) and
        fewer for larger samples (about 2**22 input values per batch: 1024 for CIFAR,
        ``batch_size`` for ImageNet-sized images), never fewer than ``batch_size``.
        Lower it when one batch's activations do not fit in memory.
    augment : callable, default=None
        A per-sample transform applied at training time only, e.g. torchvision's
        ``v2.Compose([v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()])``. It
        receives each sample as stored (a uint8 or float tensor, or a Dataset's PIL
        image) before the float conversion; it must keep the sample shape. Batch mixing
        (``mixing``) applies after it.
    preprocess : callable, default=None
        A per-sample transform applied at training and inference after the float
        conversion (uint8 scaled to [0, 1]), e.g. ``v2.Normalize(mean, std)``.
    num_workers : int, default=0
        ``DataLoader`` worker processes that read and transform the samples (a Dataset
        X, or arrays with augmentation); memory is pinned on CUDA.
    lr_schedule : {None, "cosine", "step", "onecycle"} or torch scheduler class, default="cosine"
        "step" divides the learning rate by 10 (``gamma``) at ``milestones`` (absolute
        epochs; default 40 % and 80 % of ``max_epochs``, HPN's 100 and 200 of 250);
        "cosine" anneals to ``eta_min``; "onecycle" steps per batch. A class (e.g.
        ``torch.optim.lr_scheduler.ExponentialLR``) is built with
        ``lr_schedule_params``. The learning rate of each epoch is ``history_[:, "lr"]``.
    lr_schedule_params : dict, default=None
    warmup_epochs : int, default=0
        Epochs of linear warm-up (from ``lr / (warmup_epochs + 1)``) before the schedule.
    momentum : float, default=None
        SGD momentum (None: 0.9 for ``optimizer="sgd"``); refused by optimizers that
        take none (Adam uses betas).
    nesterov : bool, default=False
    backbone_lr : float, default=None
        A learning rate of its own for the backbone (e.g. lower when fine-tuning a
        pretrained network); the head and the loss use ``lr``.
    precision : {"32", "bf16", "16-mixed"}, default="32"
        The forward pass under ``torch.autocast`` in bfloat16 (CPU or CUDA) or float16
        (CUDA only, with a gradient scaler); weights and the loss stay in float32.
    compile : bool or dict, default=False
        ``torch.compile`` the network through skorch (a dict: its arguments, e.g.
        ``{"mode": "max-autotune"}``).
    accelerator : accelerate.Accelerator, default=None
        Train through Hugging Face Accelerate (``pip install "hsproto[accelerate]"``):
        the same script runs on one device or data-parallel (DDP) on every process of
        ``accelerate launch``, where each process takes ``batch_size`` samples of every
        step (a step sees ``num_processes * batch_size``). Mixed precision is the
        accelerator's (``precision`` must stay "32") and so is the device (``device``
        is ignored, and an error when it names another kind of device). Only the main
        process prints and writes (``save``); every process ends with the same model
        and predicts on its own. Not pickled or saved: a loaded model has None. See the
        "Scaling out" page.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    prototypes_ : ndarray of shape (n_classes, ``n_dims_``)
        Row i is the prototype of ``classes_[i]`` (after any dynamic assignment; the
        learned directions for ``softmax``).
    layout_ : hsproto.Layout
        The output space as trained: placed prototypes, the strategy that placed them
        (``auto`` resolved), its neighbour angle, the final ``assignment``.
    proba_scale_ : float
        With ``proba_scale="auto"``: the fitted factor of the logits.
    n_dims_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Defined only when X has string feature names.
    net_ : skorch.NeuralNet
    history_ : skorch.History
    plugins_ : list of dict
        Third-party plugins (and classes from outside hsproto) the model needs to be
        unpickled: ``param``, ``group``, ``name``, ``distribution``, ``version``,
        ``module``. Loading where one is missing raises ``hsproto.PluginError`` naming it.

    Notes
    -----
    ``X`` may be a numpy array or DataFrame, a torch tensor (CPU or CUDA: it stays on its
    device), a torch ``Dataset`` of ``(x, y)`` items (``y=None``; e.g. torchvision's
    ``ImageFolder``), or uint8 images (n, C, H, W), scaled to [0, 1] per batch.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from hsproto import HypersphericalClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = HypersphericalClassifier(random_state=0).fit(X, y)
    >>> clf.prototypes_.shape
    (3, 2)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _task = "classification"
    _parameter_constraints: ClassVar[dict] = {
        **HypersphericalBase._parameter_constraints,
        "class_weight": [Options(None, "balanced"), Type(dict, describe="a dict")],
        "logit_adjustment": [Options(None), Interval(float, 0, None, closed="left")],
        "proba_scale": [Interval(float, 0, None, closed="neither"), Options("auto")],
        "assignment": [Options("static", "dynamic")],
        "assignment_params": [Options(None), Type(dict, describe="a dict")],
        "mixing": [Options(*MIXING)],
        "mixing_alpha": [Interval(float, 0, None, closed="neither")],
    }

    def __init__(self, module="mlp", *, module_params=None, n_dims=None, prototypes="auto",
                 prototype_params=None, loss="cosine", loss_params=None, max_epochs=200,
                 batch_size=128, lr=1e-3, optimizer="adam", weight_decay=0.0,
                 early_stopping=False, validation_fraction=0.1, n_iter_no_change=10,
                 device="cpu", random_state=None, verbose=0, callbacks=None,
                 class_weight=None, logit_adjustment=None, proba_scale=10.0,
                 assignment="static",
                 assignment_params=None, mixing=None, mixing_alpha=1.0,
                 predict_batch_size="auto", augment=None, preprocess=None, num_workers=0,
                 lr_schedule="cosine", lr_schedule_params=None, warmup_epochs=0,
                 momentum=None,
                 nesterov=False, backbone_lr=None, precision="32", compile=False,
                 accelerator=None):
        super().__init__(module, module_params=module_params, n_dims=n_dims,
                         prototypes=prototypes, prototype_params=prototype_params, loss=loss,
                         loss_params=loss_params, max_epochs=max_epochs,
                         batch_size=batch_size, lr=lr,
                         optimizer=optimizer, weight_decay=weight_decay,
                         early_stopping=early_stopping,
                         validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, device=device,
                         random_state=random_state, verbose=verbose, callbacks=callbacks,
                         predict_batch_size=predict_batch_size, augment=augment,
                         preprocess=preprocess, num_workers=num_workers,
                         lr_schedule=lr_schedule, lr_schedule_params=lr_schedule_params,
                         warmup_epochs=warmup_epochs, momentum=momentum, nesterov=nesterov,
                         backbone_lr=backbone_lr, precision=precision, compile=compile,
                         accelerator=accelerator)
        self.class_weight = class_weight
        self.logit_adjustment = logit_adjustment
        self.proba_scale = proba_scale
        self.assignment = assignment
        self.assignment_params = assignment_params
        self.mixing = mixing
        self.mixing_alpha = mixing_alpha

    def _validate_fit(self, X, y, sample_weight):
        check_label_types(type(self).__name__, y)
        X, y = self._fit_inputs(X, y)
        encoder = encode_labels(type(self).__name__, y)
        codes = encoder.transform(y)
        if isinstance(self.class_weight, dict):
            unknown = [k for k in self.class_weight if k not in set(encoder.classes_)]
            if unknown:
                warnings.warn(f"class_weight has keys {unknown} that are not labels of y "
                              f"(labels: {encoder.classes_.tolist()}); they are ignored.",
                              UserWarning, stacklevel=3)
        factor = (None if self.class_weight is None
                  else compute_sample_weight(self.class_weight, y))
        weight = prepare_sample_weight(sample_weight, X, factor)
        state = {"classes_": encoder.classes_}
        counts = np.bincount(codes, minlength=len(encoder.classes_))
        self._class_prior = counts / counts.sum()
        return as_float32(X), codes.astype(np.int64), weight, state

    def _default_n_dims(self, state):
        return max(2, len(state["classes_"]) - 1)

    def _hold_out(self, X, target, weight, seed):
        if self.proba_scale != "auto":
            return X, target, weight, None
        n_held = int(np.ceil(self.validation_fraction * len(target)))
        if not 1 <= n_held < len(target):
            raise ValueError(f"proba_scale='auto' holds out validation_fraction="
                             f"{self.validation_fraction} of the {len(target)} training "
                             f"samples to calibrate on; that leaves none to train on or "
                             f"to calibrate with.")
        train, held = train_test_split(
            np.arange(len(target)), test_size=n_held, random_state=seed % 2**31,
            stratify=target if self._can_stratify(target) else None)
        train, held = np.sort(train), np.sort(held)

        def part(rows):
            return (take(X, rows), target[rows], None if weight is None else weight[rows])
        self.proba_scale_ = 1.0         # until calibrated (callbacks may predict)
        return (*part(train), part(held))

    def _fit_held_out(self, X, target, weight):
        shape = (len(target), *self._input_shape)
        self.proba_scale_ = 1.0
        logits = self._checked_outputs(X, shape, self._class_logits)
        own = type(self.net_.criterion_.loss).class_logits is not PrototypeLoss.class_logits
        prior = 1.0 if own else _DEFAULT_PROBA_SCALE
        self.proba_scale_ = fit_logit_scale(logits, target, weight, prior=prior)

    def _stub_target(self):
        return np.arange(len(self.classes_), dtype=np.int64)

    def _check_fit_sizes(self, sample_shape, target, n_dims, state, strategy):
        super()._check_fit_sizes(sample_shape, target, n_dims, state, strategy)
        strategy.check_support(len(state["classes_"]), n_dims)
        if self.mixing is not None:
            Mixer.check(self.mixing, 1 + len(sample_shape))

    def _place(self, n_dims, seed, state):
        return make_layout(n_dims, n_classes=len(state["classes_"]), strategy=self.prototypes,
                           random_state=seed, **(self.prototype_params or {}))

    def _make_mixer(self, sample_shape, target):
        if self.mixing is None:
            return None
        return Mixer(self.mixing, self.mixing_alpha, int(target.max()) + 1,
                     1 + len(sample_shape))

    def _check_data_parallel(self, n_processes):
        if n_processes > 1 and self.assignment == "dynamic":
            raise ValueError(f"assignment='dynamic' cannot train on {n_processes} "
                             f"processes: each would assign the prototypes from the class "
                             f"means of its own part of the data. Use assignment='static' "
                             f"or one process.")

    def _extra_callbacks(self):
        if self.assignment != "dynamic":
            return []
        return [("assignment", _assignment(self.assignment_params))]

    def _check_loss(self, loss):
        if self.logit_adjustment is not None:
            if not loss.logit_adjustable:
                raise ValueError(f"logit_adjustment needs a loss trained by cross-entropy "
                                 f"over logits ('mce', 'cosine', 'arcface', 'softmax'); "
                                 f"loss {self.loss!r} has none.")
            loss.set_logit_offset(self.logit_adjustment * np.log(self._class_prior))
        if self.assignment == "dynamic" and not loss.fixed_prototypes:
            raise ValueError(f"assignment='dynamic' needs fixed prototypes; loss "
                             f"{self.loss!r} learns its class directions.")

    def _resolve_plugins(self):
        parts = super()._resolve_plugins()
        if self.assignment == "dynamic":
            _assignment(self.assignment_params)        # parameters checked up front
        return parts

    def _class_logits(self, loss, z):
        """The logits behind ``predict_proba`` (n, K): the loss's own (``cosine``,
        ``arcface``, ``softmax``; ``vmf``: the expected logits) or ``proba_scale`` times
        the class scores (``hpn``, ``mce``); with ``proba_scale="auto"``, times the
        fitted ``proba_scale_``."""
        logits = loss.class_logits(z)
        if self.proba_scale == "auto":
            base = loss.class_scores(z) if logits is None else logits
            return self.proba_scale_ * base
        return self.proba_scale * loss.class_scores(z) if logits is None else logits

    def _proba(self, loss, z):
        proba = None if self.proba_scale == "auto" else loss.class_proba(z)
        if proba is None:
            proba = torch.softmax(self._class_logits(loss, z), dim=1)
        return proba

    def decision_function(self, X):
        """Class scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, n_classes), or (n_samples,) for two classes
            The cosine to each prototype for the prototype losses (``softmax``: the
            logits; ``vmf``: the expected logits of the mean directions); for two
            classes ``score_1 - score_0``. ``predict`` is their argmax.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> clf.decision_function(X[:2]).shape
        (2, 3)
        """
        scores = self._outputs(X, lambda loss, z: loss.class_scores(z))
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns in the order of ``classes_``: the loss's own model where it has one
            (``cosine``, ``arcface``, ``softmax``; ``vmf``: a Monte-Carlo estimate),
            else ``softmax(proba_scale * cos(z, p_k))``. Rows sum to 1 (to float32
            precision, about 1e-7).

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> proba = clf.predict_proba(X[:2])
        >>> proba.shape, bool(np.allclose(proba.sum(axis=1), 1.0))
        ((2, 3), True)
        """
        return self._outputs(X, self._proba)

    def predict(self, X):
        """The class with the highest score.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples,)
            Values of ``classes_``: the argmax of ``decision_function`` (and, except for
            ``vmf``'s sampled probabilities, of ``predict_proba``).

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> clf.predict(X[:2]).shape
        (2,)
        """
        codes = self._outputs(X, lambda loss, z: loss.class_scores(z).argmax(dim=1))
        return self.classes_[codes]

    def score(self, X, y=None, sample_weight=None):
        """Mean accuracy of ``predict`` on X.

        Parameters
        ----------
        X : array-like, tensor or torch Dataset of ``(x, y)`` items
        y : array-like, default=None
            The true labels; None reads them from a Dataset X.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> 0.0 <= clf.score(X, y) <= 1.0
        True
        """
        return super().score(X, self._score_target(X, y), sample_weight)

    def ood_score(self, X, method="max_cosine"):
        """Out-of-distribution (and uncertainty) score per sample: higher = more likely
        out of distribution.

        Every method negates a confidence, so that one rule, ``score > threshold``, flags
        samples whatever the method (see :func:`hsproto.metrics.ood_threshold` to set
        the threshold on held-out in-distribution data, and
        :func:`hsproto.metrics.ood_metrics` to evaluate a method).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), tensor or torch Dataset
        method : {"max_cosine", "energy", "msp", "norm", "kappa"}, default="max_cosine"
            - "max_cosine": minus the largest cosine between the embedding direction and
              the class directions in use (``prototypes_``: the fixed prototypes after
              any dynamic assignment; for ``loss="softmax"`` the learned directions,
              for ``vmf`` the class mean directions).
            - "energy": minus ``logsumexp`` of the logits behind ``predict_proba`` (the
              loss's own logits, or ``proba_scale`` times the cosines for ``hpn`` and
              ``mce``; ``vmf``: the expected logits; see ``proba_scale``).
            - "msp": minus the maximum of ``predict_proba`` (the maximum softmax
              probability baseline; ``vmf``: of its Monte-Carlo estimate).
            - "norm": minus the norm of the network output before it is projected onto
              the sphere.
            - "kappa": minus the vMF concentration kappa of the embedding (seed 003);
              only for ``loss="vmf"``.

        Returns
        -------
        ndarray of shape (n_samples,)
            float64 scores; their scale depends on the method (cosines lie in [-1, 1],
            probabilities in [0, 1], the others are unbounded), so thresholds do not
            carry over between methods or models.

        Raises
        ------
        ValueError
            For an unknown ``method``, or ``method="kappa"`` with a loss other than vmf.
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import HypersphericalClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> clf = HypersphericalClassifier(max_epochs=5, random_state=0).fit(X, y)
        >>> clf.ood_score(X[:4]).shape
        (4,)
        >>> bool((clf.ood_score(X, method="msp") <= 0).all())    # minus a probability
        True
        """
        fn = _ood_function(self, method, logits=self._class_logits, proba=self._proba)
        return self._outputs(X, fn)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


def fit_logit_scale(logits, target, weight=None, prior=1.0, bounds=(1e-2, 1e3)):
    """The factor ``t`` of ``softmax(t * logits)`` fitted to class indices ``target``:
    temperature scaling (Guo et al., 2017, "On Calibration of Modern Neural Networks"),
    ``t = 1/T``.

    The (weighted) negative log-likelihood is minimised with a standard normal prior on
    ``log t`` centred on ``log(prior)`` (a MAP estimate): with many held-out samples
    the prior does not matter; with a few, all classified correctly, the likelihood
    alone would push ``t`` to infinity (probabilities of exactly 0 and 1). The objective
    is convex in ``log t``; a bounded scalar search within ``bounds`` finds it.
    """
    from scipy.optimize import minimize_scalar
    from scipy.special import logsumexp

    logits = np.asarray(logits, dtype=np.float64)
    rows = np.arange(len(target))
    weight = np.ones(len(target)) if weight is None else np.asarray(weight, np.float64)
    weight = weight * (len(weight) / weight.sum())        # total weight: the sample count
    centre = np.log(prior)

    def objective(log_t):
        z = np.exp(log_t) * logits
        total = float(np.sum(weight * (logsumexp(z, axis=1) - z[rows, target])))
        return total + 0.5 * (log_t - centre) ** 2

    found = minimize_scalar(objective, bounds=np.log(bounds), method="bounded",
                            options={"xatol": 1e-4})
    return float(np.exp(found.x))


def _assignment(params):
    try:
        return DynamicAssignment(**(params or {})).initialize()
    except TypeError as exc:
        raise ValueError(f"assignment_params accepts 'interval', 'momentum' and "
                         f"'buffer_size': {exc}") from exc


#: The methods of ``ood_score`` (of the classifier and the joint estimator).
OOD_METHODS = ("max_cosine", "energy", "msp", "norm", "kappa")


def _ood_function(est, method, *, logits, proba, class_part=None):
    """``fn(loss, z)`` giving the ``ood_score`` of ``method`` (n,) for ``est._outputs``:
    ``logits(loss, z)`` and ``proba(loss, z)`` are the estimator's class logits and
    probabilities, ``class_part(loss, z)`` the part of ``z`` compared with the class
    directions ("max_cosine"; None: all of ``z``). Checks the method, that ``est`` is
    fitted and, for "kappa", that its loss is vmf."""
    if not (isinstance(method, str) and method in OOD_METHODS):
        raise ValueError(f"method must be one of {list(OOD_METHODS)}, got {method!r}.")
    check_is_fitted(est)
    if method == "kappa" and not isinstance(est.net_.criterion_.loss, VMFLoss):
        raise ValueError(f"ood_score(method='kappa') needs loss='vmf' (kappa is the "
                         f"concentration of the vMF embedding); this "
                         f"{type(est).__name__} was fitted with loss={est.loss!r}. Use "
                         f"method='norm' for the norm of the network output, or "
                         f"'max_cosine', 'energy' or 'msp'.")
    if method == "kappa":
        return lambda loss, z: -loss.concentration(z)
    if method == "norm":
        return lambda loss, z: -z.norm(dim=1)
    if method == "max_cosine":
        part = class_part or (lambda loss, z: z)
        return lambda loss, z: -(unit(part(loss, z)) @ loss.current_prototypes().T).amax(1)
    if method == "energy":
        return lambda loss, z: -torch.logsumexp(logits(loss, z), dim=1)
    return lambda loss, z: -proba(loss, z).amax(dim=1)
