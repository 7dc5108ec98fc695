"""``random`` (uniform on the sphere) and ``embedding`` (class embeddings as prototypes)."""

from __future__ import annotations

import numpy as np

from ._base import PrototypeStrategy
from ._params import check_embeddings, embedding_count_problem

__all__ = ["EmbeddingStrategy", "RandomStrategy"]


class RandomStrategy(PrototypeStrategy):
    """Independent points drawn uniformly on the sphere (normalised Gaussians)."""

    name = "random"

    def _generate(self, n_classes, n_dims, seed):
        return np.random.default_rng(seed).standard_normal((n_classes, n_dims))


class EmbeddingStrategy(PrototypeStrategy):
    """Class embeddings used directly as prototypes (HPN Table 1's word2vec baseline).

    Parameters
    ----------
    class_embeddings : array of shape (n_classes, n_features)
        One vector per class, e.g. word vectors of the class names. With
        ``n_features > n_dims`` they are projected on their top ``n_dims`` principal
        directions (uncentred, so cosines are kept as well as possible); with
        ``n_features < n_dims`` they are zero-padded.
    """

    name = "embedding"

    @classmethod
    def example_params(cls):
        """Six classes with random 8-d semantics (for the contract checks)."""
        return {"class_embeddings": np.random.default_rng(0).standard_normal((6, 8))}

    def __init__(self, class_embeddings=None):
        self.class_embeddings = check_embeddings(class_embeddings)

    def _unsupported(self, n_classes, n_dims):
        return embedding_count_problem(self.class_embeddings, n_classes)

    def _generate(self, n_classes, n_dims, seed):
        return project_embeddings(self.class_embeddings, n_dims)


def project_embeddings(emb, n_dims):
    """Unit embeddings in ``n_dims`` dimensions (SVD projection or zero padding)."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    n_features = emb.shape[1]
    if n_features > n_dims:
        _, _, vt = np.linalg.svd(emb, full_matrices=False)
        emb = emb @ vt[:n_dims].T
        zero = np.linalg.norm(emb, axis=1) < 1e-9
        if np.any(zero):
            raise ValueError(f"class_embeddings rows {np.nonzero(zero)[0][:10].tolist()} "
                             f"vanish when projected to n_dims={n_dims}; use more "
                             f"dimensions.")
    elif n_features < n_dims:
        emb = np.pad(emb, ((0, 0), (0, n_dims - n_features)))
    return emb
