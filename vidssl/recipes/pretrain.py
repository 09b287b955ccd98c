"""Pretraining: a run config → a trained method in its run folder (config.yaml, checkpoints, logs,
backbone.pt), through the recipe its ``method.name`` selects."""
from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import cast

import torch
from torch import nn

from vidssl.checks import config_keys
from vidssl.config.loading import load_yaml, to_dict
from vidssl.contracts import Method
from vidssl.data.controls import ScrambledTargets
from vidssl.data.datasets import warn_short_videos
from vidssl.data.transforms import frames_for_modality
from vidssl.engine import run_folder
from vidssl.engine.checkpoint import load_checkpoint, load_matching_state_dict, save_checkpoint
from vidssl.engine.distributed import barrier, init_distributed, is_main
from vidssl.engine.heldout import heldout_keys, heldout_lines, heldout_val_fn
from vidssl.engine.trainer import fit
from vidssl.errors import VidsslError
from vidssl.eval.plots import plot_heldout_curves
from vidssl.fileio import make_output_dir
from vidssl.models import build_backbone
from vidssl.recipes.configs import parse_run_config
from vidssl.recipes.data import build_model_backbone, build_reader, build_records, frame_source
from vidssl.recipes.run_config import RunConfig, write_yaml_atomic
from vidssl.recipes.table import recipe_for


def build_pretext_sampler(cfg: RunConfig):
    """The sampler of ``cfg``'s method, reading pixels as ``cfg.data`` says; with ``data.pretext_targets:
    scrambled``, its negative control (targets drawn at random per sample, the clips unchanged)."""
    sampler = recipe_for(cfg.method.name).build_sampler(cfg, frame_source(cfg.data))
    if cfg.data.pretext_targets == "scrambled":
        with config_keys("data", {"sampler": "pretext_targets"}):
            return ScrambledTargets(sampler)
    return sampler


def build_pretext_dataset(cfg: RunConfig, records: list, reader, *, progress: bool = True):
    """The training dataset of ``cfg``: its videos through the method's sampler (the recipe may
    reshape it: STS's fixed clips and curriculum)."""
    warn_short_videos(records, frames_for_modality(cfg.clip.frames, cfg.model.modality), cfg.clip.short_video)
    sampler = build_pretext_sampler(cfg)
    return recipe_for(cfg.method.name).build_dataset(cfg, records, reader, sampler, progress=progress)


def build_method(cfg: RunConfig, backbone: nn.Module, run_dir: Path | None = None) -> nn.Module:
    """The method module of ``cfg`` around ``backbone`` (``run_dir``: the run being trained)."""
    return recipe_for(cfg.method.name).build_method(cfg, backbone, run_dir)


def pretrain(cfg: RunConfig, run_dir: str | Path, *, resume: bool = False, force: bool = False):
    """Pretrain ``cfg.method`` on ``cfg.data``; writes config.yaml, checkpoints, logs and backbone.pt.

    A folder that already holds a run is never overwritten: ``resume`` continues
    it (refused if the config changes what the model is, or if there is no run
    to resume), ``force`` first moves it aside to ``RUN.old-<time>``; otherwise
    this raises. On resume nothing in the folder changes until the checkpoint
    has loaded into the model. The recipe's ``prepare`` stage runs first (SRO's
    view synthesis in ``RUN/view_synthesis``) and its ``after_fit`` last.
    Returns (method, history).
    """
    run_dir = Path(run_dir)
    init_distributed(cfg.train.device)  # under torchrun: join the group now, so only rank 0 writes
    checkpoint = check_run_folder(cfg, run_dir, resume=resume, force=force)
    if force and not resume and run_folder.holds_run(run_dir):
        if is_main():
            print(f"moved the previous run in {run_dir} to {run_folder.move_aside(run_dir)}", flush=True)
        barrier()
    created = not run_dir.exists()
    if is_main():
        make_output_dir(run_dir)
    try:
        return _pretrain_in(cfg, run_dir, checkpoint=checkpoint, resume=resume)
    except BaseException:
        if created and is_main():
            remove_if_empty(run_dir)  # bad data or a model error: no empty run folder left behind
        raise


def remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        if not any(folder.iterdir()):
            folder.rmdir()


