"""``vidssl`` command line: synth | pretrain | eval | analyze | embed | search | quickstart | benchmark | export | info.

Bad input ends with one line ``error: …`` on stderr and exit code 2; ``--debug``
shows the traceback instead.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vidssl.errors import VidsslError


class ProtocolNames:
    """The ``vidssl eval`` protocols, read from their table only when argparse checks a name or prints help,
    so that building the parser (and ``vidssl --help``) imports no torch."""

    def names(self) -> tuple[str, ...]:
        from vidssl.recipes.protocols import PROTOCOLS

        return tuple(PROTOCOLS)

    def __contains__(self, name: object) -> bool:
        return name in self.names()

    def __iter__(self):
        return iter(self.names())


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, but ``key=value`` overrides may also come after the options.

    argparse stops filling a ``nargs="*"`` positional once an option follows it,
    so ``vidssl eval finetune random --config X eval.finetune.epochs=2`` would
    otherwise be refused; such trailing ``key=value`` words join ``overrides``.
    """
    args, extra = parser.parse_known_args(argv)
    stray = [word for word in extra if word.startswith("-") or "=" not in word or not hasattr(args, "overrides")]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    return args


def format_warning_as_one_line(message, category, filename, lineno, line=None) -> str:
    """``warning: …``, like ``error: …``, instead of Python's file:line and source-code form."""
    return f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    import warnings

    parser = make_parser()
    args = parse_args(parser, argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    previous_format = warnings.formatwarning
    if not args.debug:
        warnings.formatwarning = format_warning_as_one_line
    try:
        return int(args.run(args) or 0)
    except VidsslError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # an OS error no writer turned into a VidsslError: still one line, never a traceback
        if args.debug:
            raise
        print(f"error: {describe_os_error(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last finished epoch is in checkpoints/last.pt; rerun with --resume", file=sys.stderr)
        return 130
    finally:
        warnings.formatwarning = previous_format


def describe_os_error(err: OSError) -> str:
    """``PATH: reason`` of an OS error (``No space left on device``), or its text when it names no file."""
    reason = err.strerror or str(err) or type(err).__name__
    return f"{err.filename}: {reason}" if err.filename else reason


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidssl", description="Self-supervised video representation learning.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("synth", help="generate the SynthMotion dataset (UCF101 layout)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--per-class", type=int, default=24, help="videos per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--appearance-bias", type=float, default=0.0, help="P(actor takes its class's own look)")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(run=run_synth)

    p = sub.add_parser("pretrain", help="self-supervised pretraining from a YAML config")
    p.add_argument("config", help="YAML file or packaged config name (e.g. quickstart, transrank_t_r3d18)")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.lr=0.05")
    p.add_argument("--out", required=True, help="run folder (config.yaml, checkpoints/, logs/, backbone.pt)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in OUT from checkpoints/last.pt (the config may change only train.epochs, "
                        "train.workers, train.device, logging and eval settings)")
    p.add_argument("--force", action="store_true",
                   help="OUT holds a run: move it aside to OUT.old-<time> and start a new one (nothing is deleted)")
    p.set_defaults(run=run_pretrain)

    p = sub.add_parser("eval", help="evaluate a pretrained backbone: eval_<protocol>.json and plots/")
    p.add_argument("protocol", metavar="PROTOCOL", choices=ProtocolNames(), help="one of %(choices)s")
    p.add_argument("backbone", help="run folder, its backbone.pt or checkpoints/last.pt ('random' for a random init)")
    p.add_argument("--config", default=None, help="config for data/eval settings (default: the run's config.yaml)")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. eval.num_clips=5")
    p.add_argument("--out", default=None, help="folder for eval_<protocol>.json and plots/ (default: the run folder)")
    p.add_argument("--data", default=None, metavar="ROOT",
                   help="the protocol's videos (scenes: class folders as YUPENN; similarity: ASLAN videos); "
                        "default: the run's labelled data")
    p.add_argument("--format", default=None, help="dataset format of --data (folder, ucf101, hmdb51, ...)")
    p.add_argument("--annotations", default=None, help="split files of --data (similarity: split1..10.txt folder)")
    p.add_argument("--fuse", default=None, metavar="RUN2",
                   help="second stream's run folder (e.g. RGBDiff): score both streams and their average")
    p.set_defaults(run=run_eval)

    p = sub.add_parser("analyze", help="probe what a run learned (TransRank Fig. 4, 7) or draw STS labels (STS Fig. 9)")
    analyses = p.add_subparsers(dest="analysis", required=True)
    p = analyses.add_parser("speediness", help="speediness score s_2x - s_1x of clips at 0.5x/1x/2x/4x")
    p.add_argument("run_path", metavar="RUN", help="pretraining run folder or its checkpoints/last.pt")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides of the run's config (train.device=cpu)")
    p.add_argument("--data", default=None, help="root of labelled videos (default: the run's downstream data)")
    p.add_argument("--format", default=None, help="dataset format of --data (default: the run's)")
    p.add_argument("--annotations", default=None, help="split files of --data")
    p.add_argument("--split", default="test", help="split to analyse (default: test)")
    p.add_argument("--clips", type=int, default=4, help="clips per video and speed (default: 4)")
    p.add_argument("--out", default=None, help="folder for speediness.json and the plots (default: RUN/analysis)")
    p.set_defaults(run=run_analyze_speediness)
    p = analyses.add_parser("sts", help="draw a video's STS motion and appearance labels (STS paper Fig. 9)")
    p.add_argument("video", help="video file or folder of frame images")
    p.add_argument("--out", default=None, help="folder for one PNG per clip and labels.json (default: ./sts_<video>)")
    p.add_argument("--clips", type=int, default=None,
                   help="clips to draw, spread over the non-overlapping clips (default: all, at most 4)")
    p.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    p.add_argument("--size", type=int, default=112, help="square crop side, a multiple of 8 (default: 112)")
    p.add_argument("--resize", type=int, nargs=2, default=(128, 171), metavar=("H", "W"),
                   help="frame size before the crop (default: 128 171)")
    p.add_argument("--flow", default="dis_medium",
                   help="flow method: dis_medium (default), dis_fast, dis_ultrafast, farneback, tvl1")
    p.add_argument("--colour-bins", type=int, default=256,
                   help="histogram bins per channel of the colour-diversity IoU (default: 256, as the paper's code)")
    p.add_argument("--flip", action="store_true", help="random crop and flip (p = 0.5, from --seed) as in training")
    p.add_argument("--seed", type=int, default=0, help="seed of --flip's crop and flip (default: 0)")
    p.add_argument("--frame-template", default="img_{:05d}.jpg", help="file names of a frame folder's frames")
    p.set_defaults(run=run_analyze_sts)

    p = sub.add_parser("embed", help="one vector per video of a folder: features.npy + features.json index (resumable)")
    p.add_argument("ckpt", metavar="CKPT", help="run folder, its backbone.pt or checkpoints/last.pt")
    p.add_argument("videos_dir", metavar="VIDEOS_DIR", help="folder searched recursively for videos and frame folders")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. eval.pooling=vcop train.device=cpu")
    p.add_argument("--out", required=True, help="features file: .npy (.parquet with pyarrow); index: same name, .json")
    p.add_argument("--layer", default=None, help="backbone tap: stem, layer1..layer4 or pool (default: eval.layer)")
    p.add_argument("--clips", type=int, default=None, help="clips per video, averaged (default: eval.num_clips)")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: eval.frames)")
    p.add_argument("--size", type=int, default=None,
                   help="crop side; the short side is resized in the config's ratio (default: eval.size)")
    p.add_argument("--config", default=None, help="config of the eval settings (default: the run's config.yaml)")
    p.add_argument("--chunk", type=int, default=128, help="videos per resumable chunk (default: 128)")
    p.add_argument("--force", action="store_true",
                   help="recompute: ignore a finished OUT, discard partial work made with other settings")
    p.set_defaults(run=run_embed)

    p = sub.add_parser("search", help="nearest videos of a features.npy to a query video (cosine similarity)")
    p.add_argument("features", help="features file written by vidssl embed (its .json index next to it)")
    p.add_argument("query", metavar="QUERY_VIDEO", help="a video of the index, or any video file or frame folder")
    p.add_argument("-k", type=int, default=10, help="number of results (default: 10)")
    p.add_argument("--ckpt", default=None, help="checkpoint to embed a new query (default: the one the index records)")
    p.add_argument("--sheet", default=None, metavar="PNG", help="also draw a contact sheet of middle frames")
    p.set_defaults(run=run_search)

    p = sub.add_parser("quickstart", help="the 10-minute CPU demo: SynthMotion → TransRank-T → eval vs random init")
    p.add_argument("--out", default="vidssl-quickstart", help="output folder")
    p.add_argument("--config", default="quickstart", help="config (default: the packaged quickstart config)")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides")
    p.set_defaults(run=run_quickstart)

    p = sub.add_parser("benchmark", help="the CPU model zoo: every method's CPU preset x every protocol, one report")
    p.add_argument("--preset", default="cpu-small", help="packaged preset name or YAML file (default: cpu-small)")
    p.add_argument("--out", default="vidssl-benchmark", help="output folder (cells, runs, report.md, results.json)")
    p.add_argument("--seeds", default=None,
                   help="N for seeds 0..N-1, or a comma-separated list (1,2 or 3,) (default: the preset's)")
    p.add_argument("--only", default=None, metavar="ROW[,ROW]", help="run only these rows (the report lists all)")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides for every row, e.g. train.epochs=1")
    p.set_defaults(run=run_benchmark)

    p = sub.add_parser("export", help="a pretrained backbone as torchvision weights, TorchScript or ONNX")
    p.add_argument("ckpt", metavar="CKPT", help="run folder, backbone.pt, or RUN/checkpoints/last.pt")
    p.add_argument("--to", required=True, metavar="FORMAT", help="torchvision, torchscript or onnx")
    p.add_argument("--out", default=None,
                   help="output file (default: backbone_<FORMAT>.pt or backbone.onnx in the run)")
    p.add_argument("--frames", type=int, default=16, help="frames of the trace/check clip (default: 16)")
    p.add_argument("--size", type=int, default=112, help="side of the trace/check clip (default: 112)")
    p.add_argument("--num-classes", type=int, default=None,
                   help="--to torchvision: classes of the added, untrained classifier (default: 400)")
    p.set_defaults(run=run_export)

    p = sub.add_parser("info", help="versions, devices and packaged configs")
    p.set_defaults(run=run_info)
    return parser


