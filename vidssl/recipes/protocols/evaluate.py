"""``vidssl eval PROTOCOL RUN``: one protocol on one backbone, ``eval_<protocol>.json`` and plots/ written.

RUN is a pretraining run (:class:`vidssl.recipes.run.Run`: its folder,
backbone.pt or checkpoints/last.pt), whose config.yaml supplies the data and
eval settings unless ``config`` is given, or ``"random"`` (a random init of
``config``'s backbone). With ``fuse`` (a second run) the protocol runs on two
streams and their fusion (:mod:`vidssl.recipes.protocols.fusion`).
"""
from __future__ import annotations

from pathlib import Path

from vidssl.errors import VidsslError
from vidssl.fileio import make_output_dir, write_json_atomic
from vidssl.recipes.configs import load_run_config
from vidssl.recipes.pretrain import random_init_backbone
from vidssl.recipes.protocols import PROTOCOLS, Protocol
from vidssl.recipes.protocols.configured import drop_arrays, feature_cache, load_eval_data
from vidssl.recipes.protocols.fusion import RunStream, load_fuse_stream, run_fused
from vidssl.recipes.protocols.runners import EvalRun
from vidssl.recipes.run import Run
from vidssl.recipes.run_config import RunConfig

EVAL_SOURCES = "expected a run folder of vidssl pretrain, its backbone.pt or checkpoints/last.pt, or 'random'"


def evaluate_protocol(
    protocol: str, source: str, *, config: str | None, overrides: list[str], out: str | None,
    fuse: str | None = None, data: str | None = None, fmt: str | None = None, annotations: str | None = None,
) -> dict:
    """Run one protocol of :data:`PROTOCOLS` on ``source`` and write ``eval_<protocol>.json`` + plots/ into
    ``out`` (default: the run folder). Returns the results written."""
    record = find_protocol(protocol)
    run = None if source == "random" else Run.resolve(source, expected=EVAL_SOURCES)
    if config is None:
        if run is None:
            raise VidsslError("eval random: give --config for the backbone and data settings")
        config = str(run_config_path(run, source))
    if run is not None:
        refuse_model_overrides(overrides, source)
    if fuse is not None and not record.fusable:
        fusable = " and ".join(name for name, other in PROTOCOLS.items() if other.fusable)
        raise VidsslError(f"eval {protocol}: --fuse works with {fusable} only")
    cfg = load_run_config(config, [*overrides, *data_overrides(protocol, data, fmt, annotations)])
    backbone = random_init_backbone(cfg) if run is None else run.load_backbone()
    second = load_fuse_stream(fuse) if fuse is not None else None  # checked before the data is read
    out_dir = make_output_dir(Path(out) if out else run.folder if run is not None else Path("."))
    if second is not None:
        first = RunStream(source, "random" if run is None else run.name, cfg.model.modality, backbone)
        return evaluate_fused(protocol, cfg, [first, second], out_dir)
    eval_run = EvalRun(
        out=out_dir, name="random init" if run is None else run.name, cache=feature_cache(cfg), is_random=run is None,
    )
    results = record.runner(cfg, backbone, eval_run)
    results["protocol"] = protocol
    write_json_atomic(out_dir / f"eval_{protocol}.json", results, indent=2)
    return results


def evaluate_fused(protocol: str, cfg: RunConfig, streams: list[RunStream], out_dir: Path) -> dict:
    """``protocol`` on both streams and on their fusion, written to ``eval_<protocol>_fused_<second run>.json``."""
    results = run_fused(protocol, cfg, streams, load_eval_data(cfg), out_dir)
    for stream_results in results["streams"].values():
        drop_arrays(stream_results)
    write_json_atomic(out_dir / f"eval_{protocol}_fused_{streams[1].name}.json", results, indent=2)
    return results


def find_protocol(name: str) -> Protocol:
    """The record of protocol ``name``, or an error listing the protocols there are."""
    if name not in PROTOCOLS:
        raise VidsslError(f"eval {name}: unknown protocol; expected one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def run_config_path(run: Run, source: str) -> Path:
    """The ``config.yaml`` of the run, or an error saying plainly that ``source`` is not a run."""
    if not run.has_config:
        raise VidsslError(f"{source}: not a run folder (no config.yaml in {run.folder}); {EVAL_SOURCES}, "
                          f"or pass --config")
    return run.config_path


def refuse_model_overrides(overrides: list[str], source: str) -> None:
    """A trained run's backbone is what its run trained: ``model.*`` overrides would describe another one."""
    fixed = [o for o in overrides if o.split("=", 1)[0].startswith("model.")]
    if fixed:
        raise VidsslError(f"{fixed[0]}: the backbone of {source} is what its run trained (model.* comes from "
                          f"the run); override data, eval or train.device/workers settings only")


def data_overrides(protocol: str, data: str | None, fmt: str | None, annotations: str | None) -> list[str]:
    """``--data/--format/--annotations`` as overrides of the protocol's own dataset keys.

    Scenes and similarity read their own datasets (``eval.scenes.*``,
    ``eval.similarity.*``); every other protocol reads ``eval.root/format/annotations``.
    """
    section = find_protocol(protocol).data_section
    if fmt is not None and section == "eval.similarity":
        raise VidsslError("eval similarity: --format does not apply (ASLAN pairs files name the videos)")
    if data is not None and fmt is None and section == "eval":
        raise VidsslError(f"eval {protocol} --data: also give --format (folder, ucf101, hmdb51, kinetics, sthsth, csv)")
    pairs = [("root", data), ("format", fmt), ("annotations", annotations)]
    overrides = [f"{section}.{key}={value}" for key, value in pairs if value is not None]
    if data is not None and annotations is None and section != "eval.similarity":
        overrides.append(f"{section}.annotations=null")  # the run's own split files belong to the run's data
    return overrides
