"""Tests for vidssl.engine: the fit loop, resume, checkpoints, schedules, DDP and logs.

Everything runs on the CPU with a toy regression task: sample ``i`` has fixed
features drawn from ``rng([seed, i])`` plus per-epoch noise from
``rng([seed, epoch, i])`` and target ``y = x @ W_TRUE + 0.5``, so the data
depend only on (seed, epoch, index) — never on worker count or resume point.
"""

from __future__ import annotations

import csv
import math
import os
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from forked_ddp import needs_fork, run_forked
from vidssl.engine import TrainConfig, build_optimizer, build_scheduler, cleanup, fit
from vidssl.engine.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint
from vidssl.engine.optim import split_decay_parameters
from vidssl.errors import OutputError, VidsslError
from vidssl.ops.collectives import all_gather_with_grad

W_TRUE = np.array([1.0, -2.0, 0.5, 3.0])


class ToyRegression(torch.utils.data.Dataset):
    """Map-style toy data with per-(epoch, index) randomness; ``skipped`` is 1 for every ``skip_every``-th index."""

    def __init__(self, n: int = 32, *, seed: int = 0, skip_every: int = 0, interrupt_at_epoch: int | None = None):
        self.n = n
        self.seed = seed
        self.skip_every = skip_every
        self.interrupt_at_epoch = interrupt_at_epoch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        if epoch == self.interrupt_at_epoch:
            raise KeyboardInterrupt  # stands in for Ctrl-C / a killed job, right after the previous checkpoint
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def skipped_at(self, index: int) -> int:
        return int(self.skip_every > 0 and index % self.skip_every == 0)

    def __getitem__(self, index: int) -> dict:
        base = np.random.default_rng([self.seed, index]).standard_normal(4)
        noise = 0.1 * np.random.default_rng([self.seed, self.epoch, index]).standard_normal(4)
        x = base + noise
        return {
            "x": torch.tensor(x, dtype=torch.float32),
            "y": torch.tensor(float(x @ W_TRUE + 0.5), dtype=torch.float32),
            "clip": torch.full((2, 3), index % 256, dtype=torch.uint8),
            "index": index,
            "skipped": self.skipped_at(index),
        }


class TinyMethod(nn.Module):
    """Regressor following the method protocol; optional hidden layer with BN and dropout (RNG + buffers)."""

    def __init__(self, *, hidden: int | None = None, dropout: float = 0.0):
        super().__init__()
        if hidden is None:
            self.body = nn.Linear(4, 1)
        else:
            self.body = nn.Sequential(
                nn.Linear(4, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, 1)
            )
        self.seen_indices: list[list[int]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(1)

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        assert batch["clip"].dtype == torch.uint8  # the engine must not convert clips
        self.seen_indices.append(batch["index"].tolist())
        pred = self(batch["x"])
        loss = F.mse_loss(pred, batch["y"])
        return loss, {"mse": loss.detach(), "pred_mean": pred.mean().detach()}


def quiet_config(**overrides) -> TrainConfig:
    defaults = dict(epochs=3, batch_size=4, lr=0.05, workers=0, device="cpu", progress=False, seed=0)
    defaults.update(overrides)
    return TrainConfig(**defaults)


def make_method(seed: int = 0, **kwargs) -> TinyMethod:
    torch.manual_seed(seed)
    return TinyMethod(**kwargs)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------- training


def test_loss_decreases_on_learnable_task(tmp_path):
    method = make_method()
    cfg = quiet_config(epochs=4, lr=0.05, momentum=0.9, schedule="constant")
    history = fit(method, ToyRegression(48), cfg=cfg, run_dir=tmp_path)
    losses = [row["loss"] for row in history]
    assert len(history) == 4
    assert losses[-1] < 0.2 * losses[0]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))


def test_epoch_loss_is_mean_of_step_losses(tmp_path):
    """The logged loss of an epoch equals the mean of the batch losses recomputed from the weights used."""

    class RecordingMethod(TinyMethod):
        def training_step(self, batch):
            loss, logs = super().training_step(batch)
            self.step_losses.append(loss.detach().item())
            return loss, logs

    torch.manual_seed(0)
    method = RecordingMethod()
    method.step_losses = []
    history = fit(method, ToyRegression(16), cfg=quiet_config(epochs=1), run_dir=tmp_path)
    assert len(method.step_losses) == 4  # 16 samples / batch 4
    assert history[0]["loss"] == pytest.approx(np.mean(method.step_losses), rel=1e-6)
    assert history[0]["mse"] == pytest.approx(np.mean(method.step_losses), rel=1e-6)