def run_synth(args) -> int:
    from vidssl.data.synthmotion import generate_synthmotion

    out = generate_synthmotion(
        args.out, per_class=args.per_class, seed=args.seed, appearance_bias=args.appearance_bias, workers=args.workers
    )
    print(f"SynthMotion written to {out} (read it with format ucf101: root={out}/videos annotations={out}/splits)")
    return 0


def run_pretrain(args) -> int:
    from vidssl.engine.distributed import cleanup, is_main
    from vidssl.recipes.configs import load_run_config
    from vidssl.recipes.pretrain import pretrain

    if args.resume and args.force:
        raise VidsslError("--resume and --force exclude each other: continue the run, or move it aside and start anew")
    cfg = load_run_config(args.config, args.overrides)
    try:
        _, history = pretrain(cfg, args.out, resume=args.resume, force=args.force)
        main_process = is_main()
    finally:
        cleanup()  # leaves the process group torchrun made, if any
    if history and main_process:
        last = history[-1]
        print(f"done: {len(history)} epochs, last loss {last.get('loss', float('nan')):.4f}; "
              f"backbone in {Path(args.out) / 'backbone.pt'}")
    return 0


def run_eval(args) -> int:
    from vidssl.recipes.protocols.evaluate import evaluate_protocol

    results = evaluate_protocol(
        args.protocol, args.backbone, config=args.config, overrides=args.overrides, out=args.out, fuse=args.fuse,
        data=args.data, fmt=args.format, annotations=args.annotations,
    )
    print(json.dumps(results, indent=2))
    return 0


