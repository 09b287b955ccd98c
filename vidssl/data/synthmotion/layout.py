"""The dataset on disk: checked arguments, UCF101 split files, metadata.json, and :func:`generate_synthmotion`.

Generation renders into a hidden staging folder and renames it into place,
so an interrupted run never leaves a dataset that looks complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vidssl.data.synthmotion.classes import MOTION_TYPES, SYNTH_CLASSES, ClassSpec, class_spec
from vidssl.data.synthmotion.looks import group_scene
from vidssl.data.synthmotion.motions import CYCLE_FRAMES
from vidssl.data.synthmotion.planning import MIN_SIDE, plan_class
from vidssl.data.synthmotion.render import VideoPlan, render_video
from vidssl.data.video_writer import write_mp4
from vidssl.errors import OutputError, VidsslError
from vidssl.fileio import make_output_dir, process_alive
from vidssl.progress import progress_bar

GENERATOR_VERSION = 3  # 3: class tempos; 2: mirror pairs and an arrow of time (1: time-reverse pairs)


def _check_range(name: str, value: Sequence[float], *, minimum: float, integer: bool) -> tuple:
    """``value`` as a (low, high) tuple with minimum <= low <= high, else VidsslError."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise VidsslError(f"synthmotion: {name} must be a (low, high) pair, got {value!r}") from None
    kind = int if integer else float
    if integer and not all(isinstance(v, (int, np.integer)) for v in (low, high)):
        raise VidsslError(f"synthmotion: {name} must hold integers, got {value!r}")
    if not (minimum <= low <= high):
        raise VidsslError(f"synthmotion: {name} must satisfy {minimum} <= low <= high, got {value!r}")
    return (kind(low), kind(high))


def _resolve_classes(classes: Sequence[str] | None) -> list[ClassSpec]:
    """The chosen classes in SYNTH_CLASSES order (so labels do not depend on the order asked)."""
    if classes is None:
        return list(SYNTH_CLASSES)
    if isinstance(classes, str) or len(classes) == 0:
        raise VidsslError(f"synthmotion: classes must be a non-empty list of class names, got {classes!r}")
    wanted = {class_spec(name).name for name in classes}
    return [spec for spec in SYNTH_CLASSES if spec.name in wanted]


