"""SynthMotion: UCF101 layout, exact decoding, determinism, motion labels known by construction, caching."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from vidssl.data import synthmotion as sm
from vidssl.data.synthmotion import layout
from vidssl.data.video_writer import write_mp4
from vidssl.errors import VidsslError

TINY = dict(
    per_class=3,
    size_range=((32, 36), (40, 44)),
    length_range=(8, 12),
    classes=["MoveLeft", "RotateCW", "FadeIn"],
    progress=False,
)

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
    assert [c["mirror_of"] for c in metadata["classes"]] == ["MoveRight", "RotateCCW", "FadeOut"]


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
    write_mp4(frames, tmp_path / "k.mp4", fps=25)
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


def eased_progress(u: np.ndarray) -> np.ndarray:
    """Reference for the module docstring's formula: cycles travelled at phase u, floor(u) + 1 - (1 - frac(u))**2."""
    s = u - np.floor(u)
    return np.floor(u) + 1.0 - (1.0 - s) ** 2


def wrapped_steps(values: np.ndarray, period: float) -> np.ndarray:
    """Frame-to-frame changes with jumps of a whole ``period`` (re-entry at the other end) folded away."""
    steps = np.diff(values)
    return steps - period * np.round(steps / period)


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: largest gap between the empirical CDFs."""
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), grid, side="right") / len(a)
    cdf_b = np.searchsorted(np.sort(b), grid, side="right") / len(b)
    return float(np.abs(cdf_a - cdf_b).max())


@pytest.mark.parametrize(
    "class_name, axis, sign",
    [("MoveLeft", 0, -1), ("MoveRight", 0, 1), ("MoveUp", 1, -1), ("MoveDown", 1, 1)],
)
def test_linear_classes_move_the_actor_pixels_the_right_way_slowing_down(class_name: str, axis: int, sign: int) -> None:
    size = {"height": 48, "width": 128} if axis == 0 else {"height": 128, "width": 48}
    plan = clean_plan(class_name, num_frames=sm.CYCLE_FRAMES, **size)  # exactly one cycle from its start
    frames, info = sm.render_video(plan)
    seen = pixel_centroids(frames)
    # One crossing of the free range (frame extent minus radius + 1 px each side) per cycle, re-entering at the
    # far end, at the eased rate: displacement after t frames is sign * free * ease(t / CYCLE_FRAMES).
    free = (plan.width, plan.height)[axis] - 2.0 * (info["radius"] + 1.0)
    travelled = np.concatenate([[0.0], np.cumsum(wrapped_steps(seen[:, axis], free))])
    expected = sign * free * eased_progress(np.arange(plan.num_frames) / sm.CYCLE_FRAMES)
    np.testing.assert_allclose(travelled, expected, atol=1.5)
    assert np.ptp(seen[:, 1 - axis]) < 1.5  # stays on its lane


def test_twice_the_speed_reaches_each_pose_in_half_the_frames() -> None:
    slow = sm.render_video(clean_plan("MoveRight", num_frames=40, speed=1.0))[1]["centre"]
    fast = sm.render_video(clean_plan("MoveRight", num_frames=20, speed=2.0))[1]["centre"]
    np.testing.assert_allclose(fast, slow[::2])  # phase u = speed * t / CYCLE_FRAMES


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


def test_orbits_turn_their_way() -> None:
    for name, sign in (("OrbitCW", 1), ("OrbitCCW", -1)):
        frames, info = sm.render_video(clean_plan(name, num_frames=sm.CYCLE_FRAMES), with_masks=True)  # one lap
        assert np.all(sign * orbit_turning(info["centre"]) > 0), name
        # the drawn actor too, every 6th frame (the last steps of a lap are too short to see one by one)
        assert np.all(sign * orbit_turning(mask_centroids(info["mask"])[::6]) > 0), name


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


def test_rotations_turn_their_way_in_pixels_slowing_down() -> None:
    for name, sign in (("RotateCW", 1), ("RotateCCW", -1)):
        plan = clean_plan(name, num_frames=12, height=128, width=128, speed=3.0)
        frames, info = sm.render_video(plan, with_masks=True)
        look, _ = sm.group_scene(sm.class_spec(name), group_seed=plan.group_seed, class_look=True)
        seen = np.unwrap([marker_angle(f, m, c, look) for f, m, c in zip(frames, info["mask"], info["centre"])])
        drawn = np.unwrap(info["angle"])
        # One eased turn per cycle, clockwise positive; at speed 3 frame t is at phase 3 t / 48.
        u = plan.speed * np.arange(plan.num_frames) / sm.CYCLE_FRAMES
        np.testing.assert_allclose(np.diff(drawn), sign * 2.0 * math.pi * np.diff(eased_progress(u)))
        # The marker seen in the pixels keeps a fixed offset from the recorded angle (the shape's own cap centroid).
        np.testing.assert_allclose(seen - drawn, np.median(seen - drawn), atol=0.12)
        assert abs(seen[4] - seen[0]) > 1.4 * abs(seen[11] - seen[7])  # it slows down in the pixels too (2x drawn)


def mirrored(pose: sm.Pose, kind: str, stage: sm.Stage) -> dict[str, np.ndarray]:
    """The fields of ``pose`` after the reflection ``kind`` that turns a class into its mirror partner."""
    fields = {name: getattr(pose, name) for name in ("x", "y", "scale", "angle", "alpha")}
    if kind == "left-right":
        fields.update(x=stage.width - pose.x, angle=math.pi - pose.angle)
    elif kind == "top-bottom":
        fields.update(y=stage.height - pose.y, angle=-pose.angle)
    elif kind == "log-scale":
        fields.update(scale=np.exp(np.log(0.45) + np.log(1.6) - np.log(pose.scale)))
    else:  # opacity
        fields.update(alpha=0.1 + 1.0 - pose.alpha)
    return fields


MIRROR_PAIRS = {  # class -> (its mirror partner, the reflection between them)
    "MoveRight": ("MoveLeft", "left-right"),
    "MoveDown": ("MoveUp", "top-bottom"),
    "RotateCW": ("RotateCCW", "top-bottom"),
    "OrbitCW": ("OrbitCCW", "top-bottom"),
    "Approach": ("Recede", "log-scale"),
    "FadeIn": ("FadeOut", "opacity"),
}


def test_mirror_pairs_are_exact_mirror_images_for_the_same_draws() -> None:
    declared = {frozenset({s.name, s.mirror_of}) for s in sm.SYNTH_CLASSES if s.mirror_of}
    assert declared == {frozenset({name, partner}) for name, (partner, _) in MIRROR_PAIRS.items()}
    assert sm.ZOOM_RANGE == (0.45, 1.6) and sm.FADE_RANGE == (0.1, 1.0)  # the ranges `mirrored` reflects about
    stage = sm.Stage(height=48, width=64, radius=6.0)
    u = 0.013 + np.linspace(0.0, 2.3, 61)
    for name, (partner, kind) in MIRROR_PAIRS.items():
        pose = sm.class_spec(name).motion(u, stage, np.random.default_rng(7))
        other = sm.class_spec(partner).motion(u, stage, np.random.default_rng(7))
        expected = mirrored(pose, kind, stage)
        for field in ("x", "y", "scale", "alpha"):
            np.testing.assert_allclose(getattr(other, field), expected[field], err_msg=f"{partner} {field}")
        np.testing.assert_allclose(np.cos(other.angle), np.cos(expected["angle"]), atol=1e-12, err_msg=partner)
        np.testing.assert_allclose(np.sin(other.angle), np.sin(expected["angle"]), atol=1e-12, err_msg=partner)
        assert any(not np.allclose(getattr(other, f), getattr(pose, f)) for f in expected), partner  # not vacuous


def test_mirror_partners_are_mirrored_in_the_drawn_pixels() -> None:
    for name, partner, axis in (("MoveRight", "MoveLeft", 0), ("OrbitCW", "OrbitCCW", 1)):
        plan = clean_plan(name, num_frames=16, class_look=False)  # same look, same draws
        seen = mask_centroids(sm.render_video(plan, with_masks=True)[1]["mask"])
        other = mask_centroids(sm.render_video(replace(plan, class_name=partner), with_masks=True)[1]["mask"])
        extent = (plan.width, plan.height)[axis]
        np.testing.assert_allclose(other[:, axis], extent - seen[:, axis], atol=0.7, err_msg=partner)
        np.testing.assert_allclose(other[:, 1 - axis], seen[:, 1 - axis], atol=0.7, err_msg=partner)


def single_frame_poses(class_name: str, *, first_seed: int, count: int) -> dict[str, np.ndarray]:
    """Pose fields of one frame at a random phase from each of ``count`` videos (seeds first_seed...)."""
    stage = sm.Stage(height=48, width=64, radius=6.0)
    phases = np.random.default_rng(first_seed).uniform(0.0, 3.0, size=count)
    poses = [
        sm.class_spec(class_name).motion(phases[i : i + 1], stage, np.random.default_rng(first_seed + 1 + i))
        for i in range(count)
    ]
    fields = {name: np.array([getattr(p, name)[0] for p in poses]) for name in ("x", "y", "scale", "alpha")}
    fields["angle"] = np.array([p.angle[0] for p in poses]) % (2.0 * math.pi)
    return fields


def test_a_single_frame_is_as_likely_under_either_class_of_a_mirror_pair() -> None:
    # A plain eased sweep from one end of the range to the other would pile frames up at the end where the actor
    # stops (KS distance ~0.4 against its mirror); the uniform offset keeps every field's distribution the same.
    for name, (partner, _) in MIRROR_PAIRS.items():
        one = single_frame_poses(name, first_seed=1000, count=800)
        other = single_frame_poses(partner, first_seed=5000, count=800)
        for field in one:
            assert ks_distance(one[field], other[field]) < 0.1, (name, field)


def cycle_speeds(class_name: str, stage: sm.Stage, u: np.ndarray) -> np.ndarray:
    """|change per frame| of the quantity a paired class moves, re-entry jumps folded away."""
    pose = sm.class_spec(class_name).motion(u, stage, np.random.default_rng(4))
    if class_name.startswith("Move"):
        axis = "x" if class_name in ("MoveLeft", "MoveRight") else "y"
        lo, hi = stage.bounds(axis)
        return np.abs(wrapped_steps(getattr(pose, axis), hi - lo))
    if class_name.startswith("Rotate"):
        return np.abs(wrapped_steps(pose.angle, 2.0 * math.pi))
    if class_name in ("Approach", "Recede"):
        return np.abs(wrapped_steps(np.log(pose.scale), math.log(1.6 / 0.45)))
    if class_name.startswith("Fade"):
        return np.abs(wrapped_steps(pose.alpha, 0.9))
    return np.hypot(np.diff(pose.x), np.diff(pose.y))  # orbits: chord between frames


def test_paired_classes_slow_down_within_each_cycle_so_reversed_clips_speed_up() -> None:
    # Under the old time-reverse design these speeds were constant and a reversed MoveLeft was a MoveRight.
    stage = sm.Stage(height=48, width=64, radius=6.0)
    u = np.arange(2 * sm.CYCLE_FRAMES + 1) / sm.CYCLE_FRAMES  # two cycles at speed 1, from a cycle start
    for spec in sm.SYNTH_CLASSES:
        if spec.mirror_of is None:
            continue
        speed = cycle_speeds(spec.name, stage, u)
        first, second = speed[: sm.CYCLE_FRAMES], speed[sm.CYCLE_FRAMES :]
        assert np.all(np.diff(first) < 0) and np.all(np.diff(second) < 0), spec.name  # friction
        assert second[0] > 20 * first[-1], spec.name  # flicked again at the next cycle
        np.testing.assert_allclose(second, first, err_msg=spec.name)  # every cycle alike
        assert np.all(np.diff(first[::-1]) > 0), spec.name  # played backwards it accelerates
        if not spec.name.startswith("Orbit"):  # the rate is the eased progress's: 2 (1 - s) per cycle at the start
            steps = np.diff(eased_progress(u))
            assert np.allclose(speed / steps, (speed / steps)[0]), spec.name


def extremes(values: np.ndarray) -> np.ndarray:
    """Indices of strict local maxima and minima (turning points) of a sampled curve."""
    inner = values[1:-1]
    turning = ((inner > values[:-2]) & (inner > values[2:])) | ((inner < values[:-2]) & (inner < values[2:]))
    return np.nonzero(turning)[0] + 1


def test_swing_is_damped_and_jumps_get_lower_within_each_cycle() -> None:
    stage = sm.Stage(height=64, width=96, radius=6.0)
    u = np.linspace(0.0, 2.0, 801)[:-1]  # two cycles, from a kick
    swing = sm.swing(u, stage, np.random.default_rng(2))
    bottom = swing.x[0]  # the bob passes the bottom (rod vertical) when each cycle starts
    for cycle in (u < 1.0, u >= 1.0):
        x = swing.x[cycle]
        amplitudes = np.abs(x[extremes(x)] - bottom)
        assert len(amplitudes) == 2 * sm.SWINGS_PER_CYCLE and np.all(np.diff(amplitudes) < 0)
    jump = sm.jump(u, stage, np.random.default_rng(2))
    ground = stage.bounds("y")[1]
    for cycle in (u < 1.0, u >= 1.0):
        y = jump.y[cycle]
        apexes = ground - y[[i for i in extremes(y) if y[i] < ground - 1.0]]
        assert len(apexes) == 2 and apexes[1] < 0.7 * apexes[0]  # two hops per cycle, the second lower
    np.testing.assert_allclose(swing.x[u >= 1.0], swing.x[u < 1.0])  # re-kicked: every cycle alike


def test_wander_slows_down_within_each_cycle_on_average() -> None:
    stage = sm.Stage(height=96, width=96, radius=8.0)
    u = np.arange(sm.CYCLE_FRAMES + 1) / sm.CYCLE_FRAMES  # one cycle: four stretches (steps) of 12 frames
    speeds = []
    for seed in range(200):
        pose = sm.wander(u, stage, np.random.default_rng(seed))
        speeds.append(np.hypot(np.diff(pose.x), np.diff(pose.y)))
    per_stretch = np.mean(speeds, axis=0).reshape(4, -1).mean(axis=1)
    assert np.all(np.diff(per_stretch) < 0) and per_stretch[-1] < 0.6 * per_stretch[0]


def test_fade_in_makes_the_actor_more_opaque_and_fade_out_less() -> None:
    for name, sign in (("FadeIn", 1), ("FadeOut", -1)):
        plan = clean_plan(name, num_frames=40)
        frames, info = sm.render_video(plan, with_masks=True)
        alpha = info["alpha"]
        assert np.all(sign * wrapped_steps(alpha, 0.9) > 0)  # re-entering at the other end aside
        x, y = np.floor(info["centre"][0]).astype(int)
        pixel = frames[:, y, x].astype(np.float64)
        # pixel = background + alpha * (actor - background): affine in the recorded alpha, up to rounding.
        design = np.stack([np.ones_like(alpha), alpha], axis=1)
        coefficients, *_ = np.linalg.lstsq(design, pixel, rcond=None)
        assert np.abs(design @ coefficients - pixel).max() < 1.0
        assert np.abs(coefficients[1]).max() > 40  # a visible contrast between actor and background
        weight = info["mask"].sum(axis=(1, 2))
        np.testing.assert_allclose(weight / alpha, weight[0] / alpha[0], rtol=1e-4)


def test_approach_grows_and_recede_shrinks() -> None:
    for name, sign in (("Approach", 1), ("Recede", -1)):
        _, info = sm.render_video(clean_plan(name, num_frames=40, height=96, width=96), with_masks=True)
        log_scale = np.log(info["scale"])
        assert np.all(sign * wrapped_steps(log_scale, math.log(1.6 / 0.45)) > 0)
        # the drawn area follows scale**2
        weight = info["mask"].sum(axis=(1, 2))
        np.testing.assert_allclose(weight / info["scale"] ** 2, np.median(weight / info["scale"] ** 2), rtol=0.1)


def test_projectiles_fall_back_to_the_ground_and_bounce_lower() -> None:
    stage = sm.Stage(height=64, width=96, radius=6.0)
    tau = np.linspace(0.0, 0.999, 400)
    for name in ("Throw", "Bounce"):
        y = sm.class_spec(name).motion(tau, stage, np.random.default_rng(1)).y
        ground = stage.bounds("y")[1]
        assert y.max() == pytest.approx(ground, abs=0.5)
        apexes = [y[i] for i in range(1, len(y) - 1) if y[i] < y[i - 1] and y[i] <= y[i + 1]]
        assert len(apexes) >= 2 and np.all(np.diff(ground - np.array(apexes)) < 0)  # each bounce lower


def plan_speeds(class_name: str, speed_range: tuple[float, float] = (0.8, 1.25)) -> np.ndarray:
    plans = sm.plan_class(
        sm.class_spec(class_name), per_class=40, seed=0, appearance_bias=0.0,
        size_range=((32, 32), (40, 40)), length_range=(2, 2), speed_range=speed_range, test_fraction=0.3,
    )  # fmt: skip
    return np.array([plan.speed for plan in plans])


def test_a_video_speed_is_its_class_tempo_times_a_per_video_factor() -> None:
    for spec in sm.SYNTH_CLASSES:
        factors = plan_speeds(spec.name) / spec.tempo
        assert factors.min() >= 0.8 and factors.max() <= 1.25, spec.name
        assert factors.max() / factors.min() > 1.3, spec.name  # the factor varies per video
        np.testing.assert_allclose(plan_speeds(spec.name, (1.0, 1.0)), spec.tempo)


def test_mirror_partners_share_a_tempo_and_tempos_differ_between_motions() -> None:
    for spec in sm.SYNTH_CLASSES:
        if spec.mirror_of:
            assert sm.class_spec(spec.mirror_of).tempo == spec.tempo, spec.name
    tempos = {spec.tempo for spec in sm.SYNTH_CLASSES}
    motions = {min(spec.name, spec.mirror_of or spec.name) for spec in sm.SYNTH_CLASSES}  # a pair counts once
    assert len(tempos) == len(motions)
    assert max(tempos) / min(tempos) >= 3.0  # as different as walking and running, or more


def test_motion_type_labels_map_classes_to_their_type() -> None:
    assert sm.motion_type_labels(["Jitter", "MoveLeft", "Throw"]) == [
        sm.MOTION_TYPES.index("random_walk"), sm.MOTION_TYPES.index("linear"), sm.MOTION_TYPES.index("projectile"),
    ]  # fmt: skip
    with pytest.raises(VidsslError, match="Kayaking"):
        sm.motion_type_labels(["Kayaking"])


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


def test_second_call_reuses_changed_arguments_are_refused_and_stale_data_regenerates(
        tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "cache"
    sm.generate_synthmotion(out, seed=1, workers=1, **TINY)
    some_video = next((out / "videos").rglob("*.mp4"))
    stamps = {p: p.stat().st_mtime_ns for p in (out / "metadata.json", some_video)}
    with monkeypatch.context() as patch:
        patch.setattr(layout, "_render_all", lambda *_, **__: pytest.fail("a cached dataset was rendered again"))
        assert sm.generate_synthmotion(out, seed=1, workers=4, **TINY) == out  # workers are not an argument of the data
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    with pytest.raises(VidsslError, match="other settings .*seed 1 -> 2"):  # runs may read the videos there
        sm.generate_synthmotion(out, seed=2, workers=1, **TINY)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]  # no staging dirs left behind
    some_video.unlink()  # an incomplete dataset is regenerated, not trusted
    sm.generate_synthmotion(out, seed=1, workers=1, **TINY)
    assert some_video.is_file()
    metadata = json.loads((out / "metadata.json").read_text())
    (out / "metadata.json").write_text(json.dumps({**metadata, "version": 2}))  # made before class tempos
    sm.generate_synthmotion(out, seed=2, workers=1, **TINY)
    assert json.loads((out / "metadata.json").read_text())["arguments"]["seed"] == 2
    assert json.loads((out / "metadata.json").read_text())["version"] == sm.GENERATOR_VERSION == 3


def test_interrupted_generation_leaves_nothing_that_looks_complete(tmp_path: Path, monkeypatch) -> None:
    def killed(jobs, **_):
        layout._render_and_write(jobs[0])
        raise KeyboardInterrupt

    monkeypatch.setattr(layout, "_render_all", killed)
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
