"""18-layer video ResNets: R3D, R(2+1)D, MC3 and a small CPU preset.

One generic :class:`VideoResNet` holds the stem, four residual layers and the
feature taps. The named builders (:func:`r3d_18`, :func:`r2plus1d_18`,
:func:`mc3_18`, :func:`tiny`) only choose which stem and which per-layer
convolution builder to pass in, plus the channel widths.

Layout: input ``x`` is float ``(B, 3, T, H, W)`` (already normalised, see
``vidssl.data.transforms.normalize_on_device``). Strides: the stem halves H and
W and keeps T; ``layer1`` keeps everything; ``layer2``..``layer4`` each halve
H and W (rounding up) and also halve T, except for the MC3 layers 2-4 whose
convolutions are purely spatial.

At ``width=1.0`` parameter and buffer names and shapes equal
``torchvision.models.video.{r3d_18, r2plus1d_18, mc3_18}`` without their final
``fc``, so a ``state_dict()`` moves between the two with ``strict=True``.

Architectures: Tran et al., "A Closer Look at Spatiotemporal Convolutions for
Action Recognition", CVPR 2018 (R3D, MC3, R(2+1)D).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import ArgumentError, check_choice, check_positive, is_positive_int
from vidssl.errors import VidsslError

TAPS = ("stem", "layer1", "layer2", "layer3", "layer4", "pool")
"""Feature taps of every backbone, shallow to deep."""

POOLINGS = ("avg", "vcop")
"""How the ``pool`` tap is made from ``layer4``: see :func:`pool_features`."""

BASE_WIDTHS = (64, 128, 256, 512)
"""Output channels of layer1..layer4 at width 1.0 (the stem has BASE_WIDTHS[0])."""

R2PLUS1D_STEM_MID_PLANES = 45
"""Channels between the spatial and temporal convs of the R(2+1)D stem at width 1.0."""

BLOCKS = ("r3d", "r2plus1d", "mc3")

ConvBuilder = Callable[[int, int, int, int], nn.Module]
"""``(in_planes, out_planes, stride, mid_planes) -> module``: one 3x3x3-like conv, no BN after it."""

StemBuilder = Callable[[int], nn.Sequential]
"""``(out_planes) -> nn.Sequential`` taking 3 input channels."""


class UnknownTapError(VidsslError, ValueError):
    """A feature tap name outside :data:`TAPS` (both a VidsslError and a ValueError)."""


# ---------------------------------------------------------------- widths ----


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded half up, at least 1."""
    return max(1, int(math.floor(channels * width + 0.5)))


def scaled_widths(width: float) -> tuple[int, int, int, int]:
    """Output channels of layer1..layer4 for a width multiplier (64,128,256,512 at 1.0)."""
    check_width(width)
    return tuple(scaled_channels(c, width) for c in BASE_WIDTHS)  # type: ignore[return-value]


def check_width(width: float) -> None:
    """Reject a width multiplier that is not a finite number > 0."""
    check_positive("width", width, finite=True)


def r2plus1d_mid_planes(in_planes: int, out_planes: int) -> int:
    """Channels between the spatial and temporal convs of a (2+1)D block.

    Tran et al. 2018, §3.5: ``M_i = floor(t d^2 N_{i-1} N_i / (d^2 N_{i-1} + t N_i))``
    with ``t = d = 3``, chosen so that a (2+1)D conv has about as many
    parameters as the full 3x3x3 conv it replaces. Computed once per residual
    block from the block's input and output channels and used for both of its
    convs (as torchvision does).
    """
    return (in_planes * out_planes * 3 * 3 * 3) // (in_planes * 3 * 3 + 3 * out_planes)


# ---------------------------------------------------- conv and stem builders --


