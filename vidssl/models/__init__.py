"""Video backbones and heads.

``BACKBONES`` maps a name to an ordinary builder function (call it directly or
through :func:`build_backbone`). Every backbone follows one contract,
:class:`vidssl.contracts.Backbone`: ``num_features``,
``forward(x) -> (B, num_features)`` and
``forward_features(x, layers=("pool",), pooling="avg")`` for the taps in
:data:`TAPS`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeAlias

from vidssl.errors import VidsslError
from vidssl.models.c3d import C3D, c3d
from vidssl.models.heads import MLPHead, make_head
from vidssl.models.resnet3d import (
    TAPS,
    VideoResNet,
    mc3_18,
    pool_features,
    r2plus1d_10,
    r2plus1d_18,
    r3d_10,
    r3d_18,
    tiny,
)
from vidssl.models.resnet3d50 import ResNet3D50, r3d_50
from vidssl.models.s3d import S3D, s3d, s3dg

BackboneModule: TypeAlias = VideoResNet | C3D | S3D | ResNet3D50
"""The backbone classes: each an ``nn.Module`` that meets :class:`vidssl.contracts.Backbone`."""

BACKBONES: dict[str, Callable[..., BackboneModule]] = {
    "r3d_18": r3d_18,
    "r2plus1d_18": r2plus1d_18,
    "r3d_10": r3d_10,
    "r2plus1d_10": r2plus1d_10,
    "mc3_18": mc3_18,
    "c3d": c3d,
    "s3d": s3d,
    "s3dg": s3dg,
    "r3d_50": r3d_50,
    "tiny": tiny,
}


def build_backbone(name: str, **kwargs: Any) -> BackboneModule:
    """Build the backbone called ``name`` with the builder's keyword arguments (e.g. ``width``).

    An unknown name or keyword raises VidsslError listing the valid ones.
    """
    if name not in BACKBONES:
        raise VidsslError(f"backbone: unknown name {name!r}; valid names: {', '.join(BACKBONES)}")
    builder = BACKBONES[name]
    valid = list(inspect.signature(builder).parameters)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise VidsslError(
            f"backbone {name!r}: unknown option {unknown[0]!r}; valid options: {', '.join(valid) or '(none)'}"
        )
    return builder(**kwargs)


__all__ = [
    "BACKBONES",
    "C3D",
    "BackboneModule",
    "S3D",
    "TAPS",
    "MLPHead",
    "ResNet3D50",
    "VideoResNet",
    "build_backbone",
    "c3d",
    "make_head",
    "mc3_18",
    "pool_features",
    "r2plus1d_10",
    "r3d_10",
    "r2plus1d_18",
    "r3d_18",
    "r3d_50",
    "s3d",
    "s3dg",
    "tiny",
]
