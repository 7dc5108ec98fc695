"""A batch iterator for in-memory arrays: one tensor index per batch.

skorch's default ``DataLoader`` fetches every sample separately and collates them, which
costs more than the forward/backward pass of a small network. This iterator converts the
arrays to tensors once and slices shuffled batches by indexing; it falls back to a
``DataLoader`` for datasets it does not know.
"""

from __future__ import annotations

import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils.data import DataLoader, Subset

__all__ = ["ArrayBatches"]


def _tensor(a):
    if isinstance(a, dict):
        return {k: _tensor(v) for k, v in a.items()}
    if a is None or isinstance(a, torch.Tensor):
        return a
    return torch.from_numpy(np.ascontiguousarray(a))


def _take(a, idx):
    if isinstance(a, dict):
        return {k: v[idx] for k, v in a.items()}
    return None if a is None else a[idx]


def _length(a):
    return len(next(iter(a.values()))) if isinstance(a, dict) else len(a)


class ArrayBatches:
    """Iterable of ``(X_batch, y_batch)`` tensors over a skorch ``Dataset`` (or a
    ``Subset`` of one), with the ``DataLoader`` keywords skorch passes."""

    def __init__(self, dataset, batch_size=128, shuffle=False, **kwargs):
        self.batch_size = batch_size
        self.shuffle = shuffle
        base, indices = dataset, None
        if isinstance(dataset, Subset):
            base, indices = dataset.dataset, torch.as_tensor(np.asarray(dataset.indices))
        self._fallback = None
        if type(base) is not Dataset or not _plain(base.X) or not _plain(base.y):
            self._fallback = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle,
                                        **kwargs)
            return
        X, y = _tensor(base.X), _tensor(base.y)
        if indices is not None:
            X, y = _take(X, indices), _take(y, indices)
        self.X, self.y = X, y
        self.n = _length(X)

    def __len__(self):
        if self._fallback is not None:
            return len(self._fallback)
        return (self.n + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        if self._fallback is not None:
            yield from self._fallback
            return
        order = torch.randperm(self.n) if self.shuffle else None
        for start in range(0, self.n, self.batch_size):
            if order is None:
                idx = slice(start, start + self.batch_size)
            else:
                idx = order[start:start + self.batch_size]
            yield _take(self.X, idx), _take(self.y, idx)


def _plain(a):
    if a is None or isinstance(a, np.ndarray | torch.Tensor):
        return True
    return isinstance(a, dict) and all(isinstance(v, np.ndarray | torch.Tensor)
                                       for v in a.values())
