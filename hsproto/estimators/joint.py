"""``JointEstimator``: classification and regression in one hyperspherical output space."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import accuracy_score, make_scorer, r2_score

from ..data import is_dataset
from ..prototypes.layout import class_dims, make_layout
from ._base import HypersphericalBase, as_float32
from ._targets import encode_labels, prepare_sample_weight, scale_targets, unscale_targets
from .classifier import _ood_function

__all__ = ["JointEstimator", "joint_scorers"]


#: The logit scale of ``hpn``'s class cosines in ``ood_score`` (the classifier's
#: default ``proba_scale``).
_JOINT_PROBA_SCALE = 10.0


def split_joint_target(y):
    """Split a joint target into (labels (n,), values (n, T) float)."""
    if hasattr(y, "iloc"):                       # DataFrame: keep per-column dtypes
        labels = np.asarray(y.iloc[:, 0])
        values = y.iloc[:, 1:].to_numpy(dtype=np.float64) if y.shape[1] > 1 else None
    else:
        arr = np.asarray(y, dtype=object if _mixed(y) else None)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(f"JointEstimator expects y of shape (n_samples, 1 + n_targets): "
                             f"column 0 the class label, the others regression targets; "
                             f"got shape {arr.shape}.")
        labels = arr[:, 0]
        if labels.dtype == object and not any(isinstance(v, str) for v in labels):
            labels = np.asarray(labels.tolist())    # numeric labels in an object array
        try:
            values = arr[:, 1:].astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"JointEstimator regression targets (y[:, 1:]) must be "
                             f"numeric: {exc}") from exc
    if values is None or values.shape[1] < 1:
        raise ValueError("JointEstimator expects y with at least 2 columns: class label and "
                         "regression target(s).")
    if not np.all(np.isfinite(values)):
        raise ValueError("JointEstimator regression targets (y[:, 1:]) contain NaN or inf.")
    return labels, values


def _mixed(y):
    return isinstance(y, list | tuple) and any(isinstance(v, str) for row in y for v in row)


class JointEstimator(HypersphericalBase):
    """Classify and regress with one network and one output space (HPN §3.3).

    Regression poles lie on the first ``n_targets`` axes; class prototypes are placed in
    their orthogonal complement, so class and target similarities are independent.
    The loss is the sum of the classification and regression losses, with no task
    weight: both are squared cosine differences in the same range.

    **Target format**: ``y`` of shape (n_samples, 1 + n_targets) — a 2-d array or a
    DataFrame — whose column 0 is the class label (any label type) and whose other
    columns are the regression targets. ``predict`` returns the same format (an object
    array when labels are not numeric); ``predict_classes`` and ``predict_values`` give
    the parts. ``score`` is the mean of accuracy and R^2; :func:`joint_scorers` gives
    separate scorers for ``cross_validate``. A torch Dataset X yields
    ``(x, [label, target_1, ...])`` items (``y=None``).

    Parameters
    ----------
    n_dims : int, default=None
        None uses ``n_targets + max(2, n_classes - 1)``.
    prototypes, prototype_params : class prototype strategy (in the complement).
    Other parameters : see :class:`HypersphericalClassifier`.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    prototypes_ : ndarray of shape (n_classes, ``n_dims_``)
        Class prototypes, in the complement of the poles.
    poles_ : ndarray of shape (n_targets, ``n_dims_``)
        Upper regression poles (the lower ones are their negatives).
    y_min_, y_max_ : ndarray of shape (n_targets,)
        The interpolation bounds of the targets.
    layout_, n_dims_, n_features_in_, net_, history_, plugins_
        As for :class:`HypersphericalClassifier`.
    """

    _task = "joint"

    def _validate_fit(self, X, y, sample_weight):
        if not is_dataset(X) and y is not None:
            labels, values = split_joint_target(y)
            X, _ = self._fit_inputs(X, values, multi_output=True)
        else:
            X, y = self._fit_inputs(X, y, multi_output=True)
            labels, values = split_joint_target(y)
        encoder = encode_labels("JointEstimator", labels)
        r, low, high = scale_targets(values)
        target = np.column_stack([encoder.transform(labels), r]).astype(np.float32)
        state = {"classes_": encoder.classes_, "y_min_": low, "y_max_": high,
                 "n_targets_": values.shape[1]}
        return (as_float32(X), target,
                prepare_sample_weight(sample_weight, X), state)

    def _default_n_dims(self, state):
        return state["n_targets_"] + max(2, len(state["classes_"]) - 1)

    def _check_fit_sizes(self, sample_shape, target, n_dims, state, strategy):
        super()._check_fit_sizes(sample_shape, target, n_dims, state, strategy)
        n_classes = len(state["classes_"])
        strategy.check_support(n_classes, class_dims(n_classes, n_dims, state["n_targets_"]))

    def _place(self, n_dims, seed, state):
        return make_layout(n_dims, n_classes=len(state["classes_"]),
                           n_targets=state["n_targets_"], strategy=self.prototypes,
                           random_state=seed, **(self.prototype_params or {}))

    def _parts(self, X):
        """(class labels, targets) from one forward pass."""
        codes, r = self._outputs(X, lambda loss, z: (loss.class_scores(z).argmax(dim=1),
                                                     loss.regression_output(z)))
        return self.classes_[codes], unscale_targets(r, self.y_min_, self.y_max_)

    def predict_classes(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), tensor or torch Dataset

        Returns
        -------
        ndarray of shape (n_samples,)
            Values of ``classes_``: the class of the nearest prototype.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import JointEstimator
        >>> X, y = load_iris(return_X_y=True)
        >>> Y = np.c_[y, X[:, 3]]                  # species and petal width
        >>> est = JointEstimator(max_epochs=5, random_state=0).fit(X[:, :3], Y)
        >>> est.predict_classes(X[:3, :3]).shape
        (3,)
        """
        return self._parts(X)[0]

    def predict_values(self, X):
        """Predicted regression targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), tensor or torch Dataset

        Returns
        -------
        ndarray of shape (n_samples, n_targets)
            Each target interpolated between its poles, within the training range.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import JointEstimator
        >>> X, y = load_iris(return_X_y=True)
        >>> Y = np.c_[y, X[:, 3]]                  # species and petal width
        >>> est = JointEstimator(max_epochs=5, random_state=0).fit(X[:, :3], Y)
        >>> est.predict_values(X[:3, :3]).shape
        (3, 1)
        """
        return self._parts(X)[1]

    def predict(self, X):
        """``[class label, target_1 .. target_T]`` per sample, like the training y.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), tensor or torch Dataset

        Returns
        -------
        ndarray of shape (n_samples, 1 + n_targets)
            Column 0: :meth:`predict_classes`; the others: :meth:`predict_values`
            (an object array when the labels are not numbers).

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import JointEstimator
        >>> X, y = load_iris(return_X_y=True)
        >>> Y = np.c_[y, X[:, 3]]                  # species and petal width
        >>> est = JointEstimator(max_epochs=5, random_state=0).fit(X[:, :3], Y)
        >>> est.predict(X[:3, :3]).shape
        (3, 2)
        """
        classes, values = self._parts(X)
        numeric = np.issubdtype(np.asarray(classes).dtype, np.number)
        out = np.empty((len(classes), 1 + values.shape[1]),
                       dtype=np.float64 if numeric else object)
        out[:, 0], out[:, 1:] = classes, values
        return out

    def score(self, X, y=None, sample_weight=None):
        """Mean of classification accuracy and regression R^2 (uniform over targets).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), tensor or torch Dataset
        y : array-like of shape (n_samples, 1 + n_targets), default=None
            ``[label, targets...]`` rows; None reads them from a Dataset X.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
            ``(accuracy + R^2) / 2``; :func:`joint_scorers` gives them apart.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import JointEstimator
        >>> X, y = load_iris(return_X_y=True)
        >>> Y = np.c_[y, X[:, 3]]                  # species and petal width
        >>> est = JointEstimator(max_epochs=5, random_state=0).fit(X[:, :3], Y)
        >>> -1.0 <= est.score(X[:, :3], Y) <= 1.0
        True
        """
        labels, values = split_joint_target(self._score_target(X, y))
        classes, pred = self._parts(X)
        return 0.5 * (accuracy_score(labels, classes, sample_weight=sample_weight)
                      + r2_score(values, pred, sample_weight=sample_weight))

    def _class_logits(self, loss, z):
        """Class logits (n, K): the loss's own (``loss.class_logits``) or, for losses
        without a probability model (``hpn``), 10 times the class cosines (the
        classifier's default ``proba_scale``)."""
        logits = loss.class_logits(z)
        return _JOINT_PROBA_SCALE * loss.class_scores(z) if logits is None else logits

    def _class_proba(self, loss, z):
        """Class probabilities (n, K): the loss's own, else ``softmax`` of
        :meth:`_class_logits`."""
        proba = loss.class_proba(z)
        return torch.softmax(self._class_logits(loss, z), dim=1) if proba is None else proba

    @staticmethod
    def _class_part(loss, z):
        """``z`` without its components along the (orthonormal) regression poles: the
        part in the class prototypes' subspace."""
        return z - (z @ loss.poles.T) @ loss.poles

    def ood_score(self, X, method="max_cosine"):
        """Out-of-distribution (and uncertainty) score per sample from the class part of
        the output space: higher = more likely out of distribution.

        As :meth:`HypersphericalClassifier.ood_score
        <hsproto.HypersphericalClassifier.ood_score>`; the joint estimator has no
        ``predict_proba`` and no ``proba_scale``, so "energy" and "msp" use the loss's
        own logits and probabilities where it has them and otherwise (``hpn``)
        ``10 * cos(z, p_k)``, the classifier's default ``proba_scale``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), tensor or torch Dataset
        method : {"max_cosine", "energy", "msp", "norm", "kappa"}, default="max_cosine"
            - "max_cosine": minus the largest cosine between the class part of the
              embedding (its component orthogonal to the regression poles, in the
              prototypes' subspace: what ``hpn`` classifies) and the class prototypes
              (``prototypes_``).
            - "energy": minus ``logsumexp`` of the class logits.
            - "msp": minus the largest class probability (``softmax`` of the logits).
            - "norm": minus the norm of the (whole) network output before it is
              projected onto the sphere.
            - "kappa": minus the vMF concentration of the embedding; only for a vmf loss.

        Returns
        -------
        ndarray of shape (n_samples,)
            float64 scores; thresholds do not carry over between methods or models.

        Raises
        ------
        ValueError
            For an unknown ``method``, or ``method="kappa"`` with a loss other than vmf.
        sklearn.exceptions.NotFittedError
            Before ``fit``.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.datasets import load_iris
        >>> from hsproto import JointEstimator
        >>> X, label = load_iris(return_X_y=True)
        >>> y = np.column_stack([label, X[:, 3]])    # class and petal width
        >>> est = JointEstimator(max_epochs=5, random_state=0).fit(X[:, :3], y)
        >>> est.ood_score(X[:4, :3], method="energy").shape
        (4,)
        """
        fn = _ood_function(self, method, logits=self._class_logits, proba=self._class_proba,
                           class_part=self._class_part)
        return self._outputs(X, fn)


def _joint_accuracy(y, y_pred):
    return accuracy_score(split_joint_target(y)[0], split_joint_target(y_pred)[0])


def _joint_r2(y, y_pred):
    return r2_score(split_joint_target(y)[1], split_joint_target(y_pred)[1])


def _joint_mae(y, y_pred):
    true, pred = split_joint_target(y)[1], split_joint_target(y_pred)[1]
    return float(np.mean(np.abs(true - pred)))


def joint_scorers():
    """Scorers for ``cross_validate(JointEstimator(), X, y, scoring=joint_scorers())``:
    ``accuracy`` (of the class), ``r2`` and ``neg_mae`` (of the targets)."""
    return {"accuracy": make_scorer(_joint_accuracy),
            "r2": make_scorer(_joint_r2),
            "neg_mae": make_scorer(_joint_mae, greater_is_better=False)}
