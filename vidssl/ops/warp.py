"""Optical-flow warping on batched float clips: frame pairs, flows back to clip layout, backward warping.

Pure, differentiable tensor ops below ``data``, ``models`` and ``losses``: the
flow estimator of SRO's view synthesis (:mod:`vidssl.models.view_synthesis`)
and its photometric and info-max losses (:mod:`vidssl.losses.view_synthesis`)
both use them, and neither may import the other.

Clips are (B, C, T, H, W); flows are (B, 2, T − 1, H, W) in pixels, u along x
(width) and v along y (height).

Example::

    flows = flow_net.clip_flows(clip)               # (B, 2, T - 1, H, W)
    warped = warp_next_to_current(clip, flows)      # frame t+1 warped onto frame t
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from vidssl.errors import VidsslError

__all__ = ["frame_pairs", "pair_flows_to_clip", "warp", "warp_next_to_current"]


def frame_pairs(x: torch.Tensor) -> torch.Tensor:
    """Consecutive frames of clips (B, C, T, H, W) stacked as (B·(T − 1), 2C, H, W): (x_t, x_{t+1}) per row."""
    if x.ndim != 5 or x.shape[2] < 2:
        raise VidsslError(f"expected clips (B, C, T >= 2, H, W) for frame pairs, got shape {tuple(x.shape)}")
    b, c, t, h, w = x.shape
    current = x[:, :, :-1].transpose(1, 2).reshape(b * (t - 1), c, h, w)
    following = x[:, :, 1:].transpose(1, 2).reshape(b * (t - 1), c, h, w)
    return torch.cat([current, following], dim=1)


def pair_flows_to_clip(flows: torch.Tensor, batch: int) -> torch.Tensor:
    """Flows of :func:`frame_pairs` rows (B·(T − 1), 2, H, W) back to clip layout (B, 2, T − 1, H, W)."""
    n, _, h, w = flows.shape
    return flows.view(batch, n // batch, 2, h, w).transpose(1, 2)


def warp(frames: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warping: output(p) = frames(p + flow(p)), bilinear, border padding; (N, C, H, W), (N, 2, H, W)."""
    n, _, h, w = frames.shape
    if flow.shape != (n, 2, h, w):
        raise VidsslError(f"warp: expected a flow of shape {(n, 2, h, w)}, got {tuple(flow.shape)}")
    ys, xs = torch.meshgrid(
        torch.arange(h, device=frames.device, dtype=frames.dtype),
        torch.arange(w, device=frames.device, dtype=frames.dtype),
        indexing="ij",
    )
    x_src = xs + flow[:, 0]
    y_src = ys + flow[:, 1]
    grid = torch.stack([2 * x_src / max(w - 1, 1) - 1, 2 * y_src / max(h - 1, 1) - 1], dim=-1)
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=True)


def warp_next_to_current(x: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """Frame t+1 of every clip warped onto frame t by flow t: (B, C, T, H, W), (B, 2, T−1, H, W) → (B, C, T−1, H, W)."""
    b, c, t, h, w = x.shape
    following = x[:, :, 1:].transpose(1, 2).reshape(b * (t - 1), c, h, w)
    flat_flows = flows.transpose(1, 2).reshape(b * (t - 1), 2, h, w)
    return warp(following, flat_flows).view(b, t - 1, c, h, w).transpose(1, 2)
