"""The step runner behind every checker: named steps, actionable failures."""

from __future__ import annotations

import contextlib
import copy
import inspect

import torch

from .. import registry

__all__ = ["ContractError", "check_moves", "label", "resolve", "seeded", "start",
           "stray_tensors", "validate_plugin"]


class ContractError(AssertionError):
    """A plugin breaks hsproto's contract; the message says what to fix."""


class _Checker:
    """Runs named steps; any failure becomes a :class:`ContractError` naming the step."""

    def __init__(self, label):
        self.label = label

    def fail(self, step, message):
        raise ContractError(f"{self.label}: {step}: {message}")

    def require(self, condition, step, message):
        if not condition:
            self.fail(step, message)

    @contextlib.contextmanager
    def step(self, step, hint=""):
        try:
            yield
        except ContractError:
            raise
        except Exception as exc:
            hint = f" {hint}" if hint else ""
            raise ContractError(f"{self.label}: {step} raised {type(exc).__name__}: "
                                f"{str(exc).rstrip('.')}.{hint}") from exc


def resolve(group, obj):
    if isinstance(obj, str):
        return registry.get(group, obj)
    return obj


def label(obj):
    return obj.__name__ if inspect.isclass(obj) else type(obj).__name__


def stray_tensors(module):
    """Tensor attributes that are neither parameters nor buffers (``.to()`` misses them)."""
    found = []
    for prefix, sub in module.named_modules():
        for key, value in vars(sub).items():
            if isinstance(value, torch.Tensor):
                found.append(f"{prefix}.{key}" if prefix else key)
    return found


@contextlib.contextmanager
def seeded(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def validate_plugin(group, obj):
    """Why ``obj`` cannot serve as a plugin of ``group`` (a message), or None.

    Only structure is checked (types, declared tasks, required methods): the contract each
    base class module declares, which the registry applies to every plugin it loads; the
    ``check_*`` functions run the behaviour.
    """
    return registry.contract_problem(group, obj)


def start(group, obj, noun):
    """Resolve a name, make the checker and check the structure: (object, checker)."""
    obj = resolve(f"hsproto.{group}", obj)
    ck = _Checker(f"{noun} {label(obj)}")
    reason = validate_plugin(group, obj)
    ck.require(reason is None, "structure", reason)
    return obj, ck


def check_moves(ck, module, run):
    """``run(moved module, dtype, device)`` works after ``.double()`` and, when a GPU is
    present, ``.to("cuda")``: every tensor must be a parameter or a buffer."""
    hint = "Keep every tensor a parameter or a buffer."
    with ck.step(".double()", hint):
        out = run(copy.deepcopy(module).double(), torch.float64, "cpu")
    ck.require(out.dtype == torch.float64, ".double()", f"gives {out.dtype} outputs")
    if torch.cuda.is_available():
        with ck.step(".to('cuda')", hint):
            out = run(copy.deepcopy(module).to("cuda"), torch.float32, "cuda")
        ck.require(out.device.type == "cuda", ".to('cuda')", "outputs are not on the GPU")
