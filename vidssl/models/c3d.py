"""C3D with batch normalisation (Tran et al., ICCV 2015; the BN variant used by VCOP, SRO and STS).

Eight 3×3×3 convolutions, each followed by BatchNorm and ReLU, and five max
poolings: conv1a (64) · pool1 (1×2×2) · conv2a (128) · pool2 · conv3a, conv3b
(256) · pool3 · conv4a, conv4b (512) · pool4 · conv5a, conv5b (512), pool5
replaced by the global average of the ``pool`` tap (SRO §IV-C: "8 stacked
convolutional layers and 5 pooling layers ... 3 × 3 × 3"). The fc6/fc7 layers
of the original are left out, as every backbone here ends at its pooled
features; heads come from :mod:`vidssl.models.heads`.

Taps follow the library's contract (:data:`vidssl.models.resnet3d.TAPS`) and
its stride rules: ``stem`` = conv1a + pool1 (H, W halved, T kept), ``layer1``
= conv2a, ``layer2``..``layer4`` = the 2×2×2 pooling (ceil mode: sizes round
up) then the conv pair of stages 3..5, ``pool`` = global average of layer4.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from vidssl.errors import VidsslError
from vidssl.models.resnet3d import (
    check_width,
    forward_taps,
    init_weights,
    scaled_channels,
)

C3D_WIDTHS = (64, 128, 256, 512, 512)
"""Channels of conv1..conv5 at width 1.0."""


def conv_bn_relu(in_planes: int, out_planes: int) -> list[nn.Module]:
    return [
        nn.Conv3d(in_planes, out_planes, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    ]


def halving_pool() -> nn.MaxPool3d:
    """2×2×2 max pooling, sizes rounded up (pool2..pool4)."""
    return nn.MaxPool3d(kernel_size=2, stride=2, ceil_mode=True)


class C3D(nn.Module):
    """C3D-BN without its classifier: ``num_features`` = conv5's channels (512 at width 1.0)."""

    def __init__(self, widths: Sequence[int] = C3D_WIDTHS) -> None:
        super().__init__()
        if len(widths) != 5 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in widths):
            raise VidsslError(f"C3D widths: expected 5 integers >= 1, got {tuple(widths)!r}")
        c1, c2, c3, c4, c5 = widths
        self.stem = nn.Sequential(*conv_bn_relu(3, c1), nn.MaxPool3d((1, 2, 2), stride=(1, 2, 2), ceil_mode=True))
        self.layer1 = nn.Sequential(*conv_bn_relu(c1, c2))
        self.layer2 = nn.Sequential(halving_pool(), *conv_bn_relu(c2, c3), *conv_bn_relu(c3, c3))
        self.layer3 = nn.Sequential(halving_pool(), *conv_bn_relu(c3, c4), *conv_bn_relu(c4, c4))
        self.layer4 = nn.Sequential(halving_pool(), *conv_bn_relu(c4, c5), *conv_bn_relu(c5, c5))
        self.num_features: int = c5
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` float -> ``(B, num_features)`` globally average-pooled conv5 features."""
        return self.forward_features(x, ("pool",))["pool"]

    def forward_features(
        self, x: torch.Tensor, layers: Sequence[str] = ("pool",), *, pooling: str = "avg"
    ) -> dict[str, torch.Tensor]:
        """The requested taps (see module docstring), computing only up to the deepest one."""
        stages = (self.stem, self.layer1, self.layer2, self.layer3, self.layer4)
        return forward_taps(stages, x, layers, pooling=pooling)


def c3d(*, width: float = 1.0) -> C3D:
    """C3D-BN (SRO §IV-C, STS): 64, 128, 256, 512, 512 channels at width 1.0, scaled by ``width``."""
    check_width(width)
    return C3D(tuple(scaled_channels(c, width) for c in C3D_WIDTHS))
