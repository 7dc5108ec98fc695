"""``cnn``: a small convolutional backbone for (n_samples, C, H, W) images."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SmallCNN"]


class SmallCNN(nn.Sequential):
    """Two conv blocks (conv-BN-ReLU x2, then 2x2 max-pool), global average pool, and a
    fully connected layer.

    Parameters
    ----------
    input_shape : tuple
        ``(channels, height, width)``, given by the estimator.
    channels : tuple of int, default=(32, 64)
    hidden : int, default=128
    dropout : float, default=0.0

    Notes
    -----
    The convolutions run in the channels-last memory format (weights and activations),
    which oneDNN's CPU kernels run faster than NCHW for this network (CPU, 1 or 2 threads:
    about 20-35 % less time per epoch on 8x8 and 32x32 images; not measured on a GPU,
    where cuDNN supports the format too); input may come in either format.
    """

    example_input_shape = (1, 8, 8)  # used by hsproto.testing.check_backbone

    def __init__(self, input_shape, channels=(32, 64), hidden=128, dropout=0.0):
        if len(input_shape) != 3:
            raise ValueError(f"The 'cnn' backbone expects 4-d X (n_samples, channels, height, "
                             f"width); got samples of shape {tuple(input_shape)}.")
        layers, c_in = [], int(input_shape[0])
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                       nn.ReLU(), nn.Conv2d(c_out, c_out, 3, padding=1),
                       nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True)]
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, hidden), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)
        self.to(memory_format=torch.channels_last)

    def forward(self, x):
        return super().forward(x.contiguous(memory_format=torch.channels_last))
