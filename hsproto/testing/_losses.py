"""``check_loss``: a loss class against hsproto's contract."""

from __future__ import annotations

import copy
import pickle

import torch

from ..losses._base import TASKS
from ..prototypes import make_layout
from ._checker import check_moves, seeded, start, stray_tensors

__all__ = ["check_loss"]


def check_loss(loss, *, loss_params=None, n_classes=5, n_dims=4, strategy="simplex"):
    """Check a loss class against hsproto's contract (``hsproto.losses.PrototypeLoss``).

    The loss is built as the estimators build it, ``Loss(layout, **loss_params)``, once
    per task layout it declares in ``tasks`` (classes placed by ``strategy``; a
    regression pole; both, for a loss that does both tasks).

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
    cls, ck = start("losses", loss, "loss")
    params = dict(loss_params or {})
    layouts = []
    if "classification" in cls.tasks:
        layouts.append(make_layout(n_dims, n_classes=n_classes, strategy=strategy,
                                   random_state=0))
    if "regression" in cls.tasks:
        layouts.append(make_layout(n_dims, n_targets=1))
    if set(TASKS) <= set(cls.tasks):
        layouts.append(make_layout(n_dims + 1, n_classes=n_classes, n_targets=1,
                                   strategy=strategy, random_state=0))

    def build(layout):
        with ck.step(f"{cls.__name__}(layout, **{params})", "The constructor must take the "
                     "layout first, then its own keyword parameters."):
            out = cls(layout, **params)
        stray = stray_tensors(out)
        ck.require(not stray, "tensors", f"{stray} are plain tensor attributes; register "
                   f"them with register_buffer (or nn.Parameter) so .to(device) and "
                   f"state_dict carry them")
        return out

    for layout in layouts:
        protos, poles, d = layout.prototypes, layout.poles, layout.n_dims
        made = build(layout)
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
    ck.require(isinstance(out, torch.Tensor), step, f"returned {type(out).__name__}, "
               f"expected a tensor")
    ck.require(tuple(out.shape) == (n,), step, f"returned shape {tuple(out.shape)}, "
               f"expected ({n},): one loss per sample, the estimator applies sample "
               f"weights and the mean")
    ck.require(bool(torch.isfinite(out).all()), step, "returned non-finite values")


def _check_classification(ck, loss, k, d):
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(6, d, generator=gen)
    hard = torch.arange(6) % k
    soft = torch.softmax(torch.randn(6, k, generator=gen), dim=1)
    _classification_gradients(ck, loss, z, hard, soft, gen)
    _classification_hooks(ck, loss, z, k, d)
    _classification_minimum(ck, loss, k, d, gen)


def _classification_gradients(ck, loss, z, hard, soft, gen):
    """Per-sample finite losses with finite gradients (hard, soft, one sample, a
    cancelling mix), finite parameter gradients, and float64 gradcheck."""
    for name, target in (("hard labels", hard), ("soft labels", soft),
                         ("a batch of one", hard[:1])):
        step = f"classification(z, {name})"
        zz = (z[:1] if name == "a batch of one" else z).clone().requires_grad_(True)
        with ck.step(step), seeded():
            out = loss.classification(zz, target)
        _per_sample(ck, step, out, len(zz))
        with ck.step(f"backward of {step}"):
            out.sum().backward()
        ck.require(zz.grad is not None and bool(torch.isfinite(zz.grad).all()), step,
                   "gives no or non-finite gradient with respect to z")
    if loss.fixed_prototypes and loss.prototypes is not None and len(loss.prototypes) >= 2:
        mix = torch.zeros(2, soft.shape[1])
        mix[:, 0] = mix[:, 1] = 0.5
        zz = z[:2].clone().requires_grad_(True)
        step = "classification(z, half/half soft labels)"
        with ck.step(step), seeded():
            out = loss.classification(zz, mix)
            out.sum().backward()
        ck.require(bool(torch.isfinite(out).all() and torch.isfinite(zz.grad).all()),
                   step, "non-finite loss or gradient (mixed prototypes can cancel)")
    params = [p for p in loss.parameters() if p.requires_grad]
    if params:
        with ck.step("gradient of the loss's parameters"), seeded():
            grads = torch.autograd.grad(loss.classification(z, hard).sum(), params,
                                        allow_unused=True)
        ck.require(all(g is None or bool(torch.isfinite(g).all()) for g in grads),
                   "gradient of the loss's parameters", "is not finite")
    double = copy.deepcopy(loss).double()
    zd = torch.randn(3, z.shape[1], dtype=torch.float64, generator=gen, requires_grad=True)
    for name, target in (("hard", hard[:3]), ("soft", soft[:3].double())):
        step = f"gradcheck of classification ({name} labels, float64)"
        with ck.step(step, "Use differentiable torch operations only."):
            ok = torch.autograd.gradcheck(_seeded_fn(lambda z, t=target: double.classification(
                z, t)), (zd,), eps=1e-6, atol=1e-4, raise_exception=False)
        ck.require(ok, step, "analytic and numerical gradients differ")


def _classification_hooks(ck, loss, z, k, d):
    """``class_scores``, ``class_proba`` and ``current_prototypes``: shapes and values."""
    n = len(z)
    with ck.step("class_scores(z)"), seeded():
        scores = loss.class_scores(z)
    ck.require(tuple(scores.shape) == (n, k) and bool(torch.isfinite(scores).all()),
               "class_scores(z)", f"must return finite ({n}, {k}) scores, got "
               f"{tuple(scores.shape)}")
    with ck.step("class_proba(z)"), seeded():
        proba = loss.class_proba(z)
    if proba is not None:
        ck.require(tuple(proba.shape) == (n, k), "class_proba(z)",
                   f"returned shape {tuple(proba.shape)}, expected {(n, k)}")
        ok = bool((proba >= 0).all()) and torch.allclose(proba.sum(1), torch.ones(n),
                                                          atol=1e-5)
        ck.require(ok, "class_proba(z)", "rows must be probabilities summing to one")
        ck.require(loss.sampled_proba or torch.equal(proba.argmax(1), scores.argmax(1)),
                   "class_proba(z)", "disagrees with class_scores on the predicted class "
                   "(set sampled_proba = True if class_proba is a Monte-Carlo estimate)")
    with ck.step("current_prototypes()"):
        current = loss.current_prototypes()
    ck.require(tuple(current.shape) == (k, d), "current_prototypes()",
               f"returned shape {tuple(current.shape)}, expected {(k, d)}")
    ck.require(torch.allclose(current.norm(dim=1), torch.ones(k), atol=1e-5),
               "current_prototypes()", "rows must have unit norm")


def _classification_minimum(ck, loss, k, d, gen):
    """Minimising the loss over free embeddings must predict the labels."""
    learner = copy.deepcopy(loss)
    zfree = torch.randn(2 * k, d, generator=gen).requires_grad_(True)
    labels = torch.arange(2 * k) % k
    opt = torch.optim.Adam([zfree, *learner.parameters()], lr=0.05)
    with ck.step("minimising classification over free embeddings"), seeded():
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
    gen = torch.Generator().manual_seed(1)
    n = 6
    z = torch.randn(n, d, generator=gen, requires_grad=True)
    r = torch.rand(n, t, generator=gen) * 1.6 - 0.8
    with ck.step("regression(z, r)"), seeded():
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
    with ck.step("minimising regression over free embeddings"), seeded():
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
        with seeded():
            return fn(*args)
    return wrapped


def _loss_outputs(loss, z, classification):
    with seeded():
        if classification:
            return loss.classification(z, (z.abs().argmax(1) % loss.layout.n_classes))
        return loss.regression(z, z[:, :len(loss.poles)].tanh())


def _check_loss_devices(ck, loss, d, classification):
    z = torch.randn(4, d, generator=torch.Generator().manual_seed(2))
    with ck.step("outputs under a fixed torch seed"):
        first = _loss_outputs(loss, z, classification)
        second = _loss_outputs(loss, z, classification)
    ck.require(torch.equal(first, second), "outputs under a fixed torch seed",
               "differ between two calls; draw randomness from torch's generator only")
    check_moves(ck, loss, lambda moved, dtype, device: _loss_outputs(
        moved, z.to(device, dtype), classification))


def _check_loss_pickle(ck, loss, d, classification):
    z = torch.randn(4, d, generator=torch.Generator().manual_seed(3))
    with ck.step("pickle round trip", "Keep the loss's state picklable."):
        clone = pickle.loads(pickle.dumps(loss))
        same = torch.equal(_loss_outputs(clone, z, classification),
                           _loss_outputs(loss, z, classification))
    ck.require(same, "pickle round trip", "the unpickled loss gives different outputs")
