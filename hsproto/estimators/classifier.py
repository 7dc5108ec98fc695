"""``HypersphericalClassifier``: classes as fixed prototypes on the hypersphere."""

from __future__ import annotations

import numpy as np
from scipy.special import softmax
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ..prototypes import make_prototypes
from ._base import HypersphericalBase, prepare_sample_weight

__all__ = ["HypersphericalClassifier"]


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
    loss : str or PrototypeLoss class, default="hpn"
    max_epochs : int, default=100
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
    proba_scale : float, default=10.0
        ``predict_proba`` is ``softmax(proba_scale * cos(z, p_k))``: cosines lie in
        [-1, 1], so the scale sets how peaked probabilities are. Wrap the estimator in
        ``CalibratedClassifierCV`` for calibrated probabilities.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    prototypes_ : ndarray of shape (n_classes, n_dims_)
        Row i is the prototype of ``classes_[i]``.
    n_dims_ : int
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Defined only when X has string feature names.
    net_ : skorch.NeuralNet
    history_ : skorch.History

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

    def __init__(self, module="mlp", *, module_params=None, n_dims=None, prototypes="auto",
                 prototype_params=None, loss="hpn", max_epochs=100, batch_size=128, lr=1e-3,
                 optimizer="adam", weight_decay=0.0, early_stopping=False,
                 validation_fraction=0.1, n_iter_no_change=10, device="cpu",
                 random_state=None, verbose=0, callbacks=None, class_weight=None,
                 proba_scale=10.0):
        super().__init__(module, module_params=module_params, n_dims=n_dims,
                         prototypes=prototypes, prototype_params=prototype_params, loss=loss,
                         max_epochs=max_epochs, batch_size=batch_size, lr=lr,
                         optimizer=optimizer, weight_decay=weight_decay,
                         early_stopping=early_stopping,
                         validation_fraction=validation_fraction,
                         n_iter_no_change=n_iter_no_change, device=device,
                         random_state=random_state, verbose=verbose, callbacks=callbacks)
        self.class_weight = class_weight
        self.proba_scale = proba_scale

    def _validate_fit(self, X, y, sample_weight):
        X, y = validate_data(self, X, y, allow_nd=True, dtype=[np.float32, np.float64])
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        if len(encoder.classes_) < 2:
            raise ValueError(f"{type(self).__name__} needs samples of at least 2 classes; "
                             f"got 1 class: {encoder.classes_.tolist()}.")
        codes = encoder.transform(y)
        factor = (None if self.class_weight is None
                  else compute_sample_weight(self.class_weight, y))
        weight = prepare_sample_weight(sample_weight, X, factor)
        state = {"classes_": encoder.classes_}
        return np.array(X, dtype=np.float32, order="C"), codes.astype(np.int64), weight, state

    def _default_n_dims(self, state):
        return max(2, len(state["classes_"]) - 1)

    def _layout(self, n_dims, seed, state):
        prototypes = make_prototypes(self.prototypes, len(state["classes_"]), n_dims,
                                     random_state=seed, **(self.prototype_params or {}))
        return prototypes, None

    def _cosines(self, X):
        check_is_fitted(self)
        return self._embed(self._validate_X(X)) @ self.prototypes_.T

    def decision_function(self, X):
        """Cosine similarity to each class prototype, shape (n_samples, n_classes);
        for two classes, ``cos(z, p_1) - cos(z, p_0)`` of shape (n_samples,)."""
        cos = self._cosines(X)
        return cos[:, 1] - cos[:, 0] if cos.shape[1] == 2 else cos

    def predict_proba(self, X):
        """``softmax(proba_scale * cos(z, p_k))`` over classes."""
        return softmax(self.proba_scale * self._cosines(X), axis=1)

    def predict(self, X):
        """The class of the most similar prototype (values of ``classes_``)."""
        cos = self._cosines(X)
        return self.classes_[np.argmax(cos, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