def _arguments(
    *,
    per_class: int,
    seed: int,
    appearance_bias: float,
    size_range: Any,
    length_range: Any,
    speed_range: Any,
    fps: int,
    test_fraction: float,
    classes: Sequence[str] | None,
) -> dict[str, Any]:
    """Validated generation arguments as plain JSON values (what the cache compares)."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise VidsslError(f"per_class={per_class!r} (--per-class / data.synth_per_class): expected a positive integer")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise VidsslError(f"synthmotion: seed must be an integer >= 0, got {seed!r}")
    if not 0.0 <= appearance_bias <= 1.0:
        raise VidsslError(f"synthmotion: appearance_bias must be in [0, 1], got {appearance_bias!r}")
    if not 0.0 <= test_fraction < 1.0:
        raise VidsslError(f"synthmotion: test_fraction must be in [0, 1), got {test_fraction!r}")
    if not isinstance(fps, (int, np.integer)) or fps < 1:
        raise VidsslError(f"synthmotion: fps must be an integer >= 1, got {fps!r}")
    try:
        heights, widths = size_range
    except (TypeError, ValueError):
        expected = "((h_low, h_high), (w_low, w_high))"
        raise VidsslError(f"synthmotion: size_range must be {expected}, got {size_range!r}") from None
    return {
        "per_class": int(per_class),
        "seed": int(seed),
        "appearance_bias": float(appearance_bias),
        "size_range": [
            list(_check_range("size_range heights", heights, minimum=MIN_SIDE, integer=True)),
            list(_check_range("size_range widths", widths, minimum=MIN_SIDE, integer=True)),
        ],
        "length_range": list(_check_range("length_range", length_range, minimum=2, integer=True)),
        "speed_range": list(_check_range("speed_range", speed_range, minimum=1e-3, integer=False)),
        "fps": int(fps),
        "test_fraction": float(test_fraction),
        "classes": [spec.name for spec in _resolve_classes(classes)],
    }


def _other_settings(out: Path, arguments: dict[str, Any]) -> str:
    """``per_class 2 -> 3`` when ``out`` holds a finished dataset of this generator version made with other
    arguments (regenerating it would change the videos existing runs read), else ``""``. Datasets of an older
    generator version, or unfinished ones, are regenerated."""
    try:
        metadata = json.loads((out / "metadata.json").read_text())
    except (OSError, ValueError):
        return ""
    saved = metadata.get("arguments")
    if metadata.get("version") != GENERATOR_VERSION or not isinstance(saved, dict) or saved == arguments:
        return ""
    changed = [f"{key} {saved.get(key)!r} -> {value!r}" for key, value in arguments.items() if saved.get(key) != value]
    return ", ".join(changed[:3])


def _is_complete(out: Path, arguments: dict[str, Any]) -> bool:
    """Does ``out`` hold a finished SynthMotion dataset made by this version with these arguments?"""
    try:
        metadata = json.loads((out / "metadata.json").read_text())
    except (OSError, ValueError):
        return False
    if metadata.get("version") != GENERATOR_VERSION or metadata.get("arguments") != arguments:
        return False
    needed = [out / "splits" / name for name in ("classInd.txt", "trainlist01.txt", "testlist01.txt")]
    needed += [out / "videos" / video["path"] for video in metadata.get("videos", [])]
    return all(path.is_file() for path in needed)


def _is_synthmotion(out: Path) -> bool:
    """Was ``out`` written by this generator (so it may be replaced)?"""
    try:
        return json.loads((out / "metadata.json").read_text()).get("generator") == "synthmotion"
    except (OSError, ValueError, AttributeError):
        return False


def _write_splits(root: Path, specs: list[ClassSpec], plans: list[VideoPlan]) -> None:
    """UCF101 split files: classInd (1-based), trainlist01 with labels, testlist01 without."""
    label = {spec.name: i + 1 for i, spec in enumerate(specs)}
    splits = root / "splits"
    splits.mkdir(parents=True)
    (splits / "classInd.txt").write_text("".join(f"{label[s.name]} {s.name}\n" for s in specs))
    train = [f"{p.relative_path} {label[p.class_name]}\n" for p in plans if p.split == "train"]
    test = [f"{p.relative_path}\n" for p in plans if p.split == "test"]
    (splits / "trainlist01.txt").write_text("".join(train))
    (splits / "testlist01.txt").write_text("".join(test))


def _video_entry(plan: VideoPlan, label: int, fps: int) -> dict[str, Any]:
    """One video's metadata record."""
    spec = class_spec(plan.class_name)
    look, _ = group_scene(spec, group_seed=plan.group_seed, class_look=plan.class_look)
    entry = {"path": plan.relative_path, "label": label, "motion_type": spec.motion_type, "fps": fps}
    entry.update({key: value for key, value in asdict(plan).items() if key != "class_name"})
    entry["class"] = plan.class_name
    entry["seed"] = entry.pop("video_seed")
    entry["shape"] = look.shape
    entry["colour"] = [round(c) for c in look.colour]
    return entry


def _metadata(arguments: dict[str, Any], specs: list[ClassSpec], plans: list[VideoPlan]) -> dict[str, Any]:
    label = {spec.name: i + 1 for i, spec in enumerate(specs)}
    return {
        "generator": "synthmotion",
        "version": GENERATOR_VERSION,
        "arguments": arguments,
        "cycle_frames": CYCLE_FRAMES,
        "motion_types": list(MOTION_TYPES),
        "classes": [
            {
                "label": label[spec.name],
                "name": spec.name,
                "motion_type": spec.motion_type,
                "description": spec.description,
                "mirror_of": spec.mirror_of,
            }
            for spec in specs
        ],
        "videos": [_video_entry(plan, label[plan.class_name], arguments["fps"]) for plan in plans],
    }


def _render_and_write(job: tuple[VideoPlan, str, int]) -> str:
    """Worker: render one planned video and write it to its path."""
    plan, path, fps = job
    frames, _ = render_video(plan)
    write_mp4(frames, path, fps=fps)
    return path


def _one_thread_each() -> None:
    """Pool initializer: the processes are the parallelism; OpenCV threads would only contend."""
    cv2.setNumThreads(1)


