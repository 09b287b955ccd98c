"""The ``vidssl eval`` protocols: one record each, in one table.

A :class:`Protocol` names its runner (:mod:`vidssl.recipes.protocols.runners`),
the ``eval.*`` sub-sections holding its settings (their defaults are the config
dataclasses of :mod:`vidssl.config.schema`), the figures it may draw, where
``--data`` points it, whether ``--fuse`` and ``vidssl benchmark`` take it, and
what it reports. Every list of protocol names derives from :data:`PROTOCOLS`:
the CLI's choices (:data:`vidssl.recipes.protocol_names.PROTOCOL_NAMES`, checked
below), the benchmark's columns (:data:`BENCHMARK_PROTOCOLS`), the ``--fuse``
and ``--data`` rules of :mod:`vidssl.recipes.protocols.evaluate`.

The modules beside this one: ``configured`` (the eval library called with a run
config's settings, shared with quickstart and the benchmark), ``runners`` (one
function per protocol), ``fusion`` (two streams), ``evaluate`` (one protocol on
one run, results written).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vidssl.recipes.protocol_names import PROTOCOL_NAMES
from vidssl.recipes.protocols import runners


@dataclass(frozen=True)
class Protocol:
    """One ``vidssl eval`` protocol.

    ``subsections`` are the ``eval.<name>`` sections of its own settings; every
    protocol also reads ``eval``'s shared keys (clips, size, layer, batch size).
    ``figures`` are the PNG files in ``plots/`` it may draw (some only with some
    settings). ``data_section`` is where ``--data/--format/--annotations`` go.
    """

    name: str
    runner: Callable[..., dict]
    description: str
    subsections: tuple[str, ...]
    figures: tuple[str, ...]
    data_section: str = "eval"
    fusable: bool = False
    benchmarked: bool = False


PROTOCOLS: dict[str, Protocol] = {record.name: record for record in (
    Protocol("retrieval", runners.retrieval,
             "R@1/5/10/20/50 of test videos querying train videos, at eval.layer and per layer (STS Fig. 11), "
             "and a grid of queries with their 3 nearest videos (STS Fig. 12)",
             subsections=(), figures=("retrieval_recall.png", "retrieval_grid.png", "retrieval_per_layer.png"),
             fusable=True, benchmarked=True),
    Protocol("linear", runners.linear,
             "top-1 of a linear layer on the frozen backbone's z-scored features (CORP §4.1)",
             subsections=("linear",), figures=("linear_loss.png",), benchmarked=True),
    Protocol("finetune", runners.finetune,
             "video and clip accuracy of the finetuned backbone (TransRank Table 11); with lr_sweep every lr and "
             "the best (Fig. 5)",
             subsections=("finetune",), figures=("finetune_curves.png", "finetune_lr_sweep.png"),
             fusable=True, benchmarked=True),
    Protocol("semi", runners.semi,
             "finetuned video accuracy on class-balanced label subsets (CORP Table 3)",
             subsections=("finetune",), figures=("semi_accuracy.png",)),
    Protocol("sync", runners.temporal("sync"),
             "which of 7 shifts separates two clips, by an MLP on frozen layer4 (TransRank appendix A.1)",
             subsections=("temporal",), figures=("sync_loss.png",), benchmarked=True),
    Protocol("order", runners.temporal("order"),
             "whether a clip's two halves are in order, by an MLP on frozen layer4 (TransRank appendix A.1)",
             subsections=("temporal",), figures=("order_loss.png",), benchmarked=True),
    Protocol("motion", runners.motion,
             "5-way motion-type accuracy of the finetuned backbone (TransRank appendix A.1, Table 10)",
             subsections=("finetune",), figures=("motion_curves.png",), benchmarked=True),
    Protocol("scenes", runners.scenes,
             "dynamic scene recognition: per-layer features, leave-one-out linear SVM (STS §6.3)",
             subsections=("scenes",), figures=("scenes_confusion.png", "scenes_per_layer.png"),
             data_section="eval.scenes"),
    Protocol("similarity", runners.similarity,
             "action similarity (ASLAN): 36-d pair distances, linear SVM, 10 folds (STS §6.4)",
             subsections=("similarity",), figures=("similarity_roc.png",), data_section="eval.similarity"),
    Protocol("tsne", runners.tsne,
             "t-SNE maps of the test videos' features beside random init's, kNN label agreement (SRO Fig. 4)",
             subsections=(), figures=("tsne.png",)),
)}

if tuple(PROTOCOLS) != PROTOCOL_NAMES:
    raise ImportError(f"vidssl.recipes.protocol_names lists {PROTOCOL_NAMES}, the table {tuple(PROTOCOLS)}")

BENCHMARK_PROTOCOLS = tuple(name for name, record in PROTOCOLS.items() if record.benchmarked)
"""The protocols ``vidssl benchmark`` scores, in table order."""
