"""STS's motion-aware curriculum (TPAMI 2021 §3.4, eqs. 6–7): easy → hard order, the single-step pacing of
:class:`CurriculumDataset` (epoch and plateau rules), its use by the training loop, cached scoring, and the
dataset ``build_pretext_dataset`` makes for an STS config with a curriculum."""
import math
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from vidssl.data.array_cache import ArrayCache
from vidssl.data.curriculum import CurriculumDataset, easier_half, easy_to_hard, plateau_epoch, score_samples
from vidssl.engine.trainer import TrainConfig, fit
from vidssl.errors import CorruptVideoError, VidsslError


def reference_order(scores):
    """Descending f, ties in index order, by brute force."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def reference_plateau(losses, patience, min_delta):
    """After epoch e, the last ``patience`` epochs e-patience+1..e each failed to beat the best loss of the
    epochs before them by more than min_delta (relative): stage 2 from e + 1. The first such e wins."""
    for e in range(len(losses)):
        first_recent = e - patience + 1
        if first_recent < 1:
            continue
        best_before = min(losses[:first_recent])
        if all(not (losses[k] <= best_before * (1 - min_delta)) for k in range(first_recent, e + 1)):
            return e + 1
    return None


# ---------------------------------------------------------------- ordering


def test_easy_to_hard_sorts_by_f_descending_and_keeps_ties_in_index_order():
    assert list(easy_to_hard([0.2, 0.9, 0.5, 0.9, 0.1])) == [1, 3, 2, 0, 4]
    assert list(easy_to_hard([0.0, 0.0, 0.0])) == [0, 1, 2]
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 30):
        scores = list(rng.integers(0, 4, size=n) / 4)  # many ties
        assert list(easy_to_hard(scores)) == reference_order(scores)


def test_easier_half_is_the_first_ceil_half():
    assert list(easier_half([0.2, 0.9, 0.5, 0.9, 0.1])) == [1, 3, 2]        # n = 5 → 3
    assert list(easier_half([0.4, 0.1, 0.3, 0.8])) == [3, 0]                # n = 4 → 2
    assert list(easier_half([0.5])) == [0]
    rng = np.random.default_rng(1)
    for n in (6, 9, 13):
        scores = list(rng.random(n))
        assert list(easier_half(scores)) == reference_order(scores)[: math.ceil(n / 2)]


# ---------------------------------------------------------------- CurriculumDataset


class RecordingDataset(torch.utils.data.Dataset):
    """Sample i is {"index": i, "x": feature}; records the epochs it was told and the indices it served."""

    def __init__(self, n):
        self.n = n
        self.epoch = None
        self.epochs_seen = []
        self.served = {}

    def __len__(self):
        return self.n

    def set_epoch(self, epoch):
        self.epoch = epoch
        self.epochs_seen.append(epoch)

    def __getitem__(self, index):
        self.served.setdefault(self.epoch, []).append(index)
        return {"index": index, "x": torch.tensor([float(index), 1.0])}


SCORES = [0.30, 0.95, 0.10, 0.70, 0.70, 0.05, 0.55, 0.20, 0.80, 0.40]  # n = 10
EASY = {1, 8, 3, 4, 6}  # the five largest f (ties 3 and 4 both in)


def serve_all(dataset):
    return [dataset[i]["index"] for i in range(len(dataset))]


def test_stage_one_serves_only_the_easier_half_each_twice_and_keeps_the_length():
    inner = RecordingDataset(len(SCORES))
    dataset = CurriculumDataset(inner, SCORES, switch="epoch", switch_epoch=2)
    assert len(dataset) == len(SCORES)
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        served = serve_all(dataset)
        assert set(served) == EASY
        assert Counter(served) == {i: 2 for i in EASY}
        assert dataset[0]["curriculum_stage"] == 1


class DrawingDataset(RecordingDataset):
    """Also has VideoDataset's ``sample(index, draw=)``: records which draw each served sample was."""

    def sample(self, index, *, draw=0):
        sample = self[index]
        sample["draw"] = draw
        return sample


