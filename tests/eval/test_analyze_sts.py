"""``vidssl analyze sts``: one PNG per clip and labels.json, with the labels where a moving square puts them."""
import json

import cv2
import numpy as np
import pytest
from PIL import Image

from videofixtures import write_frame_folder, write_video
from vidssl.cli.main import main
from vidssl.data.statistics import APPEARANCE_LABELS, MOTION_LABELS
from vidssl.errors import VidsslError
from vidssl.eval.analysis.sts_figure import flow_to_rgb
from vidssl.eval.analysis.sts_labels import draw_sts_labels, sts_clip_starts

SIZE = 128          # frames are 128×128 and the crop is the whole frame, so the blocks are known in the video
BLOCK = SIZE // 4   # pattern-1 blocks are 32 px
GEOMETRY = ["--resize", str(SIZE), str(SIZE), "--size", str(SIZE), "--flow", "farneback"]


def square_frames(num_frames: int = 32) -> np.ndarray:
    """A 12-px checkered square sliding right 1 px per frame inside pattern-1 block 5 (row 1, column 1) over a
    static smooth-noise background; it restarts every 16 frames, so each 16-frame clip moves the same way."""
    rng = np.random.default_rng(0)
    noise = rng.integers(40, 200, size=(SIZE // 8, SIZE // 8, 3)).astype(np.uint8)
    background = cv2.resize(noise, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    frames = np.repeat(background[None], num_frames, axis=0)
    side = 12
    checker = ((np.indices((side, side)) // 3).sum(0) % 2 * 255).astype(np.uint8)
    top = BLOCK + 10
    for t in range(num_frames):
        left = BLOCK + 4 + t % 16                      # columns 36..63 at most: still block 5
        frames[t, top: top + side, left: left + side] = checker[..., None]
    return frames


@pytest.fixture(scope="module")
def square_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("sts") / "square.mkv"
    return write_video(path, square_frames(), codec="libx264rgb", options={"qp": "0"})  # lossless


def read_labels(out):
    return json.loads((out / "labels.json").read_text())


def assert_pngs(out, labels, count):
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == count == len(labels["clips"])
    assert sorted(p.name for p in pngs) == sorted(clip["png"] for clip in labels["clips"])
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.format == "PNG" and image.size[0] >= 800 and image.size[1] >= 700


def test_cli_writes_a_png_per_clip_and_labels_where_the_square_moves(square_video, tmp_path, capsys):
    out = tmp_path / "fig"
    assert main(["analyze", "sts", str(square_video), "--out", str(out), *GEOMETRY]) == 0
    stdout = capsys.readouterr().out
    assert "labels.json" in stdout and str(out) in stdout
    labels = read_labels(out)
    assert_pngs(out, labels, 2)  # 32 frames: two non-overlapping 16-frame clips
    assert labels["num_frames"] == 32 and labels["clip_len"] == 16 and "0-based" in labels["labels"]
    for clip, start in zip(labels["clips"], (0, 16)):
        assert clip["start"] == start and clip["frame_indices"] == list(range(start, start + 16))
        assert list(clip["motion"]) == [spec.name for spec in MOTION_LABELS]
        assert list(clip["appearance"]) == [spec.name for spec in APPEARANCE_LABELS]
        assert clip["crop"] == {"top": 0, "left": 0, "flipped": False}
        assert clip["motion"]["p1_u_block"] == 5, clip["motion"]          # the square's block
        assert clip["appearance"]["p1_diverse_block"] == 5, clip          # the only block whose colours change
        assert 0 < clip["difficulty"] <= 1
        assert set(clip["colour_names"]) == {s.name for s in APPEARANCE_LABELS if s.kind == "colour"}


def test_frame_folder_and_flip_mirror_the_block(tmp_path):
    folder = write_frame_folder(tmp_path / "square_frames", square_frames(), template="img_{:05d}.png")
    out = tmp_path / "flipped"
    summary = draw_sts_labels(folder, out=out, clips=1, resize=(SIZE, SIZE), size=SIZE, flow="farneback", flip=True,
                          seed=2, frame_template="img_{:05d}.png")
    labels = read_labels(out)
    assert_pngs(out, labels, 1)
    assert summary["out"] == str(out) and labels["flip"] and labels["seed"] == 2
    clip = labels["clips"][0]
    assert clip["crop"]["flipped"], "seed 2 flips the first clip (pick another seed if the rng stream changes)"
    assert clip["motion"]["p1_u_block"] == 6 and clip["appearance"]["p1_diverse_block"] == 6  # row 1, column 2


def test_default_clips_are_at_most_four_spread_over_the_video():
    assert sts_clip_starts(88, clip_len=16, clips=None) == [0, 16, 48, 64]   # 5 clips, 4 shown
    assert sts_clip_starts(48, clip_len=16, clips=None) == [0, 16, 32]
    assert sts_clip_starts(88, clip_len=16, clips=2) == [0, 64]
    assert sts_clip_starts(88, clip_len=16, clips=9) == [0, 16, 32, 48, 64]


def test_flow_colours_follow_the_direction():
    flow = np.array([[[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0], [0.0, 0.0]]], dtype=np.float32)  # →, ↑ (v<0), ←, 0
    rgb = flow_to_rgb(flow)[0]
    assert rgb[0].tolist() == [255, 0, 0]                     # 0°: red
    assert rgb[1][1] == 255 and rgb[1][2] == 0 and rgb[1][0] > 100  # 90°: yellow-green
    assert rgb[2].tolist() == [0, 255, 255]                   # 180°: cyan
    assert rgb[3].tolist() == [0, 0, 0]                       # no motion: black


def one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def test_missing_video_is_one_line_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.mp4"
    line = one_line_error(capsys, ["analyze", "sts", str(missing), "--out", str(tmp_path / "out")])
    assert str(missing) in line and "not found" in line
    with pytest.raises(VidsslError, match="nope.mp4"):
        draw_sts_labels(missing, out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unreadable_and_too_short_videos_are_one_line_naming_them(tmp_path, capsys):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    assert str(text) in one_line_error(capsys, ["analyze", "sts", str(text), "--out", str(tmp_path / "out")])
    short = write_video(tmp_path / "short.mkv", square_frames(8), codec="libx264rgb", options={"qp": "0"})
    line = one_line_error(capsys, ["analyze", "sts", str(short), "--out", str(tmp_path / "out")])
    assert str(short) in line and "8 frames" in line and "16-frame" in line
