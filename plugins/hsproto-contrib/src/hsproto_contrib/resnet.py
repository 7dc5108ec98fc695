"""``resnet``: torchvision's ResNet-18/34 body as an hsproto backbone."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock
from torchvision.models.resnet import ResNet as _TorchvisionResNet

__all__ = ["ResNet"]

_LAYERS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3]}


class ResNet(nn.Module):
    """A randomly initialised torchvision ResNet without its classifier, for
    ``(n_samples, C, H, W)`` images; hsproto adds the hypersphere head.

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

    def __init__(self, input_shape, depth=18, small_input=True):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"The 'resnet' backbone expects images (n_samples, C, H, W); "
                             f"got samples of shape {tuple(input_shape)}.")
        if depth not in _LAYERS:
            raise ValueError(f"depth must be one of {sorted(_LAYERS)}, got {depth!r}.")
        channels = int(input_shape[0])
        body = _TorchvisionResNet(BasicBlock, _LAYERS[depth])
        if small_input:
            body.conv1 = nn.Conv2d(channels, 64, kernel_size=3, stride=1, padding=1,
                                   bias=False)
            body.maxpool = nn.Identity()
        elif channels != 3:
            body.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3,
                                   bias=False)
        body.fc = nn.Identity()
        self.body = body

    def forward(self, x):
        return self.body(x)
