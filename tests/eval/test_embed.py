"""``vidssl embed`` / ``vidssl search``: the same numbers as the library, skipped corrupt videos, a killed run resumed
without recomputing finished chunks, nearest neighbours known by construction, one-line CLI errors."""
import json
import shutil

import numpy as np
import pytest
import torch

import vidssl.eval.embed as embed_module
from clitools import assert_one_line_error, run_cli
from videofixtures import write_frame_folder, write_video
from vidssl import __version__
from vidssl.cli.main import main
from vidssl.data.datasets import VideoRecord
from vidssl.data.video import FrameFolderReader, PyAVReader, probe, probe_frames
from vidssl.eval.embed import find_videos
from vidssl.eval.features import EvalClips, extract_features
from vidssl.models import build_backbone
from vidssl.recipes.pretrain import save_backbone

# 2 clips of 4 frames, 16² crops of frames resized to 16, on the CPU in the main process
SETTINGS = ["eval.num_clips=2", "eval.frames=4", "eval.size=16", "eval.resize_short=16", "eval.batch_size=2",
            "train.workers=0", "train.device=cpu", "train.progress=false"]
VIDEOS = ["a/v0.mp4", "a/v1.mp4", "b/deep/v2.avi", "c/v3.mp4", "frames/v4"]


def noise_video(seed: int, num_frames: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(num_frames, size // 4, size // 4, 3)).astype(np.uint8)
    return frames.repeat(4, axis=1).repeat(4, axis=2)  # 4×4 blocks survive compression


def write_videos(root, names=VIDEOS, seed=0):
    for number, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        frames = noise_video(seed + number, 6 + 2 * number)
        if path.suffix:
            write_video(path, frames, codec="mpeg4" if path.suffix == ".avi" else "libx264")
        else:
            write_frame_folder(path, frames)
    return root


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = write_videos(tmp_path_factory.mktemp("videos"))
    (root / "a" / "notes.txt").write_text("not a video\n")
    (root / ".hidden.mp4").write_bytes(b"ignored")
    return root


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("run") / "backbone.pt"
    save_backbone(path, build_backbone("tiny", width=0.125), name="tiny", width=0.125)
    return path


@pytest.fixture(scope="module")
def clean(videos, ckpt, tmp_path_factory):
    """features.npy of ``videos`` from one uninterrupted run, default chunks."""
    out = tmp_path_factory.mktemp("clean") / "features.npy"
    assert main(["embed", str(ckpt), str(videos), "--out", str(out), *SETTINGS]) == 0
    return out


def embed(ckpt, videos, out, capsys, *extra):
    return run_cli(["embed", str(ckpt), str(videos), "--out", str(out), *SETTINGS, *extra], capsys)


def library_features(ckpt, paths, layer="pool"):
    """The same vectors computed directly: probed records, extract_features with the eval settings above."""
    from vidssl.recipes.pretrain import load_backbone

    rows = []
    for path in paths:
        folder = path.is_dir()
        meta = probe_frames(path) if folder else probe(path)
        record = VideoRecord(str(path), -1, meta.num_frames, meta.fps, meta.height, meta.width)
        features = extract_features(
            load_backbone(ckpt), [record], FrameFolderReader() if folder else PyAVReader(),
            EvalClips(num_clips=2, clip_len=4, size=16, resize_short=16), layers=(layer,), workers=0, progress=False,
        )
        rows.append(features.by_layer[layer][0])
    return np.stack(rows)


def test_find_videos_recursive_with_frame_folders(videos):
    assert find_videos(videos) == VIDEOS


def test_embed_matches_the_library(videos, ckpt, clean, tmp_path, capsys):
    feats = np.load(clean, allow_pickle=False)
    index = json.loads(clean.with_suffix(".json").read_text())
    assert feats.dtype == np.float32 and feats.shape == (5, 64)
    assert index["videos"] == VIDEOS and index["skipped"] == []
    assert index["vidssl_version"] == __version__ and index["checkpoint"] == str(ckpt.resolve())
    assert (index["layer"], index["clips"], index["frames"], index["size"]) == ("pool", 2, 4, 16)
    assert not (clean.parent / "features.npy.partial").exists()
    expected = library_features(ckpt, [videos / VIDEOS[0], videos / VIDEOS[2], videos / VIDEOS[4]])
    np.testing.assert_allclose(feats[[0, 2, 4]], expected, atol=1e-5)

    code, out, _ = embed(ckpt, videos, tmp_path / "l3.npy", capsys, "--layer", "layer3", "--chunk", "2")
    assert code == 0 and "embedded 5 of 5 videos (32-d)" in out
    expected = library_features(ckpt, [videos / VIDEOS[1]], "layer3")
    np.testing.assert_allclose(np.load(tmp_path / "l3.npy")[[1]], expected, atol=1e-5)


def test_corrupt_videos_are_skipped_and_reported(videos, ckpt, tmp_path, capsys):
    root = tmp_path / "videos"
    shutil.copytree(videos, root)
    (root / "a" / "broken.mp4").write_bytes(b"not a video at all")
    (root / "frames" / "empty").mkdir()
    (root / "frames" / "empty" / "cover.png").write_bytes(b"")  # a frame folder without img_00001.jpg
    code, out, err = embed(ckpt, root, tmp_path / "f.npy", capsys)
    assert code == 0, err
    assert "embedded 5 of 7 videos" in out and "skipped 2 unreadable videos" in out
    assert "a/broken.mp4: " in out and "frames/empty: no frame named img_00001.jpg" in out
    index = json.loads((tmp_path / "f.json").read_text())
    assert index["videos"] == VIDEOS
    assert [item["path"] for item in index["skipped"]] == ["a/broken.mp4", "frames/empty"]
    assert np.load(tmp_path / "f.npy").shape == (5, 64)


def test_all_unreadable_is_one_line_error(ckpt, tmp_path, capsys):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "x.mp4").write_bytes(b"garbage")
    (tmp_path / "v" / "y.webm").write_bytes(b"")
    code, _, err = embed(ckpt, tmp_path / "v", tmp_path / "f.npy", capsys)
    assert_one_line_error(code, err, "all 2 videos are unreadable", "x.mp4")
    assert not (tmp_path / "f.npy").exists()


class CountingExtract:
    """Wraps extract_features: records the videos of every call; on call ``fail_on`` raises KeyboardInterrupt
    (a kill)."""

    def __init__(self, fail_on=None):
        self.calls, self.fail_on = [], fail_on

    def __call__(self, backbone, records, *args, **kwargs):
        self.calls.append([record.path for record in records])
        if len(self.calls) == self.fail_on:
            raise KeyboardInterrupt
        return extract_features(backbone, records, *args, **kwargs)


def test_killed_run_resumes_without_recomputing(videos, ckpt, clean, tmp_path, capsys, monkeypatch):
    killed = CountingExtract(fail_on=2)
    monkeypatch.setattr(embed_module, "extract_features", killed)
    code, _, err = embed(ckpt, videos, tmp_path / "f.npy", capsys, "--chunk", "2")
    assert code == 130 and "rerun the same command" in err
    assert sorted(p.name for p in (tmp_path / "f.npy.partial").iterdir()) == [
        "chunk_000000.json", "chunk_000000.npy", "settings.json"]
    assert not (tmp_path / "f.npy").exists()

    resumed = CountingExtract()
    monkeypatch.setattr(embed_module, "extract_features", resumed)
    code, out, _ = embed(ckpt, videos, tmp_path / "f.npy", capsys, "--chunk", "2")
    assert code == 0 and "resuming: 2 of 5 videos" in out and "2 reused" in out
    first_chunk = {str(videos / name) for name in VIDEOS[:2]}
    assert len(resumed.calls) == 2 and not first_chunk & {p for call in resumed.calls for p in call}
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), np.load(clean), atol=1e-6)
    index = json.loads((tmp_path / "f.json").read_text())
    assert {**index, "features": clean.name} == json.loads(clean.with_suffix(".json").read_text())
    assert not (tmp_path / "f.npy.partial").exists()

    again = CountingExtract()
    monkeypatch.setattr(embed_module, "extract_features", again)
    code, out, _ = embed(ckpt, videos, tmp_path / "f.npy", capsys, "--chunk", "2")
    assert code == 0 and "up to date" in out and again.calls == []


