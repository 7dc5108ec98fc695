"""``resnet_cifar``: the CIFAR ResNets of He et al. (2016) for (n_samples, C, H, W) images."""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CifarResNet"]

_SHORTCUTS = ("A", "B")


class _PadShortcut(nn.Module):
    """Option A: the identity, subsampled by ``stride`` and zero-padded to ``extra`` more
    channels; no parameters."""

    def __init__(self, stride, extra):
        super().__init__()
        self.stride, self.extra = stride, extra

    def forward(self, x):
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra)) if self.extra else x


class _BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a ReLU between, added to the shortcut, then ReLU."""

    def __init__(self, c_in, c_out, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        if stride == 1 and c_in == c_out:
            self.shortcut = nn.Identity()
        elif shortcut == "A":
            self.shortcut = _PadShortcut(stride, c_out - c_in)
        else:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """The CIFAR ResNet of He et al. (2016, §4.2), without its classifier.

    A 3x3 convolution to ``width`` channels, three stages of ``n`` basic blocks with
    ``width``, ``2 * width`` and ``4 * width`` channels (stride 2 at the start of the
    second and third stage), then global average pooling: ``4 * width`` features
    (64 by default). ``depth = 6n + 2``; the paper uses 20, 32, 44, 56 and 110 (about
    0.27M, 0.46M, 0.66M, 0.85M and 1.7M parameters with shortcut "A"); HPN (Mettes et
    al., 2019) uses ResNet-32 on CIFAR-100. hsproto adds the hypersphere head.

    Parameters
    ----------
    input_shape : tuple
        ``(C, H, W)``, given by the estimator; any number of channels.
    depth : int, default=20
        ``6n + 2`` with ``n >= 1``.
    width : int, default=16
        Channels of the first stage (16 in the paper).
    shortcut : {"A", "B"}, default="A"
        How a block that changes the shape is bypassed: "A" (the paper's CIFAR choice)
        subsamples the identity with stride 2 and zero-pads the new channels, with no
        parameters; "B" projects with a strided 1x1 convolution and batch norm.

    Notes
    -----
    Convolutions get Kaiming-normal initialisation (fan-out, ReLU), batch norms weight 1
    and bias 0. Weights and activations use the channels-last memory format, which
    oneDNN's CPU kernels run faster than NCHW here (ResNet-20, forward + backward of 128
    images of 3x32x32 on one CPU thread: about 25 % less time; not measured on a GPU);
    input may come in either format.
    """

    example_input_shape = (3, 16, 16)  # used by hsproto.testing.check_backbone

    def __init__(self, input_shape, depth=20, width=16, shortcut="A"):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"The 'resnet_cifar' backbone expects 4-d X (n_samples, channels, "
                             f"height, width); got samples of shape {tuple(input_shape)}.")
        if (isinstance(depth, bool) or not isinstance(depth, numbers.Integral) or depth < 8
                or (depth - 2) % 6):
            raise ValueError(f"depth must be 6n + 2 with n >= 1 (the paper uses 20, 32, 44, "
                             f"56, 110), got {depth!r}.")
        if isinstance(width, bool) or not isinstance(width, numbers.Integral) or width < 1:
            raise ValueError(f"width must be a positive int, got {width!r}.")
        if shortcut not in _SHORTCUTS:
            raise ValueError(f"shortcut must be one of {list(_SHORTCUTS)}, got {shortcut!r}.")
        depth, width = int(depth), int(width)
        n = (depth - 2) // 6
        self.depth, self.n_features = depth, 4 * width
        self.conv = nn.Conv2d(int(input_shape[0]), width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        blocks, c_in = [], width
        for stage in range(3):
            c_out = width * 2 ** stage
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(_BasicBlock(c_in, c_out, stride, shortcut))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x.contiguous(memory_format=torch.channels_last))))
        return self.pool(self.blocks(x)).flatten(1)