def _pretrain_in(cfg: RunConfig, run_dir: Path, *, checkpoint: dict | None, resume: bool):
    """:func:`pretrain` once the run folder has been checked: the recipe's stage, data, model, then ``fit``."""
    recipe = recipe_for(cfg.method.name)
    if recipe.prepare is not None:
        recipe.prepare(cfg, run_dir, resume=resume, pretrain=pretrain)
    with main_process_first():
        records, _ = build_records(cfg.data)
        reader, records = build_reader(cfg.data, records)
    with main_process_first():  # STS's curriculum scores are computed (and cached) once
        dataset = build_pretext_dataset(cfg, records, reader, progress=is_main())
    torch.manual_seed(cfg.train.seed)  # the same initial weights as `random_init_backbone`
    method = recipe.build_method(cfg, build_model_backbone(cfg.model), run_dir)
    if checkpoint is not None:
        load_matching_state_dict(method, checkpoint["model"], source=f"checkpoint {run_dir / run_folder.CHECKPOINT}")
    val_fn = None
    if cfg.data.val_fraction > 0 and is_main():  # fit runs val_fn on rank 0 alone
        val_fn = heldout_val_fn(build_heldout_dataset(cfg), cfg=cfg.train)
    if is_main():
        write_yaml_atomic(run_dir / "config.yaml", to_dict(cfg))
    history = fit(method, dataset, cfg=cfg.train, run_dir=run_dir, resume=checkpoint is not None, val_fn=val_fn)
    if is_main():
        backbone = cast(Method, method).backbone  # every method meets the contract (tests/test_contracts.py)
        save_backbone(run_dir / "backbone.pt", backbone, name=cfg.model.backbone, width=cfg.model.width)
        if val_fn is not None and history:
            report_heldout(cfg, history, run_dir)
        if recipe.after_fit is not None:
            recipe.after_fit(cfg, method, dataset, run_dir)
    return method, history


def build_heldout_dataset(cfg: RunConfig):
    """The validation videos of ``data.val_fraction`` through the method's sampler, for held-out pretext metrics.

    Read like the training videos (same reader and frame cache), laid out as the
    recipe lays out its training set (STS's fixed clips) but never paced by a
    curriculum, and drawn at one fixed epoch (the dataset's first), so every
    epoch scores the same clips. Unlabelled: a pretext needs no class. The targets
    are the sampler's own even when training scrambles them (``data.pretext_targets``):
    a negative control is scored on the pretext it was denied.
    """
    records, _ = build_records(dataclasses.replace(cfg.data, labelled=False), split="val")
    reader, records = build_reader(cfg.data, records)
    recipe = recipe_for(cfg.method.name)
    sampler = recipe.build_sampler(cfg, frame_source(cfg.data))
    return recipe.build_dataset(without_curriculum(cfg), records, reader, sampler, progress=False)


def without_curriculum(cfg: RunConfig) -> RunConfig:
    """``cfg`` with its method's curriculum (STS, eq. 7) off: held out, every sample counts in every epoch."""
    if getattr(cfg.method, "curriculum", "none") == "none":
        return cfg
    return dataclasses.replace(cfg, method=dataclasses.replace(cfg.method, curriculum="none"))


def report_heldout(cfg: RunConfig, history: list[dict], run_dir: Path) -> None:
    """Print the last epoch's held-out pretext metrics with their chance levels, and draw them per epoch
    beside the training curves in ``plots/pretext_heldout.png``."""
    last = history[-1]
    for line in heldout_lines(last):
        print(line, flush=True)
    path = plot_heldout_curves(history, heldout_keys(last), run_dir / "plots" / "pretext_heldout.png",
                               title=f"{cfg.method.name}: pretext metrics on held-out videos")
    print(f"held-out curves: {path}", flush=True)