def test_added_videos_only_are_embedded_and_other_settings_need_force(videos, ckpt, tmp_path, capsys, monkeypatch):
    root = tmp_path / "videos"
    shutil.copytree(videos, root)
    out = tmp_path / "f.npy"
    assert embed(ckpt, root, out, capsys)[0] == 0
    write_videos(root, ["new/v9.mp4"], seed=9)
    counting = CountingExtract()
    monkeypatch.setattr(embed_module, "extract_features", counting)
    code, printed, _ = embed(ckpt, root, out, capsys)
    assert code == 0 and "1 of 6 videos are new" in printed and "5 reused" in printed
    assert counting.calls == [[str(root / "new" / "v9.mp4")]]
    assert json.loads((tmp_path / "f.json").read_text())["videos"] == sorted(VIDEOS + ["new/v9.mp4"])

    code, _, err = embed(ckpt, root, out, capsys, "--clips", "3")
    assert_one_line_error(code, err, "other settings", "clips 2 → 3", "--force")
    code, printed, _ = embed(ckpt, root, out, capsys, "--clips", "3", "--force")
    assert code == 0 and "embedded 6 of 6" in printed and json.loads((tmp_path / "f.json").read_text())["clips"] == 3


# ---------------------------------------------------------------- search


def hand_made_index(tmp_path):
    """Five 3-d vectors whose cosine similarities to row 0 are 1 > cos(a) > ... by construction."""
    root = tmp_path / "videos"
    names = ["q.mp4", "near.mp4", "mid.mp4", "far.mp4", "opposite.mp4"]
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"")
    feats = np.array([[1, 0, 0], [1, 0.1, 0], [1, 1, 0], [0, 0, 2], [-3, 0, 0.1]], dtype=np.float32)
    np.save(tmp_path / "features.npy", feats)
    index = {"videos": names, "videos_dir": str(root), "skipped": [{"path": "bad.mp4", "reason": "failed to decode"}]}
    (tmp_path / "features.json").write_text(json.dumps(index))
    return tmp_path / "features.npy", root, feats


