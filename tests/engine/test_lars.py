"""Tests for vidssl.engine.lars (LARS, You et al. 2017, as CORP §4.1 uses it) and its wiring in engine.optim.

Expected values are worked out by hand from the rule in the module docstring:
u = g + wd·w; trust = η‖w‖/‖u‖ (1 when a norm is 0 or the group is not adapted);
v ← m·v + lr·trust·u; w ← w − v.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidssl.config.loading import from_dict
from vidssl.engine import TrainConfig, build_optimizer, build_scheduler, fit
from vidssl.engine.lars import LARS
from vidssl.engine.optim import scaled_lr
from vidssl.errors import VidsslError


def lars_config(**overrides) -> TrainConfig:
    defaults = dict(optimizer="lars", lr=0.5, momentum=0.9, weight_decay=1e-6, epochs=2, batch_size=4,
                    workers=0, device="cpu", progress=False, seed=0)
    defaults.update(overrides)
    return TrainConfig(**defaults)


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.Linear(2, 1))


def set_fixed_grads(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for param in model.parameters():
        param.grad = torch.randn(param.shape, generator=generator)


def test_two_lars_steps_match_the_hand_computed_update():
    w = nn.Parameter(torch.tensor([3.0, 4.0], dtype=torch.float64))
    optimizer = LARS([{"params": [w], "weight_decay": 0.1, "lars_adapt": True}],
                     lr=1.0, momentum=0.5, trust_coefficient=0.02)
    # step 1: ‖w‖ = 5, u = [0.3, 0.4] + 0.1·[3, 4] = [0.6, 0.8], ‖u‖ = 1, trust = 0.02·5/1 = 0.1
    #         v = 0.5·0 + 1·0.1·[0.6, 0.8] = [0.06, 0.08], w = [2.94, 3.92] (‖w‖ = 4.9)
    w.grad = torch.tensor([0.3, 0.4], dtype=torch.float64)
    optimizer.step()
    assert torch.allclose(w, torch.tensor([2.94, 3.92], dtype=torch.float64), atol=1e-12)
    # step 2: u = [0.196, -0.392] + 0.1·[2.94, 3.92] = [0.49, 0], ‖u‖ = 0.49, trust = 0.02·4.9/0.49 = 0.2
    #         v = 0.5·[0.06, 0.08] + 1·0.2·[0.49, 0] = [0.128, 0.04], w = [2.812, 3.88]
    w.grad = torch.tensor([0.196, -0.392], dtype=torch.float64)
    optimizer.step()
    assert torch.allclose(w, torch.tensor([2.812, 3.88], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(optimizer.state[w]["momentum_buffer"], torch.tensor([0.128, 0.04], dtype=torch.float64))


def test_biases_and_norm_parameters_step_like_sgd_with_momentum_and_no_decay():
    model = small_model()
    optimizer = build_optimizer(model, lars_config(lr=0.3, weight_decay=0.5))
    excluded = [model[0].bias, model[1].weight, model[1].bias, model[3].bias]
    reference = [nn.Parameter(p.detach().clone()) for p in excluded]
    sgd = torch.optim.SGD(reference, lr=0.3, momentum=0.9, weight_decay=0.0)
    weights_before = model[0].weight.detach().clone()
    for seed in (1, 2):
        set_fixed_grads(model, seed)
        for ref, param in zip(reference, excluded):
            ref.grad = param.grad.clone()
        optimizer.step()
        sgd.step()
    for ref, param in zip(reference, excluded):
        assert torch.allclose(param, ref, atol=1e-7)
    # the adapted weight's step is trust-scaled, so far smaller than plain SGD's lr·g with lr = 0.3
    assert (model[0].weight - weights_before).abs().max() < 0.01


def test_zero_weight_or_zero_gradient_falls_back_to_trust_one_without_nan():
    zero_weight = nn.Parameter(torch.zeros(2))
    zero_grad = nn.Parameter(torch.tensor([1.0, 2.0]))
    both_zero = nn.Parameter(torch.zeros(3))
    optimizer = LARS([zero_weight, zero_grad, both_zero], lr=0.5, momentum=0.9, weight_decay=0.0)
    zero_weight.grad = torch.tensor([2.0, -4.0])
    zero_grad.grad = torch.zeros(2)
    both_zero.grad = torch.zeros(3)
    optimizer.step()
    assert torch.equal(zero_weight.detach(), torch.tensor([-1.0, 2.0]))  # trust 1: w = 0 − 0.5·g
    assert torch.equal(zero_grad.detach(), torch.tensor([1.0, 2.0]))  # u = 0: no step
    assert torch.equal(both_zero.detach(), torch.zeros(3))
    for param in (zero_weight, zero_grad, both_zero):
        assert torch.isfinite(optimizer.state[param]["momentum_buffer"]).all()


def test_state_dict_survives_weights_only_load_and_gives_an_identical_next_step():
    model = small_model()
    optimizer = build_optimizer(model, lars_config())
    scheduler = build_scheduler(optimizer, lars_config(warmup_epochs=1.0), steps_per_epoch=3)
    set_fixed_grads(model, 1)
    optimizer.step()
    scheduler.step()
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)

    restored_model = small_model()
    restored_model.load_state_dict(saved["model"])
    restored = build_optimizer(restored_model, lars_config())
    restored.load_state_dict(saved["optimizer"])
    assert [g["lars_adapt"] for g in restored.param_groups] == [True, False]
    for a, b in zip(optimizer.param_groups, restored.param_groups):
        assert a["lr"] == b["lr"]
    set_fixed_grads(model, 2)
    set_fixed_grads(restored_model, 2)
    optimizer.step()
    restored.step()
    for a, b in zip(model.parameters(), restored_model.parameters()):
        assert torch.equal(a, b)


def test_build_optimizer_lars_gives_an_adapted_decay_group_and_an_excluded_no_decay_group():
    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.BatchNorm3d(4), nn.Flatten(), nn.Linear(4, 2))
    optimizer = build_optimizer(model, lars_config(lr=0.2, momentum=0.8, lars_trust=0.02))
    assert isinstance(optimizer, LARS)
    decay, no_decay = optimizer.param_groups
    assert decay["lars_adapt"] is True and decay["weight_decay"] == 1e-6
    assert no_decay["lars_adapt"] is False and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(model[0].weight), id(model[3].weight)}
    assert len(no_decay["params"]) == 4  # conv bias, BN weight and bias, linear bias
    for group in (decay, no_decay):
        assert (group["lr"], group["momentum"], group["trust_coefficient"]) == (0.2, 0.8, 0.02)
    # without weight decay the flags still follow the parameter kind, not the decay value
    flags = [g["lars_adapt"] for g in build_optimizer(model, lars_config(weight_decay=0.0)).param_groups]
    assert flags == [True, False]
    only_biases = nn.BatchNorm1d(3)
    assert [g["lars_adapt"] for g in build_optimizer(only_biases, lars_config()).param_groups] == [False]


def test_linear_scaling_rule_gives_lr_times_global_batch_over_256():
    cfg = lars_config(lr=1.0, batch_size=64, lr_scaling="linear")
    assert scaled_lr(cfg, world_size=8) == 2.0  # CORP: global batch 512 -> lr 2
    assert scaled_lr(replace(cfg, lr=0.3), world_size=1) == pytest.approx(0.3 * 64 / 256)
    assert scaled_lr(replace(cfg, lr_scaling="none"), world_size=8) == 1.0
    optimizer = build_optimizer(small_model(), replace(cfg, optimizer="sgd"), world_size=8)
    assert [g["lr"] for g in optimizer.param_groups] == [2.0, 2.0]
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch=4)
    assert scheduler.base_lrs == [2.0, 2.0]  # the schedule multiplies the scaled lr


def test_config_loading_accepts_the_new_train_keys():
    cfg = from_dict(TrainConfig, {"optimizer": "lars", "lr_scaling": "linear", "lars_trust": 0.02}, where="train")
    assert (cfg.optimizer, cfg.lr_scaling, cfg.lars_trust) == ("lars", "linear", 0.02)


def test_bad_arguments_raise_vidssl_errors_naming_the_parameter():
    param = nn.Parameter(torch.ones(2))
    for kwargs, message in [
        (dict(lr=0.0), "lr: expected a finite number > 0, got 0.0"),
        (dict(lr=0.1, momentum=1.0), r"momentum: expected a number in \[0, 1\), got 1.0"),
        (dict(lr=0.1, momentum=-0.1), "momentum: "),
        (dict(lr=0.1, weight_decay=-1e-6), "weight_decay: expected a finite number >= 0"),
        (dict(lr=0.1, trust_coefficient=0.0), "trust_coefficient: "),
        (dict(lr=0.1, eps=-1.0), "eps: "),
        (dict(lr=float("nan")), "lr: "),
    ]:
        with pytest.raises(VidsslError, match=f"^{message}"):
            LARS([param], **kwargs)
    with pytest.raises(VidsslError, match="^lars_adapt: "):
        LARS([{"params": [param], "lars_adapt": "yes"}], lr=0.1)
    with pytest.raises(VidsslError, match="^weight_decay: "):
        LARS([{"params": [param], "weight_decay": -1.0}], lr=0.1)
    model = small_model()
    with pytest.raises(VidsslError, match="train.nesterov"):
        build_optimizer(model, lars_config(nesterov=True))
    with pytest.raises(VidsslError, match="train.lr_scaling"):
        build_optimizer(model, lars_config(lr_scaling="sqrt"))
    with pytest.raises(VidsslError, match="train.lars_trust"):
        build_optimizer(model, lars_config(lars_trust=-0.001))


class ToyMethod(nn.Module):
    """Linear regression on fixed data, following the training_step protocol."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        loss = F.mse_loss(self.body(batch["x"]).squeeze(1), batch["y"])
        return loss, {}


def test_fit_with_lars_and_linear_scaling_trains_and_resumes(tmp_path):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(16, 4, generator=generator)
    dataset = [{"x": row, "y": row.sum()} for row in x]
    cfg = lars_config(lr=1.0, batch_size=4, lr_scaling="linear", schedule="constant", epochs=1)
    history = fit(ToyMethod(), dataset, cfg=cfg, run_dir=tmp_path)
    assert history[0]["lr"] == 4 / 256  # one process: global batch 4
    resumed = fit(ToyMethod(), dataset, cfg=replace(cfg, epochs=2), run_dir=tmp_path, resume=True)
    assert len(resumed) == 2 and resumed[1]["lr"] == 4 / 256 and resumed[1]["loss"] < resumed[0]["loss"]
