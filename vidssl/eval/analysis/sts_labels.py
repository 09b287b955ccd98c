"""The STS labels of one video drawn where they point (Wang et al., TPAMI 2021, Fig. 9 and §3.2–3.3).

:func:`draw_sts_labels` takes a video's non-overlapping clips (the UCF101
protocol of STS §4.2), computes each clip's 27 labels with the STS sampler
(:class:`vidssl.data.pretext.sts.STSSampler`), and writes per clip a PNG of its
frames, flow, motion boundaries and every pattern's labels
(:func:`vidssl.eval.analysis.sts_figure.plot_sts_clip`), plus ``labels.json``
with all 27 labels by name. ``vidssl analyze sts`` calls it.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from vidssl.data.flow import DEFAULT_FLOW
from vidssl.data.pretext.sts import ClipRecord, STSSampler
from vidssl.data.sampling import non_overlapping_clip_starts
from vidssl.data.statistics import APPEARANCE_LABELS, COLOUR_NAMES, motion_label_specs
from vidssl.data.video import make_reader, probe, probe_frames
from vidssl.errors import VidsslError
from vidssl.eval.analysis.sts_figure import plot_sts_clip
from vidssl.fileio import make_output_dir, write_json_atomic

FRAME_TEMPLATE = "img_{:05d}.jpg"
"""File names of a frame folder's frames (the default of ``data.frame_template``)."""

STS_DEFAULT_CLIPS = 4
STS_OPTIONS = {"clip.frames": "--frames", "clip.size": "--size", "clip.resize": "--resize", "method.flow": "--flow",
               "method.colour_bins": "--colour-bins"}


def open_video(video: str | Path, *, frame_template: str = FRAME_TEMPLATE):
    """(number of frames, reader) of a video file (PyAV) or a frame folder (``frame_template`` files)."""
    path = Path(video)
    if path.is_dir():
        try:
            meta = probe_frames(path, frame_template)
        except VidsslError as err:
            raise VidsslError(f"{err} (--frame-template names a frame folder's files)") from None
        return meta.num_frames, make_reader("frames", template=frame_template)
    if not path.exists():
        raise VidsslError(f"{path}: video not found (give a video file or a folder of frame images)")
    return probe(path).num_frames, make_reader("pyav")


def sts_clip_starts(num_frames: int, *, clip_len: int, clips: int | None) -> list[int]:
    """First frames of the clips to show: ``clips`` (default 4) of the non-overlapping ``clip_len``-frame
    clips, spread evenly over the video when it has more."""
    starts = non_overlapping_clip_starts(num_frames, clip_len=clip_len)
    wanted = STS_DEFAULT_CLIPS if clips is None else clips
    if len(starts) > wanted:
        starts = starts[np.unique(np.round(np.linspace(0, len(starts) - 1, wanted)).astype(int))]
    return [int(s) for s in starts]


def sts_clip_entry(view, start: int, png: str, num_flows: int) -> dict:
    """One clip of labels.json: where it came from and its 27 labels by name (colours also by name)."""
    motion, appearance = view.statistics.motion, view.statistics.appearance
    colours = {spec.name: COLOUR_NAMES[int(value)]
               for spec, value in zip(APPEARANCE_LABELS, appearance.labels) if spec.kind == "colour"}
    return {
        "start": start,
        "frame_indices": [int(i) for i in view.indices],
        "crop": {"top": int(view.top), "left": int(view.left), "flipped": bool(view.flipped)},
        "difficulty": float(motion.difficulty),
        "motion": {spec.name: int(v) for spec, v in zip(motion_label_specs(num_flows), motion.labels)},
        "appearance": {spec.name: int(v) for spec, v in zip(APPEARANCE_LABELS, appearance.labels)},
        "colour_names": colours,
        "png": png,
    }


def draw_sts_labels(
    video: str | Path,
    *,
    out: str | Path | None = None,
    clips: int | None = None,
    frames: int = 16,
    size: int = 112,
    resize: tuple[int, int] = (128, 171),
    flow: str = DEFAULT_FLOW,
    colour_bins: int = 256,
    flip: bool = False,
    seed: int = 0,
    frame_template: str = FRAME_TEMPLATE,
) -> dict:
    """Draw the STS labels of up to ``clips`` clips of ``video``; write one PNG per clip and labels.json to ``out``.

    Clips are the video's non-overlapping ``frames``-frame clips (the UCF101
    protocol of STS §4.2), centre-cropped to ``size`` after resizing to ``resize``
    (h, w), unflipped; ``flip`` instead draws the crop and a flip with p = 0.5 from
    ``seed``, as in training. Labels are 0-based (the paper's are one more).
    Returns the labels.json content plus ``out``.
    """
    if clips is not None and (isinstance(clips, bool) or not isinstance(clips, int) or clips < 1):
        raise VidsslError(f"--clips: expected a positive number of clips, got {clips!r}")
    path = Path(video)
    num_frames, reader = open_video(path, frame_template=frame_template)
    default_out = Path(f"sts_{path.stem if path.is_file() else path.name}")
    out_dir = make_output_dir(Path(out) if out is not None else default_out)
    if num_frames < frames:
        raise VidsslError(f"{path}: {num_frames} frames, shorter than one {frames}-frame clip (lower --frames)")
    try:
        sampler = STSSampler(clip_len=frames, size=size, resize=resize, flip_p=0.5 if flip else 0.0,
                             clips="fixed", flow=flow, colour_bins=colour_bins)
    except VidsslError as err:  # name the command's options, not the config keys of pretraining
        message = str(err)
        for key, option in STS_OPTIONS.items():
            message = re.sub(rf"{re.escape(key)}(?!\w)", option, message)
        raise VidsslError(message) from None
    rng = np.random.default_rng(seed) if flip else None
    entries = []
    for number, start in enumerate(sts_clip_starts(num_frames, clip_len=frames, clips=clips)):
        view = sampler.view(ClipRecord(str(path), 0, num_frames, start), reader, rng)
        png = f"clip{number:02d}_frames{start:05d}-{start + frames - 1:05d}.png"
        crop = (f"random crop at ({view.top}, {view.left}), {'flipped' if view.flipped else 'not flipped'}" if flip
                else f"centre crop at ({view.top}, {view.left})")
        plot_sts_clip(
            view.frames, view.flow, view.statistics, out_dir / png, frame_numbers=view.indices,
            title=f"{path.name}: clip {number}, video frames {start}–{start + frames - 1}, "
                  f"resized {resize[0]}×{resize[1]}, {crop} of {size}×{size}, flow {flow}",
        )
        entries.append(sts_clip_entry(view, start, png, frames - 1))
    summary = {
        "video": str(path), "num_frames": num_frames, "clip_len": frames, "size": size,
        "resize": [int(resize[0]), int(resize[1])], "flow": flow, "flip": flip, "seed": seed if flip else None,
        "iou_colour_bins": colour_bins,
        "labels": "0-based class indices (the paper counts from 1); colours in colour_names by name",
        "colour_names_by_bin": list(COLOUR_NAMES),
        "clips": entries,
    }
    write_json_atomic(out_dir / "labels.json", summary, indent=2)
    summary["out"] = str(out_dir)
    return summary
