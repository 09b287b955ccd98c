"""Tiny real encoded videos and dataset layouts for tests.

Import from a test module with ``from videofixtures import ...`` (pytest puts
``tests/`` on ``sys.path``). Everything here writes real files with PyAV or
OpenCV, so readers and dataset loaders are tested on the formats they meet in
the wild, not on mocks.

Frames made by :func:`numbered_frames` carry their own index as an 8-bit
pattern of large coloured blocks, which survives lossy H.264/VP8/JPEG
compression; :func:`frame_index_of` reads it back. "On" blocks are red and
"off" blocks are blue, so a swapped channel order (BGR vs RGB) also reads back
the wrong index.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

NUMBER_BITS = 8
_GRID_ROWS, _GRID_COLS = 2, 4
_ON_RGB = (230, 30, 30)
_OFF_RGB = (30, 30, 200)

# Pixel formats that store RGB exactly (or at least are the natural choice) per codec.
_DEFAULT_PIX_FMT = {"libx264rgb": "rgb24", "ffv1": "bgr0"}


def numbered_frames(num_frames: int, height: int = 32, width: int = 32) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 whose index is encoded as a 2x4 grid of red/blue blocks.

    Bit ``k`` of the frame index (least significant first, row-major blocks)
    is red when set, blue when clear. Supports up to 256 frames.
    """
    if not 0 < num_frames <= 2**NUMBER_BITS:
        raise ValueError(f"num_frames must be in 1..{2**NUMBER_BITS}, got {num_frames}")
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    for index in range(num_frames):
        for bit in range(NUMBER_BITS):
            rows, cols = _block_slices(bit, height, width, margin=False)
            frames[index, rows, cols] = _ON_RGB if (index >> bit) & 1 else _OFF_RGB
    return frames


def frame_index_of(frame: np.ndarray) -> int:
    """Recover the index drawn by :func:`numbered_frames` from an RGB frame (H, W, 3)."""
    height, width = frame.shape[:2]
    index = 0
    for bit in range(NUMBER_BITS):
        rows, cols = _block_slices(bit, height, width)
        block = frame[rows, cols].astype(np.float64)
        if block[..., 0].mean() > block[..., 2].mean():
            index |= 1 << bit
    return index


def _block_slices(bit: int, height: int, width: int, *, margin: bool = True) -> tuple[slice, slice]:
    """The block holding ``bit`` (its last row/column absorbs the rest of the frame).

    With ``margin``, only its inner part, away from edges that compression blurs.
    """
    row, col = divmod(bit, _GRID_COLS)
    block_h, block_w = height // _GRID_ROWS, width // _GRID_COLS
    top, left = row * block_h, col * block_w
    if not margin:
        bottom = height if row == _GRID_ROWS - 1 else top + block_h
        right = width if col == _GRID_COLS - 1 else left + block_w
        return slice(top, bottom), slice(left, right)
    margin_h, margin_w = block_h // 4, block_w // 4
    return (
        slice(top + margin_h, top + block_h - margin_h),
        slice(left + margin_w, left + block_w - margin_w),
    )


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 25,
    codec: str = "libx264",
    gop: int | None = None,
    pix_fmt: str | None = None,
    crf: int | None = None,
    bit_rate: int | None = None,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode RGB uint8 frames (T, H, W, 3) to ``path`` with PyAV; returns the path.

    ``gop`` is the keyframe interval; ``crf`` sets x264/vpx quality; ``bit_rate``
    bounds bitrate codecs (mpeg4 gets 1 Mbit/s unless told, enough for tiny
    numbered frames to stay readable); ``options``
    go to the encoder (e.g. ``{"qp": "0"}`` for lossless libx264rgb) and
    ``container_options`` to the muxer (e.g. ``{"movflags": "faststart"}``).
    Lossless choices: ``codec="ffv1"`` in ``.mkv`` or ``codec="libx264rgb"``
    with ``options={"qp": "0"}``.
    """
    path = Path(path)
    frames = np.asarray(frames, dtype=np.uint8)
    encoder_options = dict(options or {})
    if crf is not None:
        encoder_options["crf"] = str(crf)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=encoder_options)
        stream.width = frames.shape[2]
        stream.height = frames.shape[1]
        stream.pix_fmt = pix_fmt or _DEFAULT_PIX_FMT.get(codec, "yuv420p")
        if gop is not None:
            stream.codec_context.gop_size = gop
        if bit_rate is not None or codec == "mpeg4":
            stream.bit_rate = bit_rate or 1_000_000
        for frame in frames:
            packets = stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24"))
            container.mux(packets)
        container.mux(stream.encode())
    return path


def write_empty_video(path: str | Path, *, codec: str = "libx264", height: int = 32, width: int = 32) -> Path:
    """A container with a video stream header but zero frames."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()  # writes the header, so the file exists with zero packets
    return path


