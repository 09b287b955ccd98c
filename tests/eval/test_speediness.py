"""Speediness analysis (TransRank §4.1, Fig. 4 and 7): clip indices, normalisation, scores, the CLI end to end."""
import json

import numpy as np
import pytest
import torch

from videofixtures import make_ucf101
from vidssl.cli.main import main
from vidssl.data.datasets import VideoRecord
from vidssl.data.transforms import EvalTransform
from vidssl.errors import CorruptVideoError, VidsslError
from vidssl.eval.analysis.speediness import (
    SPEEDS,
    analysis_clip_indices,
    analysis_interval,
    normalize_speediness,
    scores_by_class,
    scores_by_speed,
    speediness_scores,
    summarize_speediness,
)
from vidssl.eval.plots import plot_speediness, plot_speediness_per_class
from vidssl.methods.transrank import TransRank
from vidssl.models import build_backbone


def oracle_indices(num_frames, speed, clip_len, num_clips, base_interval):
    """Footnote 4 by hand: one frame per base·n frames, starts k·(F − span)/(K − 1) floored, looped."""
    d = max(1, int(base_interval * speed))
    span = (clip_len - 1) * d + 1
    rows = []
    for k in range(num_clips):
        start = 0 if num_clips == 1 or num_frames <= span else k * (num_frames - span) // (num_clips - 1)
        rows.append([(start + j * d) % num_frames for j in range(clip_len)])
    return np.array(rows)


@pytest.mark.parametrize("speed, interval", [(0.5, 1), (1, 2), (2, 4), (4, 8)])
@pytest.mark.parametrize("num_frames, num_clips", [(300, 4), (300, 1), (40, 3), (9, 2)])
def test_analysis_indices_follow_footnote_4(speed, interval, num_frames, num_clips):
    assert analysis_interval(speed, base_interval=2) == interval
    got = analysis_clip_indices(num_frames, speed=speed, clip_len=8, num_clips=num_clips, base_interval=2)
    assert got.shape == (num_clips, 8)
    np.testing.assert_array_equal(got, oracle_indices(num_frames, speed, 8, num_clips, 2))
    if num_frames >= 8 * interval:  # long enough: no jitter, a constant stride
        assert (np.diff(got, axis=1) == interval).all()


def test_half_speed_interval_never_drops_below_one():
    assert analysis_interval(0.5, base_interval=1) == 1
    assert analysis_interval(4, base_interval=1) == 4


def test_normalisation_maps_1x_and_2x_means_to_0_and_1_and_keeps_order():
    rng = np.random.default_rng(0)
    speeds = np.repeat(np.array(SPEEDS), 50)
    scores = 0.7 * np.log2(speeds) + 3.0 + rng.normal(0, 0.2, speeds.size)
    normalized = normalize_speediness(scores, speeds)
    assert normalized[speeds == 1.0].mean() == pytest.approx(0.0, abs=1e-12)
    assert normalized[speeds == 2.0].mean() == pytest.approx(1.0, abs=1e-12)
    assert (np.argsort(normalized, kind="stable") == np.argsort(scores, kind="stable")).all()
    medians = [np.median(normalized[speeds == s]) for s in SPEEDS]
    assert medians == sorted(medians)


def test_normalisation_with_equal_means_is_an_error():
    speeds = np.array([1.0, 1.0, 2.0, 2.0])
    with pytest.raises(VidsslError, match="equal"):
        normalize_speediness(np.array([0.0, 2.0, 1.0, 1.0]), speeds)


class ArrayReader:
    """In-memory reader: frames of ``videos[path]``; an unknown path fails to decode."""

    def __init__(self, videos):
        self.videos = videos

    def read(self, path, indices):
        if path not in self.videos:
            raise CorruptVideoError(f"{path}: cannot decode")
        return self.videos[path][np.asarray(indices)]


def tiny_method(transforms=("2x", "rev", "1x")):
    torch.manual_seed(0)
    return TransRank(build_backbone("tiny"), transforms=transforms, head="mlp").eval()


def test_speediness_is_s2x_minus_s1x_by_hand_and_bad_videos_are_counted():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (50, 24, 28, 3), dtype=np.uint8)
    reader = ArrayReader({"a": frames})
    records = [VideoRecord("a", 1, 50, 25.0, 24, 28), VideoRecord("broken", 0, 50, 25.0, 24, 28)]
    method = tiny_method()
    with pytest.warns(UserWarning, match="1 of 2 videos failed"):
        result = speediness_scores(method, records, reader, clip_len=4, size=16, resize_short=20, num_clips=2,
                                   workers=0, progress=False)
    assert (result.num_videos, result.num_skipped, result.clips_per_video) == (2, 1, 2)
    assert result.scores.shape == (8,) and (result.labels == 1).all() and (result.video_index == 0).all()
    np.testing.assert_array_equal(result.speeds, np.repeat(SPEEDS, 2))
    transform = EvalTransform(16, resize_short=20)
    for speed in SPEEDS:
        for k, row in enumerate(analysis_clip_indices(50, speed=speed, clip_len=4, num_clips=2)):
            clip = transform(frames[row])[None, None]  # (1, 1, C, T, H, W)
            with torch.no_grad():
                s = method.scores(clip)[0, 0]
            expected = (s[0] - s[2]).item()  # transforms ("2x", "rev", "1x")
            got = result.scores[(result.speeds == speed)][k]
            assert got == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_a_model_without_2x_is_an_error():
    reader = ArrayReader({"a": np.zeros((20, 16, 16, 3), dtype=np.uint8)})
    with pytest.raises(VidsslError, match="'2x'"):
        speediness_scores(tiny_method(("1x", "rev")), [VideoRecord("a", 0, 20, 25.0, 16, 16)], reader,
                          clip_len=4, size=16, resize_short=16, workers=0, progress=False)


