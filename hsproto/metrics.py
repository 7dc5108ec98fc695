"""Metrics: calibration of predicted probabilities, out-of-distribution detection, and
separation of prototype sets."""

from __future__ import annotations

import numbers

import numpy as np

from .prototypes.metrics import known_limit, pairwise_cosine_stats

__all__ = ["expected_calibration_error", "known_limit", "ood_metrics", "ood_threshold",
           "pairwise_cosine_stats"]


def expected_calibration_error(y_true, y_prob, *, n_bins=15, labels=None):
    """Top-label expected calibration error with equal-mass bins.

    Samples are sorted by confidence (the largest predicted probability) and split into
    ``n_bins`` bins of (nearly) equal size; the ECE is
    ``sum_b (n_b / n) |accuracy_b - confidence_b|`` (the protocol of seed 003, 15 bins).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
    y_prob : array-like of shape (n_samples, n_classes) or (n_samples,)
        Predicted probabilities, e.g. ``predict_proba``; a 1-d array is the probability
        of the positive class of a binary problem.
    n_bins : int, default=15
    labels : array-like of shape (n_classes,), default=None
        The class of each column (an estimator's ``classes_``). None: ``0 .. K-1`` when
        ``y_true`` holds such integers, else the sorted unique values of ``y_true``.

    Returns
    -------
    float in [0, 1]

    Examples
    --------
    >>> from hsproto.metrics import expected_calibration_error
    >>> ece = expected_calibration_error([0, 1, 1, 0], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4],
    ...                                                 [0.7, 0.3]], n_bins=2)
    >>> round(ece, 6)   # bins {0.6 wrong, 0.7 right}, {0.8, 0.9 right}: |0.5-0.65|, |1-0.85|
    0.15
    """
    y_true = np.asarray(y_true)
    prob = np.asarray(y_prob, dtype=np.float64)
    if prob.ndim == 1:
        prob = np.column_stack([1.0 - prob, prob])
    if prob.ndim != 2 or y_true.ndim != 1 or len(prob) != len(y_true):
        raise ValueError(f"y_true must be (n_samples,) and y_prob (n_samples, n_classes); "
                         f"got shapes {y_true.shape} and {np.shape(y_prob)}.")
    if len(y_true) == 0:
        raise ValueError("expected_calibration_error needs at least one sample.")
    if not np.all(np.isfinite(prob)) or prob.min() < 0 or prob.max() > 1:
        raise ValueError("y_prob must hold probabilities in [0, 1] (no NaN or inf).")
    sums = prob.sum(axis=1)
    if np.any(np.abs(sums - 1.0) > 1e-3):
        raise ValueError(f"Each row of y_prob must sum to 1 (probabilities over the "
                         f"classes); row sums range from {sums.min():.4g} to "
                         f"{sums.max():.4g}.")
    if isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}.")
    labels = _column_labels(y_true, prob.shape[1], labels)
    confidence = prob.max(axis=1)
    correct = labels[prob.argmax(axis=1)] == y_true
    total = 0.0
    for part in _equal_mass_bins(confidence, n_bins):
        total += len(part) * abs(correct[part].mean() - confidence[part].mean())
    return float(total / len(confidence))


def _equal_mass_bins(confidence, n_bins):
    """Indices of ``min(n_bins, n)`` bins of nearly equal size, by confidence (stable
    sort): the bins of :func:`expected_calibration_error` and of
    ``hsproto.plotting.ReliabilityDisplay``."""
    order = np.argsort(confidence, kind="stable")
    return np.array_split(order, min(n_bins, len(order)))


def _column_labels(y_true, n_classes, labels):
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != n_classes:
            raise ValueError(f"labels has {len(labels)} entries but y_prob has {n_classes} "
                             f"columns.")
        return labels
    if np.issubdtype(y_true.dtype, np.integer) and y_true.min() >= 0 \
            and y_true.max() < n_classes:
        return np.arange(n_classes)
    unique = np.unique(y_true)
    if len(unique) != n_classes:
        raise ValueError(f"y_true has {len(unique)} classes but y_prob has {n_classes} "
                         f"columns; pass labels= (e.g. the estimator's classes_).")
    return unique