def test_non_finite_loss_raises_with_epoch_and_step(tmp_path):
    class ExplodesAtThirdStepOfSecondEpoch(TinyMethod):
        calls = 0

        def training_step(self, batch):
            loss, logs = super().training_step(batch)
            type(self).calls += 1
            if type(self).calls == 4 + 3:  # 4 steps per epoch; epoch 1, step 2 (0-based)
                loss = loss * float("nan")
            return loss, logs

    torch.manual_seed(0)
    method = ExplodesAtThirdStepOfSecondEpoch()
    with pytest.raises(VidsslError, match=r"non-finite loss nan at epoch 1 step 2; try amp=false or a lower lr"):
        fit(method, ToyRegression(16), cfg=quiet_config(epochs=3), run_dir=tmp_path)


# ---------------------------------------------------------------- resume


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_after_interruption_gives_identical_weights(tmp_path, workers):
    """3 epochs straight == 1 epoch, interrupted, then resumed for 2 more (momentum, cosine+warm-up, dropout, BN)."""
    cfg = quiet_config(epochs=3, momentum=0.9, weight_decay=1e-3, schedule="cosine", warmup_epochs=0.5,
                       deterministic=True)
    dataset_size = 20  # 5 steps per epoch

    straight = make_method(hidden=8, dropout=0.3)
    history_straight = fit(straight, ToyRegression(dataset_size), cfg=cfg, run_dir=tmp_path / "a")

    run_b = tmp_path / "b"
    interrupted = make_method(hidden=8, dropout=0.3)
    with pytest.raises(KeyboardInterrupt):
        fit(interrupted, ToyRegression(dataset_size, interrupt_at_epoch=1), cfg=replace(cfg, workers=workers),
            run_dir=run_b)
    assert torch.load(run_b / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
    assert [row["epoch"] for row in read_csv(run_b / "logs" / "metrics.csv")] == ["0"]

    resumed = make_method(seed=123, hidden=8, dropout=0.3)  # different init: everything must come from last.pt
    history_resumed = fit(resumed, ToyRegression(dataset_size), cfg=replace(cfg, workers=workers), run_dir=run_b,
                          resume=True)

    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert [row["loss"] for row in history_resumed] == [row["loss"] for row in history_straight]
    assert [row["epoch"] for row in read_csv(run_b / "logs" / "metrics.csv")] == ["0", "1", "2"]
    assert not torch.are_deterministic_algorithms_enabled()  # fit restored the global setting


def test_resume_without_checkpoint_warns_and_starts_fresh(tmp_path):
    method = make_method()
    with pytest.warns(UserWarning, match="does not exist; starting from scratch"):
        history = fit(method, ToyRegression(8), cfg=quiet_config(epochs=1), run_dir=tmp_path, resume=True)
    assert [row["epoch"] for row in history] == [0]


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_resume_from_corrupt_checkpoint_raises_naming_file(tmp_path, damage):
    fit(make_method(), ToyRegression(8), cfg=quiet_config(epochs=1), run_dir=tmp_path)
    last = tmp_path / "checkpoints" / "last.pt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"not a checkpoint" * 10)
    with pytest.raises(VidsslError, match=f"checkpoint {last} is corrupt"):
        fit(make_method(), ToyRegression(8), cfg=quiet_config(epochs=2), run_dir=tmp_path, resume=True)


def test_resume_with_more_epochs_follows_the_longer_schedule(tmp_path):
    fit(make_method(), ToyRegression(8), cfg=quiet_config(epochs=1, lr=0.1, schedule="cosine"), run_dir=tmp_path)
    history = fit(make_method(), ToyRegression(8), cfg=quiet_config(epochs=2, lr=0.1, schedule="cosine"),
                  run_dir=tmp_path, resume=True)
    assert [row["epoch"] for row in history] == [0, 1]
    assert history[1]["lr"] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 2 / 4)))  # step 2 of 4


