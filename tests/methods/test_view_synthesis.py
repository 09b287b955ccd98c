"""SRO view synthesis (§III-G): Charbonnier, KL, warping, photometric, info-max and info-min gradients."""
import math

import pytest
import torch

from vidssl.eval.plots import plot_view_grid
from vidssl.losses.view_synthesis import charbonnier, infomax_loss, infomin_loss, kl_loss, photometric_loss
from vidssl.methods.view_synthesis import ViewSynthesis, denormalize_clip
from vidssl.models import build_backbone
from vidssl.models.view_synthesis import ClipVAE, FlowEstimator
from vidssl.ops.warp import warp, warp_next_to_current


def test_charbonnier_is_sqrt_of_x_squared_plus_eps_squared():
    x = torch.tensor([0.0, 1e-3, -0.5, 2.0])
    expected = [math.sqrt(v * v + 1e-6) for v in x.tolist()]
    assert charbonnier(x).tolist() == pytest.approx(expected)
    assert charbonnier(torch.zeros(1)).item() == pytest.approx(1e-3)


def test_kl_matches_equation_14_by_hand():
    mu = torch.tensor([[0.5, -1.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)]])
    # 1/2 (mu^2 + sigma^2 - log sigma^2 - 1) per element: 1/2 (0.25 + 1 - 0 - 1) and 1/2 (1 + 4 - log 4 - 1)
    expected = (0.5 * 0.25 + 0.5 * (4.0 - math.log(4.0))) / 2
    assert kl_loss(mu, logvar).item() == pytest.approx(expected)
    assert kl_loss(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0


def translating_clip(frames=6, size=24, step=1.0):
    """A smooth texture moving ``step`` px right per frame: x_{t+1}(p) = x_t(p − step), so the flow from t to
    t+1 that warps t+1 back onto t is u = +step, v = 0."""
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    out = []
    for t in range(frames):
        shifted = xs - step * t
        out.append(torch.stack([torch.sin(shifted / 2.5) + torch.cos(ys / 3.0),
                                torch.cos(shifted / 3.5), torch.sin((shifted + ys) / 4.0)]))
    return torch.stack(out, dim=1)[None]  # (1, 3, T, H, W)


def test_warp_identity_and_integer_shift():
    frames = torch.randn(2, 3, 10, 12)
    assert torch.allclose(warp(frames, torch.zeros(2, 2, 10, 12)), frames, atol=1e-6)
    flow = torch.zeros(2, 2, 10, 12)
    flow[:, 0] = 1.0  # output(p) = frames(p + (1, 0))
    assert torch.allclose(warp(frames, flow)[..., :-1], frames[..., 1:], atol=1e-5)


def test_photometric_loss_is_lowest_at_the_true_flow():
    still = translating_clip(step=0.0)
    zero = torch.zeros(1, 2, 5, 24, 24)
    assert photometric_loss(still, zero).item() == pytest.approx(1e-3, abs=1e-6)  # ρ(0) = ε
    moving = translating_clip(step=1.0)
    true = zero.clone()
    true[:, 0] = 1.0
    assert photometric_loss(moving, true).item() < 0.2 * photometric_loss(moving, zero).item()
    warped = warp_next_to_current(moving, true)
    assert torch.allclose(warped[..., 2:-2, 2:-2], moving[:, :, :-1, 2:-2, 2:-2], atol=1e-5)


@pytest.mark.parametrize("size", [(8, 32, 32), (16, 56, 56), (8, 30, 34)])
def test_networks_keep_the_clip_shape(size):
    torch.manual_seed(0)
    x = torch.randn(2, 3, *size)
    view, mu, logvar = ClipVAE(width=4, latent_channels=2)(x)
    assert view.shape == x.shape and mu.shape == logvar.shape and mu.shape[:3] == (2, 2, size[0])
    flows = FlowEstimator(width=4).clip_flows(x)
    assert flows.shape == (2, 2, size[0] - 1, *size[1:])


def test_vae_is_deterministic_in_eval_mode_and_sampled_in_training():
    torch.manual_seed(0)
    vae, x = ClipVAE(width=4, latent_channels=2), torch.randn(1, 3, 4, 16, 16)
    vae.eval()
    assert torch.equal(vae(x)[0], vae(x)[0])
    vae.train()
    assert not torch.equal(vae(x)[0], vae(x)[0])


def test_infomax_reaches_the_generator_and_leaves_the_flow_net_unchanged():
    torch.manual_seed(0)
    vae, flow_net = ClipVAE(width=4, latent_channels=2), FlowEstimator(width=4)
    x = torch.randn(2, 3, 4, 16, 16)
    input_flows = flow_net.clip_flows(x)
    view = vae(x)[0]
    infomax_loss(flow_net, view, input_flows).backward()
    assert all(p.grad is None for p in flow_net.parameters())
    assert sum(p.grad.abs().sum().item() for p in vae.parameters() if p.grad is not None) > 0
    # an optimiser step over both networks with only this term keeps O bit-identical
    before = [p.clone() for p in flow_net.parameters()]
    torch.optim.SGD([*vae.parameters(), *flow_net.parameters()], lr=0.1, momentum=0.9).step()
    assert all(torch.equal(a, b) for a, b in zip(before, flow_net.parameters()))


@pytest.mark.parametrize("form, sign", [("intent", 1), ("printed", -1)])
def test_infomin_stops_the_gradient_on_the_input_side(form, sign):
    torch.manual_seed(0)
    f_in = torch.randn(3, 8, requires_grad=True)
    f_view = torch.randn(3, 8, requires_grad=True)
    loss = infomin_loss(f_in, f_view, form=form)
    loss.backward()
    assert f_in.grad is None and f_view.grad.abs().sum() > 0
    cos = torch.nn.functional.cosine_similarity(f_in, f_view, dim=1).mean()
    assert loss.item() == pytest.approx(sign * cos.item())  # intent: +cos (minimised); printed eq. (16): -cos


def test_photometric_loss_trains_the_flow_net_only():
    torch.manual_seed(0)
    method = ViewSynthesis(build_backbone("tiny", width=0.125), vae_width=4, latent_channels=2, flow_width=4)
    x = torch.randn(2, 3, 4, 16, 16)
    photometric_loss(x, method.flow_net.clip_flows(x)).backward()
    assert all(p.grad is None for p in method.generator.parameters())
    assert sum(p.grad.abs().sum().item() for p in method.flow_net.parameters()) > 0


def test_view_synthesis_step_logs_every_term_and_learns_the_flow():
    torch.manual_seed(0)
    method = ViewSynthesis(build_backbone("tiny", width=0.125), vae_width=4, latent_channels=2, flow_width=8)
    assert all(not p.requires_grad for p in method.backbone.parameters())
    clip = translating_clip(frames=6, size=24, step=1.0)
    uint8 = ((clip - clip.min()) / (clip.max() - clip.min()) * 255).round().to(torch.uint8).repeat(2, 1, 1, 1, 1)
    batch = {"clips": uint8[:, None]}
    method.train()
    assert not method.backbone.training
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=3e-3)
    first = None
    for _ in range(30):
        loss, logs = method.training_step(batch)
        assert math.isfinite(loss.item()) and set(logs) == {"loss/photometric", "loss/kl", "loss/infomax",
                                                            "loss/infomin"}
        first = logs["loss/photometric"] if first is None else first
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert logs["loss/photometric"] < 0.9 * first
    view = method.synthesize(torch.randn(1, 3, 6, 24, 24))
    assert view.shape == (1, 3, 6, 24, 24) and method.generator.training


def test_view_grid_is_written(tmp_path):
    inputs = torch.randint(0, 255, (2, 3, 8, 16, 16), dtype=torch.uint8)
    views = denormalize_clip(torch.randn(2, 3, 8, 16, 16))
    assert 0 <= views.min() and views.max() <= 1
    path = plot_view_grid(inputs, views, tmp_path / "grid.png", frames=4)
    assert path.is_file() and path.stat().st_size > 1000
