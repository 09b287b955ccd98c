"""SynthMotion: UCF101 layout, exact decoding, determinism, motion labels known by construction, caching."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import av
import numpy as np
import pytest

from vidssl.data import synthmotion as sm
from vidssl.errors import VidsslError

TINY = dict(
    per_class=3,
    size_range=((32, 36), (40, 44)),
    length_range=(8, 12),
    classes=["MoveLeft", "RotateCW", "FadeIn"],
    progress=False,
)

TIME_REVERSE_PAIRS = {
    frozenset({"MoveLeft", "MoveRight"}),
    frozenset({"MoveUp", "MoveDown"}),
    frozenset({"Approach", "Recede"}),
    frozenset({"RotateCW", "RotateCCW"}),
    frozenset({"OrbitCW", "OrbitCCW"}),
    frozenset({"FadeIn", "FadeOut"}),
}


def decode(path: Path) -> np.ndarray:
    """All frames of a video file, uint8 (T, H, W, 3) RGB, decoded with PyAV on one thread."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])


def clean_plan(class_name: str, **overrides) -> sm.VideoPlan:
    """A plan with no distractors, pan or flicker, in the class's own look, starting at phase 0."""
    values = dict(
        class_name=class_name,
        height=48,
        width=64,
        num_frames=40,
        speed=1.0,
        phase0=0.0,
        class_look=True,
        group_seed=11,
        video_seed=23,
    )
    values.update(overrides)
    return sm.VideoPlan(**values)


def pixel_centroids(frames: np.ndarray) -> np.ndarray:
    """(T, 2) centroid (x, y) of pixels that differ from the per-pixel temporal median (the static background)."""
    background = np.median(frames.astype(np.float32), axis=0)
    moving = np.abs(frames.astype(np.float32) - background).max(axis=-1) > 30
    assert moving.sum(axis=(1, 2)).min() > 5, "the actor must show in every frame"
    ys, xs = np.mgrid[: frames.shape[1], : frames.shape[2]]
    count = moving.sum(axis=(1, 2))
    return np.stack([(moving * xs).sum(axis=(1, 2)) / count, (moving * ys).sum(axis=(1, 2)) / count], axis=1) + 0.5


def mask_centroids(mask: np.ndarray) -> np.ndarray:
    """(T, 2) weighted centroid (x, y) of the actor's blending weights, in pixel-centre coordinates."""
    ys, xs = np.mgrid[: mask.shape[1], : mask.shape[2]]
    total = mask.sum(axis=(1, 2))
    return np.stack([(mask * xs).sum(axis=(1, 2)) / total, (mask * ys).sum(axis=(1, 2)) / total], axis=1) + 0.5


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    return sm.generate_synthmotion(tmp_path_factory.mktemp("synth") / "tiny", seed=5, workers=1, **TINY)


# --------------------------------------------------------------------------- layout and decoding


def test_layout_is_ucf101(tiny_dataset: Path) -> None:
    splits = tiny_dataset / "splits"
    class_lines = (splits / "classInd.txt").read_text().splitlines()
    assert class_lines == ["1 MoveLeft", "2 RotateCW", "3 FadeIn"]  # SYNTH_CLASSES order, 1-based
    label_of = {line.split()[1]: int(line.split()[0]) for line in class_lines}

    train = [line.split() for line in (splits / "trainlist01.txt").read_text().splitlines()]
    test = [line.split() for line in (splits / "testlist01.txt").read_text().splitlines()]
    assert all(len(fields) == 2 for fields in train) and all(len(fields) == 1 for fields in test)
    for relative, label in train:
        assert int(label) == label_of[relative.split("/")[0]]
    listed = [fields[0] for fields in train + test]
    on_disk = sorted(str(p.relative_to(tiny_dataset / "videos")) for p in (tiny_dataset / "videos").rglob("*.mp4"))
    assert sorted(listed) == on_disk and len(on_disk) == 3 * 3
    for relative in listed:
        class_name, filename = relative.split("/")
        assert re.fullmatch(rf"v_{class_name}_g\d\d_c\d\d\.mp4", filename)

    metadata = json.loads((tiny_dataset / "metadata.json").read_text())
    split_of = {relative: "train" for relative, _ in train} | {fields[0]: "test" for fields in test}
    groups: dict[tuple[str, int], set[str]] = {}
    for video in metadata["videos"]:
        assert split_of[video["path"]] == video["split"]
        assert video["motion_type"] == sm.class_spec(video["class"]).motion_type
        groups.setdefault((video["class"], video["group"]), set()).add(video["split"])
    assert all(len(splits_of_group) == 1 for splits_of_group in groups.values())  # a group never straddles
    for class_name in TINY["classes"]:
        assert {s for (c, _), ss in groups.items() if c == class_name for s in ss} == {"train", "test"}
    assert metadata["version"] == sm.GENERATOR_VERSION
    assert [c["name"] for c in metadata["classes"]] == TINY["classes"]