def test_search_known_neighbours_excludes_the_query(tmp_path, capsys):
    features, root, feats = hand_made_index(tmp_path)
    code, out, err = run_cli(["search", str(features), "q.mp4", "-k", "10"], capsys)
    assert code == 0, err
    rows = [line.split() for line in out.strip().splitlines()[2:]]
    assert [row[2] for row in rows] == ["near.mp4", "mid.mp4", "far.mp4", "opposite.mp4"]
    expected = feats[1:] @ feats[0] / np.linalg.norm(feats[1:], axis=1)
    np.testing.assert_allclose([float(row[1]) for row in rows], expected, atol=1e-4)
    assert [row[0] for row in rows] == ["1", "2", "3", "4"]

    code, out, _ = run_cli(["search", str(features), str(root / "mid.mp4"), "-k", "2"], capsys)
    assert code == 0 and "row 2 of the index" in out
    assert [line.split()[2] for line in out.strip().splitlines()[2:]] == ["near.mp4", "q.mp4"]


def test_search_embeds_a_new_video_with_the_index_settings(videos, ckpt, clean, tmp_path, capsys):
    query = tmp_path / "query.mp4"
    shutil.copy(videos / "c" / "v3.mp4", query)
    code, out, err = run_cli(["search", str(clean), str(query), "-k", "3", "--sheet",
                              str(tmp_path / "sheet.png")], capsys)
    assert code == 0, err
    first = out.strip().splitlines()[2].split()
    assert "embedded now" in out and first[2] == "c/v3.mp4" and float(first[1]) == pytest.approx(1.0, abs=1e-4)
    assert (tmp_path / "sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    other = tmp_path / "other.pt"
    save_backbone(other, build_backbone("tiny", width=0.125), name="tiny", width=0.125)
    code, _, err = run_cli(["search", str(clean), str(query), "--ckpt", str(other)], capsys)
    assert_one_line_error(code, err, "not the weights the features were made with")


def test_search_errors(tmp_path, capsys):
    features, _, _ = hand_made_index(tmp_path)
    cases = [
        (["search", str(features), "nope.mp4"], "not a video of features.json and not found"),
        (["search", str(features), "bad.mp4"], "skipped when the features were made (failed to decode)"),
        (["search", str(features), "q.mp4", "-k", "0"], "-k: expected a positive number"),
        (["search", str(tmp_path / "missing.npy"), "q.mp4"], "features file not found"),
    ]
    (tmp_path / "new.mp4").write_bytes(b"")
    cases.append((["search", str(features), str(tmp_path / "new.mp4")], "lacks checkpoint_sha256"))
    for args, needle in cases:
        code, _, err = run_cli(args, capsys)
        assert_one_line_error(code, err, needle)
    (tmp_path / "features.json").unlink()
    code, _, err = run_cli(["search", str(features), "q.mp4"], capsys)
    assert_one_line_error(code, err, "features.json: index of features.npy not found")


def test_embed_errors(videos, ckpt, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(ckpt), str(tmp_path / "missing")], "videos folder not found"),
        ([str(ckpt), str(tmp_path / "empty")], "no video files"),
        ([str(tmp_path / "nope.pt"), str(videos)], "does not exist"),
        ([str(ckpt), str(videos), "--layer", "layer9"], "unknown feature tap 'layer9'"),
        ([str(ckpt), str(videos), "--clips", "0"], "--clips: expected a positive integer"),
        ([str(ckpt), str(videos), "eval.bogus=1"], "'eval.bogus'"),
    ]
    for args, needle in cases:
        code, _, err = run_cli(["embed", *args, "--out", str(tmp_path / "f.npy"), *SETTINGS], capsys)
        assert_one_line_error(code, err, needle)
    code, _, err = run_cli(["embed", str(ckpt), str(videos), "--out", str(tmp_path / "f.csv")], capsys)
    assert_one_line_error(code, err, "expected a .npy file")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        code, _, err = run_cli(["embed", str(ckpt), str(videos), "--out", str(tmp_path / "f.parquet")], capsys)
        assert_one_line_error(code, err, ".parquet needs pyarrow", "use --out", "f.npy")