def test_an_easy_samples_second_showing_in_an_epoch_is_a_new_draw_not_a_copy():
    dataset = CurriculumDataset(DrawingDataset(len(SCORES)), SCORES, switch_epoch=1)
    dataset.set_epoch(0)
    draws = {}
    for i in range(len(dataset)):
        sample = dataset[i]
        draws.setdefault(sample["index"], []).append(sample.get("draw", 0))
    assert all(sorted(d) == [0, 1] for d in draws.values())
    dataset.set_epoch(1)
    assert all(dataset[i].get("draw", 0) == 0 for i in range(len(dataset)))


def test_video_dataset_draws_are_independent_streams_and_draw_zero_is_the_plain_sample():
    from vidssl.data.datasets import VideoDataset

    class Rec:
        path, label, num_frames = "v.mp4", 0, 10

    def sampler(record, reader, rng):
        return {"value": torch.tensor(rng.random())}

    data = VideoDataset([Rec(), Rec()], reader=None, sampler=sampler, seed=3)
    assert data.sample(1)["value"] == data[1]["value"]
    assert data.sample(1, draw=1)["value"] != data[1]["value"]
    assert data.sample(1, draw=1)["value"] == data.sample(1, draw=1)["value"]


def test_stage_one_with_odd_length_serves_every_easy_sample_once_or_twice():
    scores = [0.1, 0.9, 0.8, 0.2, 0.7, 0.3, 0.6]  # n = 7 → easy = {1, 2, 4, 6}
    dataset = CurriculumDataset(RecordingDataset(7), scores, switch_epoch=1)
    dataset.set_epoch(0)
    counts = Counter(serve_all(dataset))
    assert set(counts) == {1, 2, 4, 6}
    assert sorted(counts.values()) == [1, 2, 2, 2] and sum(counts.values()) == 7


def test_from_the_switch_epoch_on_every_sample_is_served_once_in_place():
    inner = RecordingDataset(len(SCORES))
    dataset = CurriculumDataset(inner, SCORES, switch="epoch", switch_epoch=2)
    for epoch in (2, 3, 7):
        dataset.set_epoch(epoch)
        assert serve_all(dataset) == list(range(len(SCORES)))
        assert dataset[5]["curriculum_stage"] == 2
    dataset.set_epoch(1)  # stage is a function of the epoch, not a one-way latch
    assert set(serve_all(dataset)) == EASY
    assert inner.epochs_seen == [2, 3, 7, 1]  # set_epoch reached the wrapped dataset every time
    with pytest.raises(IndexError):
        dataset[len(SCORES)]


def test_non_dict_samples_pass_through_unchanged():
    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, index):
            return index * 10

    dataset = CurriculumDataset(Plain(), [0.1, 0.2, 0.9, 0.3], switch_epoch=1)
    dataset.set_epoch(0)  # Plain has no set_epoch: fine
    assert [dataset[i] for i in range(4)] == [20, 30, 20, 30]


@pytest.mark.parametrize("kwargs", [
    {"scores": [0.1, 0.2]},                      # 2 scores for 10 samples
    {"switch": "loss"},
    {"switch": "none"},
    {"switch_epoch": 0},
    {"switch_epoch": -1},
    {"switch_epoch": 1.5},
    {"switch_epoch": True},
    {"switch": "plateau", "patience": 0},
    {"min_delta": -0.1},
    {"min_delta": 1.0},
])
def test_bad_arguments_raise(kwargs):
    arguments = {"scores": SCORES, **kwargs}
    scores = arguments.pop("scores")
    with pytest.raises(VidsslError):
        CurriculumDataset(RecordingDataset(len(SCORES)), scores, **arguments)


# ---------------------------------------------------------------- plateau rule


