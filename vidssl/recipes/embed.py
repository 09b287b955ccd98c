"""``vidssl embed`` and ``vidssl search`` on a run: its checkpoint and config turned into the embedding engine's
inputs (:mod:`vidssl.eval.embed`, which describes the files written and how resuming works).

The checkpoint is a :class:`vidssl.recipes.run.Run` (a run folder, its
backbone.pt or checkpoints/last.pt, or a backbone.pt of its own). The settings
come from the ``eval`` section of the run's config.yaml (of ``config`` if
given, else the defaults), changed by the options and ``eval.*=`` overrides.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vidssl.config.loading import apply_overrides, to_dict
from vidssl.engine.distributed import resolve_device
from vidssl.errors import VidsslError
from vidssl.eval.embed import (
    DEFAULT_CHUNK,
    EmbedSettings,
    check_settings,
    embed_one,
    file_sha256,
    list_folder_videos,
    prepare_output,
    search_features,
    write_embeddings,
)
from vidssl.recipes.configs import load_run_config, parse_run_config
from vidssl.recipes.run import Run
from vidssl.recipes.run_config import RunConfig


def embed_folder(
    ckpt: str | Path,
    videos_dir: str | Path,
    *,
    out: str | Path,
    layer: str | None = None,
    clips: int | None = None,
    frames: int | None = None,
    size: int | None = None,
    config: str | None = None,
    overrides: Sequence[str] = (),
    chunk: int = DEFAULT_CHUNK,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Embed every video under ``videos_dir`` with the backbone of ``ckpt`` into ``out`` and its index.

    Returns :func:`vidssl.eval.embed.write_embeddings`'s summary.
    """
    out = Path(out)
    prepare_output(out, chunk)
    root, videos = list_folder_videos(videos_dir)
    run = Run.resolve(ckpt)
    weights = run.weights.resolve()
    cfg = embed_config(run, config, overrides)
    settings = embed_settings(cfg, file_sha256(weights), layer=layer, clips=clips, frames=frames, size=size)
    return write_embeddings(
        root, videos, out, settings, weights=weights, load_backbone=run.load_backbone,
        device=resolve_device(cfg.train.device), batch_size=cfg.eval.batch_size, workers=cfg.train.workers,
        progress=progress and cfg.train.progress, chunk=chunk, force=force,
    )


def embed_config(run: Run, config: str | None, overrides: Sequence[str]) -> RunConfig:
    """Where the eval settings come from: ``config``, else the run's config.yaml, else the defaults; then
    ``overrides``."""
    if config is not None:
        return load_run_config(config, list(overrides))
    if run.has_config:
        return run.load_config(list(overrides))
    return parse_run_config(apply_overrides(to_dict(RunConfig()), list(overrides)))


def embed_settings(
    cfg: RunConfig, checkpoint_sha256: str, *, layer: str | None = None, clips: int | None = None,
    frames: int | None = None, size: int | None = None,
) -> EmbedSettings:
    """The settings of ``cfg.eval`` (and ``cfg.model.modality``, ``cfg.data.frame_template``), changed by the options.

    ``size`` also scales ``eval.resize_short`` by ``size / eval.size``, which keeps the
    config's ratio of crop to frame (112 of 128). To set both sides yourself, use
    ``eval.size=`` and ``eval.resize_short=`` overrides.
    """
    for option, value in (("--clips", clips), ("--frames", frames), ("--size", size)):
        if value is not None and value < 1:
            raise VidsslError(f"{option}: expected a positive integer, got {value}")
    e = cfg.eval
    resize_short = e.resize_short if size is None else max(size, round(size * e.resize_short / e.size))
    settings = EmbedSettings(
        checkpoint_sha256=checkpoint_sha256, layer=e.layer if layer is None else layer, pooling=e.pooling,
        clips=e.num_clips if clips is None else clips, frames=e.frames if frames is None else frames,
        interval=e.interval, size=e.size if size is None else size, resize_short=resize_short,
        modality=cfg.model.modality, frame_template=cfg.data.frame_template,
    )
    check_settings(settings)
    return settings


def search_videos(
    features: str | Path, query: str, *, k: int = 10, ckpt: str | None = None, sheet: str | Path | None = None
) -> dict:
    """The ``k`` videos of ``features`` most similar to ``query`` (:func:`vidssl.eval.embed.search_features`);
    a query the index does not hold is embedded with the index's checkpoint, or ``ckpt`` (the same weights)."""

    def embed_new(path: Path, index: dict, where: str) -> np.ndarray:
        return embed_query(path, index, ckpt=ckpt, where=where)

    return search_features(features, query, embed_new=embed_new, k=k, sheet=sheet)


def embed_query(path: Path, index: dict, *, ckpt: str | None, where: str) -> np.ndarray:
    """Embed a video that the index does not hold, using the index's settings and checkpoint (or ``ckpt``, the
    same weights)."""
    settings = EmbedSettings.from_index(index, where)
    if ckpt is None:
        recorded = index.get("checkpoint")
        if not recorded or not Path(recorded).exists():
            raise VidsslError(f"{path} is not in {where}, so it must be embedded, but the checkpoint the index "
                              f"records ({recorded}) is not found; give --ckpt")
        ckpt = recorded
    run = Run.resolve(ckpt)
    sha = file_sha256(run.weights)
    if sha != settings.checkpoint_sha256:
        raise VidsslError(f"--ckpt {ckpt}: not the weights the features were made with (sha256 {sha[:12]}… vs "
                          f"{settings.checkpoint_sha256[:12]}… in {where})")
    return embed_one(path, settings, run.load_backbone)
