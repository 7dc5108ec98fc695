"""``check_backbone``: a backbone against hsproto's contract."""

from __future__ import annotations

import pickle

import numpy as np
import torch

from ..backbones._base import build_backbone
from ..estimators import HypersphericalClassifier
from ._checker import check_moves, seeded, start, stray_tensors

__all__ = ["check_backbone"]


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
    obj, ck = start("backbones", backbone, "backbone")
    if input_shape is None:
        input_shape = getattr(obj, "example_input_shape", (12,))
    shape = tuple(int(s) for s in input_shape)
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(5, *shape, generator=gen)

    def build(seed=0):
        with ck.step("construction", "A class is called with input_shape= (when it takes "
                     "it) and module_params."), seeded(seed):
            return build_backbone(obj, module_params, shape)

    net = build()
    stray = stray_tensors(net)
    ck.require(not stray, "tensors", f"{stray} are plain tensor attributes; register them "
               f"with register_buffer (or nn.Parameter) so .to(device) carries them")
    _check_forward(ck, net, X)
    _check_backward(ck, net, X)
    net.eval()
    check_moves(ck, net, lambda moved, dtype, device: moved(X.to(device, dtype)))
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
        _check_fit(ck, obj, module_params, shape)


def _check_forward(ck, net, X):
    """Finite 2-d features in both modes; in eval mode independent of the batch."""
    for mode in ("train", "eval"):
        net.train(mode == "train")
        step = f"forward in {mode} mode on input of shape {tuple(X.shape)}"
        with ck.step(step), seeded():
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


def _check_backward(ck, net, X):
    """Finite gradients reach every trainable parameter."""
    net.train()
    net.zero_grad()
    with ck.step("backward"), seeded():
        net(X).pow(2).mean().backward()
    trainable = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    ck.require(trainable, "parameters", "has no trainable parameters")
    no_grad = [n for n, p in trainable if p.grad is None]
    ck.require(not no_grad, "backward", f"parameters {no_grad} get no gradient from the "
               f"output; remove them or set requires_grad=False")
    bad = [n for n, p in trainable if not bool(torch.isfinite(p.grad).all())]
    ck.require(not bad, "backward", f"non-finite gradients in {bad}")


def _check_fit(ck, obj, module_params, shape):
    rng = np.random.default_rng(0)
    Xf = rng.normal(size=(24, *shape)).astype(np.float32)
    yf = np.arange(24) % 3
    with ck.step("HypersphericalClassifier fit/predict (2 epochs)"):
        clf = HypersphericalClassifier(module=obj, module_params=module_params,
                                       max_epochs=2, batch_size=8, random_state=0)
        pred = clf.fit(Xf, yf).predict(Xf)
    ck.require(pred.shape == (24,), "HypersphericalClassifier fit/predict",
               f"predict returned shape {pred.shape}")
