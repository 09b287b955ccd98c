"""The two networks of SRO's view synthesis (§III-G, Fig. 3): a clip VAE G and a small optical-flow estimator O.

The paper gives their losses, not their layers; these are the small defaults of
ALGORITHMS.md "SRO": a 3D conv VAE (encoder to a latent map, reparameterisation,
decoder back to the clip) and a 2D conv flow estimator (two frames in, (u, v) out).

Clips are float (B, C, T, H, W), normalised like the backbone's input; flows
are (B, 2, T − 1, H, W) in pixels, u along x (width) and v along y (height).

Example::

    vae, flow_net = ClipVAE(width=16, latent_channels=8), FlowEstimator(width=16)
    view, mu, logvar = vae(clip)                    # view has the clip's shape
    flows = flow_net.clip_flows(clip)               # (B, 2, T - 1, H, W)
    warped = warp_next_to_current(clip, flows)      # frame t+1 warped onto frame t (vidssl.ops.warp)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vidssl.checks import check_positive_int
from vidssl.errors import VidsslError
from vidssl.ops.warp import frame_pairs, pair_flows_to_clip

__all__ = ["ClipVAE", "FlowEstimator"]


def _conv3d_block(in_ch: int, out_ch: int, *, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1, bias=False),
        nn.GroupNorm(1, out_ch),
        nn.ReLU(inplace=True),
    )


class ClipVAE(nn.Module):
    """G: clip → (synthesised view of the same shape, μ, log σ²).

    Encoder: two spatially strided 3D conv blocks (H, W ÷ 4; time kept) and
    1×1×1 convs to the latent mean and log-variance maps. Decoder: upsample
    back and convolve to C channels; the output is resized to the input's
    exact (T, H, W), so sizes need not be multiples of 4. In training the
    latent is sampled by the reparameterisation trick (μ + σ·ε); in eval mode
    it is μ, so inference is deterministic.
    """

    def __init__(self, channels: int = 3, *, width: int = 16, latent_channels: int = 8) -> None:
        super().__init__()
        channels = check_positive_int("channels", channels)
        width = check_positive_int("width", width)
        latent_channels = check_positive_int("latent_channels", latent_channels)
        self.encoder = nn.Sequential(
            _conv3d_block(channels, width, stride=(1, 2, 2)),
            _conv3d_block(width, 2 * width, stride=(1, 2, 2)),
        )
        self.to_mu = nn.Conv3d(2 * width, latent_channels, kernel_size=1)
        self.to_logvar = nn.Conv3d(2 * width, latent_channels, kernel_size=1)
        self.decoder_in = _conv3d_block(latent_channels, 2 * width, stride=(1, 1, 1))
        self.decoder_mid = _conv3d_block(2 * width, width, stride=(1, 1, 1))
        self.decoder_out = nn.Conv3d(width, channels, kernel_size=3, padding=1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.encoder(x)
        return self.to_mu(hidden), self.to_logvar(hidden)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """μ + exp(log σ² / 2)·ε, ε ~ N(0, I), in training; μ in eval mode."""
        if not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
        """Latent map → clip of temporal-spatial ``size`` (T, H, W)."""
        t, h, w = size
        hidden = self.decoder_in(z)
        hidden = F.interpolate(hidden, size=(t, (h + 1) // 2, (w + 1) // 2), mode="trilinear", align_corners=False)
        hidden = self.decoder_mid(hidden)
        hidden = F.interpolate(hidden, size=(t, h, w), mode="trilinear", align_corners=False)
        return self.decoder_out(hidden)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if x.ndim != 5:
            raise VidsslError(f"ClipVAE expects clips (B, C, T, H, W), got shape {tuple(x.shape)}")
        _, _, t, h, w = x.shape
        mu, logvar = self.encode(x)
        view = self.decode(self.reparameterize(mu, logvar), (t, h, w))
        return view, mu, logvar


def _conv2d_block(in_ch: int, out_ch: int, *, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel_size=3, stride=stride, padding=1), nn.LeakyReLU(0.1, inplace=True)
    )


class FlowEstimator(nn.Module):
    """O: two frames (B, 6, H, W) → flow (B, 2, H, W) in pixels, from frame 1 towards frame 2.

    Three conv blocks (two of them stride 2), a flow head at 1/4 resolution,
    upsampled bilinearly to H × W (and multiplied by the scale, as flows are
    in pixels), refined by one conv at full resolution on the upsampled flow
    and the input frames.
    """

    def __init__(self, channels: int = 3, *, width: int = 16) -> None:
        super().__init__()
        channels = check_positive_int("channels", channels)
        width = check_positive_int("width", width)
        self.features = nn.Sequential(
            _conv2d_block(2 * channels, width, stride=2),
            _conv2d_block(width, 2 * width, stride=2),
            _conv2d_block(2 * width, 2 * width, stride=1),
        )
        self.coarse_flow = nn.Conv2d(2 * width, 2, kernel_size=3, padding=1)
        self.refine = nn.Sequential(_conv2d_block(2 * channels + 2, width, stride=1), nn.Conv2d(width, 2, 3, padding=1))

    def forward(self, pair: torch.Tensor) -> torch.Tensor:
        if pair.ndim != 4 or pair.shape[1] % 2:
            raise VidsslError(f"FlowEstimator expects two stacked frames (B, 2C, H, W), got {tuple(pair.shape)}")
        h, w = pair.shape[-2:]
        coarse = self.coarse_flow(self.features(pair))
        scale = torch.tensor([w / coarse.shape[-1], h / coarse.shape[-2]], device=pair.device, dtype=pair.dtype)
        flow = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False) * scale.view(1, 2, 1, 1)
        return flow + self.refine(torch.cat([pair, flow], dim=1))

    def clip_flows(self, x: torch.Tensor) -> torch.Tensor:
        """Flows between consecutive frames of clips (B, C, T, H, W) → (B, 2, T − 1, H, W), all pairs in one batch."""
        return pair_flows_to_clip(self(frame_pairs(x)), x.shape[0])