@pytest.mark.parametrize("losses, patience, min_delta, expected", [
    ([10, 9, 8, 7, 6, 5], 2, 0.01, None),        # falls > 1 % every epoch
    ([10, 9, 8, 8, 8], 2, 0.01, 5),              # flat after epoch 2: epochs 3, 4 no better → stage 2 at 5
    ([10, 9, 8, 8], 2, 0.01, None),              # only one flat epoch so far
    ([10, 8, 8, 8, 1], 2, 0.01, 4),              # the first plateau counts, a later drop does not undo it
    ([10, 8, 8, 8], 1, 0.01, 3),                 # patience 1: the first epoch without improvement
    ([5, 5, 5], 2, 0.01, 3),
    ([10, 11, 12], 2, 0.01, 3),                  # getting worse is no improvement
    ([10, 9.95, 9.0, 8.0], 2, 0.01, None),       # one of the last two improved enough → not converged
    ([100, 98.9, 97.8], 1, 0.01, None),          # 1.1 % and 1.11 % improvements: just above min_delta
    ([100, 99.1], 1, 0.01, 2),                   # 0.9 % improvement: just below min_delta
    ([100, 99.1], 1, 0.005, None),               # ... but above a smaller min_delta
    ([100, 95, 91], 2, 0.1, 3),                  # 9 % over two epochs < 10 %
    ([], 2, 0.01, None),
    ([3.0], 1, 0.01, None),
])
def test_plateau_epoch_against_a_hand_worked_table(losses, patience, min_delta, expected):
    assert plateau_epoch(losses, patience=patience, min_delta=min_delta) == expected
    assert reference_plateau(losses, patience, min_delta) == expected  # the reference agrees with the table


def test_plateau_epoch_matches_the_reference_on_random_loss_curves():
    rng = np.random.default_rng(3)
    for _ in range(300):
        n = int(rng.integers(0, 12))
        losses = list(np.cumprod(1 - rng.uniform(-0.02, 0.05, size=n)) * 10)
        patience = int(rng.integers(1, 4))
        min_delta = float(rng.choice([0.0, 0.005, 0.01, 0.03]))
        assert plateau_epoch(losses, patience=patience, min_delta=min_delta) == \
            reference_plateau(losses, patience, min_delta), (losses, patience, min_delta)


def rows(losses):
    return [{"epoch": e, "loss": loss, "lr": 0.1} for e, loss in enumerate(losses)]


def test_plateau_stage_comes_from_the_history_and_is_a_pure_function_of_it():
    losses = [10, 9, 8, 8, 8, 7]  # plateau → stage 2 from epoch 5
    stages = []
    for epoch in range(len(losses) + 1):
        dataset = CurriculumDataset(RecordingDataset(len(SCORES)), SCORES, switch="plateau", patience=2,
                                    min_delta=0.01)
        dataset.set_history(rows(losses[:epoch]))
        dataset.set_epoch(epoch)
        stages.append(dataset.stage)
        expected_served = list(range(len(SCORES))) if epoch >= 5 else None
        served = serve_all(dataset)
        if expected_served is None:
            assert set(served) == EASY
        else:
            assert served == expected_served
    assert stages == [1, 1, 1, 1, 1, 2, 2]
    # a long-lived dataset that saw every epoch agrees with fresh ones (as after a resume)
    dataset = CurriculumDataset(RecordingDataset(len(SCORES)), SCORES, switch="plateau")
    live = []
    for epoch in range(len(losses) + 1):
        dataset.set_history(rows(losses[:epoch]))
        dataset.set_epoch(epoch)
        live.append(dataset.stage)
    assert live == stages
    # the same history twice gives the same stage; rows without a loss are ignored
    dataset.set_history([{"epoch": 0, "note": "no loss"}] + rows(losses[:5]))
    dataset.set_epoch(5)
    assert dataset.stage == 2
    dataset.set_history(rows(losses[:4]))
    dataset.set_epoch(4)
    assert dataset.stage == 1


def test_plateau_rule_without_history_stays_in_stage_one():
    dataset = CurriculumDataset(RecordingDataset(len(SCORES)), SCORES, switch="plateau")
    for epoch in range(5):
        dataset.set_epoch(epoch)  # nobody called set_history: no losses, no plateau
        assert dataset.stage == 1


# ---------------------------------------------------------------- with the training loop


class ToyMethod(nn.Module):
    """A linear model; its loss is whatever value the batch carries (so the epoch loss is known by construction),
    plus 0 × the parameters so there is a gradient."""

    def __init__(self, epoch_losses=None):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.epoch_losses = epoch_losses

    def training_step(self, batch):
        out = self.linear(batch["x"]).mean()
        if self.epoch_losses is None:
            loss = (out - 1.0) ** 2
        else:
            loss = torch.as_tensor(batch["target"], dtype=torch.float32).mean() + 0.0 * out
        return loss, {"stage": torch.as_tensor(batch["curriculum_stage"]).float().mean()}


