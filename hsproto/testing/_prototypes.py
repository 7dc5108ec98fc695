"""``check_prototype_strategy``: a prototype strategy against hsproto's contract."""

from __future__ import annotations

import inspect
import pickle
import random

import numpy as np
import torch

from ..prototypes import PrototypeStrategy, make_prototypes
from ._checker import start

__all__ = ["check_prototype_strategy"]


_SIZES = ((2, 2), (3, 3), (4, 4), (6, 3), (6, 5), (8, 16), (10, 9), (10, 32))


def check_prototype_strategy(strategy, *, params=None, sizes=_SIZES):
    """Check a prototype strategy against hsproto's contract.

    Parameters
    ----------
    strategy : str, PrototypeStrategy class or instance
        A registered name (``"simplex"`` or ``"distribution:name"``) is resolved through
        the registry, and the class's ``name`` must then be None or that name.
    params : dict, default=None
        Constructor parameters when ``strategy`` is a name or a class (default: the
        class's ``example_params()``).
    sizes : sequence of (n_classes, n_dims)
        Sizes to try; the strategy must support at least one of them.

    Raises
    ------
    ContractError
        Naming the failed step and what to fix.

    Notes
    -----
    The checks: ``supports`` answers True or False (never raises) and the sizes it
    refuses make ``generate`` raise ``ValueError``; supported sizes give a float64
    ``(n_classes, n_dims)`` array of finite, unit-norm, distinct rows; the same
    ``random_state`` gives the same array and the global numpy/torch/random generators
    are left alone; invalid sizes raise; the strategy pickles;
    :func:`hsproto.make_prototypes` accepts it.
    """
    obj, ck = start("prototypes", strategy, "prototype strategy")
    if isinstance(strategy, str):
        registered = strategy.partition(":")[2] or strategy
        ck.require(getattr(obj, "name", None) in (None, registered), "name",
                   f"the class declares name = {obj.name!r} but is registered as "
                   f"{registered!r}; set name = {registered!r} (or leave it None)")
    obj = _instance(ck, obj, params)
    supported = _supported_sizes(ck, obj, sizes)
    placed = [_check_placement(ck, obj, k, d) for k, d in supported]
    with ck.step(f"generate{supported[0]} with random_state=None"):
        obj.generate(*supported[0], random_state=None)
    _check_invalid_sizes(ck, obj, *supported[0])
    _check_round_trips(ck, obj, *supported[0], placed[0])
    ck.require(isinstance(obj, PrototypeStrategy), "type", "not a PrototypeStrategy")


def _instance(ck, obj, params):
    """The strategy instance to check (a class is built with ``params``)."""
    if inspect.isclass(obj):
        if params is None:
            params = obj.example_params()
        with ck.step(f"{obj.__name__}(**{params})", "Give the constructor's required "
                     "arguments through params= or the class's example_params()."):
            obj = obj(**params)
    elif params:
        raise ValueError("params cannot be used with a strategy instance.")
    with ck.step("repr()"):
        repr(obj)
    return obj


def _supported_sizes(ck, obj, sizes):
    """The sizes ``supports`` accepts; refused ones must raise ValueError in generate."""
    supported = []
    for k, d in sizes:
        with ck.step(f"supports({k}, {d})"):
            answer = obj.supports(k, d)
        ck.require(isinstance(answer, bool | np.bool_), f"supports({k}, {d})",
                   f"must return a bool, got {answer!r}")
        if not answer:
            try:
                obj.generate(k, d, random_state=0)
            except ValueError:
                continue
            except Exception as exc:
                ck.fail(f"generate({k}, {d}) (unsupported)", f"raised {type(exc).__name__}; "
                        f"an unsupported size must raise ValueError (say why in "
                        f"_unsupported)")
            ck.fail(f"generate({k}, {d})", "supports() said False but generate returned; "
                    "make _unsupported and _generate agree")
        supported.append((k, d))
    ck.require(supported, "sizes", f"supports none of {list(sizes)}; pass sizes= that it "
               f"supports")
    return supported


def _check_placement(ck, obj, k, d):
    """A float64 (k, d) array of finite, unit, distinct rows, deterministic for a seed,
    drawn without touching the global generators."""
    step = f"generate({k}, {d}, random_state=0)"
    before = _global_states()
    with ck.step(step):
        P = obj.generate(k, d, random_state=0)
    after = _global_states()
    ck.require(all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)),
               step,
               "changed a global random generator; draw from a generator seeded with "
               "the seed argument instead")
    ck.require(isinstance(P, np.ndarray), step, f"returned {type(P).__name__}, not a "
               f"numpy array")
    ck.require(P.shape == (k, d), step, f"returned shape {P.shape}, expected {(k, d)}")
    ck.require(P.dtype == np.float64, step, f"returned dtype {P.dtype}, expected float64")
    ck.require(np.all(np.isfinite(P)), step, "returned non-finite values")
    norms = np.linalg.norm(P, axis=1)
    ck.require(np.allclose(norms, 1.0, atol=1e-6), step,
               f"rows must have unit norm, got norms in [{norms.min():.4g}, "
               f"{norms.max():.4g}]")
    cos = P @ P.T - 2 * np.eye(k)
    ck.require(cos.max() < 1 - 1e-6, step, "two classes share a prototype (cosine 1)")
    with ck.step(f"{step} a second time"):
        again = obj.generate(k, d, random_state=0)
    ck.require(np.array_equal(P, again), step, "is not deterministic for a fixed "
               "random_state; derive all randomness from the seed argument")
    return P


def _check_invalid_sizes(ck, obj, k, d):
    for bad in ((1, d), (k, 0), (2.5, d)):
        try:
            obj.generate(*bad, random_state=0)
        except (ValueError, TypeError):
            continue
        except Exception as exc:
            ck.fail(f"generate{bad}", f"raised {type(exc).__name__}; invalid sizes must raise "
                    f"ValueError or TypeError (PrototypeStrategy.generate checks them)")
        ck.fail(f"generate{bad}", "accepted an invalid size")


def _check_round_trips(ck, obj, k, d, reference):
    """Pickling and :func:`hsproto.make_prototypes` give ``reference`` (seed 0)."""
    with ck.step("pickle round trip", "Keep the strategy's state picklable."):
        clone = pickle.loads(pickle.dumps(obj))
        same = np.array_equal(clone.generate(k, d, random_state=0), reference)
    ck.require(same, "pickle round trip", "the unpickled strategy generates different "
               "prototypes")
    with ck.step("hsproto.make_prototypes"):
        via_api = make_prototypes(obj, k, d, random_state=0)
    ck.require(np.array_equal(via_api, reference), "hsproto.make_prototypes",
               "differs from generate()")


def _global_states():
    """Copies of the global numpy, random and torch generator states."""
    _, key, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 - users rely on it
    legacy = np.concatenate([key, [pos, has_gauss]]), np.float64(gauss)
    return (*legacy, np.asarray(random.getstate()[1]), torch.random.get_rng_state().numpy())