def conv_3d(in_planes: int, out_planes: int, stride: int, mid_planes: int) -> nn.Module:
    """Full 3x3x3 conv with the same stride in T, H and W (R3D; ``mid_planes`` unused)."""
    del mid_planes
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv_spatial(in_planes: int, out_planes: int, stride: int, mid_planes: int) -> nn.Module:
    """1x3x3 conv that never mixes or strides time (MC3 layers 2-4; ``mid_planes`` unused)."""
    del mid_planes
    return nn.Conv3d(
        in_planes, out_planes, kernel_size=(1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
    )


def conv_2plus1d(in_planes: int, out_planes: int, stride: int, mid_planes: int) -> nn.Module:
    """(2+1)D conv: 1x3x3 spatial conv, BN, ReLU, then 3x1x1 temporal conv (Tran et al. 2018, §3.5)."""
    return nn.Sequential(
        nn.Conv3d(
            in_planes, mid_planes, kernel_size=(1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False
        ),
        nn.BatchNorm3d(mid_planes),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid_planes, out_planes, kernel_size=(3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
    )


def stem_3d(out_planes: int) -> nn.Sequential:
    """3x7x7 conv, spatial stride 2, then BN + ReLU (R3D and MC3 stem)."""
    return nn.Sequential(
        nn.Conv3d(3, out_planes, kernel_size=(3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


def stem_2plus1d(out_planes: int, *, mid_planes: int = R2PLUS1D_STEM_MID_PLANES) -> nn.Sequential:
    """1x7x7 spatial conv (stride 2) + BN + ReLU, then 3x1x1 temporal conv + BN + ReLU (R(2+1)D stem)."""
    return nn.Sequential(
        nn.Conv3d(3, mid_planes, kernel_size=(1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid_planes),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid_planes, out_planes, kernel_size=(3, 1, 1), stride=1, padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(out_planes),
        nn.ReLU(inplace=True),
    )


def total_stride(module: nn.Module) -> tuple[int, int, int]:
    """Product of the (T, H, W) strides of every Conv3d inside ``module``.

    The shortcut of a residual block uses this so that it downsamples exactly
    like the main path (e.g. no temporal stride for a spatial-only conv).
    """
    stride = [1, 1, 1]
    for layer in module.modules():
        if isinstance(layer, nn.Conv3d):
            stride = [s * t for s, t in zip(stride, layer.stride)]
    return (stride[0], stride[1], stride[2])


# -------------------------------------------------------------- the model ---


class ResidualBlock(nn.Module):
    """Basic residual block: ``relu(conv2(conv1(x)) + shortcut(x))``.

    ``conv1`` = conv (given stride) + BN + ReLU, ``conv2`` = conv + BN; the
    shortcut is identity, or a strided 1x1x1 conv + BN (``downsample``) when the
    shape changes.
    """

    def __init__(self, in_planes: int, out_planes: int, *, stride: int, conv: ConvBuilder) -> None:
        super().__init__()
        mid_planes = r2plus1d_mid_planes(in_planes, out_planes)
        first_conv = conv(in_planes, out_planes, stride, mid_planes)
        self.conv1 = nn.Sequential(first_conv, nn.BatchNorm3d(out_planes), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(conv(out_planes, out_planes, 1, mid_planes), nn.BatchNorm3d(out_planes))
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=total_stride(first_conv), bias=False),
                nn.BatchNorm3d(out_planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


def make_layer(in_planes: int, out_planes: int, *, num_blocks: int, stride: int, conv: ConvBuilder) -> nn.Sequential:
    """``num_blocks`` residual blocks; only the first one strides and changes channels."""
    blocks = [ResidualBlock(in_planes, out_planes, stride=stride, conv=conv)]
    blocks += [ResidualBlock(out_planes, out_planes, stride=1, conv=conv) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


def init_weights(model: nn.Module) -> None:
    """Kaiming-normal (fan_out, relu) convs; BatchNorm weight 1, bias 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv3d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm3d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def pool_features(feature_map: torch.Tensor, pooling: str = "avg") -> torch.Tensor:
    """Turn a ``(B, C, T, H, W)`` feature map into one vector per clip.

    - ``"avg"``: global average over T, H, W -> ``(B, C)`` (TransRank §5.1:
      "followed by global average pooling, to extract N 512-d feature vectors").
    - ``"vcop"``: max-pool with kernel and stride (1, 2, 2), then flatten ->
      ``(B, C * T * floor(H/2) * floor(W/2))``, the VCOP retrieval feature
      (9216-d for a 16x112x112 clip; ALGORITHMS.md "Clip retrieval").
    """
    if feature_map.ndim != 5:
        raise VidsslError(
            f"pool_features: expected a (B, C, T, H, W) feature map, got shape {tuple(feature_map.shape)}"
        )
    if pooling == "avg":
        return feature_map.mean(dim=(2, 3, 4))
    if pooling == "vcop":
        return F.max_pool3d(feature_map, kernel_size=(1, 2, 2), stride=(1, 2, 2)).flatten(1)
    raise ArgumentError("pooling", f"expected one of {', '.join(POOLINGS)}, got {pooling!r}")


def check_taps(layers: Sequence[str]) -> tuple[str, ...]:
    """Validate a list of tap names; raise UnknownTapError naming the valid ones."""
    if isinstance(layers, str):
        raise UnknownTapError(
            f"layers: expected a sequence of tap names such as ({layers!r},), got the string {layers!r}"
        )
    names = tuple(layers)
    if not names:
        raise UnknownTapError(f"layers: expected at least one of {', '.join(TAPS)}")
    unknown = [name for name in names if name not in TAPS]
    if unknown:
        raise UnknownTapError(f"unknown feature tap {unknown[0]!r}; valid taps: {', '.join(TAPS)}")
    return names


def check_clip_batch(x: torch.Tensor, expected_channels: int = 3) -> None:
    """Reject anything that is not a float ``(B, 3, T, H, W)`` tensor."""
    if not isinstance(x, torch.Tensor) or x.ndim != 5 or x.shape[1] != expected_channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise VidsslError(f"backbone input: expected a (B, {expected_channels}, T, H, W) tensor, got {shape}")
    if not x.is_floating_point():
        raise VidsslError(
            f"backbone input: expected a float tensor, got {x.dtype} (use vidssl.data.transforms.normalize_on_device)"
        )


def forward_taps(
    stages: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    x: torch.Tensor,
    layers: Sequence[str] = ("pool",),
    *,
    pooling: str = "avg",
) -> dict[str, torch.Tensor]:
    """The backbone contract's ``forward_features``: run ``stages`` (stem, layer1..layer4, in order) on ``x``
    up to the deepest requested tap; ``pool`` is ``pool_features(layer4, pooling)``. Keys come in TAPS order."""
    wanted = check_taps(layers)
    check_choice("pooling", pooling, POOLINGS)
    check_clip_batch(x)
    deepest = min(max(TAPS.index(name) for name in wanted), len(stages) - 1)
    taps: dict[str, torch.Tensor] = {}
    for name, stage in zip(TAPS, stages[: deepest + 1]):
        x = stage(x)
        if name in wanted:
            taps[name] = x
    if "pool" in wanted:
        taps["pool"] = pool_features(x, pooling)
    return taps


class VideoResNet(nn.Module):
    """Generic 18-layer-style video ResNet without a classifier.

    Args:
        stem: builds the stem from its output channels (``widths[0]``).
        convs: one :data:`ConvBuilder` per residual layer (4), e.g. all
            :func:`conv_3d` for R3D.
        blocks_per_layer: residual blocks in layer1..layer4 ((2, 2, 2, 2) for *-18).
        widths: output channels of layer1..layer4.

    ``num_features`` is ``widths[-1]``, the size of the average-pooled
    ``pool`` tap returned by :meth:`forward`.
    """

    def __init__(
        self,
        *,
        stem: StemBuilder,
        convs: Sequence[ConvBuilder],
        blocks_per_layer: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = BASE_WIDTHS,
    ) -> None:
        super().__init__()
        if len(convs) != 4:
            raise ArgumentError("convs", f"expected 4 conv builders (one per layer), got {len(convs)}")
        for what, values in (("blocks_per_layer", blocks_per_layer), ("widths", widths)):
            if len(values) != 4 or not all(is_positive_int(v) for v in values):
                raise ArgumentError(what, f"expected 4 integers >= 1, got {tuple(values)!r}")
        self.stem = stem(widths[0])
        self.layer1 = make_layer(widths[0], widths[0], num_blocks=blocks_per_layer[0], stride=1, conv=convs[0])
        self.layer2 = make_layer(widths[0], widths[1], num_blocks=blocks_per_layer[1], stride=2, conv=convs[1])
        self.layer3 = make_layer(widths[1], widths[2], num_blocks=blocks_per_layer[2], stride=2, conv=convs[2])
        self.layer4 = make_layer(widths[2], widths[3], num_blocks=blocks_per_layer[3], stride=2, conv=convs[3])
        self.num_features: int = widths[3]
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` float -> ``(B, num_features)`` globally average-pooled features."""
        return self.forward_features(x, ("pool",))["pool"]

    def forward_features(
        self, x: torch.Tensor, layers: Sequence[str] = ("pool",), *, pooling: str = "avg"
    ) -> dict[str, torch.Tensor]:
        """Return the requested taps, computing only up to the deepest one.

        Conv taps (``stem``, ``layer1``..``layer4``) are ``(B, C, T', H', W')``
        feature maps; ``pool`` is ``pool_features(layer4, pooling)`` --
        ``(B, num_features)`` for the default ``pooling="avg"``. Keys come in
        :data:`TAPS` order. An unknown tap raises :class:`UnknownTapError`.
        """
        stages = (self.stem, self.layer1, self.layer2, self.layer3, self.layer4)
        return forward_taps(stages, x, layers, pooling=pooling)


# --------------------------------------------------------------- builders ---


def build_video_resnet(*, block: str, width: float, blocks_per_layer: Sequence[int]) -> VideoResNet:
    """A :class:`VideoResNet` whose variant is set by ``block`` in {"r3d", "r2plus1d", "mc3"}.

    - ``r3d``: 3x7x7 stem, full 3x3x3 convs everywhere.
    - ``mc3``: 3x7x7 stem, 3x3x3 convs in layer1, spatial 1x3x3 convs in layers 2-4.
    - ``r2plus1d``: (2+1)D stem and (2+1)D convs everywhere.
    """
    widths = scaled_widths(width)
    if block == "r3d":
        stem: StemBuilder = stem_3d
        convs: tuple[ConvBuilder, ...] = (conv_3d, conv_3d, conv_3d, conv_3d)
    elif block == "mc3":
        stem = stem_3d
        convs = (conv_3d, conv_spatial, conv_spatial, conv_spatial)
    elif block == "r2plus1d":
        stem = functools.partial(stem_2plus1d, mid_planes=scaled_channels(R2PLUS1D_STEM_MID_PLANES, width))
        convs = (conv_2plus1d, conv_2plus1d, conv_2plus1d, conv_2plus1d)
    else:
        raise ArgumentError("block", f"expected one of {', '.join(BLOCKS)}, got {block!r}")
    return VideoResNet(stem=stem, convs=convs, blocks_per_layer=tuple(blocks_per_layer), widths=widths)


def r3d_18(*, width: float = 1.0) -> VideoResNet:
    """R3D-18: 3D convs throughout; at width 1.0 matches ``torchvision.models.video.r3d_18`` minus ``fc``."""
    return build_video_resnet(block="r3d", width=width, blocks_per_layer=(2, 2, 2, 2))


def r2plus1d_18(*, width: float = 1.0) -> VideoResNet:
    """R(2+1)D-18: factorised convs; at width 1.0 matches ``torchvision.models.video.r2plus1d_18`` minus ``fc``."""
    return build_video_resnet(block="r2plus1d", width=width, blocks_per_layer=(2, 2, 2, 2))


def r3d_10(*, width: float = 1.0) -> VideoResNet:
    """R3D with one residual block per layer (14.4 M parameters): what the STS and VCOP code build as "R3D"."""
    return build_video_resnet(block="r3d", width=width, blocks_per_layer=(1, 1, 1, 1))


def r2plus1d_10(*, width: float = 1.0) -> VideoResNet:
    """R(2+1)D with one residual block per layer: the STS code's "R(2+1)D" (``layer_sizes`` (1, 1, 1, 1))."""
    return build_video_resnet(block="r2plus1d", width=width, blocks_per_layer=(1, 1, 1, 1))


def mc3_18(*, width: float = 1.0) -> VideoResNet:
    """MC3-18: 3D convs in layer1, 2D (1x3x3) in layers 2-4; matches ``torchvision.models.video.mc3_18``
    minus ``fc``."""
    return build_video_resnet(block="mc3", width=width, blocks_per_layer=(2, 2, 2, 2))


def tiny(*, width: float = 0.25, block: str = "r3d", layers: Sequence[int] = (1, 1, 1, 1)) -> VideoResNet:
    """Small preset for CPU demos and tests (8x64x64 clips on a 2-core machine).

    Defaults: R3D layout with one residual block per layer at width 0.25
    (16, 32, 64, 128 channels, ``num_features = 128``; about 0.9 M parameters
    against 33 M for R3D-18). ``block`` picks the variant ("r3d", "r2plus1d",
    "mc3"), ``layers`` the residual blocks per layer ((2, 2, 2, 2) gives the
    *-18 depth).
    """
    if isinstance(layers, str) or len(tuple(layers)) != 4:
        raise ArgumentError("layers", f"expected 4 integers >= 1, got {layers!r}")
    return build_video_resnet(block=block, width=width, blocks_per_layer=tuple(layers))