class LossScheduleDataset(RecordingDataset):
    """Every sample of epoch e carries ``losses[e]``, so the epoch loss the trainer logs is ``losses[e]``."""

    def __init__(self, n, losses):
        super().__init__(n)
        self.losses = losses

    def __getitem__(self, index):
        sample = super().__getitem__(index)
        sample["target"] = float(self.losses[self.epoch])
        return sample


def toy_config(epochs):
    return TrainConfig(epochs=epochs, batch_size=2, lr=0.01, workers=0, device="cpu", progress=False, seed=0,
                       schedule="constant", log_every=1000)


N_FIT = 12
FIT_SCORES = [0.12, 0.5, 0.91, 0.33, 0.77, 0.05, 0.64, 0.48, 0.81, 0.27, 0.59, 0.02]
FIT_EASY = set(reference_order(FIT_SCORES)[:6])


def test_fit_trains_on_the_easy_half_until_the_switch_epoch(tmp_path):
    inner = RecordingDataset(N_FIT)
    dataset = CurriculumDataset(inner, FIT_SCORES, switch="epoch", switch_epoch=1)
    torch.manual_seed(0)
    history = fit(ToyMethod(), dataset, cfg=toy_config(3), run_dir=tmp_path)
    assert inner.epochs_seen == [0, 1, 2]
    assert Counter(inner.served[0]) == {i: 2 for i in FIT_EASY}           # 12 positions → 6 easy × 2
    for epoch in (1, 2):
        assert sorted(inner.served[epoch]) == list(range(N_FIT))           # all, each once (shuffled)
    assert [row["stage"] for row in history] == [1.0, 2.0, 2.0]
    assert all(math.isfinite(row["loss"]) for row in history)


EPOCH_LOSSES = [10.0, 8.0, 8.0, 8.0, 6.0]  # plateau after epoch 3 (patience 2) → stage 2 from epoch 4


def test_fit_passes_the_real_loss_history_to_the_plateau_rule(tmp_path):
    inner = LossScheduleDataset(N_FIT, EPOCH_LOSSES)
    dataset = CurriculumDataset(inner, FIT_SCORES, switch="plateau", patience=2, min_delta=0.01)
    torch.manual_seed(0)
    history = fit(ToyMethod(EPOCH_LOSSES), dataset, cfg=toy_config(5), run_dir=tmp_path)
    assert [row["loss"] for row in history] == pytest.approx(EPOCH_LOSSES)
    assert [row["stage"] for row in history] == [1.0, 1.0, 1.0, 1.0, 2.0]
    for epoch in range(4):
        assert set(inner.served[epoch]) == FIT_EASY
    assert sorted(inner.served[4]) == list(range(N_FIT))


def test_a_resumed_plateau_run_picks_the_same_stages_and_samples(tmp_path):
    straight = LossScheduleDataset(N_FIT, EPOCH_LOSSES)
    torch.manual_seed(0)
    fit(ToyMethod(EPOCH_LOSSES), CurriculumDataset(straight, FIT_SCORES, switch="plateau"), cfg=toy_config(5),
        run_dir=tmp_path / "straight")

    first = LossScheduleDataset(N_FIT, EPOCH_LOSSES)
    torch.manual_seed(0)
    fit(ToyMethod(EPOCH_LOSSES), CurriculumDataset(first, FIT_SCORES, switch="plateau"), cfg=toy_config(4),
        run_dir=tmp_path / "resumed")
    second = LossScheduleDataset(N_FIT, EPOCH_LOSSES)  # a new process: fresh datasets, stage 1 by default
    history = fit(ToyMethod(EPOCH_LOSSES), CurriculumDataset(second, FIT_SCORES, switch="plateau"),
                  cfg=toy_config(5), run_dir=tmp_path / "resumed", resume=True)
    assert list(second.served) == [4]
    assert second.served[4] == straight.served[4] and sorted(second.served[4]) == list(range(N_FIT))
    assert [row["stage"] for row in history] == [1.0, 1.0, 1.0, 1.0, 2.0]


