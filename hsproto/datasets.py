"""Real data sets that ship with scikit-learn, shaped for hsproto's estimators."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_diabetes, load_digits

__all__ = ["load_diabetes_data", "load_digits_data", "load_rotated_digits"]


def load_digits_data(*, as_images=False):
    """8x8 handwritten digits: X (1797, 64) in [0, 1], or (1797, 1, 8, 8); y in 0..9."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    return (X.reshape(-1, 1, 8, 8) if as_images else X), y


def load_diabetes_data():
    """The diabetes regression data (442 x 10, target: disease progression)."""
    X, y = load_diabetes(return_X_y=True)
    return X.astype(np.float32), y


def load_rotated_digits(digits=(2, 3, 4, 5, 7), *, n_copies=1, max_angle=180.0,
                        as_images=True, random_state=0):
    """Digits rotated by a uniform random angle: joint classification and regression.

    The HPN rotated-MNIST task (METHODS.md §1) on scikit-learn's 8x8 digits: each image
    of the chosen ``digits`` is rotated ``n_copies`` times by an angle drawn uniformly
    from ``[0, max_angle)`` degrees (bilinear, about the image centre).

    Returns
    -------
    X : ndarray of shape (n, 1, 8, 8) (or (n, 64) with ``as_images=False``), in [0, 1]
    y : ndarray of shape (n, 2), dtype float
        Column 0: the digit; column 1: the rotation angle in degrees. This is the
        ``JointEstimator``'s target format.
    """
    X, labels = load_digits(return_X_y=True)
    keep = np.isin(labels, digits)
    if not keep.any():
        raise ValueError(f"digits must be a subset of 0..9, got {digits!r}.")
    if n_copies < 1:
        raise ValueError(f"n_copies must be >= 1, got {n_copies}.")
    images = np.repeat(X[keep].reshape(-1, 8, 8) / 16.0, n_copies, axis=0)
    labels = np.repeat(labels[keep], n_copies)
    angles = np.random.default_rng(random_state).uniform(0.0, max_angle, len(labels))
    rotated = np.stack([ndimage.rotate(img, a, reshape=False, order=1, mode="constant")
                        for img, a in zip(images, angles, strict=True)])
    rotated = np.clip(rotated, 0.0, 1.0).astype(np.float32)
    X = rotated[:, None] if as_images else rotated.reshape(len(rotated), -1)
    return X, np.column_stack([labels, angles])
