"""Backbones (registered in the ``hsproto.backbones`` entry-point group)."""

from ._base import HypersphereHead, HypersphereNet, build_backbone, infer_out_features
from .cnn import SmallCNN
from .mlp import MLP
from .resnet_cifar import CifarResNet
from .torchvision import TorchvisionBackbone

__all__ = ["MLP", "CifarResNet", "HypersphereHead", "HypersphereNet", "SmallCNN",
           "TorchvisionBackbone", "build_backbone", "infer_out_features"]
