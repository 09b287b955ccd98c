"""What each CLI command does, as plain functions the CLI and the tests call."""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch
import yaml

from vidssl.cli import build
from vidssl.config.loading import apply_overrides, from_dict, load_config_with_base, load_yaml, to_dict
from vidssl.config.schema import DataConfig, RunConfig
from vidssl.engine import run_folder
from vidssl.engine.checkpoint import load_checkpoint, load_matching_state_dict, save_checkpoint
from vidssl.engine.distributed import barrier, init_distributed, is_main
from vidssl.engine.trainer import fit
from vidssl.errors import VidsslError
from vidssl.fileio import make_output_dir, write_text_atomic
from vidssl.models import build_backbone

PACKAGED_CONFIGS = Path(__file__).resolve().parent.parent / "configs"
BENCHMARK_FOLDER = "benchmark"  # configs/benchmark/ holds `vidssl benchmark` presets, which are not run configs


def packaged_config_names() -> list[str]:
    """Names of the packaged run configs, sub-folders included (``quickstart``, ``table3/rank_1x_2x``); the
    benchmark presets under ``benchmark/`` are left out."""
    names = (p.relative_to(PACKAGED_CONFIGS).with_suffix("").as_posix() for p in PACKAGED_CONFIGS.rglob("*.yaml"))
    return sorted(name for name in names if not name.startswith(f"{BENCHMARK_FOLDER}/"))


def resolve_config_path(name: str, folder: Path | None = None) -> Path:
    """A config path (relative to ``folder`` first, if given), or the name of a packaged config (``quickstart``)."""
    path = Path(name)
    for candidate in ([folder / path] if folder is not None and not path.is_absolute() else []) + [path]:
        if candidate.is_file():
            return candidate
    packaged = PACKAGED_CONFIGS / path.with_suffix(".yaml")
    if not path.is_absolute() and packaged.is_file():
        if path.parts[0] == BENCHMARK_FOLDER:
            raise VidsslError(f"{name}: a benchmark preset, not a run config (run it with vidssl benchmark --preset)")
        return packaged
    raise VidsslError(f"{name}: config file not found{closest_config_names(name)}")


