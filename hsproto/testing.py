"""Contract checkers for plugin authors, in the spirit of scikit-learn's ``check_estimator``.

Each checker runs the tests hsproto runs on its own built-ins and raises
:class:`ContractError` (an ``AssertionError``) whose message names the plugin, the step
that failed and what to fix::

    from hsproto.testing import check_backbone, check_loss, check_prototype_strategy

    def test_my_plugins():
        check_prototype_strategy(MyStrategy)
        check_loss(MyLoss, loss_params={"margin": 0.2})
        check_backbone(MyBackbone, input_shape=(3, 16, 16))

Every checker accepts a registered name (``"simplex"``), a class or, where the estimators
accept one, an instance. :func:`validate_plugin` is the cheap structural part that the
registry applies to every plugin it loads.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import pickle
import random

import numpy as np

__all__ = ["ContractError", "check_backbone", "check_loss", "check_prototype_strategy",
           "validate_plugin"]

_TASKS = ("classification", "regression")


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


def _resolve(group, obj):
    if isinstance(obj, str):
        from . import registry

        return registry.get(group, obj)
    return obj


def _label(obj):
    return obj.__name__ if inspect.isclass(obj) else type(obj).__name__


def _qualname(obj):
    """``module.Name`` of a class or function, else ``<Type instance>``."""
    if hasattr(obj, "__qualname__") and hasattr(obj, "__module__"):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"<{type(obj).__name__} instance>"


def _overrides(cls, base, *names):
    return any(getattr(cls, n, None) is not getattr(base, n, None) for n in names)


def _stray_tensors(module):
    """Tensor attributes that are neither parameters nor buffers (``.to()`` misses them)."""
    import torch

    found = []
    for prefix, sub in module.named_modules():
        for key, value in vars(sub).items():
            if isinstance(value, torch.Tensor):
                found.append(f"{prefix}.{key}" if prefix else key)
    return found


@contextlib.contextmanager
def _seeded(seed=0):
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# --------------------------------------------------------------------------- structure
def validate_plugin(group, obj):
    """Why ``obj`` cannot serve as a plugin of ``group`` (a message), or None.

    Only structure is checked (types, declared tasks, required methods), so it is cheap
    enough for the registry to run on every plugin it loads; the ``check_*`` functions
    run the behaviour.
    """
    group = group.rsplit(".", 1)[-1]
    if group == "prototypes":
        from .prototypes import PrototypeStrategy

        cls = obj if inspect.isclass(obj) else type(obj)
        if not issubclass(cls, PrototypeStrategy):
            return (f"{_qualname(obj)} is not a hsproto.prototypes.PrototypeStrategy "
                    f"subclass or instance")
        if not _overrides(cls, PrototypeStrategy, "_generate", "generate"):
            return f"{cls.__name__} implements neither _generate nor generate"
        return None
    if group == "losses":
        from .losses import PrototypeLoss

        if not (inspect.isclass(obj) and issubclass(obj, PrototypeLoss)):
            return (f"{_qualname(obj)} is not a hsproto.losses.PrototypeLoss subclass "
                    f"(register the class: the estimator builds it with the prototypes)")
        tasks = obj.tasks
        if not (isinstance(tasks, tuple | list) and tasks and set(tasks) <= set(_TASKS)):
            return (f"{obj.__name__}.tasks must be a non-empty tuple drawn from {_TASKS}, "
                    f"got {tasks!r}")
        missing = [t for t in tasks if not _overrides(obj, PrototypeLoss, t)]
        if missing:
            return f"{obj.__name__} declares tasks {missing} but does not implement them"
        return None
    if group == "backbones":
        from torch import nn

        if not (isinstance(obj, nn.Module) or (inspect.isclass(obj)
                                               and issubclass(obj, nn.Module))):
            return f"{_qualname(obj)} is not a torch.nn.Module subclass or instance"
        return None
    raise ValueError(f"Unknown plugin group {group!r}.")


def _start(group, obj, noun):
    """Resolve a name, make the checker and check the structure: (object, checker)."""
    obj = _resolve(f"hsproto.{group}", obj)
    ck = _Checker(f"{noun} {_label(obj)}")
    reason = validate_plugin(group, obj)
    ck.require(reason is None, "structure", reason)
    return obj, ck


def _check_moves(ck, module, run):
    """``run(moved module, dtype, device)`` works after ``.double()`` and, when a GPU is
    present, ``.to("cuda")``: every tensor must be a parameter or a buffer."""
    import torch

    hint = "Keep every tensor a parameter or a buffer."
    with ck.step(".double()", hint):
        out = run(copy.deepcopy(module).double(), torch.float64, "cpu")
    ck.require(out.dtype == torch.float64, ".double()", f"gives {out.dtype} outputs")
    if torch.cuda.is_available():
        with ck.step(".to('cuda')", hint):
            out = run(copy.deepcopy(module).to("cuda"), torch.float32, "cuda")
        ck.require(out.device.type == "cuda", ".to('cuda')", "outputs are not on the GPU")


# --------------------------------------------------------------------------- prototypes
_SIZES = ((2, 2), (3, 3), (4, 4), (6, 3), (6, 5), (8, 16), (10, 9), (10, 32))


def check_prototype_strategy(strategy, *, params=None, sizes=_SIZES):
    """Check a prototype strategy against hsproto's contract.

    Parameters
    ----------
    strategy : str, PrototypeStrategy class or instance
    params : dict, default=None
        Constructor parameters when ``strategy`` is a name or a class (default: the
        class's ``example_params()``).
    sizes : sequence of (n_classes, n_dims)
        Sizes to try; the strategy must support at least one of them.

    Checks: ``supports`` answers a bool and unsupported sizes raise ``ValueError``;
    supported sizes give a float64 ``(n_classes, n_dims)`` array of finite, unit-norm,
    distinct rows; the same ``random_state`` gives the same array and the global
    numpy/torch/random generators are left alone; invalid sizes raise; the strategy
    pickles; :func:`hsproto.make_prototypes` accepts it.

    Raises
    ------
    ContractError
        Naming the failed step and what to fix.
    """
    from .prototypes import PrototypeStrategy, make_prototypes

    obj, ck = _start("prototypes", strategy, "prototype strategy")
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

    for k, d in supported:
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
        with ck.step(f"generate({k}, {d}, random_state=None)"):
            obj.generate(k, d, random_state=None)

    k, d = supported[0]
    for bad in ((1, d), (k, 0), (2.5, d)):
        try:
            obj.generate(*bad, random_state=0)
        except (ValueError, TypeError):
            continue
        except Exception as exc:
            ck.fail(f"generate{bad}", f"raised {type(exc).__name__}; invalid sizes must raise "
                    f"ValueError or TypeError (PrototypeStrategy.generate checks them)")
        ck.fail(f"generate{bad}", "accepted an invalid size")
    reference = obj.generate(k, d, random_state=0)
    with ck.step("pickle round trip", "Keep the strategy's state picklable."):
        clone = pickle.loads(pickle.dumps(obj))
        same = np.array_equal(clone.generate(k, d, random_state=0), reference)
    ck.require(same, "pickle round trip", "the unpickled strategy generates different "
               "prototypes")
    with ck.step("hsproto.make_prototypes"):
        via_api = make_prototypes(obj, k, d, random_state=0)
    ck.require(np.array_equal(via_api, reference), "hsproto.make_prototypes",
               "differs from generate()")
    ck.require(isinstance(obj, PrototypeStrategy), "type", "not a PrototypeStrategy")


def _global_states():
    """Copies of the global numpy, random and torch generator states."""
    import torch

    _, key, pos, has_gauss, gauss = np.random.get_state()  # noqa: NPY002 - users rely on it
    legacy = np.concatenate([key, [pos, has_gauss]]), np.float64(gauss)
    return (*legacy, np.asarray(random.getstate()[1]), torch.random.get_rng_state().numpy())


# --------------------------------------------------------------------------- losses
def check_loss(loss, *, loss_params=None, n_classes=5, n_dims=4, strategy="simplex"):
    """Check a loss class against hsproto's contract (``hsproto.losses.PrototypeLoss``).

    The loss is built as the estimators build it, ``Loss(prototypes=P, poles=U,
    strategy=..., **loss_params)``, once per task layout it declares in ``tasks``.

    Checks, per declared task: one finite loss per sample for a batch of 6 and of 1, for
    hard labels and soft labels (mixing), and for a half/half mix of an antipodal pair;
    float64 ``gradcheck`` and finite gradients for the loss's own parameters; that
    minimising the loss over free embeddings makes ``class_scores`` predict the labels
    (``regression_output`` reach the targets); the inference hooks' shapes, a
    ``class_proba`` that sums to one and agrees with ``class_scores``, unit-norm
    ``current_prototypes``; that every tensor is a parameter or buffer, so ``.to()`` moves
    it (float64, and CUDA when available); determinism under a fixed torch seed; pickling.

    Raises
    ------
    ContractError
        Naming the failed step and what to fix.
    """
    import torch

    from .prototypes import joint_layout, make_prototypes, regression_poles

    cls, ck = _start("losses", loss, "loss")
    params = dict(loss_params or {})
    P = make_prototypes("auto", n_classes, n_dims, random_state=0)
    U = regression_poles(1, n_dims)
    layouts = []
    if "classification" in cls.tasks:
        layouts.append((P, None))
    if "regression" in cls.tasks:
        layouts.append((None, U))
    if set(_TASKS) <= set(cls.tasks):
        poles, joint = joint_layout(n_classes, n_dims + 1, random_state=0)
        layouts.append((joint, poles))

    def build(protos, poles):
        with ck.step(f"{cls.__name__}(prototypes=..., poles=..., strategy={strategy!r}, "
                     f"**{params})", "The constructor must accept prototypes, poles and "
                     "strategy, then its own keyword parameters."):
            out = cls(prototypes=protos, poles=poles, strategy=strategy, **params)
        stray = _stray_tensors(out)
        ck.require(not stray, "tensors", f"{stray} are plain tensor attributes; register "
                   f"them with register_buffer (or nn.Parameter) so .to(device) and "
                   f"state_dict carry them")
        return out

    for protos, poles in layouts:
        d = (protos if protos is not None else poles).shape[1]
        made = build(protos, poles)
        with ck.step("set_epoch(1)"):
            made.set_epoch(1)
        if protos is not None:
            _check_classification(ck, made, n_classes, d)
        if poles is not None:
            _check_regression(ck, made, len(poles), d)
        _check_loss_devices(ck, made, d, protos is not None)
        _check_loss_pickle(ck, made, d, protos is not None)
        with ck.step("concentration(z)"):
            conc = made.concentration(torch.randn(3, d))
        ck.require(tuple(conc.shape) == (3,), "concentration(z)",
                   f"returned shape {tuple(conc.shape)}, expected (3,)")


def _per_sample(ck, step, out, n):
    import torch

    ck.require(isinstance(out, torch.Tensor), step, f"returned {type(out).__name__}, "
               f"expected a tensor")
    ck.require(tuple(out.shape) == (n,), step, f"returned shape {tuple(out.shape)}, "
               f"expected ({n},): one loss per sample, the estimator applies sample "
               f"weights and the mean")
    ck.require(bool(torch.isfinite(out).all()), step, "returned non-finite values")


def _check_classification(ck, loss, k, d):
    import torch

    gen = torch.Generator().manual_seed(0)
    n = 6
    z = torch.randn(n, d, generator=gen)
    hard = torch.arange(n) % k
    soft = torch.softmax(torch.randn(n, k, generator=gen), dim=1)
    for name, target in (("hard labels", hard), ("soft labels", soft),
                         ("a batch of one", hard[:1])):
        step = f"classification(z, {name})"
        zz = (z[:1] if name == "a batch of one" else z).clone().requires_grad_(True)
        with ck.step(step), _seeded():
            out = loss.classification(zz, target)
        _per_sample(ck, step, out, len(zz))
        with ck.step(f"backward of {step}"):
            out.sum().backward()
        ck.require(zz.grad is not None and bool(torch.isfinite(zz.grad).all()), step,
                   "gives no or non-finite gradient with respect to z")
    if loss.fixed_prototypes:
        protos = loss.prototypes
        if protos is not None and len(protos) >= 2:
            mix = torch.zeros(2, k)
            mix[:, 0] = mix[:, 1] = 0.5
            zz = z[:2].clone().requires_grad_(True)
            step = "classification(z, half/half soft labels)"
            with ck.step(step), _seeded():
                out = loss.classification(zz, mix)
                out.sum().backward()
            ck.require(bool(torch.isfinite(out).all() and torch.isfinite(zz.grad).all()),
                       step, "non-finite loss or gradient (mixed prototypes can cancel)")
    params = [p for p in loss.parameters() if p.requires_grad]
    if params:
        with ck.step("gradient of the loss's parameters"), _seeded():
            grads = torch.autograd.grad(loss.classification(z, hard).sum(), params,
                                        allow_unused=True)
        ck.require(all(g is None or bool(torch.isfinite(g).all()) for g in grads),
                   "gradient of the loss's parameters", "is not finite")
    double = copy.deepcopy(loss).double()
    zd = torch.randn(3, d, dtype=torch.float64, generator=gen, requires_grad=True)
    for name, target in (("hard", hard[:3]), ("soft", soft[:3].double())):
        step = f"gradcheck of classification ({name} labels, float64)"
        with ck.step(step, "Use differentiable torch operations only."):
            ok = torch.autograd.gradcheck(_seeded_fn(lambda z, t=target: double.classification(
                z, t)), (zd,), eps=1e-6, atol=1e-4, raise_exception=False)
        ck.require(ok, step, "analytic and numerical gradients differ")

    with ck.step("class_scores(z)"), _seeded():
        scores = loss.class_scores(z)
    ck.require(tuple(scores.shape) == (n, k) and bool(torch.isfinite(scores).all()),
               "class_scores(z)", f"must return finite ({n}, {k}) scores, got "
               f"{tuple(scores.shape)}")
    with ck.step("class_proba(z)"), _seeded():
        proba = loss.class_proba(z)
    if proba is not None:
        ck.require(tuple(proba.shape) == (n, k), "class_proba(z)",
                   f"returned shape {tuple(proba.shape)}, expected {(n, k)}")
        ok = bool((proba >= 0).all()) and torch.allclose(proba.sum(1), torch.ones(n),
                                                          atol=1e-5)
        ck.require(ok, "class_proba(z)", "rows must be probabilities summing to one")
        ck.require(torch.equal(proba.argmax(1), scores.argmax(1)), "class_proba(z)",
                   "disagrees with class_scores on the predicted class")
    with ck.step("current_prototypes()"):
        current = loss.current_prototypes()
    ck.require(tuple(current.shape) == (k, d), "current_prototypes()",
               f"returned shape {tuple(current.shape)}, expected {(k, d)}")
    ck.require(torch.allclose(current.norm(dim=1), torch.ones(k), atol=1e-5),
               "current_prototypes()", "rows must have unit norm")

    # minimising the loss over free embeddings must predict the labels
    learner = copy.deepcopy(loss)
    zfree = torch.randn(2 * k, d, generator=gen).requires_grad_(True)
    labels = torch.arange(2 * k) % k
    opt = torch.optim.Adam([zfree, *learner.parameters()], lr=0.05)
    with ck.step("minimising classification over free embeddings"), _seeded():
        for epoch in range(300):
            learner.set_epoch(epoch)
            opt.zero_grad()
            learner.classification(zfree, labels).mean().backward()
            opt.step()
        pred = learner.class_scores(zfree.detach()).argmax(1)
    ck.require(torch.equal(pred, labels), "minimising classification over free embeddings",
               f"class_scores predict {pred.tolist()} for labels {labels.tolist()}: "
               f"the loss's minimum must score the target class highest")


def _check_regression(ck, loss, t, d):
    import torch

    gen = torch.Generator().manual_seed(1)
    n = 6
    z = torch.randn(n, d, generator=gen, requires_grad=True)
    r = torch.rand(n, t, generator=gen) * 1.6 - 0.8
    with ck.step("regression(z, r)"), _seeded():
        out = loss.regression(z, r)
    _per_sample(ck, "regression(z, r)", out, n)
    with ck.step("backward of regression(z, r)"):
        out.sum().backward()
    ck.require(bool(torch.isfinite(z.grad).all()), "regression(z, r)",
               "non-finite gradient with respect to z")
    double = copy.deepcopy(loss).double()
    zd = z.detach()[:3].double().requires_grad_(True)
    with ck.step("gradcheck of regression (float64)"):
        ok = torch.autograd.gradcheck(_seeded_fn(lambda z: double.regression(
            z, r[:3].double())), (zd,), eps=1e-6, atol=1e-4, raise_exception=False)
    ck.require(ok, "gradcheck of regression (float64)",
               "analytic and numerical gradients differ")
    with ck.step("regression_output(z)"):
        pred = loss.regression_output(z.detach())
    ck.require(tuple(pred.shape) == (n, t), "regression_output(z)",
               f"returned shape {tuple(pred.shape)}, expected {(n, t)}")
    learner = copy.deepcopy(loss)
    zfree = z.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([zfree, *learner.parameters()], lr=0.05)
    with ck.step("minimising regression over free embeddings"), _seeded():
        for _ in range(300):
            opt.zero_grad()
            learner.regression(zfree, r).mean().backward()
            opt.step()
        pred = learner.regression_output(zfree.detach())
    err = float((pred - r).abs().max())
    ck.require(err < 0.05, "minimising regression over free embeddings",
               f"regression_output is {err:.3f} from the targets at the loss's minimum "
               f"(tolerance 0.05)")


def _seeded_fn(fn):
    def wrapped(*args):
        with _seeded():
            return fn(*args)
    return wrapped


def _loss_outputs(loss, z, classification):
    with _seeded():
        if classification:
            return loss.classification(z, (z.abs().argmax(1) % len(loss.prototypes)))
        return loss.regression(z, z[:, :len(loss.poles)].tanh())


def _check_loss_devices(ck, loss, d, classification):
    import torch

    z = torch.randn(4, d, generator=torch.Generator().manual_seed(2))
    with ck.step("outputs under a fixed torch seed"):
        first = _loss_outputs(loss, z, classification)
        second = _loss_outputs(loss, z, classification)
    ck.require(torch.equal(first, second), "outputs under a fixed torch seed",
               "differ between two calls; draw randomness from torch's generator only")
    _check_moves(ck, loss, lambda moved, dtype, device: _loss_outputs(
        moved, z.to(device, dtype), classification))


def _check_loss_pickle(ck, loss, d, classification):
    import torch

    z = torch.randn(4, d, generator=torch.Generator().manual_seed(3))
    with ck.step("pickle round trip", "Keep the loss's state picklable."):
        clone = pickle.loads(pickle.dumps(loss))
        same = torch.equal(_loss_outputs(clone, z, classification),
                           _loss_outputs(loss, z, classification))
    ck.require(same, "pickle round trip", "the unpickled loss gives different outputs")


# --------------------------------------------------------------------------- backbones
def check_backbone(backbone, *, input_shape=None, module_params=None, fit=True):
    """Check a backbone against hsproto's contract.

    The backbone is built as the estimators build it: a class gets ``input_shape`` (the
    shape of one sample) when its constructor takes that argument, plus
    ``module_params``; an instance is deep-copied. ``input_shape=None`` uses the
    backbone's ``example_input_shape`` attribute, else ``(12,)``.

    Checks: a finite 2-d float output ``(n, n_features)`` in train and eval mode; in eval
    mode a sample's features do not depend on the rest of the batch; finite gradients
    reaching every trainable parameter; every tensor is a parameter or buffer (float64,
    and CUDA when available); seeded construction is reproducible; pickling; and, with
    ``fit=True``, a two-epoch :class:`hsproto.HypersphericalClassifier` fit and predict.

    Raises
    ------
    ContractError
        Naming the failed step and what to fix.
    """
    import torch

    from .estimators import HypersphericalClassifier

    obj, ck = _start("backbones", backbone, "backbone")
    if input_shape is None:
        input_shape = getattr(obj, "example_input_shape", (12,))
    shape = tuple(int(s) for s in input_shape)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(5, *shape, generator=gen)
    est = HypersphericalClassifier(module=obj, module_params=module_params)

    def build(seed=0):
        with ck.step("construction", "A class is called with input_shape= (when it takes "
                     "it) and module_params."), _seeded(seed):
            return est._make_backbone(X.numpy())

    net = build()
    stray = _stray_tensors(net)
    ck.require(not stray, "tensors", f"{stray} are plain tensor attributes; register them "
               f"with register_buffer (or nn.Parameter) so .to(device) carries them")
    for mode in ("train", "eval"):
        net.train(mode == "train")
        step = f"forward in {mode} mode on input of shape {tuple(X.shape)}"
        with ck.step(step), _seeded():
            out = net(X)
        ck.require(isinstance(out, torch.Tensor) and out.dim() == 2 and out.shape[0] == len(X),
                   step, f"must return a 2-d tensor (n_samples, n_features), got "
                   f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out)}")
        ck.require(out.is_floating_point() and bool(torch.isfinite(out).all()), step,
                   "must return finite floating-point features")
    with torch.no_grad():
        alone = net(X[:1])
        batched = net(X)
    ck.require(torch.allclose(alone[0], batched[0], atol=1e-4, rtol=1e-4),
               "forward in eval mode", "a sample's features depend on the rest of the batch; "
               "eval mode must not use batch statistics")
    net.train()
    net.zero_grad()
    with ck.step("backward"), _seeded():
        net(X).pow(2).mean().backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    ck.require(trainable, "parameters", "has no trainable parameters")
    no_grad = [n for n, p in trainable if p.grad is None]
    ck.require(not no_grad, "backward", f"parameters {no_grad} get no gradient from the "
               f"output; remove them or set requires_grad=False")
    bad = [n for n, p in trainable if not bool(torch.isfinite(p.grad).all())]
    ck.require(not bad, "backward", f"non-finite gradients in {bad}")

    net.eval()
    _check_moves(ck, net, lambda moved, dtype, device: moved(X.to(device, dtype)))
    state_a = build(0).state_dict()
    state_b = build(0).state_dict()
    same = state_a.keys() == state_b.keys() and all(torch.equal(state_a[k], state_b[k])
                                                    for k in state_a)
    ck.require(same, "construction under a fixed torch seed", "is not reproducible; "
               "initialise from torch's global generator only")
    with ck.step("pickle round trip", "Keep the backbone picklable (no lambdas or open "
                 "handles)."):
        clone = pickle.loads(pickle.dumps(net))
        with torch.no_grad():
            same = torch.allclose(clone(X), net(X))
    ck.require(same, "pickle round trip", "the unpickled backbone gives different outputs")

    if fit:
        rng = np.random.default_rng(0)
        Xf = rng.normal(size=(24, *shape)).astype(np.float32)
        yf = np.arange(24) % 3
        with ck.step("HypersphericalClassifier fit/predict (2 epochs)"):
            clf = HypersphericalClassifier(module=obj, module_params=module_params,
                                           max_epochs=2, batch_size=8, random_state=0)
            pred = clf.fit(Xf, yf).predict(Xf)
        ck.require(pred.shape == (24,), "HypersphericalClassifier fit/predict",
                   f"predict returned shape {pred.shape}")
