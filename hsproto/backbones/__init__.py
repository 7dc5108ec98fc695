"""Backbones (registered in the ``hsproto.backbones`` entry-point group)."""

from ._base import HypersphereHead, HypersphereNet, build_backbone, infer_out_features
from .cnn import SmallCNN
from .mlp import MLP

__all__ = ["MLP", "HypersphereHead", "HypersphereNet", "SmallCNN", "build_backbone",
           "infer_out_features"]
