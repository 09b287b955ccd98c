"""Clips per second of STS label computation (flow + all 27 statistics) against the flow alone and TV-L1.

An STS sample costs a DataLoader worker the flow between the clip's
consecutive frames and the 14 motion + 13 appearance statistics on the crop
(:mod:`vidssl.data.pretext.sts`). This times, per clip of 16 frames and in one
process with one thread (``cv2.setNumThreads(1)``, ``torch.set_num_threads(1)``:
the data pipeline runs one single-threaded worker per core), at three geometries:

a. **16×112²** — frames resized to 112², flow at 112², labels on 112²;
b. **16×128×171** — the paper's pipeline: flow on the 128×171 resized frames,
   labels on a random 112² crop of them (random flip with p = 0.5, as
   :class:`~vidssl.data.pretext.sts.STSSampler`);
c. **CPU preset** — 16×32², resize (40, 53) (``vidssl/configs/sts_cpu.yaml``'s
   clip when that file exists).

Rows of each table, all in the same run, interleaved over ``--rounds`` rounds
(each keeps its best, so a burst of load elsewhere does not decide a ratio).
Everything runs on one thread, so the per-core figure is the process's CPU
time (user + system) per clip: what one core spends on it, which other
processes taking turns on the cores barely change; the wall time per clip is
printed beside it (the same on an idle machine) with the process's CPU / wall:

- **flow only** with ``--flow`` (the ceiling: labels cannot be faster than their flow);
- **labels** = that flow + crop/flip + :func:`~vidssl.data.statistics.sts_statistics`;
- **statistics alone** (crop/flip + statistics on flow already in memory);
- **labels from flow_cache**: the flow read back from an
  :class:`~vidssl.data.array_cache.ArrayCache` (float16 ``.npy``, as the
  sampler stores it; the file in the OS page cache) + statistics — what a
  sample costs from the second epoch on when ``method.flow_cache`` is on;
- labels with the other on-the-fly flows (the other DIS presets, Farneback);
- **TV-L1 path**, the flow the official pipeline precomputes, where
  opencv-contrib provides it (:func:`~vidssl.data.flow.tvl1_available`): TV-L1
  takes ~200 ms a pair, so only ``--tvl1-pairs`` pairs are timed and the clip's
  T−1 pairs (+ the statistics) are extrapolated from them.

Frames are SynthMotion clips (:func:`vidssl.data.synthmotion.render_video`,
the dataset's default sizes, a random 16-frame window of each video), resized
to the geometry before any timing: rendering, decoding and resizing are not
measured. Ratios are against the flow-only rate of the same geometry.

Then the CPU training step: :class:`vidssl.methods.sts.STS` on the tiny
backbone (the preset's target and modality), forward + backward + AdamW on a
batch of the preset's clips with their real labels — CPU time per clip on 1
thread, wall-clock clips/s on all cores (the trainer's main process) — against
the label rate at the CPU geometry (with the preset's ``method.flow``) on 2
workers, and from ``flow_cache`` (later epochs). Workers and step share the
same 2 cores; the output says what that costs. The load average is printed at
the start and the end: other processes on the machine slow the wall times, the
multi-threaded step's most of all (its threads wait for each other).

The last line printed is
``sts labels: <r>x the flow-only rate (<n> clips/s), <t>x the TV-L1 path``
(``--flow`` preset at 16×128×171, per core; ``n/a (no opencv-contrib)`` for
``<t>x`` without TV-L1). No packages are installed to get TV-L1.

Usage::

    python benchmarks/sts_labels.py                   # ~1-2 minutes on 2 cores
    python benchmarks/sts_labels.py --flow dis_ultrafast --clips 96
    python benchmarks/sts_labels.py --quick           # smoke run, ~20 s
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidssl.data import synthmotion  # noqa: E402
from vidssl.data.array_cache import ArrayCache  # noqa: E402
from vidssl.data.flow import DEFAULT_FLOW, DIS_PRESETS, FlowEstimator, tvl1_available  # noqa: E402
from vidssl.data.pretext.sts import flip_frames_and_flow  # noqa: E402
from vidssl.data.statistics import sts_statistics  # noqa: E402
from vidssl.data.transforms import functional as F  # noqa: E402
from vidssl.models import build_backbone  # noqa: E402

CPU_CONFIG = Path(__file__).resolve().parents[1] / "vidssl" / "configs" / "sts_cpu.yaml"
SEED = 0


class Geometry(NamedTuple):
    name: str
    frames: int
    resize: tuple[int, int]  # (h, w) the flow is computed at
    size: int                # crop side S the labels are computed on


# ----------------------------------------------------------------------------- clips


def render_clips(count: int, frames: int, *, seed: int) -> list[np.ndarray]:
    """``count`` SynthMotion clips uint8 (frames, H, W, 3): every class in turn, a random window of each video.

    Plans use :func:`~vidssl.data.synthmotion.generate_synthmotion`'s default
    sizes (96–128 × 120–176), lengths, speeds, pans, flicker and distractors.
    """
    names = synthmotion.class_names()
    per_class = -(-count // len(names))
    by_class = [
        synthmotion.plan_class(
            synthmotion.class_spec(name), per_class=per_class, seed=seed, appearance_bias=0.0,
            size_range=((96, 128), (120, 176)), length_range=(48, 120), speed_range=(0.8, 1.25), test_fraction=0.0,
        )
        for name in names
    ]
    plans = [plan for same_index in zip(*by_class) for plan in same_index][:count]  # class by class in turn
    rng = np.random.default_rng(seed)
    clips = []
    for plan in plans:
        start = int(rng.integers(0, max(plan.num_frames - frames, 0) + 1))
        video, _ = synthmotion.render_video(dataclasses.replace(plan, num_frames=start + frames))
        clips.append(video[start:])
    return clips


class CPUPreset(NamedTuple):
    geometry: Geometry
    batch: int
    target: str
    modality: str
    lr: float
    flow: str
    source: str


def cpu_preset() -> CPUPreset:
    """The CPU preset's clip and step: ``sts_cpu.yaml`` where it exists, else 16×32², resize (40, 53), batch 16."""
    frames, size, resize, batch, target, modality, lr = 16, 32, (40, 53), 16, "classification", "rgb", 0.003
    flow = DEFAULT_FLOW
    source = "defaults (no vidssl/configs/sts_cpu.yaml)"
    if CPU_CONFIG.is_file():
        import yaml

        cfg = yaml.safe_load(CPU_CONFIG.read_text()) or {}
        clip, train = cfg.get("clip") or {}, cfg.get("train") or {}
        method, model = cfg.get("method") or {}, cfg.get("model") or {}
        frames, size = int(clip.get("frames", frames)), int(clip.get("size", size))
        resize = tuple(int(v) for v in clip.get("resize", resize))
        batch, lr = int(train.get("batch_size", batch)), float(train.get("lr", lr))
        target, modality = method.get("sts_target", target), model.get("modality", modality)
        flow = method.get("flow", flow)
        source = "vidssl/configs/sts_cpu.yaml"
    name = f"{frames}x{size}^2 (CPU preset, resize {resize[0]}x{resize[1]})"
    return CPUPreset(Geometry(name, frames, resize, size), batch, target, modality, lr, flow, source)