def test_every_file_decodes_to_its_recorded_frames_and_size(tiny_dataset: Path) -> None:
    metadata = json.loads((tiny_dataset / "metadata.json").read_text())
    for video in metadata["videos"]:
        frames = decode(tiny_dataset / "videos" / video["path"])
        assert frames.shape == (video["num_frames"], video["height"], video["width"], 3)
        assert video["height"] % 2 == 0 and video["width"] % 2 == 0
        assert TINY["length_range"][0] <= video["num_frames"] <= TINY["length_range"][1]


def test_a_file_is_the_rendering_of_its_metadata_entry(tmp_path: Path) -> None:
    out = sm.generate_synthmotion(
        tmp_path / "one", per_class=1, size_range=((96, 96), (128, 128)), length_range=(16, 16),
        classes=["OrbitCW"], workers=1, progress=False,
    )  # fmt: skip
    (video,) = json.loads((out / "metadata.json").read_text())["videos"]
    decoded = decode(out / "videos" / video["path"]).astype(np.float32)
    rendered = sm.render_video(sm.plan_from_entry(video))[0].astype(np.float32)
    error = np.abs(decoded - rendered).mean()
    assert error < 3.0  # H.264 at crf 23 on a 96x128 frame
    assert np.abs(decoded - rendered[..., ::-1]).mean() > 3 * error  # RGB, not BGR


def test_keyframe_every_16_frames(tmp_path: Path) -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(40, 32, 48, 3), dtype=np.uint8)
    sm.write_mp4(frames, tmp_path / "k.mp4", fps=25)
    with av.open(str(tmp_path / "k.mp4")) as container:
        keys = [i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame]
    assert keys == [0, 16, 32]


def test_loader_reads_it_as_ucf101(tiny_dataset: Path, tmp_path: Path) -> None:
    datasets = pytest.importorskip("vidssl.data.datasets")
    kwargs = dict(
        root=tiny_dataset / "videos", annotations=tiny_dataset / "splits", split_id=1, progress=False,
        index_cache_dir=tmp_path,
    )  # fmt: skip
    train, names = datasets.load_records("ucf101", split="train", **kwargs)
    test, _ = datasets.load_records("ucf101", split="test", **kwargs)
    metadata = {v["path"]: v for v in json.loads((tiny_dataset / "metadata.json").read_text())["videos"]}
    assert names == TINY["classes"]
    assert len(train) + len(test) == len(metadata)
    for record in train + test:
        video = metadata["/".join(Path(record.path).parts[-2:])]
        assert (record.label, record.num_frames) == (video["label"] - 1, video["num_frames"])


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_videos_for_any_worker_count_and_other_seeds_differ(tiny_dataset: Path, tmp_path: Path) -> None:
    again = sm.generate_synthmotion(tmp_path / "again", seed=5, workers=2, **TINY)
    other = sm.generate_synthmotion(tmp_path / "other", seed=6, workers=1, **TINY)
    first_meta = json.loads((tiny_dataset / "metadata.json").read_text())
    assert json.loads((again / "metadata.json").read_text()) == first_meta
    other_meta = json.loads((other / "metadata.json").read_text())
    assert [v["seed"] for v in other_meta["videos"]] != [v["seed"] for v in first_meta["videos"]]
    for video in first_meta["videos"]:
        np.testing.assert_array_equal(
            decode(again / "videos" / video["path"]), decode(tiny_dataset / "videos" / video["path"])
        )
    differing = 0
    for video, other_video in zip(first_meta["videos"], other_meta["videos"]):
        a, b = decode(tiny_dataset / "videos" / video["path"]), decode(other / "videos" / other_video["path"])
        differing += a.shape != b.shape or not np.array_equal(a, b)
    assert differing == len(first_meta["videos"])


