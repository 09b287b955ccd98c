"""R3D-50: the 3D ResNet-50 of CVRL (Qian et al., "Spatiotemporal Contrastive Video Representation
Learning", CVPR 2021), also the backbone of CORP (ICCV 2021, §3.1: "ResNet-50 Inflated 3D ...
every stage's space-time resolution is the same as [CVRL]", a 2048-d representation).

It is a SlowOnly-style 3D ResNet-50 (the Slow pathway of SlowFast, Feichtenhofer et al. 2019):
bottleneck blocks whose first conv is temporal (k×1×1) and whose middle conv is spatial (1×3×3).

| tap | modules (width 1.0) | channels | T, H, W after |
|---|---|---|---|
| ``stem`` | conv 5×7×7 stride (2, 2, 2) + BN + ReLU, max-pool 1×3×3 stride (1, 2, 2) | 64 | ⌈T/2⌉, ⌈H/4⌉, ⌈W/4⌉ |
| ``layer1`` (res2) | 3 bottlenecks, inner 64, first conv 1×1×1 | 256 | same |
| ``layer2`` (res3) | 4 bottlenecks, inner 128, first conv 1×1×1 | 512 | H, W halved (rounded up) |
| ``layer3`` (res4) | 6 bottlenecks, inner 256, first conv 3×1×1 | 1024 | H, W halved (rounded up) |
| ``layer4`` (res5) | 3 bottlenecks, inner 512, first conv 3×1×1 | 2048 | H, W halved (rounded up) |
| ``pool`` | ``pool_features(layer4)`` (global average by default) | 2048 | |

No layer after the stem touches time, so ``layer4`` keeps ⌈T/2⌉ frames (8 for CVRL's 16-frame
pretraining clips, 16 for its 32-frame linear-evaluation clips) and H/32 × W/32 pixels (7×7 at 224²).
Every size rounds up ("same" padding), so any clip of at least 1×1×1 is accepted.

A bottleneck block is ``relu(conv3(conv2(conv1(x))) + shortcut(x))``: ``conv1`` = k×1×1 conv to the
inner width + BN + ReLU, ``conv2`` = 1×3×3 conv (the block's spatial stride) + BN + ReLU, ``conv3`` =
1×1×1 conv to 4 × inner + BN. The shortcut is identity, or a 1×1×1 conv with the block's stride + BN
where the shape changes (the first block of every layer). Convs have no bias; init is
:func:`~vidssl.models.resnet3d.init_weights` (Kaiming fan-out convs, every BN weight 1 and bias 0;
the last BN of a block is *not* zero-initialised, as in the TensorFlow reference whose BN scale
starts at 1). BatchNorm keeps PyTorch's defaults (eps 1e-5, momentum 0.1). ``width`` scales the stem
and inner widths (``scaled_channels``, at least 1); block outputs stay 4 × inner.

Parameters at width 1.0: 31,672,128 (CVRL's README and CORP Table 1: "R3D-50 (31.7M)"). The same
net with a 1×7×7 stem (pytorchvideo's ``slow_r50``) has 31,634,496, i.e. 31.6M.

Facts used, and where they come from (read for the facts only):

- Block counts (3, 4, 6, 3), inner widths 64/128/256/512, outputs 4× inner, spatial stride 1 in res2
  and 2 in res3-res5, no temporal stride in any stage, temporal kernel of the first conv 1 in every
  res2/res3 block and 3 in every res4/res5 block, 1×3×3 middle conv carrying the spatial stride,
  1×1×1 projection shortcut with the block's stride: tensorflow/models
  ``official/projects/video_ssl/configs/experiments/cvrl_pretrain_k600_200ep.yaml`` and
  ``cvrl_linear_eval_k600.yaml`` (``block_specs``: ``temporal_kernel_sizes`` (1,1,1), (1,1,1,1),
  (3,)*6, (3,)*3, ``temporal_strides: 1``; ``model_id: 50``), with
  ``official/vision/modeling/backbones/resnet_3d.py`` (``RESNET_SPECS[50]``, spatial stride 1 for
  the first block group and 2 after) and ``official/vision/modeling/layers/nn_blocks_3d.py``
  (``BottleneckBlock3D``: temporal k×1×1 conv, spatial 1×3×3 conv with the spatial stride, 1×1×1
  expansion to 4 × filters, strided 1×1×1 shortcut conv + BN when channels change).
- Stem: the same CVRL configs set ``stem_conv_temporal_kernel_size: 5``,
  ``stem_conv_temporal_stride: 2``, ``stem_pool_temporal_stride: 1``; ``resnet_3d.py`` builds a
  64-filter [5, 7, 7] conv with strides [2, 2, 2] and, for a pool temporal stride of 1, a max-pool of
  size [1, 3, 3] with strides [1, 2, 2], all with "same" padding. So, unlike SlowOnly, CVRL halves
  time once, in the stem conv.
- The SlowOnly layout it shares (conv_a kernels (1,1,1), (1,1,1), (3,1,1), (3,1,1); conv_b 1×3×3;
  spatial stage strides (1, 2, 2, 2); temporal stage strides 1): facebookresearch/pytorchvideo
  ``pytorchvideo/models/resnet.py`` (``create_resnet`` defaults).
- 31.7M parameters: tensorflow/models ``official/projects/video_ssl/README.md`` and CORP Table 1.
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

STEM_WIDTH = 64
"""Output channels of the stem conv at width 1.0."""

INNER_WIDTHS = (64, 128, 256, 512)
"""Inner (bottleneck) channels of layer1..layer4 at width 1.0; each block outputs EXPANSION times as many."""

EXPANSION = 4

BLOCKS_PER_LAYER = (3, 4, 6, 3)
"""ResNet-50 depth: bottleneck blocks in res2..res5."""

TEMPORAL_KERNELS = (1, 1, 3, 3)
"""Temporal kernel of the first conv of every block in layer1..layer4 (CVRL's ``temporal_kernel_sizes``)."""

SPATIAL_STRIDES = (1, 2, 2, 2)
"""Spatial stride of the first block of layer1..layer4 (no layer strides time)."""


class Bottleneck3D(nn.Module):
    """One bottleneck block (see the module docstring): ``(B, in, T, H, W) -> (B, 4 inner, T, ⌈H/s⌉, ⌈W/s⌉)``."""

    def __init__(self, in_planes: int, inner_planes: int, *, temporal_kernel: int, spatial_stride: int) -> None:
        super().__init__()
        out_planes = EXPANSION * inner_planes
        self.conv1 = nn.Sequential(
            nn.Conv3d(in_planes, inner_planes, kernel_size=(temporal_kernel, 1, 1),
                      padding=(temporal_kernel // 2, 0, 0), bias=False),
            nn.BatchNorm3d(inner_planes),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv3d(inner_planes, inner_planes, kernel_size=(1, 3, 3), stride=(1, spatial_stride, spatial_stride),
                      padding=(0, 1, 1), bias=False),
            nn.BatchNorm3d(inner_planes),
            nn.ReLU(inplace=True),
        )
        self.conv3 = nn.Sequential(nn.Conv3d(inner_planes, out_planes, kernel_size=1, bias=False),
                                   nn.BatchNorm3d(out_planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if spatial_stride != 1 or in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=(1, spatial_stride, spatial_stride), bias=False),
                nn.BatchNorm3d(out_planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv3(self.conv2(self.conv1(x))) + shortcut)


def make_bottleneck_layer(
    in_planes: int, inner_planes: int, *, num_blocks: int, temporal_kernel: int, spatial_stride: int
) -> nn.Sequential:
    """``num_blocks`` bottlenecks with the same temporal kernel; only the first strides and changes channels."""
    blocks = [Bottleneck3D(in_planes, inner_planes, temporal_kernel=temporal_kernel, spatial_stride=spatial_stride)]
    blocks += [
        Bottleneck3D(EXPANSION * inner_planes, inner_planes, temporal_kernel=temporal_kernel, spatial_stride=1)
        for _ in range(num_blocks - 1)
    ]
    return nn.Sequential(*blocks)


class ResNet3D50(nn.Module):
    """CVRL's R3D-50 without a classifier; ``num_features`` = 4 × layer4's inner width (2048 at width 1.0).

    Args:
        stem_width: channels of the stem conv.
        inner_widths: bottleneck inner channels of layer1..layer4.
    """

    # Set by name in __init__'s loop over the four stages.
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(self, stem_width: int = STEM_WIDTH, inner_widths: Sequence[int] = INNER_WIDTHS) -> None:
        super().__init__()
        widths = (stem_width, *inner_widths)
        if len(widths) != 5 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in widths):
            raise VidsslError(
                f"ResNet3D50 widths: expected a stem width and 4 inner widths, integers >= 1, got {widths!r}"
            )
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_width, kernel_size=(5, 7, 7), stride=(2, 2, 2), padding=(2, 3, 3), bias=False),
            nn.BatchNorm3d(stem_width),
            nn.ReLU(inplace=True),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )
        planes = stem_width
        for index, inner in enumerate(inner_widths):
            layer = make_bottleneck_layer(
                planes,
                inner,
                num_blocks=BLOCKS_PER_LAYER[index],
                temporal_kernel=TEMPORAL_KERNELS[index],
                spatial_stride=SPATIAL_STRIDES[index],
            )
            setattr(self, f"layer{index + 1}", layer)
            planes = EXPANSION * inner
        self.num_features: int = planes
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` float -> ``(B, num_features)`` globally average-pooled res5 features."""
        return self.forward_features(x, ("pool",))["pool"]

    def forward_features(
        self, x: torch.Tensor, layers: Sequence[str] = ("pool",), *, pooling: str = "avg"
    ) -> dict[str, torch.Tensor]:
        """The requested taps (see the module docstring), computing only up to the deepest one."""
        stages = (self.stem, self.layer1, self.layer2, self.layer3, self.layer4)
        return forward_taps(stages, x, layers, pooling=pooling)


def r3d_50(*, width: float = 1.0) -> ResNet3D50:
    """R3D-50 (CVRL, CORP): 5×7×7 stem halving T once, SlowOnly bottlenecks; 2048 features at width 1.0.

    ``width`` scales the stem and the inner widths (64, 128, 256, 512), each at least 1 channel.
    """
    check_width(width)
    return ResNet3D50(scaled_channels(STEM_WIDTH, width), tuple(scaled_channels(c, width) for c in INNER_WIDTHS))
