"""The runner of each ``vidssl eval`` protocol: run it on one backbone, return its JSON-ready results, draw its plots.

Every runner has the same shape, ``runner(cfg, backbone, run) -> dict``; the
dict holds the protocol's numbers and ``"plots"``, the PNG files it drew in
``run.plots``. :func:`vidssl.recipes.protocols.evaluate.evaluate_protocol`
writes it to ``eval_<protocol>.json``; :data:`PROTOCOLS`, at the end of this
file, pairs each runner with its name, settings and figures. Frozen-feature protocols
share ``run.cache``, so the features of one (weights, videos, clips, layer) are
computed once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vidssl.data.datasets import load_records
from vidssl.engine.distributed import resolve_device
from vidssl.errors import VidsslError
from vidssl.eval import plots
from vidssl.eval.features import extract_features
from vidssl.eval.motion_types import MOTION_TYPES
from vidssl.eval.retrieval import similarity_topk
from vidssl.recipes.data import build_reader
from vidssl.recipes.pretrain import random_init_backbone
from vidssl.recipes.protocols.configured import (
    drop_arrays,
    eval_clips,
    load_eval_data,
    motion_task_data,
    run_finetune,
    run_linear_probe,
    run_retrieval,
    run_temporal_task,
)
from vidssl.recipes.protocols.record import Protocol
from vidssl.recipes.run_config import RunConfig, eval_data_config

KS = (1, 5, 10, 20, 50)


@dataclass(frozen=True)
class EvalRun:
    """Where one evaluation writes (``out``, ``plots``), what its figures call the model, and the feature cache."""

    out: Path
    name: str
    cache: Any = None
    is_random: bool = False

    @property
    def plots(self) -> Path:
        return self.out / "plots"


def _plot_names(paths: list[Path], run: EvalRun) -> list[str]:
    return [Path(p).relative_to(run.out).as_posix() if Path(p).is_relative_to(run.out) else str(p) for p in paths]


def _extract(cfg: RunConfig, backbone, records, reader, clips, layers, run: EvalRun, progress: bool = True):
    e = cfg.eval
    return extract_features(
        backbone, records, reader, clips, layers=tuple(layers), pooling=e.pooling,
        device=resolve_device(cfg.train.device), batch_size=e.batch_size, workers=cfg.train.workers,
        progress=progress, cache=run.cache,
    )


# --------------------------------------------------------------------------- retrieval


def retrieval(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """R@k at ``eval.layer`` and per layer (STS Fig. 11), plus the qualitative grid of STS Fig. 12."""
    data = load_eval_data(cfg)
    results = run_retrieval(cfg, backbone, data, cache=run.cache)
    rows = retrieval_grid_rows(cfg, backbone, data, run)
    figures = [
        plots.plot_recall_bars({run.name: {f"R@{k}": results[f"R@{k}"] for k in KS if f"R@{k}" in results}},
                               run.plots / "retrieval_recall.png"),
        plots.plot_retrieval_grid(rows, run.plots / "retrieval_grid.png",
                                  title=f"{run.name}: test queries and their 3 nearest training videos"),
    ]
    if results.get("per_layer"):
        figures.append(plots.plot_layer_recall(results["per_layer"], run.plots / "retrieval_per_layer.png",
                                               title=f"{run.name}: R@k per layer"))
    results["grid"] = [
        {"query": row["query"]["path"], "label": row["query"]["label"],
         "results": [{"path": r["path"], "label": r["label"], "similarity": r["similarity"]} for r in row["results"]]}
        for row in rows
    ]
    results["plots"] = _plot_names(figures, run)
    return results


def grid_queries(labels: np.ndarray, valid: np.ndarray, count: int) -> list[int]:
    """Up to ``count`` test videos of different classes, classes spread evenly over the class list."""
    classes = np.unique(labels[valid])
    if count < 1 or classes.size == 0:
        return []
    picks = np.unique(np.linspace(0, classes.size - 1, min(count, classes.size)).round().astype(int))
    return [int(np.flatnonzero(valid & (labels == classes[i]))[0]) for i in picks]


def middle_frame(record, reader) -> np.ndarray:
    """The middle frame (H, W, 3) uint8 of a record, through the evaluation's reader."""
    return np.asarray(reader.read(record.path, np.array([record.num_frames // 2]))[0])


def retrieval_grid_rows(cfg: RunConfig, backbone, data: dict, run: EvalRun, k: int = 3) -> list[dict]:
    """Rows for :func:`vidssl.eval.plots.plot_retrieval_grid`: a few queries and their ``k`` nearest videos."""
    layer, clips = cfg.eval.layer, eval_clips(cfg)
    queries = _extract(cfg, backbone, data["test"], data["reader"], clips, [layer], run, progress=False)
    gallery = _extract(cfg, backbone, data["train"], data["reader"], clips, [layer], run, progress=False)
    chosen = grid_queries(queries.labels, queries.valid, cfg.eval.grid_queries)
    kept = np.flatnonzero(gallery.valid)
    if not chosen or kept.size == 0:
        return []
    sims, nearest = similarity_topk([(queries.by_layer[layer][chosen], gallery.by_layer[layer][kept])], k)
    names = data["classes"]
    rows = []
    for row, q in enumerate(chosen):
        query = data["test"][q]
        results = []
        for sim, g in zip(sims[row], kept[nearest[row]]):
            record = data["train"][g]
            results.append({"frame": middle_frame(record, data["reader"]), "label": names[record.label],
                            "similarity": float(sim), "path": record.path})
        rows.append({"query": {"frame": middle_frame(query, data["reader"]), "label": names[query.label],
                               "path": query.path}, "results": results})
    return rows


# --------------------------------------------------------------------------- linear probe, temporal tasks


def linear(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """CORP §4.1 linear probe on cached features; the plot is its training loss."""
    results = run_linear_probe(cfg, backbone, load_eval_data(cfg), cache=run.cache, run_dir=run.out / "linear")
    figure = plots.plot_curves(results["history"], ["loss"], run.plots / "linear_loss.png",
                               title=f"{run.name}: linear probe training loss ({cfg.eval.linear.mode})")
    if cfg.eval.linear.mode == "end_to_end":
        results["history"] = [{k: row[k] for k in ("epoch", "loss", "lr", "acc") if k in row}
                              for row in results["history"]]
    results["plots"] = _plot_names([figure], run)
    return results


def temporal(task: str):
    """The runner of TransRank appendix A.1's Sync or Order task."""

    def runner(cfg: RunConfig, backbone, run: EvalRun) -> dict:
        results = run_temporal_task(cfg, backbone, load_eval_data(cfg), task)
        figure = plots.plot_curves(results.pop("history"), ["loss"], run.plots / f"{task}_loss.png",
                                   title=f"{run.name}: {task} probe training loss (test accuracy "
                                         f"{100 * results['accuracy']:.1f} %, chance {100 * results['chance']:.1f} %)")
        results["plots"] = _plot_names([figure], run)
        return results

    runner.__name__ = task
    return runner


# --------------------------------------------------------------------------- finetuning


def _curves_plot(history: list[dict], path: Path, title: str) -> Path:
    has_test = any("test_video_acc" in row for row in history)
    return plots.plot_train_val_curves(history, path, title=title, train_key="acc",
                                       val_key="test_video_acc" if has_test else None)


def finetune(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """Finetuning (TransRank Table 11), at each lr of ``eval.finetune.lr_sweep`` when given (Fig. 5)."""
    data = load_eval_data(cfg)
    sweep = tuple(cfg.eval.finetune.lr_sweep)
    if not sweep:
        results = run_finetune(cfg, backbone, data, run.out / "finetune")
        figures = [_curves_plot(results["history"], run.plots / "finetune_curves.png",
                                f"{run.name}: finetune accuracy per epoch")]
        results = drop_arrays(results)
        results["plots"] = _plot_names(figures, run)
        return results
    by_lr = {}
    for lr in sweep:
        by_lr[lr] = run_finetune(cfg, backbone, data, run.out / f"finetune_lr{lr:g}", lr=lr)
    best = max(sweep, key=lambda lr: by_lr[lr]["video_acc"])
    figures = [
        plots.plot_lr_sweep({lr: r["video_acc"] for lr, r in by_lr.items()}, run.plots / "finetune_lr_sweep.png",
                            best=best, title=f"{run.name}: test video accuracy per finetuning lr"),
        _curves_plot(by_lr[best]["history"], run.plots / "finetune_curves.png",
                     f"{run.name}: finetune accuracy per epoch (lr {best:g})"),
    ]
    results = drop_arrays(dict(by_lr[best]))
    results.update(
        best_lr=best, plots=_plot_names(figures, run),
        lr_sweep={f"{lr:g}": {"video_acc": r["video_acc"], "clip_acc": r["clip_acc"]} for lr, r in by_lr.items()},
        selection="best test video accuracy over the sweep, as TransRank Fig. 5 plots it",
    )
    return results


def semi(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """Semi-supervised finetuning on class-balanced label subsets (CORP Table 3: 1 % and 10 %)."""
    data = load_eval_data(cfg)
    fractions = tuple(cfg.eval.finetune.semi_fractions)
    if not fractions:
        raise VidsslError("eval.finetune.semi_fractions: expected at least one label fraction in (0, 1], got none")
    by_fraction = {}
    for fraction in fractions:
        tuned = run_finetune(cfg, backbone, data, run.out / f"semi_{fraction:g}", label_fraction=fraction)
        by_fraction[f"{100 * fraction:g}%"] = {k: tuned[k] for k in ("video_acc", "clip_acc", "num_train_videos")}
    figure = plots.plot_protocol_bars(
        {run.name: {f"{name} labels": r["video_acc"] for name, r in by_fraction.items()}},
        run.plots / "semi_accuracy.png", title=f"{run.name}: finetuned on label subsets (CORP Table 3)",
        ylabel="test video accuracy (%)", as_percent=True,
    )
    return {"fractions": by_fraction, "num_test_videos": len(data["test"]), "plots": _plot_names([figure], run)}


def motion(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """TransRank appendix A.1's Motion task: finetune to 5 motion types (Table 10 for HMDB51)."""
    results = run_finetune(cfg, backbone, motion_task_data(cfg, load_eval_data(cfg)), run.out / "finetune_motion")
    figure = _curves_plot(results["history"], run.plots / "motion_curves.png",
                          f"{run.name}: motion-type finetune accuracy per epoch")
    results = drop_arrays(results)
    results.update(task="motion", types=list(MOTION_TYPES), plots=_plot_names([figure], run))
    return results


# --------------------------------------------------------------------------- SVM protocols, feature maps


def scene_data(cfg: RunConfig) -> dict:
    """The scene videos (``eval.scenes.root``, class folders as YUPENN) or, by default, all the run's labelled ones."""
    s = cfg.eval.scenes
    data_cfg = eval_data_config(cfg)
    if s.root is None:
        data = load_eval_data(cfg)
        return {"records": data["train"] + data["test"], "reader": data["reader"], "classes": data["classes"],
                "source": "the run's labelled videos (train + test)"}
    data_cfg = dataclasses.replace(data_cfg, format=s.format, root=s.root, annotations=s.annotations)
    records = []
    for split in ("train",) if s.format in ("folder", "csv") else ("train", "test"):  # a folder is one split
        listed, classes = load_records(s.format, s.root, split=split, annotations=s.annotations, labelled=True,
                                       frame_template=data_cfg.frame_template)
        records += listed
    reader, records = build_reader(data_cfg, records)
    return {"records": records, "reader": reader, "classes": classes, "source": s.root}


def sliding_clips(cfg: RunConfig, stride: int):
    """``eval`` clips placed every ``stride`` frames instead of ``num_clips`` of them (STS §6.3–6.4)."""
    return dataclasses.replace(eval_clips(cfg), stride=stride)


def scenes(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """Dynamic scene recognition (STS §6.3): sliding clips, per-layer features, leave-one-out linear SVM."""
    from vidssl.eval.dynamic_scenes import dynamic_scene_recognition

    s = cfg.eval.scenes
    data = scene_data(cfg)
    feats = _extract(cfg, backbone, data["records"], data["reader"], sliding_clips(cfg, s.stride), s.layers, run)
    valid = feats.valid
    results = dynamic_scene_recognition({k: v[valid] for k, v in feats.by_layer.items()}, feats.labels[valid],
                                        C=s.svm_c, progress=True)
    best = results["layers"][results["best_layer"]]
    figures = [
        plots.plot_confusion(np.asarray(best["confusion"]), data["classes"], run.plots / "scenes_confusion.png",
                             title=f"{run.name}: leave-one-out scene recognition, {results['best_layer']} "
                                   f"({100 * best['accuracy']:.1f} %)"),
        plots.plot_protocol_bars({run.name: {layer: r["accuracy"] for layer, r in results["layers"].items()}},
                                 run.plots / "scenes_per_layer.png", title=f"{run.name}: leave-one-out accuracy "
                                 "per layer", ylabel="accuracy (%)", as_percent=True),
    ]
    for layer_result in results["layers"].values():
        layer_result.pop("predictions", None)
    results.update(source=data["source"], skipped=int((~valid).sum()), stride=s.stride, plots=_plot_names(figures, run))
    return results


def similarity(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """Action similarity labelling (STS §6.4, ASLAN): 12 measures × 3 layers, z-scored, linear SVM, 10 folds."""
    from vidssl.eval import action_similarity as aslan

    s = cfg.eval.similarity
    records, reader, pairs, source = similarity_data(cfg)
    feats = _extract(cfg, backbone, records, reader, sliding_clips(cfg, s.stride), s.layers, run)
    keep = feats.valid[pairs.pairs].all(axis=1)
    if not keep.any():
        raise VidsslError("eval similarity: no pair whose two videos both decoded")
    pairs = dataclasses.replace(pairs, pairs=pairs.pairs[keep], same=pairs.same[keep], fold=pairs.fold[keep])
    results = aslan.action_similarity(feats.by_layer, pairs, C=s.svm_c)
    figure = plots.plot_roc({f"{run.name} ({', '.join(s.layers)})": {**results["roc"], "auc": results["auc"]}},
                            run.plots / "similarity_roc.png", title=f"{run.name}: same / not-same ROC, 10 folds")
    results.update(source=source, skipped_pairs=int((~keep).sum()), plots=_plot_names([figure], run))
    return results


def similarity_data(cfg: RunConfig):
    """(records, reader, AslanPairs, source) from the ASLAN files, or pairs drawn from the run's labelled videos."""
    from vidssl.eval import action_similarity as aslan

    s = cfg.eval.similarity
    if s.root is None:
        data = load_eval_data(cfg)
        records = data["train"] + data["test"]
        pairs, kept_apart = aslan.pairs_from_labels(
            np.array([r.label for r in records]), [r.path for r in records], pairs_per_fold=s.pairs_per_fold,
            seed=cfg.train.seed,
        )
        source = f"pairs drawn from the run's labelled videos (train + test), folds with disjoint {kept_apart}"
        return records, data["reader"], pairs, source
    if s.annotations is None:
        raise VidsslError("eval.similarity.annotations: give the folder of split1.txt .. split10.txt (and names.txt)")
    pairs = aslan.read_aslan_pairs(Path(s.annotations), Path(s.root))
    data_cfg = dataclasses.replace(eval_data_config(cfg), format="folder", root=s.root, annotations=None)
    records = aslan.probe_pair_videos(pairs.videos, frame_template=cfg.data.frame_template)
    reader, records = build_reader(data_cfg, records)
    return records, reader, pairs, s.annotations


def tsne(cfg: RunConfig, backbone, run: EvalRun) -> dict:
    """t-SNE feature maps of the test videos coloured by class (SRO Fig. 4), beside random init's."""
    from vidssl.eval.feature_map import feature_maps

    data = load_eval_data(cfg)
    layer = cfg.eval.layer
    models = {run.name: backbone} if run.is_random else {"random init": random_init_backbone(cfg), run.name: backbone}
    named = {}
    for name, model in models.items():
        feats = _extract(cfg, model, data["test"], data["reader"], eval_clips(cfg), [layer], run)
        named[name] = (feats.by_layer[layer][feats.valid], feats.labels[feats.valid])
    # one thread: on 2 loaded cores sklearn's default OpenMP threads were 30x slower (150 points: 22 s vs 0.65 s)
    maps = feature_maps(named, seed=cfg.train.seed, perplexity=cfg.eval.tsne_perplexity, threads=1)
    figure = plots.plot_feature_maps(
        {n: (m["embedding"], m["labels"]) for n, m in maps.items()}, data["classes"], run.plots / "tsne.png",
        title=f"t-SNE of {layer} features of the test videos",
        agreement={n: m["neighbour_agreement"] for n, m in maps.items()},
    )
    return {
        "layer": layer,
        "models": {n: {"neighbour_agreement": m["neighbour_agreement"], "num_videos": int(len(m["labels"]))}
                   for n, m in maps.items()},
        "chance_agreement": float(np.mean(np.bincount(named[run.name][1]) / len(named[run.name][1]))),
        "plots": _plot_names([figure], run),
    }


# The table: one record per protocol, in the order `vidssl eval --help` lists them and the benchmark's
# columns follow. Adding a protocol is its runner above and its record here (docs/ADDING.md).
PROTOCOLS: dict[str, Protocol] = {record.name: record for record in (
    Protocol("retrieval", retrieval,
             "R@1/5/10/20/50 of test videos querying train videos, at eval.layer and per layer (STS Fig. 11), "
             "and a grid of queries with their 3 nearest videos (STS Fig. 12)",
             subsections=(), figures=("retrieval_recall.png", "retrieval_grid.png", "retrieval_per_layer.png"),
             fusable=True, benchmarked=True),
    Protocol("linear", linear,
             "top-1 of a linear layer on the frozen backbone's z-scored features (CORP §4.1)",
             subsections=("linear",), figures=("linear_loss.png",), benchmarked=True),
    Protocol("finetune", finetune,
             "video and clip accuracy of the finetuned backbone (TransRank Table 11); with lr_sweep every lr and "
             "the best (Fig. 5)",
             subsections=("finetune",), figures=("finetune_curves.png", "finetune_lr_sweep.png"),
             fusable=True, benchmarked=True),
    Protocol("semi", semi,
             "finetuned video accuracy on class-balanced label subsets (CORP Table 3)",
             subsections=("finetune",), figures=("semi_accuracy.png",)),
    Protocol("sync", temporal("sync"),
             "which of 7 shifts separates two clips, by an MLP on frozen layer4 (TransRank appendix A.1)",
             subsections=("temporal",), figures=("sync_loss.png",), benchmarked=True),
    Protocol("order", temporal("order"),
             "whether a clip's two halves are in order, by an MLP on frozen layer4 (TransRank appendix A.1)",
             subsections=("temporal",), figures=("order_loss.png",), benchmarked=True),
    Protocol("motion", motion,
             "5-way motion-type accuracy of the finetuned backbone (TransRank appendix A.1, Table 10)",
             subsections=("finetune",), figures=("motion_curves.png",), benchmarked=True),
    Protocol("scenes", scenes,
             "dynamic scene recognition: per-layer features, leave-one-out linear SVM (STS §6.3)",
             subsections=("scenes",), figures=("scenes_confusion.png", "scenes_per_layer.png"),
             data_section="eval.scenes"),
    Protocol("similarity", similarity,
             "action similarity (ASLAN): 36-d pair distances, linear SVM, 10 folds (STS §6.4)",
             subsections=("similarity",), figures=("similarity_roc.png",), data_section="eval.similarity"),
    Protocol("tsne", tsne,
             "t-SNE maps of the test videos' features beside random init's, kNN label agreement (SRO Fig. 4)",
             subsections=(), figures=("tsne.png",)),
)}

BENCHMARK_PROTOCOLS = tuple(name for name, record in PROTOCOLS.items() if record.benchmarked)
"""The protocols ``vidssl benchmark`` scores, in table order."""