def test_a_class_renders_the_same_whatever_else_is_generated() -> None:
    arguments = dict(per_class=4, seed=3, appearance_bias=0.5, size_range=((32, 64), (32, 64)),
                     length_range=(8, 30), speed_range=(0.5, 2.0), test_fraction=0.3)  # fmt: skip
    plans = sm.plan_class(sm.class_spec("Swing"), **arguments)
    assert plans == sm.plan_class(sm.class_spec("Swing"), **arguments)
    first, _ = sm.render_video(plans[0])
    np.testing.assert_array_equal(first, sm.render_video(plans[0])[0])
    assert plans != sm.plan_class(sm.class_spec("Swing"), **{**arguments, "seed": 4})


# --------------------------------------------------------------------------- motion known by construction


@pytest.mark.parametrize(
    "class_name, axis, sign",
    [("MoveLeft", 0, -1), ("MoveRight", 0, 1), ("MoveUp", 1, -1), ("MoveDown", 1, 1)],
)
def test_linear_classes_move_the_actor_pixels_the_right_way(class_name: str, axis: int, sign: int) -> None:
    plan = clean_plan(class_name)
    frames, info = sm.render_video(plan)
    seen = pixel_centroids(frames)
    assert np.all(sign * np.diff(seen[:, axis]) > 0)
    # One crossing of the free range (frame extent minus radius + 1 px each side) per CYCLE_FRAMES at speed 1.
    extent = (plan.width, plan.height)[axis]
    free = extent - 2.0 * (info["radius"] + 1.0)
    expected = sign * free * (plan.num_frames - 1) / sm.CYCLE_FRAMES
    assert seen[-1, axis] - seen[0, axis] == pytest.approx(expected, abs=1.5)
    assert np.ptp(seen[:, 1 - axis]) < 1.5  # stays on its lane


def test_twice_the_speed_moves_twice_as_far_per_frame() -> None:
    slow = sm.render_video(clean_plan("MoveRight", num_frames=20, speed=1.0))[1]["centre"][:, 0]
    fast = sm.render_video(clean_plan("MoveRight", num_frames=20, speed=2.0))[1]["centre"][:, 0]
    np.testing.assert_allclose(np.diff(fast), 2.0 * np.diff(slow))


def test_drawn_actor_sits_where_info_says() -> None:
    for spec in sm.SYNTH_CLASSES:
        plan = clean_plan(spec.name, num_frames=24, distractors=2, pan_x=0.2, flicker=0.05, class_look=False)
        frames, info = sm.render_video(plan, with_masks=True)
        visible = info["mask"].sum(axis=(1, 2)) > 0
        assert visible.all(), spec.name
        np.testing.assert_allclose(mask_centroids(info["mask"]), info["centre"], atol=0.35, err_msg=spec.name)
        area = (info["mask"] > 0.5).sum(axis=(1, 2))
        short = min(plan.height, plan.width)
        assert area.max() < short * short, spec.name


def orbit_turning(centres: np.ndarray) -> np.ndarray:
    """Cross products of successive positions about their mean: > 0 is clockwise on screen (y down)."""
    r = centres - centres.mean(axis=0)
    return r[:-1, 0] * r[1:, 1] - r[:-1, 1] * r[1:, 0]


def test_orbits_turn_their_way_and_reversing_one_gives_the_other() -> None:
    cw = pixel_centroids(sm.render_video(clean_plan("OrbitCW", num_frames=48))[0])  # one full lap
    ccw = pixel_centroids(sm.render_video(clean_plan("OrbitCCW", num_frames=48))[0])
    assert np.all(orbit_turning(cw) > 0)
    assert np.all(orbit_turning(ccw) < 0)
    assert np.all(orbit_turning(cw[::-1]) < 0)


def marker_angle(frame: np.ndarray, mask: np.ndarray, centre: np.ndarray, look: sm.Look) -> float:
    """Screen angle (clockwise positive) of the actor's marker cap, from the pixels alone."""
    solid = mask > 0.99
    pixels = frame[solid].astype(np.float32)
    to_marker = np.linalg.norm(pixels - np.asarray(look.marker), axis=1)
    to_body = np.linalg.norm(pixels - np.asarray(look.colour), axis=1)
    ys, xs = np.nonzero(solid)
    is_marker = to_marker < to_body
    assert 5 <= is_marker.sum() < len(is_marker) - 5, "both the marker cap and the body must show"
    return math.atan2(ys[is_marker].mean() + 0.5 - centre[1], xs[is_marker].mean() + 0.5 - centre[0])