def closest_config_names(name: str) -> str:
    """``; did you mean quickstart?`` for a mistyped packaged config name, else where the names are listed."""
    import difflib

    close = difflib.get_close_matches(Path(name).with_suffix("").as_posix(), packaged_config_names(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"{hint} (vidssl info lists the packaged configs)"


def load_run_config(name: str, overrides: list[str] = ()) -> RunConfig:
    path = resolve_config_path(name)
    data = load_config_with_base(path, resolve_config_path)
    if not data:  # an empty file would silently train every default (R3D-18 on SynthMotion)
        raise VidsslError(f"{path}: empty config; expected sections such as data, model, method, train "
                          f"(or 'base: NAME' to extend a packaged config)")
    data = apply_overrides(data, list(overrides))
    return from_dict(RunConfig, data)


def write_yaml_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def pretrain(cfg: RunConfig, run_dir: str | Path, *, resume: bool = False, force: bool = False):
    """Pretrain ``cfg.method`` on ``cfg.data``; writes config.yaml, checkpoints, logs and backbone.pt.

    A folder that already holds a run is never overwritten: ``resume`` continues
    it (refused if the config changes what the model is, or if there is no run
    to resume), ``force`` first moves it aside to ``RUN.old-<time>``; otherwise
    this raises. On resume nothing in the folder changes until the checkpoint
    has loaded into the model.

    SRO with ``method.view_synthesis: stage`` first trains the view generator in
    ``RUN/view_synthesis`` (resumed with the run); with a path it reuses that
    finished stage. The ``sro_view_synthesis`` stage also writes
    ``plots/view_synthesis.png``, input frames above their synthesised views.
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
    """:func:`pretrain` once the run folder has been checked: data, model, the optional view stage, then ``fit``."""
    generator_checkpoint = view_generator_checkpoint(cfg, run_dir, resume=resume)
    with main_process_first():
        records, _ = build.build_records(cfg.data)
        reader, records = build.build_reader(cfg.data, records)
    with main_process_first():  # STS's curriculum scores are computed (and cached) once
        dataset = build.build_pretext_dataset(cfg, records, reader, progress=is_main())
    torch.manual_seed(cfg.train.seed)  # the same initial weights as `random_init_backbone`
    backbone = build.build_model_backbone(cfg.model)
    method = build.build_method(
        cfg.method, backbone, modality=cfg.model.modality, view=cfg.view, clip_frames=cfg.clip.frames
    )
    if generator_checkpoint is not None:
        load_view_generator(method, generator_checkpoint)
    if checkpoint is not None:
        load_matching_state_dict(method, checkpoint["model"], source=f"checkpoint {run_dir / run_folder.CHECKPOINT}")
    if is_main():
        write_yaml_atomic(run_dir / "config.yaml", to_dict(cfg))
    history = fit(method, dataset, cfg=cfg.train, run_dir=run_dir, resume=checkpoint is not None)
    if is_main():
        save_backbone(run_dir / "backbone.pt", method.backbone, name=cfg.model.backbone, width=cfg.model.width)
        if cfg.method.name == "sro_view_synthesis":
            path = save_view_grid(method, dataset, run_dir / "plots" / "view_synthesis.png", modality=cfg.model.modality)
            print(f"view synthesis: input vs synthesised frames in {path}", flush=True)
    return method, history


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
            raise VidsslError(f"{run_dir} has no {run_folder.CHECKPOINT} to resume from (but {', '.join(markers[1:])}); "
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
        before = to_dict(from_dict(RunConfig, load_yaml(saved)))
    except VidsslError as err:
        raise VidsslError(f"{saved}: cannot read the run's config ({err}); it cannot be resumed") from None
    changes = run_folder.config_changes(before, to_dict(cfg))
    if changes:
        allowed = ", ".join(run_folder.RESUMABLE_KEYS + tuple(f"{s}*" for s in run_folder.RESUMABLE_SECTIONS))
        raise VidsslError(
            f"{saved}: --resume with a different config: {run_folder.describe_changes(changes)}; only {allowed} "
            f"may change on resume (start a new run with another --out)"
        )


def view_stage_config(cfg: RunConfig) -> RunConfig:
    """The ``sro_view_synthesis`` run an SRO config implies: same data, clips and backbone; the ``view`` epochs and lr."""
    data = to_dict(cfg)
    data["method"]["name"] = "sro_view_synthesis"
    data["method"]["view_synthesis"] = "none"
    data["train"]["epochs"] = cfg.view.epochs
    data["train"]["lr"] = cfg.view.lr
    return from_dict(RunConfig, data)


def view_generator_checkpoint(cfg: RunConfig, run_dir: Path, *, resume: bool) -> Path | None:
    """Where SRO's view generator comes from: None (no view synthesis), the stage run here, or a given run."""
    if cfg.method.name != "sro" or cfg.method.view_synthesis == "none":
        return None
    if cfg.method.view_synthesis == "stage":
        stage_dir = run_dir / "view_synthesis"
        if is_main():
            print(f"view-synthesis stage: {cfg.view.epochs} epochs in {stage_dir}", flush=True)
        pretrain(view_stage_config(cfg), stage_dir, resume=resume and run_folder.holds_run(stage_dir))
        return stage_dir / "checkpoints" / "last.pt"
    path = Path(cfg.method.view_synthesis)
    checkpoint = path / "checkpoints" / "last.pt" if path.is_dir() else path
    if not checkpoint.is_file():
        raise VidsslError(
            f"method.view_synthesis={cfg.method.view_synthesis!r}: expected 'none', 'stage' or a finished "
            f"sro_view_synthesis run (folder with checkpoints/last.pt, or the .pt)"
        )
    return checkpoint


def load_view_generator(method: torch.nn.Module, checkpoint: Path) -> None:
    """Copy the trained VAE G of a view-synthesis checkpoint into ``method.view_generator`` (frozen there)."""
    state = load_checkpoint(checkpoint)
    prefix = "generator."
    weights = {k[len(prefix):]: v for k, v in state.get("model", {}).items() if k.startswith(prefix)}
    if not weights:
        raise VidsslError(f"{checkpoint}: no view generator weights (expected a sro_view_synthesis checkpoint)")
    try:
        method.view_generator.load_state_dict(weights)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise VidsslError(f"{checkpoint}: view generator does not match the config's view sizes ({first})") from None


def save_view_grid(method: torch.nn.Module, dataset, path: Path, *, modality: str, samples: int = 4) -> Path:
    """Input frames and their synthesised views for the first ``samples`` videos (epoch 0's clips)."""
    from vidssl.data.transforms import to_model_input
    from vidssl.eval.plots import plot_view_grid
    from vidssl.methods.view_synthesis import denormalize_clip

    clips = torch.stack([dataset[i]["clips"][0] for i in range(min(samples, len(dataset)))])
    device = next(method.parameters()).device
    views = method.synthesize(to_model_input(clips.to(device), modality)).cpu()
    inputs = clips[:, :, -views.shape[2]:]  # RGBDiff: the frames the differences end on
    shown = denormalize_clip(views) if modality == "rgb" else (views * 0.225 + 0.5)
    return plot_view_grid(inputs, shown.clamp(0, 1), path, title=f"view synthesis ({modality})")


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
    return build.build_model_backbone(cfg.model)


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


def eval_data_config(cfg: RunConfig) -> DataConfig:
    """The labelled downstream dataset: ``eval.format/root`` if set, else the pretraining data."""
    data = DataConfig(**{**to_dict(cfg.data), "labelled": True})
    if cfg.eval.format:
        data.format, data.root, data.annotations = cfg.eval.format, cfg.eval.root, cfg.eval.annotations
        data.split_id = cfg.eval.split_id
    return data
