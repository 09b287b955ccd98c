"""The held-out pass of vidssl.engine.heldout: even batches, means weighted by batch size, chance levels, eval
mode without gradients, and a training run that is the same with it as without it."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidssl.engine.heldout import evaluate_pretext, even_batches, heldout_lines, heldout_loader, heldout_val_fn
from vidssl.engine.trainer import TrainConfig, fit


@pytest.mark.parametrize("count, batch_size, sizes", [
    (8, 4, [4, 4]), (10, 4, [4, 3, 3]), (9, 4, [3, 3, 3]), (5, 4, [3, 2]), (1, 4, [1]), (0, 4, []), (3, 8, [3]),
])
def test_even_batches_cover_every_index_in_order_in_near_equal_batches(count, batch_size, sizes):
    batches = even_batches(count, batch_size)
    assert [len(b) for b in batches] == sizes
    assert [i for b in batches for i in b] == list(range(count))


class Numbers(torch.utils.data.Dataset):
    """Sample i: x = i (and a target y = 2i + 1 for the regression of the fit tests)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        x = torch.tensor([float(i), 1.0])
        return {"x": x, "y": torch.tensor(2.0 * i + 1.0)}


class Recorder(nn.Module):
    """A method whose logs are plain statistics of the batch, recording the mode it ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(2, 1)
        self.modes: list[tuple[bool, bool]] = []

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        self.modes.append((self.training, torch.is_grad_enabled()))
        x = batch["x"][:, 0]
        logs = {"mean_x": x.mean().item()}
        if len(x) == 3:
            logs["first_batch_only"] = 7.0
        return (x.max() - x.min()), logs

    def pretext_chance(self, batch=None) -> dict[str, float]:
        return {"mean_x": len(batch["x"]) / 10, "never_logged": 1.0}


def test_every_logged_value_is_averaged_weighted_by_batch_size_with_its_chance_level():
    method = Recorder().train()
    cfg = TrainConfig(batch_size=3, workers=0, device="cpu", progress=False)
    loader = heldout_loader(Numbers(7), cfg=cfg, device=torch.device("cpu"))  # batches 0-2, 3-4, 5-6
    result = evaluate_pretext(method, loader, cfg=cfg, device=torch.device("cpu"))
    assert result == pytest.approx({
        "heldout/loss": (3 * 2 + 2 * 1 + 2 * 1) / 7,  # max - min of each batch
        "heldout/mean_x": (3 * 1 + 2 * 3.5 + 2 * 5.5) / 7,  # = 3, the mean of 0..6
        "heldout/first_batch_only": 7.0,  # weighted over the batches that logged it
        "chance/mean_x": (3 * 0.3 + 2 * 0.2 + 2 * 0.2) / 7,  # only keys that were logged get a chance level
    })
    assert method.modes == [(False, False)] * 3 and method.training  # eval, no gradients; train mode restored
    lines = heldout_lines({"heldout/loss": 1.5, "heldout/loss/part": 1.0, "heldout/acc": 0.625, "chance/acc": 0.25,
                           "heldout/rate_mae": 1.25, "chance/rate_mae": 2.0, "heldout/err": 3.0})
    assert lines == ["held-out loss: 1.5", "held-out acc: 0.625 (chance 0.25)", "held-out rate_mae: 1.25 (chance 2)",
                     "held-out err: 3"]


class NoisyRegressor(nn.Module):
    """Dropout in training and a random draw in every step: a held-out pass that touched the global RNG
    would change the next epoch's masks, and with them the trained weights."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 1))

    def training_step(self, batch: dict) -> tuple[torch.Tensor, dict]:
        noise = torch.rand(()) * 1e-3
        loss = F.mse_loss(self.body(batch["x"] / 10).squeeze(1), batch["y"] / 10) + noise
        return loss, {"noise": noise.item()}

    def pretext_chance(self, batch=None) -> dict[str, float]:
        return {}


def train(tmp_path, name, *, heldout: bool):
    torch.manual_seed(0)
    method = NoisyRegressor()
    cfg = TrainConfig(epochs=3, batch_size=4, lr=0.05, workers=0, device="cpu", progress=False, seed=0)
    val_fn = heldout_val_fn(Numbers(6), cfg=cfg) if heldout else None
    history = fit(method, Numbers(16), cfg=cfg, run_dir=tmp_path / name, val_fn=val_fn)
    return method, history


def test_a_run_with_heldout_metrics_trains_exactly_the_weights_of_one_without(tmp_path):
    plain, plain_history = train(tmp_path, "plain", heldout=False)
    scored, scored_history = train(tmp_path, "scored", heldout=True)
    for key, value in plain.state_dict().items():
        assert torch.equal(scored.state_dict()[key], value), key
    assert [row["loss"] for row in scored_history] == [row["loss"] for row in plain_history]
    assert all("heldout/loss" in row and "heldout/noise" in row for row in scored_history)
    # the same held-out draws every epoch: the random term of the step is the same number each time
    assert len({row["heldout/noise"] for row in scored_history}) == 1