def test_rotations_turn_their_way_in_pixels_and_reverse_into_each_other() -> None:
    angles = {}
    for name in ("RotateCW", "RotateCCW"):
        plan = clean_plan(name, num_frames=12, height=128, width=128, speed=3.0)
        frames, info = sm.render_video(plan, with_masks=True)
        look, _ = sm.group_scene(sm.class_spec(name), group_seed=plan.group_seed, class_look=True)
        seen = np.unwrap([marker_angle(f, m, c, look) for f, m, c in zip(frames, info["mask"], info["centre"])])
        drawn = np.unwrap(info["angle"])
        # One turn per cycle: 3 * 2 pi / 48 rad per frame at speed 3, clockwise positive.
        np.testing.assert_allclose(np.diff(drawn), (1 if name == "RotateCW" else -1) * 3 * 2 * math.pi / 48)
        # The marker seen in the pixels keeps a fixed offset from the recorded angle (the shape's own cap centroid).
        np.testing.assert_allclose(seen - drawn, np.median(seen - drawn), atol=0.12)
        angles[name] = drawn
    assert np.all(np.diff(angles["RotateCW"][::-1]) < 0)  # reversed CW turns like CCW


def test_time_reverse_pairs_are_exact_reverses_of_each_other() -> None:
    pairs = {frozenset({s.name, s.reverse_of}) for s in sm.SYNTH_CLASSES if s.reverse_of}
    assert pairs == TIME_REVERSE_PAIRS
    stage = sm.Stage(height=48, width=64, radius=6.0)
    u = 0.013 + np.linspace(0.0, 2.3, 61)  # no integer phases, where a sawtooth jumps
    for spec in sm.SYNTH_CLASSES:
        if spec.reverse_of is None:
            continue
        forward = spec.motion(u, stage, np.random.default_rng(7))
        backward = sm.class_spec(spec.reverse_of).motion(-u, stage, np.random.default_rng(7))
        for field in ("x", "y", "scale", "angle", "alpha"):
            np.testing.assert_allclose(getattr(forward, field), getattr(backward, field), err_msg=spec.name)


def test_fade_in_brightens_the_actor_and_fade_out_dims_it() -> None:
    for name, sign in (("FadeIn", 1), ("FadeOut", -1)):
        plan = clean_plan(name, num_frames=40)
        frames, info = sm.render_video(plan, with_masks=True)
        assert np.all(sign * np.diff(info["alpha"]) > 0)
        x, y = np.floor(info["centre"][0]).astype(int)
        change = np.abs(frames[:, y, x].astype(np.float32) - frames[0, y, x]).max(axis=-1)
        # |pixel(t) - pixel(0)| = |alpha(t) - alpha(0)| * |actor - background|: grows monotonically.
        assert np.all(np.diff(change) >= -1.0) and change[-1] > 40
        weight = info["mask"].sum(axis=(1, 2))
        assert np.all(sign * np.diff(weight) > 0)


def test_approach_grows_and_recede_shrinks() -> None:
    for name, sign in (("Approach", 1), ("Recede", -1)):
        _, info = sm.render_video(clean_plan(name, num_frames=40), with_masks=True)
        area = (info["mask"] > 0.5).sum(axis=(1, 2))
        assert sign * (area[-1] - area[0]) > 0
        assert np.all(sign * np.diff(area) >= -2)  # monotone up to edge pixels turning with the actor


def test_projectiles_fall_back_to_the_ground_and_bounce_lower() -> None:
    stage = sm.Stage(height=64, width=96, radius=6.0)
    tau = np.linspace(0.0, 0.999, 400)
    for name in ("Throw", "Bounce"):
        y = sm.class_spec(name).motion(tau, stage, np.random.default_rng(1)).y
        ground = stage.bounds("y")[1]
        assert y.max() == pytest.approx(ground, abs=0.5)
        apexes = [y[i] for i in range(1, len(y) - 1) if y[i] < y[i - 1] and y[i] <= y[i + 1]]
        assert len(apexes) >= 2 and np.all(np.diff(ground - np.array(apexes)) < 0)  # each bounce lower


def test_every_motion_type_has_classes() -> None:
    names = sm.class_names()
    assert len(names) == len(set(names)) >= 12
    assert names == [spec.name for spec in sm.SYNTH_CLASSES]
    assert {spec.motion_type for spec in sm.SYNTH_CLASSES} == set(sm.MOTION_TYPES)


# --------------------------------------------------------------------------- appearance