# ---------------------------------------------------------------- scoring with the cache


@dataclass(frozen=True)
class Record:
    path: str
    label: int
    num_frames: int
    start: int


class CountingScore:
    def __init__(self, values, corrupt=()):
        self.values, self.corrupt, self.calls = dict(values), set(corrupt), 0

    def __call__(self, record, reader):
        self.calls += 1
        assert reader == "reader"
        if record.path in self.corrupt:
            raise CorruptVideoError(f"{record.path}: broken")
        return self.values[(record.path, record.start)]


def write_records(tmp_path):
    records = []
    for k in range(3):
        path = tmp_path / f"video{k}.bin"
        path.write_bytes(bytes([k]) * (10 + k))
        for start in (0, 8):  # two clips of each video, as fixed_clip_records makes them
            records.append(Record(str(path), 0, 16, start))
    return records


def test_score_samples_caches_and_recomputes_when_a_file_or_setting_changes(tmp_path):
    records = write_records(tmp_path)
    values = {(r.path, r.start): 0.1 * (i + 1) for i, r in enumerate(records)}
    cache = ArrayCache(tmp_path / "cache")
    settings = {"size": 16, "clip_len": 8}
    score = CountingScore(values)
    first = score_samples(records, "reader", score, settings=settings, cache=cache, progress=False)
    np.testing.assert_allclose(first, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    assert first.dtype == np.float64 and score.calls == 6

    again = score_samples(records, "reader", score, settings=settings, cache=cache, progress=False)
    assert score.calls == 6  # served from the cache
    np.testing.assert_array_equal(again, first)

    # another setting: recomputed
    score.values = {key: value + 1 for key, value in values.items()}
    changed = score_samples(records, "reader", score, settings={**settings, "size": 32}, cache=cache, progress=False)
    assert score.calls == 12
    np.testing.assert_allclose(changed, first + 1)
    # the old settings still hit their entry
    np.testing.assert_array_equal(
        score_samples(records, "reader", score, settings=settings, cache=cache, progress=False), first)
    assert score.calls == 12

    # rewrite one video (new size and mtime): recomputed
    victim = records[2].path
    stat = os.stat(victim)
    with open(victim, "wb") as handle:
        handle.write(b"x" * 100)
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    rewritten = score_samples(records, "reader", score, settings=settings, cache=cache, progress=False)
    assert score.calls == 18
    np.testing.assert_allclose(rewritten, first + 1)

    # without a cache every call computes
    score_samples(records, "reader", score, settings=settings, cache=None, progress=False)
    assert score.calls == 24


def test_score_samples_touching_only_the_mtime_recomputes(tmp_path):
    records = write_records(tmp_path)
    values = {(r.path, r.start): 0.5 for r in records}
    cache, score = ArrayCache(tmp_path / "cache"), CountingScore(values)
    score_samples(records, "reader", score, settings={}, cache=cache, progress=False)
    assert score.calls == 6
    stat = os.stat(records[0].path)
    os.utime(records[0].path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    score_samples(records, "reader", score, settings={}, cache=cache, progress=False)
    assert score.calls == 12


def test_undecodable_samples_score_zero_and_are_counted_in_a_warning(tmp_path):
    records = write_records(tmp_path)
    values = {(r.path, r.start): 0.2 + 0.1 * i for i, r in enumerate(records)}
    score = CountingScore(values, corrupt={records[4].path})  # video 2: its two clips fail
    cache = ArrayCache(tmp_path / "cache")
    with pytest.warns(UserWarning, match=r"2 of 6 samples could not be decoded"):
        scores = score_samples(records, "reader", score, settings={}, cache=cache, progress=False)
    np.testing.assert_allclose(scores, [0.2, 0.3, 0.4, 0.5, 0.0, 0.0])
    # the zeros are cached like any score
    np.testing.assert_array_equal(score_samples(records, "reader", score, settings={}, cache=cache, progress=False),
                                  scores)
    assert score.calls == 6
    # scored 0 = hardest: never in the easier half
    assert not {4, 5} & set(easier_half(scores))


# ---------------------------------------------------------------- build_pretext_dataset for STS


def test_build_pretext_dataset_wraps_sts_in_the_curriculum_of_the_samplers_difficulty(monkeypatch):
    """SynthMotion (2 per class; the session cache shares it with the STS training tests) with the sts_cpu
    settings: every fixed 8-frame clip scored by f on its centre crop; the easier half = the largest f."""
    from vidssl.data.pretext.sts import STSSampler
    from vidssl.recipes import data as build
    from vidssl.recipes.configs import load_run_config
    from vidssl.recipes.pretrain import build_pretext_dataset

    cfg = load_run_config("sts_cpu", [
        "data.synth_per_class=2", "train.workers=0", "train.progress=false", "clip.frames=8", "clip.size=16",
        "clip.resize=[20,27]", "method.flow_cache=false", "method.curriculum=epoch", "method.curriculum_epoch=2",
    ])
    records, _ = build.build_records(cfg.data)
    reader, records = build.build_reader(cfg.data, records)
    dataset = build_pretext_dataset(cfg, records, reader, progress=False)
    assert isinstance(dataset, CurriculumDataset)
    assert (dataset.switch, dataset.switch_epoch) == ("epoch", 2)
    clips = dataset.dataset.records
    assert len(dataset) == len(clips) > len(records)  # fixed clips: several per video
    sampler = dataset.dataset.sampler
    f = [sampler.difficulty(clip, reader) for clip in clips]
    assert all(0.0 <= value <= 1.0 for value in f) and len(set(f)) > 1
    np.testing.assert_allclose(dataset.scores, f)
    easy = reference_order(f)[: math.ceil(len(f) / 2)]
    assert list(dataset.easy) == easy
    assert min(f[i] for i in easy) >= max(f[i] for i in set(range(len(f))) - set(easy))

    dataset.set_epoch(0)
    for position in (0, 1, len(dataset) - 1):
        sample = dataset[position]
        assert int(sample["video_index"]) in easy and sample["curriculum_stage"] == 1
    dataset.set_epoch(2)
    sample = dataset[len(dataset) - 1]
    assert int(sample["video_index"]) == len(dataset) - 1 and sample["curriculum_stage"] == 2

    # built again: the scores come from the cache, f is not computed again
    def no_scoring(self, record, reader):
        raise AssertionError("scored again despite the cache")

    monkeypatch.setattr(STSSampler, "difficulty", no_scoring)
    again = build_pretext_dataset(cfg, records, reader, progress=False)
    np.testing.assert_array_equal(again.scores, dataset.scores)

    none = load_run_config("sts_cpu", ["data.synth_per_class=2", "clip.frames=8", "clip.size=16",
                                       "clip.resize=[20,27]", "method.curriculum=none"])
    assert not isinstance(build_pretext_dataset(none, records, reader, progress=False), CurriculumDataset)


def test_curriculum_scores_are_not_reused_across_frame_sources():
    """The scores describe the frames the reader returns: decoded from the 48-px frame cache or from the
    original videos, f differs (and so can the easier half). Reading the scores cached for the other frame
    source is stale data: every score must equal f computed now with the reader in use."""
    from vidssl.recipes import data as build
    from vidssl.recipes.configs import load_run_config
    from vidssl.recipes.pretrain import build_pretext_dataset

    base = ["data.synth_per_class=2", "train.workers=0", "train.progress=false", "clip.frames=8", "clip.size=16",
            "clip.resize=[20,27]", "method.flow_cache=false", "method.clips=random"]
    for side in (48, 0):  # frame cache first, then the originals
        cfg = load_run_config("sts_cpu", [*base, f"data.cache_short_side={side}"])
        records, _ = build.build_records(cfg.data)
        reader, records = build.build_reader(cfg.data, records)
        dataset = build_pretext_dataset(cfg, records, reader, progress=False)
        fresh = [dataset.dataset.sampler.difficulty(record, reader) for record in dataset.dataset.records]
        np.testing.assert_allclose(dataset.scores, fresh, atol=1e-9, err_msg=f"data.cache_short_side={side}")
