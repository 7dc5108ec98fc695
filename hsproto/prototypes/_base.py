"""The prototype-strategy contract: a small base class that does the shared checks."""

from __future__ import annotations

import inspect
import numbers

import numpy as np

from .._random import seed_from
from .._validation import qualname

__all__ = ["PrototypeStrategy", "check_sizes", "plugin_problem"]


def check_sizes(n_classes, n_dims):
    """Validate ``(n_classes, n_dims)`` and return them as Python ints.

    hsproto's own size rule, the same for every strategy: integers with
    ``n_classes >= 2`` and ``n_dims >= 1``, and at most 2 classes when ``n_dims == 1``.
    """
    out = []
    for name, value, low in (("n_classes", n_classes, 2), ("n_dims", n_dims, 1)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an integer, got {value!r} "
                            f"({type(value).__name__}).")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}.")
        out.append(int(value))
    n_classes, n_dims = out
    if n_dims == 1 and n_classes > 2:
        raise ValueError(f"n_dims=1 holds at most 2 distinct unit vectors (+1, -1); "
                         f"got n_classes={n_classes}. Use n_dims >= 2.")
    return n_classes, n_dims


class PrototypeStrategy:
    """Base class of a prototype placement strategy.

    A strategy stores its hyper-parameters in ``__init__`` and places ``n_classes``
    unit vectors in ``n_dims`` dimensions in :meth:`generate`. Subclasses implement

    - ``_unsupported(n_classes, n_dims) -> str | None``: why a size is not supported
      (``None`` when it is); the default supports every size;
    - ``_generate(n_classes, n_dims, seed) -> array``: the placement, given an integer
      seed (ignored by deterministic constructions).

    Set ``cacheable = True`` on strategies that are expensive enough for
    :func:`hsproto.make_prototypes` to cache their result on disk. A strategy that
    delegates to another for some sizes (``auto``) overrides :meth:`resolve`; a
    polytope with equal neighbour angles overrides :meth:`neighbour_angle`. Both end
    up in the :class:`~hsproto.Layout` the losses read.
    """

    name = None
    cacheable = False
    _selected_as = None    # the registered name it was selected by (get_strategy)

    @classmethod
    def example_params(cls) -> dict:
        """Constructor parameters that :func:`hsproto.testing.check_prototype_strategy`
        uses when it is given the class alone (override when some are required)."""
        return {}

    def supports(self, n_classes, n_dims) -> bool:
        """Whether ``(n_classes, n_dims)`` can be generated: False for sizes no strategy
        can place (``n_classes < 2``, ``n_dims < 1``, more than 2 classes in 1 dimension,
        non-integers) and for those ``_unsupported`` refuses; never raises for a size."""
        try:
            n_classes, n_dims = check_sizes(n_classes, n_dims)
        except (TypeError, ValueError):
            return False
        return self._unsupported(n_classes, n_dims) is None

    def check_support(self, n_classes, n_dims):
        """Raise a ``ValueError`` that says why ``(n_classes, n_dims)`` is unsupported."""
        n_classes, n_dims = check_sizes(n_classes, n_dims)
        reason = self._unsupported(n_classes, n_dims)
        if reason is not None:
            raise ValueError(f"Prototype strategy {self._label()!r} does not support "
                             f"n_classes={n_classes}, n_dims={n_dims}: {reason}")
        return n_classes, n_dims

    def generate(self, n_classes, n_dims, *, random_state=None):
        """Return an ``(n_classes, n_dims)`` float64 array of unit-norm rows."""
        n_classes, n_dims = self.check_support(n_classes, n_dims)
        out = self._generate(n_classes, n_dims, seed_from(random_state))
        return self._finish(out, n_classes, n_dims)

    def resolve(self, n_classes, n_dims):
        """The strategy that really places ``(n_classes, n_dims)``: ``self``, or the one
        a strategy like ``auto`` delegates to (named in the fitted ``layout_``)."""
        return self

    def neighbour_angle(self, n_classes, n_dims):
        """The angle (radians) between each prototype and its nearest neighbours when
        the placement guarantees one for every prototype (polytopes), else None."""
        return None

    def _unsupported(self, n_classes, n_dims):
        return None

    def _generate(self, n_classes, n_dims, seed):
        raise NotImplementedError

    def _finish(self, out, n_classes, n_dims):
        out = np.asarray(out, dtype=np.float64)
        if out.shape != (n_classes, n_dims):
            raise ValueError(f"Prototype strategy {self._label()!r} returned shape "
                             f"{out.shape}, expected {(n_classes, n_dims)}.")
        if not np.all(np.isfinite(out)):
            raise ValueError(f"Prototype strategy {self._label()!r} returned non-finite "
                             f"values.")
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        if np.any(norms < 1e-12):
            raise ValueError(f"Prototype strategy {self._label()!r} returned a zero row.")
        return out / norms

    def _label(self):
        return self._selected_as or self.name or type(self).__name__

    def get_params(self) -> dict:
        """Hyper-parameters, as stored by ``__init__`` (used in reprs and cache keys)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                           if not isinstance(v, np.ndarray))
        return f"{type(self).__name__}({params})"


def plugin_problem(obj):
    """Why ``obj`` cannot be registered as a prototype strategy (a message), or None.

    The structural contract, checked by the registry on every plugin it loads: a
    :class:`PrototypeStrategy` subclass or instance that implements ``_generate`` or
    ``generate``. ``hsproto.testing.check_prototype_strategy`` checks the behaviour.
    """
    cls = obj if inspect.isclass(obj) else type(obj)
    if not issubclass(cls, PrototypeStrategy):
        return f"{qualname(obj)} is not a hsproto.prototypes.PrototypeStrategy subclass or instance"
    if all(getattr(cls, n) is getattr(PrototypeStrategy, n) for n in ("_generate", "generate")):
        return f"{qualname(cls)} implements neither _generate nor generate"
    return None
