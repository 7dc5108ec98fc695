"""Declarative parameter validation (scikit-learn's ``_parameter_constraints`` style).

Each estimator declares ``_parameter_constraints = {name: [constraint, ...]}``; a value
is valid when it satisfies any one of its constraints. :func:`validate_params` runs the
table once, at the top of ``fit``, before any data conversion, placement or network
construction, and raises :class:`InvalidParameterError` naming the parameter, the value
and what is allowed. Bottom layer: imports nothing from hsproto.
"""

from __future__ import annotations

import inspect
import math
import numbers

__all__ = ["Interval", "InvalidParameterError", "Options", "Satisfies", "Subclass", "Type",
           "qualname", "validate_params"]


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value outside what it allows (a ``ValueError`` and a
    ``TypeError``, as scikit-learn's error of the same name)."""


class Interval:
    """A real or integer number in a range, e.g. ``Interval(int, 1, None)``.

    ``closed`` is ``"both"``, ``"left"``, ``"right"`` or ``"neither"``; NaN and inf are
    refused; booleans are not numbers here.
    """

    def __init__(self, kind, low, high, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, value):
        numeric = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, numeric):
            return False
        if not math.isfinite(value):
            return False
        low_ok = self.low is None or (value >= self.low if self.closed in ("both", "left")
                                      else value > self.low)
        high_ok = self.high is None or (value <= self.high if self.closed in ("both", "right")
                                        else value < self.high)
        return low_ok and high_ok

    def __str__(self):
        kind = "an integer" if self.kind is int else "a finite number"
        if self.high is None:
            op = ">=" if self.closed in ("both", "left") else ">"
            return f"{kind} {op} {self.low}"
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        return f"{kind} in {left}{self.low}, {self.high}{right}"


class Options:
    """One of a fixed set of values (strings, None, booleans...)."""

    def __init__(self, *values):
        self.values = values

    def accepts(self, value):
        return any(value is v or (type(value) is type(v) and value == v) for v in self.values)

    def __str__(self):
        if len(self.values) == 1:
            return repr(self.values[0])
        return "one of " + ", ".join(repr(v) for v in self.values)


class Type:
    """An instance of one of ``types``; ``describe`` says it in words."""

    def __init__(self, *types, describe=None):
        self.types, self.describe = types, describe

    def accepts(self, value):
        return isinstance(value, self.types) and not (isinstance(value, bool)
                                                      and bool not in self.types)

    def __str__(self):
        return self.describe or "an instance of " + " or ".join(t.__name__ for t in self.types)


class Subclass:
    """A class deriving from ``base``."""

    def __init__(self, base, describe=None):
        self.base, self.describe = base, describe

    def accepts(self, value):
        return inspect.isclass(value) and issubclass(value, self.base)

    def __str__(self):
        return self.describe or f"a {self.base.__name__} subclass"


class Satisfies:
    """Any value for which ``predicate(value)`` is true; ``describe`` says what that is."""

    def __init__(self, predicate, describe):
        self.predicate, self.describe = predicate, describe

    def accepts(self, value):
        return bool(self.predicate(value))

    def __str__(self):
        return self.describe


def validate_params(owner, params, constraints):
    """Check ``params`` (a dict) against ``constraints`` (name -> list of constraints).

    Raises :class:`InvalidParameterError` for the first parameter that satisfies none of
    its constraints, naming ``owner``, the parameter, the value and what is allowed.
    Parameters without an entry are not checked.
    """
    for name, value in params.items():
        allowed = constraints.get(name)
        if allowed is None or any(c.accepts(value) for c in allowed):
            continue
        what = " or ".join(str(c) for c in allowed)
        raise InvalidParameterError(f"The {name!r} parameter of {owner} must be {what}. Got "
                                    f"{value!r} instead.")


def qualname(obj):
    """``module.Name`` of a class or function, else ``<Type instance>`` (for messages)."""
    if hasattr(obj, "__qualname__") and hasattr(obj, "__module__"):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"<{type(obj).__name__} instance>"