def test_resume_into_a_different_model_raises(tmp_path):
    fit(make_method(), ToyRegression(8), cfg=quiet_config(epochs=1), run_dir=tmp_path)
    with pytest.raises(VidsslError, match="does not match this model"):
        fit(make_method(hidden=4), ToyRegression(8), cfg=quiet_config(epochs=2), run_dir=tmp_path, resume=True)


# ---------------------------------------------------------------- checkpoints


def test_fit_checkpoint_is_weights_only_loadable_and_complete(tmp_path):
    method = make_method(hidden=4)
    cfg = quiet_config(epochs=2)
    fit(method, ToyRegression(8), cfg=cfg, run_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["last.pt"]  # no temp file, no best.pt
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2
    assert state["config"]["epochs"] == 2 and tuple(state["config"]["milestones"]) == cfg.milestones
    assert [row["epoch"] for row in state["history"]] == [0, 1]
    for key, value in method.state_dict().items():
        assert torch.equal(state["model"][key], value), key
    assert state["rng"]["per_rank"][0]["torch"].dtype == torch.uint8


def test_save_checkpoint_keeps_old_file_when_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"epoch": 1, "w": torch.ones(3)})

    def write_half_then_fail(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", write_half_then_fail)
    with pytest.raises(OutputError, match=f"cannot write {path}: disk full"):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    monkeypatch.undo()
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.ones(3))


def test_load_checkpoint_refuses_pickled_objects_and_missing_files(tmp_path):
    unsafe = tmp_path / "unsafe.pt"
    torch.save({"epoch": 1, "payload": TinyMethod()}, unsafe)  # a full module needs unpickling
    with pytest.raises(VidsslError, match=f"checkpoint {unsafe} is corrupt or not a vidssl checkpoint"):
        load_checkpoint(unsafe)
    with pytest.raises(VidsslError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_round_trip_through_weights_only_file(tmp_path):
    torch.manual_seed(5), np.random.seed(6), random.seed(7)
    np.random.standard_normal(), random.gauss(0, 1)  # both leave a cached second gaussian in the state
    save_checkpoint(tmp_path / "rng.pt", {"rng": capture_rng_state()})
    expected = (torch.rand(3), np.random.standard_normal(3), [random.random() for _ in range(3)], random.gauss(0, 1))
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    restore_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (torch.rand(3), np.random.standard_normal(3), [random.random() for _ in range(3)], random.gauss(0, 1))
    assert torch.equal(expected[0], again[0])
    np.testing.assert_array_equal(expected[1], again[1])
    assert expected[2] == again[2] and expected[3] == again[3]


# ---------------------------------------------------------------- optimiser and schedules


def _lrs_per_step(cfg: TrainConfig, steps_per_epoch: int) -> list[float]:
    """Learning rate used at each optimiser step of the whole run."""
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=cfg.lr)
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch)
    lrs = []
    for _ in range(cfg.epochs * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def test_multistep_drops_by_gamma_at_milestone_fractions():
    cfg = quiet_config(epochs=10, lr=0.1, schedule="multistep", milestones=(0.6, 0.8), gamma=0.1)
    lrs = _lrs_per_step(cfg, steps_per_epoch=5)  # 50 steps; drops at steps 30 (epoch 6) and 40 (epoch 8)
    assert lrs[0] == pytest.approx(0.1) and lrs[29] == pytest.approx(0.1)
    assert lrs[30] == pytest.approx(0.01) and lrs[39] == pytest.approx(0.01)
    assert lrs[40] == pytest.approx(0.001) and lrs[49] == pytest.approx(0.001)


def test_cosine_schedule_start_middle_end():
    lrs = _lrs_per_step(quiet_config(epochs=10, lr=0.1, schedule="cosine"), steps_per_epoch=5)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[25] == pytest.approx(0.05)  # half-way: cos(pi/2) = 0
    assert lrs[49] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 49 / 50)))
    assert all(later < earlier for earlier, later in zip(lrs, lrs[1:]))


def test_linear_warmup_then_cosine():
    lrs = _lrs_per_step(quiet_config(epochs=10, lr=0.1, schedule="cosine", warmup_epochs=1), steps_per_epoch=5)
    assert lrs[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    # cosine over the 45 post-warm-up steps, t = (step - 5) / 45
    assert lrs[5] == pytest.approx(0.1)
    assert lrs[6] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 1 / 45)))
    assert lrs[49] == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 44 / 45)))


