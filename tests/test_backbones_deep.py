"""The ``resnet_cifar`` and ``torchvision`` backbones. Nothing is downloaded: pretrained
weights come from state-dict files written here."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

import hsproto
from hsproto import HypersphericalClassifier, registry
from hsproto.backbones import CifarResNet, TorchvisionBackbone
from hsproto.testing import check_backbone


def test_registered_names():
    infos = {i.name: i for i in hsproto.list_plugins("backbones")}
    for name, cls in (("resnet_cifar", CifarResNet), ("torchvision", TorchvisionBackbone)):
        assert infos[name].distribution == "hsproto"
        assert infos[name].group == "hsproto.backbones"
        assert infos[name].status == "ok", infos[name]
        assert registry.get("backbones", name) is cls


# ------------------------------------------------------------------ resnet_cifar
def test_resnet_cifar_contract():
    check_backbone("resnet_cifar", fit=False)
    check_backbone("resnet_cifar", input_shape=(1, 8, 8),
                   module_params={"depth": 8, "width": 4, "shortcut": "B"})


# He et al. (2016), Table 6: parameters of the CIFAR-10 ResNets (option A, with the
# 64x10 classifier, which the backbone leaves out: 650 parameters)
@pytest.mark.parametrize(("depth", "params"), [(20, 0.27e6), (32, 0.46e6), (56, 0.85e6),
                                               (110, 1.7e6)])
def test_resnet_cifar_size_matches_the_paper(depth, params):
    net = CifarResNet((3, 32, 32), depth=depth)
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == pytest.approx(params, rel=0.03)
    convs = sum(isinstance(m, nn.Conv2d) for m in net.modules())
    assert convs + 1 == depth                    # + the classifier hsproto adds
    projected = CifarResNet((3, 32, 32), depth=depth, shortcut="B")
    assert sum(isinstance(m, nn.Conv2d) for m in projected.modules()) == convs + 2


@pytest.mark.parametrize(("width", "shortcut"), [(16, "A"), (8, "B"), (32, "A")])
def test_resnet_cifar_features(width, shortcut):
    net = CifarResNet((2, 16, 16), depth=8, width=width, shortcut=shortcut)
    out = net(torch.randn(3, 2, 16, 16))
    assert out.shape == (3, 64 * width // 16) == (3, net.n_features)
    clone = pickle.loads(pickle.dumps(net.eval()))
    x = torch.randn(2, 2, 16, 16)
    torch.testing.assert_close(clone(x), net(x))


@pytest.mark.parametrize("depth", [0, 2, 15, 21, 33, 20.0, "20"])
def test_resnet_cifar_bad_depth(depth):
    with pytest.raises(ValueError, match=r"depth must be 6n \+ 2 with n >= 1"):
        CifarResNet((3, 32, 32), depth=depth)


def test_resnet_cifar_bad_arguments():
    with pytest.raises(ValueError, match="expects 4-d X"):
        CifarResNet((3, 32))
    with pytest.raises(ValueError, match="shortcut must be one of"):
        CifarResNet((3, 32, 32), shortcut="C")
    with pytest.raises(ValueError, match="width must be a positive int"):
        CifarResNet((3, 32, 32), width=0)


# ------------------------------------------------------------------ torchvision
def trunk_state(backbone):
    return {k.removeprefix("trunk."): v for k, v in backbone.state_dict().items()}


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    """A resnet18 state dict with a 10-class classifier, and the model itself."""
    torch.manual_seed(1)
    model = torchvision.models.resnet18(num_classes=10)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pt"
    torch.save(model.state_dict(), path)
    return path, model.state_dict()


def test_torchvision_contract():
    check_backbone("torchvision", module_params={"arch": "resnet18"})
    check_backbone(TorchvisionBackbone, input_shape=(3, 8, 8),
                   module_params={"arch": "resnet18", "small_input": True}, fit=False)


def test_torchvision_weights_from_a_state_dict_file(resnet18_file):
    path, saved = resnet18_file
    for weights in (path, str(path)):
        backbone = TorchvisionBackbone((3, 32, 32), weights=weights)
        state = trunk_state(backbone)
        assert state.keys() == {k for k in saved if not k.startswith("fc.")}
        assert all(torch.equal(state[k], saved[k]) for k in state)
        assert backbone.n_features == 512
        assert isinstance(backbone.trunk.fc, nn.Identity)
    assert all(name.startswith("trunk.") for name, _ in backbone.named_parameters())


def test_torchvision_file_with_another_classifier_or_none(tmp_path, resnet18_file):
    _, saved = resnet18_file
    for name, state in (("1000.pt", torchvision.models.resnet18().state_dict()),
                        ("headless.pt", {k: v for k, v in saved.items()
                                         if not k.startswith("fc.")})):
        torch.save(state, tmp_path / name)
        backbone = TorchvisionBackbone((3, 32, 32), weights=tmp_path / name)
        assert torch.equal(trunk_state(backbone)["conv1.weight"], state["conv1.weight"])


def test_torchvision_weights_by_name_use_torchvisions_loader(monkeypatch, resnet18_file):
    # torchvision's own loader, here handed a local state dict instead of downloading
    torch.manual_seed(2)
    saved = torchvision.models.resnet18().state_dict()
    calls = []

    def get_state_dict(self, *args, **kwargs):
        calls.append((self.name, kwargs.get("progress")))
        return saved

    enum = torchvision.models.ResNet18_Weights
    monkeypatch.setattr(enum, "get_state_dict", get_state_dict)
    for weights in ("DEFAULT", "IMAGENET1K_V1", "ResNet18_Weights.IMAGENET1K_V1"):
        state = trunk_state(TorchvisionBackbone((3, 32, 32), weights=weights))
        assert torch.equal(state["layer4.1.bn2.running_mean"],
                           saved["layer4.1.bn2.running_mean"])
    assert calls == [("IMAGENET1K_V1", False)] * 3


def test_torchvision_bad_weights(tmp_path, monkeypatch):
    def no_download(self, *args, **kwargs):
        raise AssertionError("tried to load torchvision weights")

    monkeypatch.setattr(torchvision.models.ResNet18_Weights, "get_state_dict", no_download)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"Unknown weights='IMAGENET9K'.*'IMAGENET1K_V1', "
                                         r"'DEFAULT'"):
        TorchvisionBackbone((3, 32, 32), weights="IMAGENET9K")
    with pytest.raises(ValueError, match="Valid names: 'IMAGENET1K_V1'"):
        TorchvisionBackbone((3, 32, 32), weights="ResNet50_Weights.IMAGENET1K_V2")
    missing = tmp_path / "missing.pt"
    for weights in (missing, str(missing), "missing.pth"):
        with pytest.raises(FileNotFoundError, match=r"missing\.pth?'.*torchvision weights "
                                                    r"name or the path of a state-dict"):
            TorchvisionBackbone((3, 32, 32), weights=weights)
    (tmp_path / "corrupt.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"Cannot read the weights file .*corrupt\.pt"):
        TorchvisionBackbone((3, 32, 32), weights=tmp_path / "corrupt.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="does not hold a state dict"):
        TorchvisionBackbone((3, 32, 32), weights=tmp_path / "list.pt")
    with pytest.raises(ValueError, match="weights must be None"):
        TorchvisionBackbone((3, 32, 32), weights=1)


def test_torchvision_file_for_another_arch(tmp_path):
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pt")
    with pytest.raises(ValueError, match=r"does not fit torchvision's arch='resnet18' "
                                         r"\(unexpected keys: layer1\.2\."):
        TorchvisionBackbone((3, 32, 32), weights=tmp_path / "r34.pt")
    state = torchvision.models.resnet18().state_dict()
    state["conv1.weight"] = state["conv1.weight"][:, :1]
    del state["layer4.1.bn2.weight"]
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"missing keys: layer4\.1\.bn2\.weight; shape "
                                         r"mismatches .*conv1\.weight"):
        TorchvisionBackbone((3, 32, 32), weights=tmp_path / "bad.pt")


def test_torchvision_unknown_or_unusable_arch():
    with pytest.raises(ValueError, match=r"arch='resnt18'\. Did you mean 'resnet18'.*"
                                         r"list_models\(module=torchvision\.models\)"):
        TorchvisionBackbone((3, 32, 32), arch="resnt18")
    with pytest.raises(ValueError, match="has no nn.Linear classifier"):
        TorchvisionBackbone((3, 32, 32), arch="squeezenet1_1")
    with pytest.raises(ValueError, match="expects images"):
        TorchvisionBackbone((3, 32))


def test_torchvision_one_channel_input(resnet18_file):
    path, saved = resnet18_file
    backbone = TorchvisionBackbone((1, 32, 32), weights=path)
    conv = backbone.trunk.conv1
    assert conv.weight.shape == (64, 1, 7, 7)
    torch.testing.assert_close(conv.weight, saved["conv1.weight"].sum(1, keepdim=True))
    grey = torch.rand(2, 1, 32, 32)
    reference = TorchvisionBackbone((3, 32, 32), weights=path).eval()
    with torch.no_grad():         # a grey image gives the features of its RGB copy
        torch.testing.assert_close(backbone.eval()(grey), reference(grey.expand(-1, 3, -1, -1)),
                                   rtol=1e-4, atol=1e-4)
    small = TorchvisionBackbone((1, 16, 16), small_input=True)
    assert small.trunk.conv1.weight.shape == (64, 1, 3, 3)
    assert isinstance(small.trunk.maxpool, nn.Identity)
    assert small(torch.randn(2, 1, 16, 16)).shape == (2, 512)


def test_torchvision_small_input_is_for_resnets_only():
    with pytest.raises(ValueError, match="small_input=True is only for the ResNet family"):
        TorchvisionBackbone((3, 32, 32), arch="mobilenet_v3_small", small_input=True)


def test_torchvision_other_arch_loses_its_last_linear():
    backbone = TorchvisionBackbone((3, 32, 32), arch="mobilenet_v3_small")
    assert isinstance(backbone.trunk.classifier[3], nn.Identity)
    assert isinstance(backbone.trunk.classifier[0], nn.Linear)   # the hidden layer stays
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, 1024) == (2, backbone.n_features)


def test_torchvision_freeze_keeps_the_trunk_unchanged(resnet18_file):
    path, _ = resnet18_file
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="freeze the new, randomly initialised stem"):
        TorchvisionBackbone((3, 16, 16), weights=path, freeze=True, small_input=True)
    backbone = TorchvisionBackbone((3, 16, 16), weights=path, freeze=True)
    net = nn.Sequential(backbone, nn.Linear(backbone.n_features, 3))
    before = {k: v.clone() for k, v in backbone.trunk.state_dict().items()}
    head = net[1].weight.detach().clone()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    net.train()
    assert backbone.training and not backbone.trunk.training
    assert not any(m.training for m in backbone.trunk.modules())
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(net(torch.randn(4, 3, 16, 16)),
                                           torch.tensor([0, 1, 2, 0]))
        loss.backward()
        optimizer.step()
    after = backbone.trunk.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert not torch.equal(net[1].weight, head)                  # the head trains
    assert not any(p.requires_grad for p in backbone.trunk.parameters())
    clone = pickle.loads(pickle.dumps(backbone))
    assert not clone.train().trunk.training


def test_torchvision_in_a_classifier():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 1, 8, 8)).astype(np.float32)
    y = np.arange(20) % 2
    clf = HypersphericalClassifier("torchvision", module_params={
        "arch": "resnet18", "small_input": True, "freeze": False}, n_dims=4, max_epochs=1,
        batch_size=10, random_state=0).fit(X, y)
    assert clf.predict(X).shape == (20,)
    assert clf.transform(X).shape == (20, 4)


def test_frozen_pretrained_trunk_through_the_estimator(resnet18_file):
    path, _ = resnet18_file
    saved = torch.load(path, weights_only=True)
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 3, 32, 32), dtype=np.uint8)
    y = np.arange(24) % 3
    clf = HypersphericalClassifier("torchvision", module_params={
        "arch": "resnet18", "weights": str(path), "freeze": True}, optimizer="sgd",
        lr=0.1, weight_decay=1e-3, max_epochs=2, batch_size=8, random_state=0).fit(X, y)
    trunk = clf.net_.module_.backbone.trunk.state_dict()
    for key, value in trunk.items():
        assert torch.equal(value, saved[key]), key       # weights and BN statistics
    head = clf.net_.module_.head.linear.weight
    assert head.requires_grad and float(head.detach().abs().sum()) > 0
    # a learning rate of its own for the (unfrozen) trunk
    tuned = HypersphericalClassifier("torchvision", module_params={
        "arch": "resnet18", "weights": str(path)}, backbone_lr=1e-4, lr=1e-2, max_epochs=1,
        lr_schedule=None, batch_size=8, random_state=0).fit(X, y)
    lrs = {g["lr"]: len(g["params"]) for g in tuned.net_.optimizer_.param_groups}
    assert lrs[1e-4] == len(list(tuned.net_.module_.backbone.parameters()))