# ----------------------------------------------------------------------------- timing


class Timer:
    """Best process CPU time (user + system) and best wall time per item over rounds.

    Everything timed runs on one thread, so CPU seconds per clip are the time
    one core spends on it: the per-core figure, unchanged when other processes
    take turns on the cores. Wall time equals it on an idle machine; the
    process's CPU / wall below 1 says it waited for a core.
    """

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.used, self.elapsed = 0.0, 0.0

    def run(self, key: str, fn: Callable[[int], object], items: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(items):
            fn(i)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.cpu[key] = min(cpu / items, self.cpu.get(key, float("inf")))
        self.wall[key] = min(wall / items, self.wall.get(key, float("inf")))
        self.used, self.elapsed = self.used + cpu, self.elapsed + wall


def crops_for(geometry: Geometry, count: int, rng: np.random.Generator) -> list[tuple[int, int, bool]]:
    """(top, left, flipped) per clip, drawn like STSSampler.view (flip only when the frame is cropped)."""
    h, w = geometry.resize
    crops = []
    for _ in range(count):
        top, left = int(rng.integers(0, h - geometry.size + 1)), int(rng.integers(0, w - geometry.size + 1))
        crops.append((top, left, (h, w) != (geometry.size, geometry.size) and bool(rng.random() < 0.5)))
    return crops


def crop_and_label(frames: np.ndarray, flow: np.ndarray, crop: tuple[int, int, bool], size: int):
    """What STSSampler.view does after the flow: crop, flip, contiguous copies, the 27 statistics."""
    top, left, flipped = crop
    frames = frames[:, top: top + size, left: left + size]
    flow = flow[:, top: top + size, left: left + size]
    if flipped:
        frames, flow = flip_frames_and_flow(frames, flow)
    return sts_statistics(np.ascontiguousarray(frames), np.ascontiguousarray(flow))


def tvl1_pair_seconds(frames: list[np.ndarray], pairs: int) -> tuple[float, float]:
    """Best (CPU, wall) seconds per TV-L1 pair (grayscale conversion included) over ``pairs`` pairs of clips."""
    engine = cv2.optflow.DualTVL1OpticalFlow_create()
    cpu = wall = float("inf")
    for i in range(pairs):
        clip = frames[i % len(frames)]
        started, used = time.perf_counter(), time.process_time()
        first, second = (cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in clip[:2])
        engine.calc(first, second, None)
        cpu, wall = min(cpu, time.process_time() - used), min(wall, time.perf_counter() - started)
    return cpu, wall


def measure_geometry(geometry: Geometry, clips: list[np.ndarray], args: argparse.Namespace) -> dict[str, float]:
    """CPU seconds per clip of every row of the geometry's table (``wall:<row>`` the wall time; NaN: unavailable)."""
    frames = [F.resize(clip[: geometry.frames], *geometry.resize) for clip in clips]
    crops = crops_for(geometry, len(frames), np.random.default_rng(SEED))
    estimator = FlowEstimator(args.flow)  # a fresh one per geometry: OpenCV's DIS may lower its finest scale
    flows = [estimator(clip) for clip in frames]  # warm-up, and the input of "statistics alone"
    for clip, flow, crop in zip(frames, flows, crops):
        crop_and_label(clip, flow, crop, geometry.size)

    cache_dir = tempfile.TemporaryDirectory(prefix="vidssl_sts_bench_")
    cache = ArrayCache(cache_dir.name)
    descriptions = [{"version": 1, "source": {"clip": i}, "indices": list(range(geometry.frames)),
                     "resize": geometry.resize, "flow": args.flow} for i in range(len(frames))]
    for description, flow in zip(descriptions, flows):
        cache.put(description, flow.astype(np.float16))  # as STSSampler.clip_flow stores it

    def from_cache(i: int):
        flow = cache.get(descriptions[i]).astype(np.float32)
        return crop_and_label(frames[i], flow, crops[i], geometry.size)

    timer = Timer()
    rows: dict[str, Callable[[int], object]] = {
        "flow": lambda i: estimator(frames[i]),
        "labels": lambda i: crop_and_label(frames[i], estimator(frames[i]), crops[i], geometry.size),
        "statistics": lambda i: crop_and_label(frames[i], flows[i], crops[i], geometry.size),
        "cached": from_cache,
    }
    for method in (m for m in (*DIS_PRESETS, "farneback") if m != args.flow):
        other = FlowEstimator(method)
        rows[f"labels:{method}"] = lambda i, other=other: crop_and_label(
            frames[i], other(frames[i]), crops[i], geometry.size)
    for fn in rows.values():
        fn(0)  # warm-up
    for _ in range(args.rounds):
        for key, fn in rows.items():
            timer.run(key, fn, len(frames))
    cache_dir.cleanup()
    seconds = dict(timer.cpu)
    seconds.update({f"wall:{key}": value for key, value in timer.wall.items()})
    seconds["cpu_per_wall"] = timer.used / timer.elapsed
    if tvl1_available():
        pair_cpu, pair_wall = tvl1_pair_seconds(frames, args.tvl1_pairs)
        seconds["tvl1_pair"] = pair_cpu
        seconds["labels:tvl1"] = (geometry.frames - 1) * pair_cpu + seconds["statistics"]
        seconds["wall:labels:tvl1"] = (geometry.frames - 1) * pair_wall + seconds["wall:statistics"]
    else:
        seconds["labels:tvl1"] = seconds["wall:labels:tvl1"] = float("nan")
    return seconds


def print_table(geometry: Geometry, seconds: dict[str, float], flow: str, count: int) -> None:
    share = seconds["cpu_per_wall"]
    print(f"\n{geometry.name}: flow at {geometry.resize[0]}x{geometry.resize[1]}, labels on {geometry.size}^2, "
          f"{count} clips; process CPU / wall {share:.2f}"
          + (" (it waited for a core: other load on the machine; wall times are inflated, CPU times much less)"
             if share < 0.9 else ""))
    print(f"  {'method':<38} {'ms/clip':>8} {'clips/s/core':>13} {'vs flow-only':>13} {'wall ms/clip':>13}")
    ceiling = seconds["flow"]
    table = [(f"flow only ({flow}, the ceiling)", "flow"), (f"labels ({flow} + 27 statistics)", "labels"),
             ("statistics alone (flow in memory)", "statistics"),
             ("labels (flow read from flow_cache)", "cached")]
    table += [(f"labels ({key.split(':')[1]} + 27 statistics)", key) for key in seconds
              if key.startswith("labels:") and key != "labels:tvl1"]
    table.append(("labels (TV-L1 + 27 statistics)", "labels:tvl1"))
    for label, key in table:
        value = seconds[key]
        if np.isnan(value):
            print(f"  {label:<38} {'n/a':>8} {'n/a':>13} {'n/a':>13} {'n/a':>13}   (no opencv-contrib: no cv2.optflow)")
            continue
        note = f"   (extrapolated from {seconds['tvl1_pair'] * 1000:.0f} ms per pair)" if key == "labels:tvl1" else ""
        print(f"  {label:<38} {1000 * value:>8.2f} {1 / value:>13.1f} {ceiling / value:>12.2f}x "
              f"{1000 * seconds['wall:' + key]:>13.2f}{note}")
    print(f"  on 2 cores (2 workers x 1 thread): labels {2 / seconds['labels']:.0f} clips/s, "
          f"flow only {2 / ceiling:.0f} clips/s")


# ----------------------------------------------------------------------------- the training step


def training_batch(preset: CPUPreset, clips: list[np.ndarray]) -> dict[str, torch.Tensor]:
    """A batch of the preset's clips (resized, cropped, flipped) with their real labels, as STSSampler returns."""
    geometry = preset.geometry
    crops = crops_for(geometry, preset.batch, np.random.default_rng(SEED + 1))
    estimator = FlowEstimator(DEFAULT_FLOW)
    samples = {"clip": [], "motion_labels": [], "appearance_labels": []}
    for i, crop in enumerate(crops):
        frames = F.resize(clips[i % len(clips)][: geometry.frames], *geometry.resize)
        top, left, flipped = crop
        view = frames[:, top: top + geometry.size, left: left + geometry.size]
        statistics = crop_and_label(frames, estimator(frames), crop, geometry.size)
        samples["clip"].append(F.to_clip_tensor(view[:, :, ::-1] if flipped else view))
        samples["motion_labels"].append(torch.from_numpy(statistics.motion_labels))
        samples["appearance_labels"].append(torch.from_numpy(statistics.appearance_labels))
    return {key: torch.stack(values) for key, values in samples.items()}


def train_step_seconds(
    preset: CPUPreset, batch: dict, steps: int, rounds: int, threads: int
) -> tuple[float, float, str]:
    """Best (CPU, wall) seconds per training step (fwd + bwd + AdamW) on ``threads`` intra-op threads, and what ran."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(SEED)
        backbone = build_backbone("tiny")
        try:
            from vidssl.methods.sts import STS
        except ImportError:  # before the STS method existed: a 27-output regression head stands in
            STS = None
        if STS is not None:
            model = STS(backbone, target=preset.target, clip_len=preset.geometry.frames, modality=preset.modality)
            what = f"vidssl.methods.sts.STS(tiny, target={preset.target}, modality={preset.modality})"

            def loss_of() -> torch.Tensor:
                return model.training_step(batch)[0]
        else:
            head = torch.nn.Linear(backbone.num_features, 27)
            model = torch.nn.Sequential(backbone, head)
            targets = torch.cat([batch["motion_labels"], batch["appearance_labels"]], dim=1).float()
            what = "tiny + Linear(128, 27), MSE (no vidssl.methods.sts)"

            def loss_of() -> torch.Tensor:
                return torch.nn.functional.mse_loss(model(F.normalize_on_device(batch["clip"])), targets)

        optimiser = torch.optim.AdamW(model.parameters(), lr=preset.lr, weight_decay=1e-4)

        def step() -> None:
            loss = loss_of()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()

        for _ in range(3):  # warm-up: the thread pool, allocator and kernels
            step()
        cpu = wall = float("inf")
        for _ in range(rounds):
            started, used = time.perf_counter(), time.process_time()
            for _ in range(steps):
                step()
            cpu = min(cpu, (time.process_time() - used) / steps)
            wall = min(wall, (time.perf_counter() - started) / steps)
        return cpu, wall, what
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=36, help="SynthMotion clips timed per geometry")
    parser.add_argument("--flow", choices=tuple(DIS_PRESETS), default=DEFAULT_FLOW,
                        help=f"the DIS preset of the labels and flow-only rows and of the summary (default "
                             f"{DEFAULT_FLOW}, the library's)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row; the best is kept")
    parser.add_argument("--tvl1-pairs", type=int, default=3, help="TV-L1 pairs timed per geometry (~0.2 s each)")
    parser.add_argument("--steps", type=int, default=3, help="training steps per round")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 clips, 1 round, 1 TV-L1 pair, 2 steps")
    args = parser.parse_args(argv)
    if args.quick:
        args.clips, args.rounds, args.tvl1_pairs, args.steps = min(args.clips, 6), 1, 1, 2
    if args.clips < 1 or args.rounds < 1 or args.tvl1_pairs < 1 or args.steps < 1:
        parser.error("--clips, --rounds, --tvl1-pairs and --steps must be >= 1")
    return args


def load() -> str:
    return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    cores = os.cpu_count() or 1
    preset = cpu_preset()
    cpu = preset.geometry
    geometries = [Geometry("16x112^2", 16, (112, 112), 112), Geometry("16x128x171", 16, (128, 171), 112), cpu]

    started = time.perf_counter()
    clips = render_clips(args.clips, max(g.frames for g in geometries), seed=SEED)
    tvl1 = "TV-L1 available (cv2.optflow)" if tvl1_available() else "no TV-L1 (opencv-contrib not installed)"
    print(f"{len(clips)} SynthMotion clips rendered in {time.perf_counter() - started:.1f} s (not timed); "
          f"OpenCV {cv2.__version__}, {tvl1}")
    print(f"1 thread (cv2, torch), {cores} cores, {load()}; CPU preset: {preset.source} (flow {preset.flow})")

    results = {}
    for geometry in geometries:
        results[geometry.name] = measure_geometry(geometry, clips, args)
        print_table(geometry, results[geometry.name], args.flow, len(clips))

    # -- can 2 cores feed the CPU training loop?
    batch = training_batch(preset, clips)
    cpu_1, wall_1, what = train_step_seconds(preset, batch, args.steps, args.rounds, threads=1)
    cpu_all, wall_all, _ = train_step_seconds(preset, batch, args.steps, args.rounds, threads=cores)
    train_s = cpu_1 / preset.batch  # core-seconds of training per clip (1 thread)
    rate_all = preset.batch / wall_all
    step_rate, step_threads = max((preset.batch / wall_1, 1), (rate_all, cores))  # the faster measured step
    flow = preset.flow if preset.flow == args.flow or f"labels:{preset.flow}" in results[cpu.name] else args.flow
    label_s = results[cpu.name]["labels" if flow == args.flow else f"labels:{flow}"]
    if np.isnan(label_s):  # the preset's flow is TV-L1 and this OpenCV has none
        flow, label_s = args.flow, results[cpu.name]["labels"]
    cached_s = results[cpu.name]["cached"]
    print(f"\nCPU training step: {what}, fwd+bwd+AdamW, batch {preset.batch} x {cpu.frames}x{cpu.size}^2")
    print(f"  1 thread:  {1000 * cpu_1:6.0f} CPU ms/step = {1 / train_s:5.1f} clips/s per core "
          f"(wall {1000 * wall_1:.0f} ms)")
    print(f"  {cores} threads: {1000 * wall_all:6.0f} ms/step = {rate_all:5.1f} clips/s (wall; the trainer's main "
          f"process; CPU / wall {cpu_all / wall_all:.2f})")
    if step_threads == 1 and cores > 1:
        print(f"  ({cores} threads slower than 1: their threads wait for each other when the cores are busy — here "
              f"other load ({load()}); in training, the {cores} workers)")
    print(f"  labels at {cpu.frames}x{cpu.size}^2 on {cores} workers, cores to themselves: {cores / label_s:.0f} "
          f"clips/s with {flow} flow (epoch 0) = {cores / label_s / step_rate:.1f}x the faster step's "
          f"{step_rate:.1f} clips/s ({step_threads} thread{'s' if step_threads > 1 else ''}); "
          f"{cores / cached_s:.0f} clips/s with the flow from flow_cache (later epochs) "
          f"= {cores / cached_s / step_rate:.1f}x")
    print(f"  but workers and step share the same {cores} cores (the preset runs {cores} workers beside a "
          f"{cores}-thread step):")
    for when, seconds in (("epoch 0", label_s), ("later epochs", cached_s)):
        print(f"    {when}: a clip costs {1000 * seconds:.1f} core-ms of labels + {1000 * train_s:.1f} core-ms of "
              f"training; labels take {100 * seconds / (seconds + train_s):.0f}% of the CPU, and both together "
              f"reach ~{cores / (seconds + train_s):.0f} clips/s at most, against ~{cores / train_s:.0f} for "
              f"training alone with perfect scaling")
    keeps_up = label_s < train_s
    print(f"  -> {'yes' if keeps_up else 'no'}: a clip's labels cost {'less' if keeps_up else 'more'} CPU than its "
          f"training step, so with the cores shared the workers {'keep ahead of' if keeps_up else 'fall behind'} "
          f"the step{'' if keeps_up else ', which then waits on labels'}; what labels cost is the CPU they take "
          f"from the step (the shares above). Decoding and resizing, not measured here, come on top. {load()}")

    paper = results["16x128x171"]
    ratio = paper["flow"] / paper["labels"]
    if np.isnan(paper["labels:tvl1"]):
        tv = "n/a (no opencv-contrib)"
        print("\nTV-L1 not measured: this OpenCV has no cv2.optflow (opencv-contrib-python-headless provides it).")
    else:
        tv = f"{paper['labels:tvl1'] / paper['labels']:.0f}x"
    print(f"sts labels: {ratio:.2f}x the flow-only rate ({1 / paper['labels']:.0f} clips/s), {tv} the TV-L1 path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