def check_run_folder(cfg: RunConfig, run_dir: Path, *, resume: bool, force: bool) -> dict | None:
    """May ``cfg`` start (or continue) a run in ``run_dir``? Returns the checkpoint to resume from, if any.

    Reads only. Refuses: a new run over an old one without ``force``; a
    resume where there is no run (a typo in the path must not start a new
    run); a resume whose config changes more than :data:`run_folder.RESUMABLE_KEYS`;
    a corrupt or foreign checkpoint (its weights are checked against the
    model by the caller, before anything is written).
    """
    markers = run_folder.run_markers(run_dir)
    flag_help = "continue it with --resume, start over with --force (moves it aside), or choose another --out"
    if not resume:
        if markers and not force:
            raise VidsslError(f"{run_dir} already holds a run ({', '.join(markers)}); {flag_help}")
        return None
    if not markers:
        raise VidsslError(f"{run_dir}: no run to resume (no config.yaml or {run_folder.CHECKPOINT} there); "
                          f"check the path, or drop --resume to start a new run")
    saved = run_dir / "config.yaml"
    last = run_dir / run_folder.CHECKPOINT
    if not saved.is_file():
        raise VidsslError(f"{saved} is missing: what the run in {run_dir} trained cannot be checked against this "
                          f"config; restore it, or start a new run with --force or another --out")
    check_resumable_config(saved, cfg)
    if not last.is_file():
        if markers != ["config.yaml"]:
            raise VidsslError(f"{run_dir} has no {run_folder.CHECKPOINT} to resume from "
                              f"(but {', '.join(markers[1:])}); "
                              f"start a new run with --force (moves it aside) or another --out")
        if is_main():
            print(f"{run_dir}: no checkpoint yet (stopped in its first epoch); starting at epoch 1", flush=True)
        return None
    state = load_checkpoint(last)
    if not isinstance(state.get("model"), dict):
        raise VidsslError(f"checkpoint {last} holds no model weights; it was not written by vidssl pretrain")
    done = state.get("epoch")
    if isinstance(done, int) and done > cfg.train.epochs:
        raise VidsslError(f"train.epochs={cfg.train.epochs}: {last} already holds {done} epochs; a resume can only "
                          f"extend a run (train.epochs >= {done})")
    return state


def check_resumable_config(saved: Path, cfg: RunConfig) -> None:
    """Refuse to resume the run of ``saved`` (its config.yaml) with a config that changes what it trains."""
    try:
        before = to_dict(parse_run_config(load_yaml(saved)))
    except VidsslError as err:
        raise VidsslError(f"{saved}: cannot read the run's config ({err}); it cannot be resumed") from None
    changes = run_folder.config_changes(before, to_dict(cfg))
    if changes:
        allowed = ", ".join(run_folder.RESUMABLE_KEYS + tuple(f"{s}*" for s in run_folder.RESUMABLE_SECTIONS))
        raise VidsslError(
            f"{saved}: --resume with a different config: {run_folder.describe_changes(changes)}; only {allowed} "
            f"may change on resume (start a new run with another --out)"
        )


@contextlib.contextmanager
def main_process_first():
    """Rank 0 runs the block first (generating data, filling caches); the others then reuse its work."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def random_init_backbone(cfg: RunConfig) -> torch.nn.Module:
    """The backbone a pretraining run with ``cfg`` starts from (same seed): the random-init baseline."""
    torch.manual_seed(cfg.train.seed)
    return build_model_backbone(cfg.model)


def save_backbone(path: Path, backbone: torch.nn.Module, *, name: str, width: float | None) -> None:
    """The exported representation: backbone name, width (None = builder default) and weights.

    Holds only strings, numbers and tensors, so it loads with ``weights_only=True``.
    """
    state = {"backbone": name, "width": width, "state_dict": backbone.state_dict()}
    save_checkpoint(path, state)


def load_backbone(path: str | Path) -> torch.nn.Module:
    """A backbone from ``backbone.pt`` or a run folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "backbone.pt"
    if not path.is_file():
        raise VidsslError(f"{path}: backbone file not found (give a run folder or its backbone.pt)")
    state = load_checkpoint(path)
    try:
        width = {} if state["width"] is None else {"width": state["width"]}
        backbone = build_backbone(state["backbone"], **width)
        weights = state["state_dict"]
    except VidsslError:
        raise
    except Exception as err:  # wrong keys or values
        raise VidsslError(f"{path}: not a vidssl backbone file ({type(err).__name__}: {err})") from None
    load_matching_state_dict(backbone, weights, source=str(path))
    return backbone
