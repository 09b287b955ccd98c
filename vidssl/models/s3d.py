"""S3D and S3D-G: separable 3D Inception networks (Xie et al., "Rethinking Spatiotemporal Feature
Learning: Speed-Accuracy Trade-offs in Video Classification", ECCV 2018).

S3D replaces every 3D convolution of I3D below the classifier by a spatial
1×k×k convolution followed by a temporal k×1×1 one. S3D-G adds *feature
gating* (§5 of the paper): a channel's response is multiplied by
σ(W·x̄ + b), where x̄ is the spatio-temporal average of the whole feature map,
so context from the whole clip re-weights each channel. As in the authors'
TensorFlow release, the gate sits after the separable 3×3 convolution of the
stem (``Conv2d_2c``) and after each of the four branches of every Inception
block. SRO (TCSVT 2021) uses S3D-G for its best rows (Table VIII, 64 frames
at 152²); STS uses it too.

Parameter names: at ``width=1.0`` and ``gating=False`` the parameters and
buffers equal ``torchvision.models.video.s3d`` without its ``classifier``
(``features.0`` … ``features.15``), so a ``state_dict()`` moves between the
two with ``strict=True``. With gating, the only extra entries are the gates:
``stem_gate`` and each Inception block's ``gate0`` … ``gate3``. Loading
torchvision's S3D weights into S3D-G therefore takes ``strict=False`` and
leaves only the gates at their initial values.

Taps (the library's contract, :data:`vidssl.models.resnet3d.TAPS`; strides
are those of S3D, not of the ResNets):

| tap | modules | channels (width 1) | T, H, W after |
|---|---|---|---|
| ``stem`` | conv 7×7×7 stride 2 + max-pool 1×3×3 stride 1×2×2 | 64 | ⌈T/2⌉, ⌈H/4⌉, ⌈W/4⌉ |
| ``layer1`` | conv 1×1×1 + separable conv 3 (+ gate) | 192 | same |
| ``layer2`` | max-pool 1×3×3 stride 1×2×2 + Mixed 3b, 3c | 480 | H, W halved (rounded up) |
| ``layer3`` | max-pool 3×3×3 stride 2 + Mixed 4b … 4f | 832 | T, H, W halved (rounded up) |
| ``layer4`` | max-pool 2×2×2 stride 2 + Mixed 5b, 5c | 1024 | T, H, W halved (rounded down) |
| ``pool`` | global average of ``layer4`` | 1024 | |

The last pooling rounds down, as torchvision's does: an input must keep at
least 2 frames and 2×2 pixels before it (at least 5 frames and 17×17 pixels).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from vidssl.errors import VidsslError
from vidssl.models.resnet3d import (
    TAPS,
    check_clip_batch,
    check_taps,
    check_width,
    forward_taps,
    init_weights,
    scaled_channels,
)

BATCH_NORM_EPS = 1e-3
BATCH_NORM_MOMENTUM = 1e-3
"""torchvision's S3D BatchNorm settings (TensorFlow's defaults for the released weights)."""

STEM_WIDTHS = (64, 64, 192)
"""Output channels of conv1 (7×7×7), conv2 (1×1×1) and conv3 (separable 3) at width 1.0."""

INCEPTION_BLOCKS: dict[str, tuple[tuple[int, int, int, int, int, int], ...]] = {
    # (branch0, branch1 mid, branch1 out, branch2 mid, branch2 out, branch3) per Mixed block, width 1.0
    "layer2": ((64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64)),
    "layer3": (
        (192, 96, 208, 16, 48, 64),
        (160, 112, 224, 24, 64, 64),
        (128, 128, 256, 24, 64, 64),
        (112, 144, 288, 32, 64, 64),
        (256, 160, 320, 32, 128, 128),
    ),
    "layer4": ((256, 160, 320, 32, 128, 128), (384, 192, 384, 48, 128, 128)),
}

MIN_FRAMES, MIN_SIZE = 5, 17
"""Smallest input that leaves ``layer4`` non-empty (its 2×2×2 pooling rounds down)."""


def conv_bn_relu(in_planes: int, out_planes: int, kernel, stride=1, padding=0) -> nn.Sequential:
    """Conv3d (no bias) · BatchNorm3d · ReLU, indexed 0, 1, 2 like torchvision's Conv3dNormActivation."""
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, kernel_size=kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm3d(out_planes, eps=BATCH_NORM_EPS, momentum=BATCH_NORM_MOMENTUM),
        nn.ReLU(inplace=True),
    )


def separable_conv(in_planes: int, out_planes: int, kernel: int, stride: int, padding: int) -> nn.Sequential:
    """S3D's separable convolution: spatial 1×k×k then temporal k×1×1, each with BN and ReLU."""
    return nn.Sequential(
        conv_bn_relu(in_planes, out_planes, (1, kernel, kernel), (1, stride, stride), (0, padding, padding)),
        conv_bn_relu(out_planes, out_planes, (kernel, 1, 1), (stride, 1, 1), (padding, 0, 0)),
    )