def _render_all(jobs: list[tuple[VideoPlan, str, int]], *, workers: int, progress: bool) -> None:
    """Render and write every job, over ``workers`` processes (inline when workers <= 1)."""
    with progress_bar(total=len(jobs), desc="SynthMotion", unit="video", enabled=progress) as bar:
        if workers <= 1:
            for job in jobs:
                _render_and_write(job)
                bar.update()
            return
        # spawn: the caller may already run threads (torch), which fork does not survive safely.
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_one_thread_each) as pool:
            for _ in pool.imap_unordered(_render_and_write, jobs, chunksize=2):
                bar.update()


def _move_into_place(staging: Path, out: Path, arguments: dict[str, Any]) -> None:
    """Rename the finished ``staging`` dir to ``out``, replacing an older SynthMotion dataset there.

    If another process finished the same dataset first, keep theirs.
    """
    if out.exists():
        if _is_complete(out, arguments):
            return
        retired = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out, retired)
        shutil.rmtree(retired, ignore_errors=True)
    try:
        os.rename(staging, out)
    except OSError:
        if not _is_complete(out, arguments):
            raise


def generate_synthmotion(
    out_dir: str | os.PathLike,
    *,
    per_class: int = 20,
    seed: int = 0,
    appearance_bias: float = 0.0,
    size_range: tuple[tuple[int, int], tuple[int, int]] = ((96, 128), (120, 176)),
    length_range: tuple[int, int] = (48, 120),
    speed_range: tuple[float, float] = (0.8, 1.25),
    fps: int = 25,
    test_fraction: float = 0.3,
    workers: int = 2,
    progress: bool = True,
    classes: Sequence[str] | None = None,
) -> Path:
    """Generate (or reuse) the SynthMotion dataset in ``out_dir``; return ``out_dir`` as a Path.

    ``size_range`` is ((H low, H high), (W low, W high)) in pixels, sizes
    rounded down to even; lengths in frames; ``speed_range`` bounds the
    log-uniform per-video factor on the class's tempo (intrinsic speed =
    tempo x factor). If ``out_dir/metadata.json`` records the same
    version and arguments and every file exists, nothing is written. Otherwise
    everything is written to a hidden sibling directory and renamed into
    place at the end, so an interrupted run never leaves a dataset that looks
    complete. ``out_dir`` must be new, empty, or an earlier SynthMotion output.
    ``workers`` and ``progress`` do not change the output; ``workers`` 0 or 1
    renders in this process.
    """
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise VidsslError(f"workers={workers!r} (--workers): expected an integer >= 0 (0 or 1 = no extra processes)")
    arguments = _arguments(
        per_class=per_class,
        seed=seed,
        appearance_bias=appearance_bias,
        size_range=size_range,
        length_range=length_range,
        speed_range=speed_range,
        fps=fps,
        test_fraction=test_fraction,
        classes=classes,
    )
    out = Path(out_dir).expanduser()
    if _is_complete(out, arguments):
        return out
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not _is_synthmotion(out))):
        raise VidsslError(f"{out}: exists and is not a SynthMotion dataset; give a new or empty directory")
    other = _other_settings(out, arguments)
    if other:
        raise VidsslError(f"{out} holds a SynthMotion dataset of other settings ({other}) that runs may read; "
                          f"give another --out (or delete it first)")

    specs = _resolve_classes(arguments["classes"])
    plan_arguments = {key: value for key, value in arguments.items() if key not in ("fps", "classes")}
    plans = [plan for spec in specs for plan in plan_class(spec, **plan_arguments)]
    target = out.resolve()
    make_output_dir(target.parent)
    remove_abandoned_staging(target)
    staging = target.with_name(f".{target.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        for spec in specs:
            (staging / "videos" / spec.name).mkdir(parents=True)
        jobs = [(plan, str(staging / "videos" / plan.relative_path), int(fps)) for plan in plans]
        _render_all(jobs, workers=workers, progress=progress)
        _write_splits(staging, specs, plans)
        metadata = _metadata(arguments, specs, plans)
        (staging / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
        _move_into_place(staging, target, arguments)
    except OSError as err:
        raise OutputError(err.filename or staging, err) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def remove_abandoned_staging(target: Path) -> None:
    """Delete ``.<name>.partial-<pid>-…`` folders of generations into ``target`` whose process is gone (killed)."""
    pattern = re.compile(rf"^\.{re.escape(target.name)}\.partial-(\d+)-[0-9a-f]{{8}}$")
    for entry in target.parent.iterdir():
        match = pattern.match(entry.name)
        if match and entry.is_dir() and int(match[1]) != os.getpid() and not process_alive(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)
