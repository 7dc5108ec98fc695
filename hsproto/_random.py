"""Seeds from scikit-learn style ``random_state`` values (bottom layer)."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["seed_from"]


def seed_from(random_state):
    """An integer seed from ``None``, an int, a ``RandomState`` or a ``Generator``.

    ``None`` draws fresh entropy (non-deterministic); a generator is advanced by one
    draw, as scikit-learn does with ``check_random_state``.
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if not 0 <= random_state < 2**32:
            raise ValueError(f"random_state must be in [0, 2**32), got {random_state}.")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    raise TypeError(f"random_state must be None, an int, a numpy RandomState or "
                    f"Generator, got {random_state!r}.")
