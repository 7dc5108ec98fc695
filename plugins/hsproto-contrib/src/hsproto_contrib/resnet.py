"""``resnet``: torchvision's ResNet-18/34 as an hsproto backbone, built on hsproto's own
``torchvision`` backbone (an example of a plugin that specialises a core one)."""

from __future__ import annotations

from hsproto.backbones import TorchvisionBackbone

__all__ = ["ResNet"]

_DEPTHS = (18, 34)


class ResNet(TorchvisionBackbone):
    """A randomly initialised torchvision ResNet without its classifier, for
    ``(n_samples, C, H, W)`` images; hsproto adds the hypersphere head.

    The same as hsproto's ``torchvision`` backbone with ``arch=f"resnet{depth}"``
    (:class:`hsproto.backbones.TorchvisionBackbone`), with a small-image stem by default.

    Parameters
    ----------
    input_shape : tuple
        ``(C, H, W)``, given by the estimator.
    depth : {18, 34}, default=18
    small_input : bool, default=True
        Replace the ImageNet stem (7x7 stride-2 convolution and max-pool) by a 3x3
        stride-1 convolution, as usual for CIFAR-sized or smaller images.
    """

    example_input_shape = (3, 16, 16)
    _display_name = "resnet"

    def __init__(self, input_shape, depth=18, small_input=True):
        if depth not in _DEPTHS:
            raise ValueError(f"depth must be one of {list(_DEPTHS)}, got {depth!r}.")
        super().__init__(input_shape, arch=f"resnet{int(depth)}", small_input=small_input)
        self.depth = depth