def test_bad_schedule_settings_raise(tmp_path):
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    with pytest.raises(VidsslError, match="train.schedule='step'"):
        build_scheduler(optimizer, quiet_config(schedule="step"), 5)
    with pytest.raises(VidsslError, match="train.milestones"):
        build_scheduler(optimizer, quiet_config(schedule="multistep", milestones=(0.8, 0.6)), 5)
    with pytest.raises(VidsslError, match="train.amp_dtype='fp8'"):
        fit(make_method(), ToyRegression(8), cfg=quiet_config(amp_dtype="fp8"), run_dir=tmp_path)


def test_no_weight_decay_on_biases_and_norm_parameters():
    model = nn.Sequential(nn.Conv3d(3, 4, 3), nn.BatchNorm3d(4), nn.Flatten(), nn.LazyLinear(2), nn.LayerNorm(2))
    model(torch.zeros(2, 3, 3, 3, 3))  # materialise the lazy layer
    frozen = nn.Linear(2, 2)
    frozen.requires_grad_(False)
    model.append(frozen)
    groups = split_decay_parameters(model, weight_decay=0.5)
    decayed = {id(p) for p in groups[0]["params"]}
    not_decayed = {id(p) for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.5 and groups[1]["weight_decay"] == 0.0
    assert decayed == {id(model[0].weight), id(model[3].weight)}
    assert not_decayed == {id(p) for p in (model[0].bias, model[1].weight, model[1].bias, model[3].bias,
                                           model[4].weight, model[4].bias)}
    optimizer = build_optimizer(model, quiet_config(weight_decay=0.5, nesterov=True, momentum=0.9))
    assert optimizer.param_groups[0]["nesterov"] is True


def test_adamw_step_matches_the_adam_update_rule_and_bad_names_are_rejected():
    torch.manual_seed(0)
    layer = nn.Linear(3, 1)
    optimizer = build_optimizer(layer, quiet_config(optimizer="adamw", lr=0.01, momentum=0.9, weight_decay=0.1))
    assert isinstance(optimizer, torch.optim.AdamW)
    w0 = layer.weight.detach().clone()
    loss = layer(torch.ones(1, 3)).sum()
    loss.backward()
    grad = layer.weight.grad.clone()
    optimizer.step()
    # first Adam step: decoupled decay, then m̂/(sqrt(v̂)+eps) = g/(|g|+eps)
    expected = w0 * (1 - 0.01 * 0.1) - 0.01 * grad / (grad.abs() + 1e-8)
    assert torch.allclose(layer.weight, expected, atol=1e-6)
    with pytest.raises(VidsslError, match="train.optimizer"):
        build_optimizer(layer, quiet_config(optimizer="lamb"))


# ---------------------------------------------------------------- logs


def test_metrics_csv_rows_columns_skipped_and_best_checkpoint(tmp_path, capsys):
    dataset = ToyRegression(10, skip_every=3)  # indices 0, 3, 6, 9 count as "skipped" corrupt videos
    method = make_method()
    cfg = quiet_config(epochs=3, lr=0.1, schedule="multistep", milestones=(0.5,), gamma=0.1)
    scores = iter([0.5, 0.2, 0.9])

    def val_fn(model, epoch):
        assert model is method
        return {"score": next(scores), "val_epoch": epoch}

    fit(method, dataset, cfg=cfg, run_dir=tmp_path, val_fn=val_fn)
    rows = read_csv(tmp_path / "logs" / "metrics.csv")
    assert list(rows[0].keys()) == ["epoch", "lr", "loss", "mse", "pred_mean", "skipped", "seconds",
                                    "samples_per_s", "score", "val_epoch"]
    assert [int(row["epoch"]) for row in rows] == [0, 1, 2]
    assert [float(row["lr"]) for row in rows] == pytest.approx([0.1, 0.1, 0.01])  # 6 steps; drop at step 3
    steps_per_epoch = 2  # 10 samples, batch 4, last partial batch dropped
    for epoch, row in enumerate(rows):
        seen = [i for batch in method.seen_indices[epoch * steps_per_epoch:(epoch + 1) * steps_per_epoch]
                for i in batch]
        assert len(seen) == 8
        assert int(row["skipped"]) == sum(dataset.skipped_at(i) for i in seen)
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == 3
    for line, row in zip(printed, rows):
        if int(row["skipped"]) > 0:
            assert line.endswith(f"skipped {row['skipped']} corrupt videos")
        else:
            assert "skipped" not in line
    best = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    assert best["epoch"] == 3  # score 0.9 at the last epoch beats 0.5


# ---------------------------------------------------------------- distributed (2 CPU processes, gloo)


def _ddp_worker(out_dir: str) -> None:
    """One torchrun-like process: fit 1 epoch (2 steps) on its shard; a NaN on one rank; all_gather_with_grad."""
    rank = int(os.environ["RANK"])
    method = make_method()  # identical init on both ranks; DDP would broadcast rank 0's anyway
    initial = {key: value.clone() for key, value in method.state_dict().items()}
    cfg = quiet_config(epochs=1, batch_size=2, lr=0.1, momentum=0.0, weight_decay=0.0, schedule="constant")
    fit(method, ToyRegression(8), cfg=cfg, run_dir=Path(out_dir) / "run")

    class NanOnRank1(TinyMethod):
        def training_step(self, batch):
            loss, logs = super().training_step(batch)
            return (loss * float("nan") if rank == 1 else loss), logs

    try:  # rank 0's own loss is finite: it must still stop (a lone rank would hang in backward's all-reduce)
        fit(NanOnRank1(), ToyRegression(8), cfg=cfg, run_dir=Path(out_dir) / "run_nan")
        nan_error = "no error"
    except VidsslError as exc:
        nan_error = str(exc)

    x = (torch.arange(3.0) + 10 * rank).requires_grad_()
    gathered = all_gather_with_grad(x)
    (gathered * torch.arange(6.0) * (rank + 1)).sum().backward()
    torch.save(
        {"initial": initial, "final": method.state_dict(), "seen": method.seen_indices,
         "gathered": gathered.detach(), "x_grad": x.grad, "nan_error": nan_error},
        Path(out_dir) / f"rank{rank}.pt",
    )
    cleanup()


@needs_fork
def test_two_process_ddp_matches_single_process_on_combined_batch(tmp_path):
    assert run_forked(_ddp_worker, tmp_path) == [0, 0]  # a child's traceback is in the captured stderr

    results = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    # each rank saw 2 steps of 2 samples; together the 8 samples exactly once
    assert [len(r["seen"]) for r in results] == [2, 2]
    assert sorted(i for r in results for batch in r["seen"] for i in batch) == list(range(8))

    final0, final1 = results[0]["final"], results[1]["final"]
    for key in final0:
        assert torch.equal(final0[key], final1[key]), key
        assert not torch.equal(final0[key], results[0]["initial"][key]), key

    # reference: plain SGD on the union of both ranks' batches, step by step
    dataset = ToyRegression(8)
    dataset.set_epoch(0)
    weight = results[0]["initial"]["body.weight"].clone().requires_grad_()
    bias = results[0]["initial"]["body.bias"].clone().requires_grad_()
    for step in range(2):
        indices = results[0]["seen"][step] + results[1]["seen"][step]
        x = torch.stack([dataset[i]["x"] for i in indices])
        y = torch.stack([dataset[i]["y"] for i in indices])
        loss = ((x @ weight.T).squeeze(1) + bias - y).pow(2).mean()
        grad_w, grad_b = torch.autograd.grad(loss, [weight, bias])
        with torch.no_grad():
            weight -= 0.1 * grad_w
            bias -= 0.1 * grad_b
    torch.testing.assert_close(final0["body.weight"], weight.detach(), atol=1e-6, rtol=0)
    torch.testing.assert_close(final0["body.bias"], bias.detach(), atol=1e-6, rtol=0)

    nan_error = "non-finite loss nan at epoch 0 step 0; try amp=false or a lower lr"
    assert [r["nan_error"] for r in results] == [nan_error] * 2

    # all_gather_with_grad: rank r's slice gets the sum over ranks q of (q + 1) * arange(6)[slice r]
    for rank, result in enumerate(results):
        assert torch.equal(result["gathered"], torch.tensor([0.0, 1, 2, 10, 11, 12]))
        expected_grad = torch.arange(6.0)[3 * rank:3 * rank + 3] * (1 + 2)
        assert torch.equal(result["x_grad"], expected_grad)
