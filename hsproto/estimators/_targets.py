"""Targets: class labels, sample weights and regression values as the nets train on them."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight

__all__ = ["check_label_types", "encode_labels", "prepare_sample_weight", "scale_targets",
           "unscale_targets"]


def check_label_types(owner, labels):
    """A ValueError when labels (a list, tuple or object array) mix strings and other
    values; numpy would turn a mixed list into strings silently."""
    if isinstance(labels, list | tuple) or getattr(labels, "dtype", None) == np.dtype("O"):
        values = np.asarray(labels, dtype=object).ravel()
        text = [v for v in values if isinstance(v, str)]
        other = [v for v in values if not isinstance(v, str)]
        if text and other:
            raise ValueError(f"{owner} class labels mix strings and numbers (e.g. "
                             f"{text[0]!r} and {other[0]!r}); use one label type.")


def encode_labels(owner, labels):
    """Check class labels and fit a ``LabelEncoder`` on them (>= 2 classes, one type)."""
    check_label_types(owner, labels)
    labels = np.asarray(labels)
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
    """Targets (n, T) -> (r in [-1, 1], low, high): HPN Eq. 7's bounds from the data.

    A constant target trains towards its lower pole and is predicted as the constant;
    targets whose range overflows float64 are refused."""
    low, high = values.min(axis=0), values.max(axis=0)
    with np.errstate(over="ignore"):
        span = high - low
    if not np.all(np.isfinite(span)):
        raise ValueError(f"The regression targets span more than float64 can hold "
                         f"(min {low.tolist()}, max {high.tolist()}); rescale y.")
    return 2.0 * (values - low) / np.where(span > 0, span, 1.0) - 1.0, low, high


def unscale_targets(cos, low, high):
    """Cosines to the upper poles -> targets: ``v_l + (cos + 1) / 2 (v_u - v_l)`` (the
    constant itself for a constant target)."""
    return low + (cos + 1.0) / 2.0 * (high - low)
