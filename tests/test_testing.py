"""hsproto.testing: the checkers pass every built-in and catch each kind of violation
with a message that says what to fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import hsproto
from hsproto import Layout, registry
from hsproto.losses import PrototypeLoss, unit
from hsproto.losses.hpn import HPNLoss
from hsproto.prototypes import PrototypeStrategy
from hsproto.testing import (
    ContractError,
    check_backbone,
    check_loss,
    check_prototype_strategy,
    validate_plugin,
)

FAST = {"separation": {"steps": 60}, "uniformity": {"steps": 60}, "auto": {"steps": 60},
        "privileged": {"steps": 60, "class_embeddings": np.random.default_rng(0)
                       .standard_normal((6, 8))}}


# ------------------------------------------------------------------ built-ins pass
@pytest.mark.parametrize("name", registry.available("prototypes"))
def test_builtin_strategies_pass(name):
    strategy = registry.get("prototypes", name)
    if strategy.__module__.startswith("hsproto."):
        check_prototype_strategy(name, params=FAST.get(name),
                                 sizes=[(2, 2), (4, 4), (6, 3), (6, 5), (10, 9)])


@pytest.mark.parametrize("name", registry.available("losses"))
def test_builtin_losses_pass(name):
    if registry.get("losses", name).__module__.startswith("hsproto."):
        check_loss(name)


@pytest.mark.parametrize("name", registry.available("backbones"))
def test_builtin_backbones_pass(name):
    if registry.get("backbones", name).__module__.startswith("hsproto."):
        check_backbone(name)


# ------------------------------------------------------------------ strategies
class GlobalRNG(PrototypeStrategy):
    def _generate(self, n_classes, n_dims, seed):
        return np.random.standard_normal((n_classes, n_dims))  # noqa: NPY002


class Twins(PrototypeStrategy):
    def _generate(self, n_classes, n_dims, seed):
        return np.ones((n_classes, n_dims))


class Unseeded(PrototypeStrategy):
    def _generate(self, n_classes, n_dims, seed):
        return np.random.default_rng().standard_normal((n_classes, n_dims))


class LyingSupport(PrototypeStrategy):
    def supports(self, n_classes, n_dims):
        return True

    def _generate(self, n_classes, n_dims, seed):
        return np.eye(n_classes, n_dims)


class OwnGenerate(PrototypeStrategy):
    def generate(self, n_classes, n_dims, *, random_state=None):
        return np.eye(n_classes, n_dims, dtype=np.float32)


@pytest.mark.parametrize(("strategy", "match"), [
    (GlobalRNG, "changed a global random generator; draw from a generator seeded"),
    (Twins, "two classes share a prototype"),
    (Unseeded, "is not deterministic for a fixed random_state"),
    (LyingSupport, r"generate\(6, 3, random_state=0\) raised ValueError: .*zero row"),
    (OwnGenerate, "returned dtype float32, expected float64"),
    (object, "not a hsproto.prototypes.PrototypeStrategy subclass"),
])
def test_strategy_violations(strategy, match):
    with pytest.raises(ContractError, match=match):
        check_prototype_strategy(strategy)


def test_strategy_constructor_needs_params():
    with pytest.raises(ContractError, match="class_embeddings is required.*through params="):
        check_prototype_strategy("embedding", params={})


# ------------------------------------------------------------------ losses
class MeanLoss(HPNLoss):
    def classification(self, z, target):
        return super().classification(z, target).mean()


class StrayTensor(HPNLoss):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.offset = torch.zeros(1)


class Backwards(PrototypeLoss):
    tasks = ("classification",)

    def classification(self, z, target):       # pushes z away from its prototype
        idx = target.long() if target.dim() == 1 else target.argmax(1)
        return (unit(z) * self.prototypes[idx]).sum(1)


class BadProba(HPNLoss):
    def class_proba(self, z):
        return torch.ones(len(z), len(self.prototypes))


class WrongGradient(HPNLoss):
    def classification(self, z, target):      # same values, doubled gradient
        return super().classification(z.detach() + 2 * (z - z.detach()), target)


class OldStyle(HPNLoss):
    def __init__(self, prototypes=None, poles=None, *, strategy=None):
        super().__init__(Layout(3, prototypes=prototypes))


class NoRegression(PrototypeLoss):
    tasks = ("classification", "regression")

    def classification(self, z, target):
        return (1 - (unit(z) * self.prototypes[target.long()]).sum(1)) ** 2


@pytest.mark.parametrize(("loss", "match"), [
    (MeanLoss, r"returned shape \(\), expected \(6,\): one loss per sample"),
    (StrayTensor, r"\['offset'\] are plain tensor attributes; register them"),
    (Backwards, "class_scores predict .* the loss's minimum must score the target class"),
    (BadProba, "rows must be probabilities summing to one"),
    (WrongGradient, "gradcheck of classification .*analytic and numerical gradients differ"),
    (NoRegression, r"declares tasks \['regression'\] but does not implement them"),
    (HPNLoss(Layout(3, prototypes=np.eye(3))), "not a hsproto.losses.PrototypeLoss subclass"),
    (OldStyle, r"must take the layout as its first argument.*hsproto 0.1"),
])
def test_loss_violations(loss, match):
    with pytest.raises(ContractError, match=match):
        check_loss(loss)


def test_loss_with_bad_params_names_the_constructor():
    with pytest.raises(ContractError, match=r"CosineLoss\(layout, .*raised TypeError"):
        check_loss("cosine", loss_params={"nope": 1})


# ------------------------------------------------------------------ backbones
class FourD(nn.Module):
    def __init__(self, input_shape):
        super().__init__()
        self.lin = nn.Linear(input_shape[0], 4)

    def forward(self, x):
        return self.lin(x)[:, :, None, None]


class BatchStats(nn.Module):
    def __init__(self, input_shape):
        super().__init__()
        self.lin = nn.Linear(input_shape[0], 4)

    def forward(self, x):
        out = self.lin(x)
        return out - out.mean(0) if len(out) > 1 else out


class Unused(nn.Module):
    def __init__(self, input_shape):
        super().__init__()
        self.lin = nn.Linear(input_shape[0], 4)
        self.spare = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x)


class Unpicklable(nn.Module):
    def __init__(self, input_shape):
        super().__init__()
        self.lin = nn.Linear(input_shape[0], 4)
        self.act = lambda t: t.relu()

    def forward(self, x):
        return self.act(self.lin(x))


@pytest.mark.parametrize(("backbone", "match"), [
    (FourD, r"must return a 2-d tensor \(n_samples, n_features\), got \(5, 4, 1, 1\)"),
    (BatchStats, "depend on the rest of the batch; eval mode must not use batch statistics"),
    (Unused, r"parameters \['spare.weight', 'spare.bias'\] get no gradient"),
    (Unpicklable, "pickle round trip raised .*Keep the backbone picklable"),
    (dict, "not a torch.nn.Module subclass or instance"),
])
def test_backbone_violations(backbone, match):
    with pytest.raises(ContractError, match=match):
        check_backbone(backbone, fit=False)


def test_backbone_instance_and_input_shape():
    check_backbone(nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)),
                   input_shape=(3, 4, 4))
    with pytest.raises(ContractError, match="construction raised ValueError: The 'mlp' "
                       "backbone expects 2-d X"):
        check_backbone("mlp", input_shape=(1, 8, 8))


def test_validate_plugin_groups():
    assert validate_plugin("hsproto.losses", HPNLoss) is None
    assert validate_plugin("prototypes", Twins()) is None
    assert "implements neither" in validate_plugin("prototypes", PrototypeStrategy)
    with pytest.raises(ValueError, match="Unknown plugin group"):
        validate_plugin("optimizers", object)


def test_a_registered_strategy_whose_name_differs_is_reported(monkeypatch):
    class Mislabelled(PrototypeStrategy):
        name = "gauss"

        def _unsupported(self, n_classes, n_dims):
            return None if n_dims >= 3 else "needs n_dims >= 3."

        def _generate(self, n_classes, n_dims, seed):
            return np.random.default_rng(seed).normal(size=(n_classes, n_dims))

    hsproto.register("prototypes", "gaussian", Mislabelled)
    try:
        with pytest.raises(ContractError, match="declares name = 'gauss' but is registered "
                                                "as 'gaussian'"):
            check_prototype_strategy("gaussian")
        # errors and layouts name it as selected, whatever the class says
        with pytest.raises(ValueError, match="Prototype strategy 'gaussian' does not support"):
            hsproto.make_prototypes("gaussian", 3, 2)
        assert hsproto.make_layout(3, n_classes=4, strategy="gaussian").strategy == "gaussian"
    finally:
        hsproto.unregister("prototypes", "gaussian")