def decode_all(path: str | Path) -> np.ndarray:
    """Reference decode: every frame of the first video stream, in order, as RGB (T, H, W, 3)."""
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return np.stack(frames)


def write_stream_copy_cut(source: str | Path, target: str | Path, cut_frame: int) -> Path:
    """Remux ``source`` as ``ffmpeg -ss <cut_frame / fps> -c copy target.mp4`` would; returns ``target``.

    Packets are copied, not re-encoded, starting at the last keyframe at or
    before ``cut_frame`` (a cut can only start decoding there). Timestamps are
    shifted so that ``cut_frame`` is at t=0: the frames before it get negative
    timestamps and the MP4 muxer writes an edit list hiding them. Players show
    source frames ``cut_frame..end``; the container still holds and counts the
    hidden ones, as in many Kinetics-style downloads.
    """
    with av.open(str(source)) as source_file:
        packets, frame_ticks = _packets_and_frame_ticks(source_file)
    cut_pts = min(packet.pts for packet in packets) + cut_frame * frame_ticks
    first = max(i for i, packet in enumerate(packets) if packet.is_keyframe and packet.pts <= cut_pts)
    return _remux(source, target, packets[first:], -cut_pts)


def write_delayed_copy(source: str | Path, target: str | Path, delay_frames: int) -> Path:
    """Remux ``source`` with every timestamp ``delay_frames`` frame periods later: its first frame is not at t=0."""
    with av.open(str(source)) as source_file:
        packets, frame_ticks = _packets_and_frame_ticks(source_file)
    return _remux(source, target, packets, delay_frames * frame_ticks)


def _packets_and_frame_ticks(container: av.container.InputContainer) -> tuple[list[av.Packet], int]:
    """Non-empty packets of the first video stream (decode order) and one frame period in its ticks."""
    stream = container.streams.video[0]
    packets = [packet for packet in container.demux(stream) if packet.size > 0]
    return packets, round(1 / (stream.time_base * stream.average_rate))


def _remux(source: str | Path, target: str | Path, packets: list[av.Packet], shift: int) -> Path:
    """Write ``packets`` of ``source``'s first video stream to ``target`` with timestamps moved by ``shift`` ticks."""
    target = Path(target)
    with av.open(str(source)) as source_file, av.open(str(target), "w") as target_file:
        out_stream = target_file.add_stream_from_template(source_file.streams.video[0])
        for packet in packets:
            packet.pts += shift
            if packet.dts is not None:
                packet.dts += shift
            packet.stream = out_stream
            target_file.mux(packet)
    return target


def write_vfr_video(
    path: str | Path,
    frames: np.ndarray,
    times_ms: list[int],
    codec: str = "libx264",
    fps: int = 25,
    last_duration_ms: int | None = None,
) -> Path:
    """Encode RGB frames (T, H, W, 3) shown at ``times_ms`` (increasing milliseconds): variable frame rate.

    ``fps`` is only the nominal rate given to the muxer (Matroska stores it as
    the default frame duration); MP4 derives its average rate from the
    timestamps. ``last_duration_ms`` sets how long the last frame stays on
    screen (Matroska keeps it; MP4 repeats the previous interval).
    """
    path = Path(path)
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_context.time_base = stream.time_base = time_base

        def mux(packets: list[av.Packet]) -> None:
            for packet in packets:
                if last_duration_ms is not None and packet.pts == times_ms[-1]:
                    packet.duration = last_duration_ms
            container.mux(packets)

        for image, time_ms in zip(np.asarray(frames, dtype=np.uint8), times_ms, strict=True):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = time_ms, time_base
            mux(stream.encode(frame))
        mux(stream.encode())
    return path