class SelfGating(nn.Module):
    """S3D-G feature gating: ``x * σ(W · mean_{T,H,W}(x) + b)``, one weight per channel.

    ``(B, C, T, H, W) -> (B, C, T, H, W)``; the gate is computed per clip from
    its whole feature map, so it is the same at every position of the clip.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc(x.mean(dim=(2, 3, 4))))
        return x * gate[:, :, None, None, None]


class SepInceptionBlock(nn.Module):
    """One Mixed block: 1×1×1 | 1×1×1 → sep 3 | 1×1×1 → sep 3 | max-pool 3 → 1×1×1, concatenated on channels.

    ``gating`` adds a :class:`SelfGating` after each branch (S3D-G).
    """

    def __init__(self, in_planes: int, widths: Sequence[int], *, gating: bool) -> None:
        super().__init__()
        b0, b1_mid, b1_out, b2_mid, b2_out, b3 = widths
        self.branch0 = conv_bn_relu(in_planes, b0, 1)
        self.branch1 = nn.Sequential(conv_bn_relu(in_planes, b1_mid, 1), separable_conv(b1_mid, b1_out, 3, 1, 1))
        self.branch2 = nn.Sequential(conv_bn_relu(in_planes, b2_mid, 1), separable_conv(b2_mid, b2_out, 3, 1, 1))
        self.branch3 = nn.Sequential(nn.MaxPool3d(3, stride=1, padding=1), conv_bn_relu(in_planes, b3, 1))
        self.out_planes = b0 + b1_out + b2_out + b3
        self.gating = gating
        if gating:
            self.gate0, self.gate1 = SelfGating(b0), SelfGating(b1_out)
            self.gate2, self.gate3 = SelfGating(b2_out), SelfGating(b3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]
        if self.gating:
            gates = (self.gate0, self.gate1, self.gate2, self.gate3)
            outputs = [gate(out) for gate, out in zip(gates, outputs)]
        return torch.cat(outputs, dim=1)


# Which entries of ``features`` each tap ends after (torchvision's indices).
TAP_ENDS = {"stem": 2, "layer1": 4, "layer2": 7, "layer3": 13, "layer4": 16}
TAP_STARTS = dict(zip(TAP_ENDS, (0, *TAP_ENDS.values())))


class S3D(nn.Module):
    """S3D (``gating=False``) or S3D-G (``gating=True``) without its classifier.

    ``stem_widths`` are conv1..conv3's widths at the chosen scale and
    ``inception`` the per-tap Mixed-block widths (see :data:`INCEPTION_BLOCKS`).
    """

    def __init__(
        self,
        stem_widths: Sequence[int] = STEM_WIDTHS,
        inception: Mapping[str, Sequence[Sequence[int]]] = INCEPTION_BLOCKS,
        *,
        gating: bool = True,
    ) -> None:
        super().__init__()
        c1, c2, c3 = stem_widths
        modules: list[nn.Module] = [
            separable_conv(3, c1, 7, 2, 3),
            nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            conv_bn_relu(c1, c2, 1),
            separable_conv(c2, c3, 3, 1, 1),
        ]
        planes = c3
        poolings = {
            "layer2": nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            "layer3": nn.MaxPool3d(3, stride=2, padding=1),
            "layer4": nn.MaxPool3d(2, stride=2),
        }
        for tap in ("layer2", "layer3", "layer4"):
            modules.append(poolings[tap])
            for widths in inception[tap]:
                block = SepInceptionBlock(planes, widths, gating=gating)
                modules.append(block)
                planes = block.out_planes
        self.features = nn.Sequential(*modules)
        self.stem_gate = SelfGating(c3) if gating else None
        self.gating = gating
        self.num_features: int = planes
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` float -> ``(B, num_features)`` globally average-pooled Mixed-5c features."""
        return self.forward_features(x, ("pool",))["pool"]

    def forward_features(
        self, x: torch.Tensor, layers: Sequence[str] = ("pool",), *, pooling: str = "avg"
    ) -> dict[str, torch.Tensor]:
        """The requested taps (see the module docstring), computing only up to the deepest one."""
        check_clip_batch(x)
        reaches_layer4 = any(name in ("layer4", "pool") for name in check_taps(layers))
        if reaches_layer4 and (x.shape[2] < MIN_FRAMES or min(x.shape[3:]) < MIN_SIZE):
            raise VidsslError(
                f"S3D input: layer4 needs at least {MIN_FRAMES} frames and {MIN_SIZE}x{MIN_SIZE} pixels, "
                f"got {tuple(x.shape[2:])}"
            )
        return forward_taps([self.tap_stage(name) for name in TAPS[:-1]], x, layers, pooling=pooling)

    def tap_stage(self, name: str):
        """The function from the previous tap's output to tap ``name``'s: its run of ``features`` (see TAP_ENDS),
        with the stem gate after conv3 in S3D-G."""
        start = TAP_STARTS[name]

        def stage(x: torch.Tensor) -> torch.Tensor:
            for index in range(start, TAP_ENDS[name]):
                x = self.features[index](x)
                if index == 3 and self.stem_gate is not None:
                    x = self.stem_gate(x)
            return x

        return stage


def scaled_inception(width: float) -> dict[str, tuple[tuple[int, ...], ...]]:
    return {
        tap: tuple(tuple(scaled_channels(c, width) for c in widths) for widths in blocks)
        for tap, blocks in INCEPTION_BLOCKS.items()
    }


def s3d(*, width: float = 1.0) -> S3D:
    """S3D without gating: torchvision's ``s3d`` layout (1024 features at width 1.0), scaled by ``width``."""
    check_width(width)
    return S3D(tuple(scaled_channels(c, width) for c in STEM_WIDTHS), scaled_inception(width), gating=False)


def s3dg(*, width: float = 1.0) -> S3D:
    """S3D-G (SRO Table VIII, STS): S3D with feature gating after the stem's conv3 and every Inception branch."""
    check_width(width)
    return S3D(tuple(scaled_channels(c, width) for c in STEM_WIDTHS), scaled_inception(width), gating=True)