def class_looks(appearance_bias: float, class_name: str) -> list[tuple[str, tuple[float, ...]]]:
    """(shape, colour) of the actor in each of 24 videos (6 groups) of a class."""
    plans = sm.plan_class(
        sm.class_spec(class_name), per_class=24, seed=0, appearance_bias=appearance_bias,
        size_range=((32, 32), (40, 40)), length_range=(2, 2), speed_range=(1.0, 1.0), test_fraction=0.3,
    )  # fmt: skip
    return [(info["shape"], info["colour"]) for info in (sm.render_video(p)[1] for p in plans)]


def test_full_appearance_bias_gives_each_class_its_own_look() -> None:
    for name in ("MoveLeft", "MoveRight"):
        spec = sm.class_spec(name)
        looks = class_looks(1.0, name)
        assert all(shape == spec.shape for shape, _ in looks)
        assert len({colour for _, colour in looks}) == 1
    assert class_looks(1.0, "MoveLeft")[0] != class_looks(1.0, "MoveRight")[0]


def test_actor_is_big_enough_and_stands_out_from_the_background_even_in_grayscale() -> None:
    for group_seed in range(300):
        for class_look in (False, True):
            look, backdrop = sm.group_scene(sm.class_spec("Jump"), group_seed=group_seed, class_look=class_look)
            assert 0.15 <= look.size <= 0.30  # diameter, fraction of the short side
            body = sm.luma(look.colour)
            for background in (sm.luma(backdrop.colour_a), sm.luma(backdrop.colour_b)):
                assert abs(body - background) >= sm.MIN_CONTRAST - 1e-6
                # texture and marker only go further from the background
                assert abs(sm.luma(look.marker) - background) > abs(body - background)
                assert abs(sm.luma(look.away) - background) > abs(body - background)


def test_zero_appearance_bias_varies_the_look_within_a_class() -> None:
    looks = class_looks(0.0, "MoveLeft")
    assert len({colour for _, colour in looks}) == 6  # one look per group of 4 videos
    assert len({shape for shape, _ in looks}) >= 2


# --------------------------------------------------------------------------- caching and bad input


def test_second_call_reuses_and_changed_arguments_regenerate(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "cache"
    sm.generate_synthmotion(out, seed=1, workers=1, **TINY)
    some_video = next((out / "videos").rglob("*.mp4"))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "metadata.json", some_video)}
    with monkeypatch.context() as patch:
        patch.setattr(sm, "_render_all", lambda *_, **__: pytest.fail("a cached dataset was rendered again"))
        assert sm.generate_synthmotion(out, seed=1, workers=4, **TINY) == out  # workers are not an argument of the data
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    sm.generate_synthmotion(out, seed=2, workers=1, **TINY)
    assert json.loads((out / "metadata.json").read_text())["arguments"]["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no staging dirs left behind
    some_video.unlink()  # an incomplete dataset is regenerated, not trusted
    sm.generate_synthmotion(out, seed=2, workers=1, **TINY)
    assert some_video.is_file()


def test_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch) -> None:
    def killed(jobs, **_):
        sm._render_and_write(jobs[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(sm, "_render_all", killed)
    with pytest.raises(KeyboardInterrupt):
        sm.generate_synthmotion(tmp_path / "out", workers=1, **TINY)
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_a_directory_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(VidsslError, match="not a SynthMotion dataset"):
        sm.generate_synthmotion(tmp_path / "mine", workers=1, **TINY)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    "override, key",
    [
        ({"per_class": 0}, "per_class"),
        ({"appearance_bias": 1.5}, "appearance_bias"),
        ({"classes": ["MoveLeft", "Moonwalk"]}, "Moonwalk"),
        ({"size_range": ((16, 20), (40, 44))}, "size_range"),
        ({"length_range": (12, 8)}, "length_range"),
        ({"speed_range": (0.0, 1.0)}, "speed_range"),
        ({"test_fraction": 1.0}, "test_fraction"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, override: dict, key: str) -> None:
    with pytest.raises(VidsslError, match=key):
        sm.generate_synthmotion(tmp_path / "bad", workers=1, **{**TINY, **override})
    assert not (tmp_path / "bad").exists()


def test_groups_and_test_split_sizes() -> None:
    assert sm.group_sizes(20) == [4, 4, 4, 4, 4]
    assert sm.group_sizes(3) == [2, 1] and sm.group_sizes(1) == [1]
    assert sm.count_test_groups(5, 0.3) == 2  # round(1.5)
    assert sm.count_test_groups(2, 0.3) == 1  # at least one test group
    assert sm.count_test_groups(2, 0.9) == 1  # at least one train group
    assert sm.count_test_groups(5, 0.0) == 0 and sm.count_test_groups(1, 0.3) == 0