def count_packets(path: str | Path, *, hidden: bool) -> int:
    """Non-empty video packets of ``path`` that an edit list hides (``hidden``) or shows."""
    with av.open(str(path)) as container:
        return sum(
            1 for packet in container.demux(video=0) if packet.size > 0 and packet.is_discard == hidden
        )


def has_reordered_frames(path: str | Path) -> bool:
    """Whether packets come in a decode order that differs from presentation order (B-frames)."""
    with av.open(str(path)) as container:
        pts = [packet.pts for packet in container.demux(video=0) if packet.size > 0]
    return pts != sorted(pts)


def write_frame_folder(
    folder: str | Path,
    frames: np.ndarray,
    template: str = "img_{:05d}.jpg",
    start_index: int = 1,
    jpeg_quality: int = 95,
) -> Path:
    """Write RGB frames as image files ``folder/template.format(start_index + t)``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for offset, frame in enumerate(np.asarray(frames, dtype=np.uint8)):
        file = folder / template.format(start_index + offset)
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(file), bgr, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
            raise OSError(f"could not write {file}")
    return folder


def frames_for(video_number: int, height: int = 32, width: int = 32) -> np.ndarray:
    """Numbered frames of a length that differs per video: 8 + 2 * (video_number % 5)."""
    return numbered_frames(8 + 2 * (video_number % 5), height, width)


@dataclass
class LayoutFixture:
    """A dataset written on disk, plus what a correct loader must find in it.

    ``expected[split]`` lists ``(absolute path, 0-based label)`` sorted by path;
    ``num_frames[path]`` is the true frame count of each written video.
    """

    root: Path
    annotations: Path | None
    class_names: list[str]
    expected: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    num_frames: dict[str, int] = field(default_factory=dict)

    def add(self, split: str, path: Path, label: int, frames: np.ndarray) -> None:
        self.expected.setdefault(split, []).append((str(path.resolve()), label))
        self.num_frames[str(path.resolve())] = len(frames)

    def finish(self) -> LayoutFixture:
        for split in self.expected:
            self.expected[split].sort()
        return self


def make_ucf101(
    base: str | Path,
    *,
    classes: tuple[str, ...] = ("Basketball", "ApplyEyeMakeup", "Biking"),
    groups: int = 2,
    clips: int = 2,
    test_groups: tuple[int, ...] = (1,),
    ext: str = ".avi",
    codec: str = "mpeg4",
) -> LayoutFixture:
    """UCF101 layout (as SynthMotion writes it): ``base/videos/<Class>/v_<Class>_g<gg>_c<cc><ext>``.

    ``base/splits`` holds ``classInd.txt`` (classes numbered 1.. in the given,
    deliberately unsorted order), ``trainlist01.txt`` (``<Class>/<file> <1-based label>``)
    and ``testlist01.txt`` (``<Class>/<file>``). Groups in ``test_groups`` are test.
    """
    base = Path(base)
    videos, splits = base / "videos", base / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    fixture = LayoutFixture(root=videos, annotations=splits, class_names=list(classes))
    train_lines, test_lines = [], []
    number = 0
    for label, name in enumerate(classes):
        for group in range(1, groups + 1):
            for clip in range(1, clips + 1):
                relative = f"{name}/v_{name}_g{group:02d}_c{clip:02d}{ext}"
                frames = frames_for(number)
                number += 1
                (videos / name).mkdir(parents=True, exist_ok=True)
                write_video(videos / relative, frames, codec=codec)
                if group in test_groups:
                    test_lines.append(relative)
                    fixture.add("test", videos / relative, label, frames)
                else:
                    train_lines.append(f"{relative} {label + 1}")
                    fixture.add("train", videos / relative, label, frames)
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {name}\n" for i, name in enumerate(classes)))
    (splits / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
    (splits / "testlist01.txt").write_text("\n".join(test_lines) + "\n")
    return fixture.finish()


def make_hmdb51(base: str | Path, *, classes: tuple[str, ...] = ("run", "brush_hair", "clap")) -> LayoutFixture:
    """HMDB51 layout: ``base/videos/<class>/<video>.avi`` and ``base/splits/<class>_test_split1.txt``.

    Per class: two train videos (flag 1), one test video (flag 2), one unused
    (flag 0). Lines end with a trailing space, as in the official files.
    """
    base = Path(base)
    videos, splits = base / "videos", base / "splits"
    splits.mkdir(parents=True, exist_ok=True)
    class_names = sorted(classes)
    fixture = LayoutFixture(root=videos, annotations=splits, class_names=class_names)
    number = 0
    for name in classes:
        label = class_names.index(name)
        lines = []
        for clip, flag in enumerate((1, 2, 1, 0)):
            file = f"{name}_clip_u_nm_np1_fr_goo_{clip}.avi"
            frames = frames_for(number)
            number += 1
            (videos / name).mkdir(parents=True, exist_ok=True)
            write_video(videos / name / file, frames, codec="mpeg4")
            lines.append(f"{file} {flag} \n")
            split = {1: "train", 2: "test", 0: "unused"}[flag]
            fixture.add(split, videos / name / file, label, frames)
        (splits / f"{name}_test_split1.txt").write_text("".join(lines))
    return fixture.finish()


def make_kinetics(base: str | Path, *, missing: int = 2) -> LayoutFixture:
    """Kinetics layout: ``base/videos/{id}_{start:06d}_{end:06d}.mp4`` plus ``base/annotations.csv``.

    Some videos sit in ``base/videos/<label>/``; ``missing`` CSV rows (train
    split) have no file, as in every real Kinetics download.
    """
    base = Path(base)
    videos = base / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    labels = ["riding a bike", "abseiling", "juggling balls"]
    class_names = sorted(labels)
    fixture = LayoutFixture(root=videos, annotations=base / "annotations.csv", class_names=class_names)
    rows = []
    number = 0
    for label in labels:
        for clip, split in enumerate(("train", "train", "validate")):
            youtube_id = f"yt{number:03d}-_x"
            start, end = 10 * clip, 10 * clip + 10
            name = f"{youtube_id}_{start:06d}_{end:06d}.mp4"
            folder = videos / label if clip == 1 else videos
            folder.mkdir(parents=True, exist_ok=True)
            frames = frames_for(number)
            number += 1
            write_video(folder / name, frames)
            rows.append((label, youtube_id, start, end, split))
            fixture.add("val" if split == "validate" else split, folder / name, class_names.index(label), frames)
    for gone in range(missing):
        rows.append((labels[gone % len(labels)], f"gone{gone}", 0, 10, "train"))
    with open(base / "annotations.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        writer.writerows(rows)
    return fixture.finish()


def make_sthsth(base: str | Path, *, with_labels_file: bool = True) -> LayoutFixture:
    """Something-Something V2 layout: ``base/videos/<id>.webm`` (VP9), ``base/annotations/`` JSONs.

    ``something-something-v2-train.json`` lists ``{"id", "label", "template", "placeholders"}``;
    with ``with_labels_file`` the sibling ``something-something-v2-labels.json``
    maps template (brackets removed) to an id string, in non-alphabetical order.
    """
    base = Path(base)
    videos, annotations = base / "videos", base / "annotations"
    videos.mkdir(parents=True, exist_ok=True)
    annotations.mkdir(parents=True, exist_ok=True)
    templates = ["Pushing [something] from left to right", "Moving [something] up", "Dropping [something]"]
    clean = [t.replace("[", "").replace("]", "") for t in templates]
    class_names = clean if with_labels_file else sorted(clean)
    fixture = LayoutFixture(root=videos, annotations=annotations / "something-something-v2-train.json",
                            class_names=class_names)
    entries = []
    number = 0
    for template, name in zip(templates, clean):
        for _ in range(2):
            video_id = str(1000 + 7 * number)
            frames = frames_for(number)
            number += 1
            write_video(videos / f"{video_id}.webm", frames, codec="libvpx-vp9")
            entries.append({"id": video_id, "label": name.lower(), "template": template, "placeholders": ["x"]})
            fixture.add("train", videos / f"{video_id}.webm", class_names.index(name), frames)
    (annotations / "something-something-v2-train.json").write_text(json.dumps(entries))
    if with_labels_file:
        labels = {name: str(i) for i, name in enumerate(clean)}
        (annotations / "something-something-v2-labels.json").write_text(json.dumps(labels))
    return fixture.finish()


def make_csv(base: str | Path, *, int_labels: bool = False) -> LayoutFixture:
    """CSV layout: ``base/list.csv`` (``path,label``) with paths relative to ``base``.

    Labels are class names (``int_labels=False``) or integers.
    """
    base = Path(base)
    (base / "clips").mkdir(parents=True, exist_ok=True)
    names = ["walk", "jump", "sit"]
    class_names = [str(i) for i in range(3)] if int_labels else sorted(names)
    fixture = LayoutFixture(root=base / "list.csv", annotations=base / "list.csv", class_names=class_names)
    rows = []
    for number in range(6):
        name = names[number % 3]
        frames = frames_for(number)
        relative = f"clips/c{number}.mp4"
        write_video(base / relative, frames)
        label = number % 3 if int_labels else class_names.index(name)
        rows.append((relative, str(number % 3) if int_labels else name))
        fixture.add("train", base / relative, label, frames)
    with open(base / "list.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        writer.writerows(rows)
    return fixture.finish()


def make_folder(base: str | Path, *, template: str = "img_{:05d}.jpg") -> LayoutFixture:
    """Folder layout: ``base/<class>/<video file>`` plus one frame-folder video per class.

    Mixes .mp4 and .webm files and a sub-folder of JPEG frames named by ``template``.
    """
    base = Path(base)
    names = ["waving", "clapping"]
    class_names = sorted(names)
    fixture = LayoutFixture(root=base, annotations=None, class_names=class_names)
    number = 0
    for name in names:
        folder = base / name
        folder.mkdir(parents=True, exist_ok=True)
        for file, codec in ((f"{name}_a.mp4", "libx264"), (f"{name}_b.webm", "libvpx")):
            frames = frames_for(number)
            number += 1
            write_video(folder / file, frames, codec=codec)
            fixture.add("train", folder / file, class_names.index(name), frames)
        frames = frames_for(number)
        number += 1
        write_frame_folder(folder / f"{name}_frames", frames, template)
        fixture.add("train", folder / f"{name}_frames", class_names.index(name), frames)
    (base / "clapping" / "notes.txt").write_text("not a video\n")
    return fixture.finish()


SPLIT_FILE_MAKERS = {"ucf101": make_ucf101, "hmdb51": make_hmdb51, "kinetics": make_kinetics, "sthsth": make_sthsth,
                     "csv": make_csv}
"""The layouts whose videos are listed in annotation files (every format but ``folder``), by ``data.format``."""

TINY_RUN_OVERRIDES = [
    "model.backbone=tiny", "clip.frames=4", "clip.size=32", "train.epochs=1", "train.batch_size=2",
    "train.workers=0", "train.progress=false", "eval.frames=4", "eval.size=32", "eval.resize_short=32",
    "eval.num_clips=2", "eval.batch_size=4", "eval.finetune.epochs=1", "eval.finetune.batch_size=2",
]
"""CLI overrides that turn any config into a seconds-long run: tiny backbone, 4×32² clips, one epoch."""

# What each recipe's defaults need to fit 4-frame clips of 32² (the paper defaults are 16 x 112²), by recipe.
FIT_TINY = {
    "sro": ["clip.frames=9", "method.queue_size=8", "method.num_segments=3"],
    "sro_view_synthesis": ["clip.frames=9"],
    "sts": ["clip.frames=8", "clip.resize=[36, 48]", "method.flow=dis_ultrafast"],
    "corp_m": ["train.warmup_fraction=0"],
    "corp_f": ["train.warmup_fraction=0"],
    "vcop": ["method.clip_interval=2"],
}


class NumberedReader:
    """Frames (20 x 24) whose red channel is the frame index: samplers run without any decoding."""

    def read(self, path: str, indices) -> np.ndarray:
        indices = np.asarray(indices)
        frames = np.zeros((len(indices), 20, 24, 3), np.uint8)
        frames[..., 0] = (indices % 256)[:, None, None]
        frames[..., 1] = (np.arange(24) * 37 % 256)[None, None, :]
        return frames