def test_summary_per_speed_and_class_and_the_plots(tmp_path):
    from vidssl.eval.analysis.speediness import SpeedinessScores

    rng = np.random.default_rng(0)
    speeds = np.tile(np.repeat(np.array(SPEEDS), 3), 4)
    labels = np.repeat(np.array([0, 0, 1, 1]), 12)
    scores = np.log2(speeds) + labels + rng.normal(0, 0.1, speeds.size)
    result = SpeedinessScores(scores, speeds, labels, np.repeat(np.arange(4), 12), num_videos=5, num_skipped=1,
                              clips_per_video=3)
    summary = summarize_speediness(result, ["Slow", "Fast"])
    assert summary["speeds"] == ["0.5x", "1x", "2x", "4x"] and summary["ordered"] is True
    for name in summary["speeds"]:
        raw = summary["per_speed"][name]["raw"]
        assert raw["count"] == 12 and raw["p5"] <= raw["p25"] <= raw["p50"] <= raw["p75"] <= raw["p95"]
    assert summary["per_speed"]["1x"]["normalized"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert summary["per_speed"]["2x"]["normalized"]["mean"] == pytest.approx(1.0, abs=1e-12)
    assert set(summary["per_class"]) == {"Slow", "Fast"} and summary["per_class"]["Fast"]["4x"]["count"] == 6
    reversed_result = SpeedinessScores(-scores, speeds, labels, result.video_index, 5, 1, 3)
    assert summarize_speediness(reversed_result)["ordered"] is False
    json.dumps(summary)  # JSON-ready
    normalized = normalize_speediness(scores, speeds)
    assert plot_speediness(scores_by_speed(result, normalized), tmp_path / "a.png").stat().st_size > 1000
    per_class = plot_speediness_per_class(scores_by_class(result, ["Slow", "Fast"]), tmp_path / "b.png")
    assert per_class.stat().st_size > 1000


TINY = [
    "model.backbone=tiny", "clip.frames=4", "clip.size=16", "train.epochs=1", "train.batch_size=4",
    "train.workers=0", "train.progress=false", "eval.resize_short=16", "eval.batch_size=4",
    "model.width=0.125",  # the tiny backbone at 1/8 width: checkpoints 4x smaller
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 1-epoch TransRank-T run (RGBDiff, tiny backbone, 4×16² clips) on the UCF101-layout fixture."""
    base = tmp_path_factory.mktemp("speed")
    ucf = make_ucf101(base / "ucf")
    data = ["data.format=ucf101", f"data.root={ucf.root}", f"data.annotations={ucf.annotations}"]
    run = base / "run"
    assert main(["pretrain", "quickstart", *data, *TINY, "--out", str(run)]) == 0
    return run, ucf


def test_cli_writes_json_and_both_figures(tiny_run, tmp_path, capsys):
    run, ucf = tiny_run
    out = tmp_path / "analysis"
    code = main(["analyze", "speediness", str(run / "checkpoints" / "last.pt"), "--clips", "2", "--out", str(out),
                 "train.device=cpu"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads((out / "speediness.json").read_text())
    assert summary["speeds"] == ["0.5x", "1x", "2x", "4x"]
    test_videos = len(ucf.expected["test"])
    for name in summary["speeds"]:
        assert summary["per_speed"][name]["raw"]["count"] == 2 * test_videos
    assert summary["num_videos"] == test_videos and summary["num_skipped"] == 0
    assert set(summary["per_class"]) == set(ucf.class_names)
    assert summary["clip"] == {"frames": 4, "size": 16, "base_interval": 2, "resize_short": 16, "short_video": "loop"}
    for png in ("speediness.png", "speediness_per_class.png"):
        assert (out / png).stat().st_size > 1000
    assert "| 0.5x |" in captured.out and "| 4x |" in captured.out and "order 0.5x < 1x < 2x < 4x" in captured.out


def test_cli_errors_are_one_line(tiny_run, capsys):
    run, _ = tiny_run
    assert main(["analyze", "speediness", str(run / "backbone.pt")]) == 2
    assert "'model' entry" in capsys.readouterr().err
    assert main(["analyze", "speediness", str(run), "--format", "ucf101"]) == 2
    assert "give --data" in capsys.readouterr().err
    assert main(["analyze", "speediness", str(run), "method.transforms=[1x,rev]"]) == 2
    assert "weights do not fit" in capsys.readouterr().err
