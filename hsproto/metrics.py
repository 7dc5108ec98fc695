"""Metrics: separation statistics of prototype sets (more metrics join later)."""

from .prototypes.metrics import known_limit, pairwise_cosine_stats

__all__ = ["known_limit", "pairwise_cosine_stats"]