def run_analyze_speediness(args) -> int:
    from vidssl.cli.analyze import format_speediness_table
    from vidssl.recipes.analysis import speediness

    summary = speediness(
        args.run_path, data=args.data, fmt=args.format, annotations=args.annotations, split=args.split,
        clips=args.clips, out=args.out, overrides=args.overrides,
    )
    print(f"speediness of {summary['run']}: {summary['num_videos'] - summary['num_skipped']} {args.split} videos "
          f"({summary['num_skipped']} failed to decode), {summary['clips_per_video']} clips per video and speed")
    print(format_speediness_table(summary))
    print(f"wrote speediness.json, speediness.png, speediness_per_class.png to {summary['out']}")
    return 0


def run_analyze_sts(args) -> int:
    from vidssl.eval.analysis.sts_labels import draw_sts_labels as sts_command

    summary = sts_command(
        args.video, out=args.out, clips=args.clips, frames=args.frames, size=args.size, resize=tuple(args.resize),
        flow=args.flow, colour_bins=args.colour_bins, flip=args.flip, seed=args.seed,
        frame_template=args.frame_template,
    )
    for clip in summary["clips"]:
        motion, appearance = clip["motion"], clip["appearance"]
        print(f"clip frames {clip['start']}-{clip['frame_indices'][-1]}: f = {clip['difficulty']:.3f}, pattern 1 "
              f"u block {motion['p1_u_block']}, v block {motion['p1_v_block']}, most diverse block "
              f"{appearance['p1_diverse_block']} ({clip['colour_names']['p1_diverse_colour']}) -> {clip['png']}")
    print(f"wrote {len(summary['clips'])} PNGs and labels.json to {summary['out']} (labels 0-based; paper: +1)")
    return 0


