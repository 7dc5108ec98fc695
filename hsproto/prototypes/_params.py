"""Small validators for strategy hyper-parameters."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_embeddings", "check_number", "embedding_count_problem"]


def check_number(name, value, *, low=None, high=None, integer=False, inclusive_low=True):
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a number'}, "
                        f"got {value!r}.")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if low is not None and (value < low or (value == low and not inclusive_low)):
        raise ValueError(f"{name} must be {'>=' if inclusive_low else '>'} {low}, "
                         f"got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}.")
    return value


def check_embeddings(class_embeddings, n_classes=None):
    """A (K, E) float array of finite, non-zero class embeddings."""
    if class_embeddings is None:
        raise ValueError("class_embeddings is required: a (n_classes, n_features) array "
                         "of class semantics, e.g. word vectors of the class names.")
    try:
        emb = np.asarray(class_embeddings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"class_embeddings must be a numeric 2-d array: {exc}") from exc
    if emb.ndim != 2:
        raise ValueError(f"class_embeddings must be 2-d (n_classes, n_features), got "
                         f"shape {emb.shape}.")
    if not np.all(np.isfinite(emb)):
        bad = np.unique(np.nonzero(~np.isfinite(emb))[0])
        raise ValueError(f"class_embeddings contain NaN or inf (rows {bad[:10].tolist()}).")
    if n_classes is not None and emb.shape[0] != n_classes:
        raise ValueError(f"class_embeddings has {emb.shape[0]} rows but n_classes="
                         f"{n_classes}; give one embedding per class.")
    zero = np.nonzero(np.linalg.norm(emb, axis=1) < 1e-12)[0]
    if zero.size:
        raise ValueError(f"class_embeddings rows {zero[:10].tolist()} are zero vectors; "
                         f"their direction is undefined.")
    return emb


def embedding_count_problem(class_embeddings, n_classes):
    """Why ``class_embeddings`` does not fit ``n_classes`` (None when it does)."""
    if class_embeddings.shape[0] != n_classes:
        return (f"class_embeddings has {class_embeddings.shape[0]} rows; give one embedding "
                f"per class.")
    return None