def ood_threshold(scores, tpr=0.95):
    """The threshold on an OOD score that keeps a fraction ``tpr`` of in-distribution
    samples.

    ``scores`` are scores of held-out in-distribution samples (e.g. ``ood_score`` of a
    validation set, higher = more likely out of distribution); the threshold is the
    smallest of them such that at least a fraction ``tpr`` of the scores are
    ``<= threshold``: the ``ceil(tpr * n)``-th smallest. Flagging ``score > threshold``
    as out of distribution then keeps (accepts) a fraction ``tpr`` of in-distribution
    samples (more where scores tie with the threshold).

    Parameters
    ----------
    scores : array-like of shape (n_samples,)
        Scores of in-distribution samples; finite.
    tpr : float in (0, 1], default=0.95
        The fraction of in-distribution samples to keep (the true positive rate of
        accepting in-distribution samples); 1 gives the largest score.

    Returns
    -------
    float

    Examples
    --------
    >>> from hsproto.metrics import ood_threshold
    >>> ood_threshold([0.1, 0.4, 0.2, 0.3, 0.5], tpr=0.8)    # 4 of 5 are <= 0.4
    0.4
    """
    scores = _check_scores(scores, "scores")
    tpr = _check_tpr(tpr)
    # round(): tpr * n is an integer up to float error (0.95 * 20 = 19.000000000000004)
    k = max(1, int(np.ceil(round(tpr * len(scores), 9))))
    return float(np.partition(scores, k - 1)[k - 1])


def ood_metrics(scores_in, scores_out, *, tpr=0.95):
    """How well an OOD score separates in-distribution from out-of-distribution samples.

    Parameters
    ----------
    scores_in : array-like of shape (n_in,)
        Scores of in-distribution test samples (higher = more likely out of
        distribution, as ``ood_score`` returns).
    scores_out : array-like of shape (n_out,)
        Scores of out-of-distribution samples.
    tpr : float in (0, 1], default=0.95
        The fraction of in-distribution samples kept by the threshold of ``fpr``.

    Returns
    -------
    dict
        - ``"auroc"``: area under the ROC curve with out-of-distribution as the
          positive class (``sklearn.metrics.roc_auc_score``): the probability that an
          OOD sample scores higher than an in-distribution one (ties count 1/2); 0.5 is
          chance, 1 a perfect separation.
        - ``"fpr"``: the false positive rate at ``tpr`` (FPR95 at the default, as in
          the OOD-detection literature): the fraction of OOD samples accepted as in
          distribution, ``mean(scores_out <= threshold)``, when the threshold keeps a
          fraction ``tpr`` of the in-distribution samples. Lower is better; 0 is perfect.
        - ``"threshold"``: that threshold, ``ood_threshold(scores_in, tpr)``.

    Examples
    --------
    >>> from hsproto.metrics import ood_metrics
    >>> m = ood_metrics([0.1, 0.2, 0.3, 0.6], [0.5, 0.7, 0.8, 0.9], tpr=0.75)
    >>> m["auroc"], m["fpr"], m["threshold"]   # 15 of 16 pairs ordered, no OOD <= 0.3
    (0.9375, 0.0, 0.3)
    """
    from sklearn.metrics import roc_auc_score

    scores_in = _check_scores(scores_in, "scores_in")
    scores_out = _check_scores(scores_out, "scores_out")
    threshold = ood_threshold(scores_in, tpr)
    labels = np.r_[np.zeros(len(scores_in)), np.ones(len(scores_out))]
    auroc = roc_auc_score(labels, np.r_[scores_in, scores_out])
    return {"auroc": float(auroc), "fpr": float(np.mean(scores_out <= threshold)),
            "threshold": threshold}


def _check_scores(scores, name):
    array = np.asarray(scores)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        raise ValueError(f"{name} must hold numbers; got dtype {array.dtype}.")
    array = array.astype(np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-d (one score per sample); got shape "
                         f"{array.shape}.")
    if len(array) == 0:
        raise ValueError(f"{name} is empty; it needs at least one score.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinity "
                         f"({int(np.sum(~np.isfinite(array)))} of {len(array)} scores).")
    return array


def _check_tpr(tpr):
    if isinstance(tpr, bool) or not isinstance(tpr, numbers.Real) \
            or not 0 < float(tpr) <= 1:
        raise ValueError(f"tpr must be a number in (0, 1], got {tpr!r}.")
    return float(tpr)