def run_embed(args) -> int:
    from vidssl.cli.embed import format_embed_summary
    from vidssl.eval.embed import partial_dir
    from vidssl.recipes.embed import embed_folder

    try:
        summary = embed_folder(
            args.ckpt, args.videos_dir, out=args.out, layer=args.layer, clips=args.clips, frames=args.frames,
            size=args.size, config=args.config, overrides=args.overrides, chunk=args.chunk, force=args.force,
        )
    except KeyboardInterrupt:
        print(f"interrupted: finished chunks are in {partial_dir(Path(args.out))}; rerun the same command to "
              f"continue", file=sys.stderr)
        return 130
    print(format_embed_summary(summary))
    return 0


def run_search(args) -> int:
    from vidssl.cli.embed import format_search_table
    from vidssl.recipes.embed import search_videos

    summary = search_videos(args.features, args.query, k=args.k, ckpt=args.ckpt, sheet=args.sheet)
    print(format_search_table(summary))
    if summary["sheet"]:
        print(f"contact sheet: {summary['sheet']}")
    return 0


def run_quickstart(args) -> int:
    from vidssl.recipes.quickstart import quickstart, results_table, verdict

    results = quickstart(args.out, config=args.config, overrides=args.overrides)
    out = Path(args.out)
    print()
    print(results_table(results))
    print(verdict(results))
    print(f"\nwall time {results['wall_seconds']:.0f} s; report: {out / 'report.md'}; plots: {out / 'plots'}")
    return 0


def run_benchmark(args) -> int:
    from vidssl.cli.benchmark import benchmark_command, parse_seeds

    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    only = [name for name in args.only.split(",") if name] if args.only else None
    try:
        benchmark_command(args.preset, args.out, seeds=seeds, only=only, overrides=args.overrides)
    except KeyboardInterrupt:
        print(f"interrupted: finished cells are in {Path(args.out) / 'cells'}; rerun the same command to continue",
              file=sys.stderr)
        return 130
    return 0


def run_export(args) -> int:
    from vidssl.cli.export import format_export_summary
    from vidssl.recipes.export import export_backbone

    summary = export_backbone(
        args.ckpt, to=args.to, out=args.out, frames=args.frames, size=args.size, num_classes=args.num_classes
    )
    print("\n".join(format_export_summary(summary)))
    return 0


def run_info(args) -> int:
    import torch

    from vidssl import __version__
    from vidssl.recipes.configs import packaged_config_names

    print(f"vidssl {__version__}, torch {torch.__version__}, cuda available: {torch.cuda.is_available()}")
    print("packaged configs: " + ", ".join(packaged_config_names()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
