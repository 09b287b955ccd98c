"""Nearest-neighbour video retrieval: top-k recall with cosine similarity.

Protocol (VCOP ``retrieve_clips.py``, TransRank §5.3 / appendix C, STS §6.2;
see ALGORITHMS.md §5.2): every test video queries every training video; a
query is a hit at ``k`` when ANY of its ``k`` most similar training videos
shares its class. ``R@k`` = hits / number of queries, a float in [0, 1].

Two modalities (TransRank Table 12, e.g. RGB + RGBDiff) are combined by
averaging their cosine-similarity matrices: :func:`retrieval_recall_multi` on
features, :func:`evaluate_retrieval_streams` on one backbone per stream.

The search is exact and works on blocks of at most ``chunk`` queries, so a
100k x 100k retrieval never holds the whole similarity matrix: per block, the
similarities to the whole gallery, the ``max(ks)`` best gallery indices, their
labels, and the hits. A block is also kept within :data:`BLOCK_BYTES` of
float32 similarities (fewer queries per block for a large gallery: 671 for
100k gallery videos), and one buffer (two with a duplicated gallery, below) is
reused for every block. The products go through numpy's BLAS (its own threads,
e.g. ``OPENBLAS_NUM_THREADS``), the top-k selection through torch's.

Ties: gallery items with equal similarity are ranked lower gallery index first
(a stable order), so results do not depend on the block size or on
``torch.topk``'s internal order. For that, equal gallery items must get equal
similarities, and a BLAS product does not promise it: the cosine of a query to
two identical gallery rows can differ in the last bit depending on the rows'
positions and on the block's shape (one-row blocks go through a matrix-vector
kernel). With a duplicated gallery, the top-10 ranking changed with ``chunk``
(1, 3, 7, 64, all) in 173 of 200 random 21 × 53 problems (64-d, every item of
the first half repeated in the second), and R@k in 25. So the gallery is
deduplicated first (:func:`distinct_gallery_rows`): items whose features are
bitwise equal in every modality (−0.0 counted as 0.0) share one computed
column, copied to each of them, and their ties are exact. Finding them costs
an exact 64-bit fingerprint of each row (integer arithmetic, so equal rows
always agree) and a sort of the fingerprints, ~3 ms for 10k × 512 (under 1 %
of the search); without duplicates nothing else changes. (Computing in float64 or rounding would only
make a position-dependent last bit rarer, not impossible.)

``k`` larger than the gallery is clamped to the gallery size (then R@k =
R@len(gallery)); the key stays ``"R@k"`` as asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from vidssl.checks import ArgumentError, check_positive_int
from vidssl.errors import VidsslError
from vidssl.eval.features import EvalClips, Features, extract_features

DEFAULT_KS = (1, 5, 10, 20, 50)

#: At most this many bytes of float32 similarities per block of queries: ``chunk``
#: is lowered to ``BLOCK_BYTES // (4 * gallery size)`` queries (at least 1) when
#: that is smaller. 256 MiB keeps a 100k x 100k retrieval of 512-d features at
#: ~1.6 GiB of peak process memory (torch included), and larger blocks are at
#: most ~5% faster (``benchmarks/eval_speed.py``).
BLOCK_BYTES = 256 * 2**20

FeaturePair = tuple[Any, Any]


def _as_float_matrix(feats: Any, name: str) -> torch.Tensor:
    """Turn a (N, D) array or tensor into a float32 CPU tensor, rejecting bad shapes/values."""
    tensor = torch.as_tensor(np.asarray(feats) if not torch.is_tensor(feats) else feats)
    if tensor.ndim != 2:
        raise VidsslError(f"{name}: expected a 2-D (num_videos, dim) feature matrix, got shape {tuple(tensor.shape)}")
    if tensor.shape[0] == 0:
        raise VidsslError(f"{name}: expected at least one video, got none")
    tensor = tensor.detach().to(device="cpu", dtype=torch.float32)
    if not torch.isfinite(tensor).all():
        raise VidsslError(f"{name}: features contain NaN or infinite values")
    return tensor


def _as_labels(labels: Any, count: int, name: str) -> torch.Tensor:
    """Turn labels into a 1-D int64 tensor of length ``count``."""
    tensor = torch.as_tensor(np.asarray(labels)).reshape(-1)
    if tensor.shape[0] != count:
        raise VidsslError(f"{name}: expected {count} labels (one per video), got {tensor.shape[0]}")
    if tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
        raise VidsslError(f"{name}: expected integer class labels, got dtype {tensor.dtype}")
    return tensor.to(torch.int64)


def _checked_pairs(pairs: Sequence[FeaturePair]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Each modality's (query, gallery) as float32 CPU matrices; check counts and dims agree."""
    if len(pairs) == 0:
        raise VidsslError("retrieval: expected at least one (query_feats, gallery_feats) pair, got none")
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    for m, (query, gallery) in enumerate(pairs):
        q = _as_float_matrix(query, f"query features of modality {m}")
        g = _as_float_matrix(gallery, f"gallery features of modality {m}")
        if q.shape[1] != g.shape[1]:
            raise VidsslError(
                f"modality {m}: query features have dim {q.shape[1]} but gallery features have dim {g.shape[1]}"
            )
        if out and (q.shape[0] != out[0][0].shape[0] or g.shape[0] != out[0][1].shape[0]):
            raise VidsslError(
                f"modality {m}: expected {out[0][0].shape[0]} queries and {out[0][1].shape[0]} gallery videos "
                f"like modality 0, got {q.shape[0]} and {g.shape[0]}"
            )
        out.append((q, g))
    return out


FINGERPRINT_ROWS = 1024
"""Gallery rows per step of :func:`row_fingerprints` (bounds its temporary copy to a few MiB)."""


def canonical_bits(rows: np.ndarray) -> np.ndarray:
    """float32 ``rows`` (N, D) as uint32 bit patterns (N, D + D % 2), −0.0 made +0.0, padded to an even width."""
    out = np.zeros((rows.shape[0], rows.shape[1] + rows.shape[1] % 2), dtype=np.float32)
    np.add(rows, np.float32(0.0), out=out[:, : rows.shape[1]])  # −0.0 + 0.0 = +0.0
    return out.view(np.uint32)


def row_fingerprints(rows: np.ndarray, seed: int) -> np.ndarray:
    """(N,) uint64 Σ_j word_j · m_j (mod 2^64) over each row's 64-bit words, m_j random odd (from ``seed``).

    Integer arithmetic: bitwise-equal rows (−0.0 = 0.0) get equal fingerprints
    wherever they sit; unequal rows collide with probability ~2^-64 per pair.
    """
    words = (rows.shape[1] + 1) // 2
    multipliers = np.random.default_rng(seed).integers(0, 2**63, size=words, dtype=np.uint64) * 2 + 1
    out = np.empty(rows.shape[0], dtype=np.uint64)
    for start in range(0, rows.shape[0], FINGERPRINT_ROWS):
        block = canonical_bits(rows[start : start + FINGERPRINT_ROWS]).view(np.uint64)
        out[start : start + FINGERPRINT_ROWS] = np.einsum("ij,j->i", block, multipliers)
    return out


def distinct_gallery_rows(galleries: Sequence[torch.Tensor]) -> torch.Tensor | None:
    """Where each gallery item's features first occur: ``first_copy`` (G,) int64, or None if all items differ.

    Items are equal when their rows are bitwise equal (−0.0 = 0.0) in every
    modality of ``galleries`` (G, D_m). ``first_copy[j]`` is the lowest index
    with item j's features. Fingerprints (:func:`row_fingerprints`) find the
    candidates; only rows sharing a fingerprint are compared in full.
    """
    arrays = [gallery.numpy() for gallery in galleries]
    fingerprints = np.zeros(len(arrays[0]), dtype=np.uint64)
    for modality, rows in enumerate(arrays):
        fingerprints += row_fingerprints(rows, seed=modality)
    _, slot, counts = np.unique(fingerprints, return_inverse=True, return_counts=True)
    candidates = np.flatnonzero(counts[slot.reshape(-1)] > 1)
    if len(candidates) == 0:
        return None
    joint = np.ascontiguousarray(np.concatenate([canonical_bits(a[candidates]) for a in arrays], axis=1))
    as_bytes = joint.view(np.dtype((np.void, joint.shape[1] * joint.itemsize))).reshape(-1)
    _, first_in_candidates, group = np.unique(as_bytes, return_index=True, return_inverse=True)
    first_copy = np.arange(len(arrays[0]))
    first_copy[candidates] = candidates[first_in_candidates[group.reshape(-1)]]
    if (first_copy == np.arange(len(first_copy))).all():  # fingerprint collisions only
        return None
    return torch.from_numpy(first_copy)


class _Search(NamedTuple):
    """Normalised features to search: queries and the distinct gallery rows per modality, and how to expand them.

    ``pairs``: ``[(queries (Q, D_m), distinct gallery rows (U, D_m))]``, L2-normalised;
    ``column_of``: (G,) the column of each gallery item among the U distinct rows,
    or None when U = G (no duplicates); ``num_gallery``: G.
    """

    pairs: list[tuple[torch.Tensor, torch.Tensor]]
    column_of: torch.Tensor | None
    num_gallery: int


def _prepared_search(pairs: Sequence[FeaturePair]) -> _Search:
    """Checked pairs with duplicated gallery items merged (:func:`distinct_gallery_rows`), then L2-normalised."""
    checked = _checked_pairs(pairs)
    num_gallery = checked[0][1].shape[0]
    first_copy = distinct_gallery_rows([gallery for _, gallery in checked])
    column_of = None
    if first_copy is not None:
        kept = torch.unique(first_copy)  # sorted: the distinct rows in gallery order
        column_of = torch.searchsorted(kept, first_copy)
        checked = [(query, gallery[kept]) for query, gallery in checked]
    normalised = [(F.normalize(query, dim=1), F.normalize(gallery, dim=1)) for query, gallery in checked]
    return _Search(normalised, column_of, num_gallery)


def _stable_topk(sim: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` columns of each row of ``sim``, best first, ties broken by lower column index.

    ``torch.topk`` picks the right values but not a defined order among equal
    ones: take its unsorted top ``k + 1`` (one more than asked, when there is
    one) and sort that by (-value, index). A row whose (k+1)-th best value
    equals its k-th (a tie across the cut, so which tied items were kept is
    arbitrary) is redone with a full stable sort, which is rare for real features.
    """
    kept = min(k + 1, sim.shape[1])
    values, indices = torch.topk(sim, kept, dim=1, largest=True, sorted=False)
    indices, by_index = torch.sort(indices, dim=1)
    values = torch.gather(values, 1, by_index)
    values, by_value = torch.sort(values, dim=1, descending=True, stable=True)
    indices = torch.gather(indices, 1, by_value)
    if kept == k:  # the whole row was kept: no cut, no tie across it
        return values, indices

    tied_across_cut = (values[:, k] == values[:, k - 1]).nonzero().flatten()
    values, indices = values[:, :k].contiguous(), indices[:, :k].contiguous()
    if tied_across_cut.numel():
        full_values, full_indices = torch.sort(sim[tied_across_cut], dim=1, descending=True, stable=True)
        values[tied_across_cut] = full_values[:, :k]
        indices[tied_across_cut] = full_indices[:, :k]
    return values, indices


def _similarity_block(
    pairs: list[tuple[torch.Tensor, torch.Tensor]], start: int, stop: int, buffer: torch.Tensor
) -> torch.Tensor:
    """Cosine similarities of queries ``start:stop`` to the whole gallery, averaged over modalities.

    Written into the first ``stop - start`` rows of ``buffer`` (no new block-sized tensor per block).
    The first modality's product goes through numpy's BLAS (OpenBLAS in the numpy wheels, with its
    own thread count): ~1.5x torch's MKL sgemm on AMD CPUs, the bulk of the retrieval time. Further
    modalities are accumulated in place (``addmm_``), so they need no second block either.
    """
    block = buffer[: stop - start]
    np.matmul(pairs[0][0][start:stop].numpy(), pairs[0][1].numpy().T, out=block.numpy())
    for query, gallery in pairs[1:]:
        block.addmm_(query[start:stop], gallery.T)
    if len(pairs) > 1:
        block /= len(pairs)
    return block


def _similarity_blocks(search: _Search, chunk: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """(start, stop, similarities (stop − start, G)) for each block of queries, in order.

    ``chunk`` queries per block, lowered so the block's float32 similarities —
    to the distinct rows, plus their copy to every gallery item when there are
    duplicates — fit :data:`BLOCK_BYTES`. The buffers are reused for every block.
    """
    num_queries, num_distinct = search.pairs[0][0].shape[0], search.pairs[0][1].shape[0]
    per_query = num_distinct + (search.num_gallery if search.column_of is not None else 0)
    rows = max(1, min(chunk, num_queries, BLOCK_BYTES // (4 * per_query)))
    buffer = torch.empty(rows, num_distinct, dtype=torch.float32)
    column_of = search.column_of
    expanded = None if column_of is None else torch.empty(rows, search.num_gallery, dtype=torch.float32)
    for start in range(0, num_queries, rows):
        stop = min(start + rows, num_queries)
        block = _similarity_block(search.pairs, start, stop, buffer)
        if column_of is not None and expanded is not None:
            # every copy of a gallery item gets its distinct row's very value
            block = torch.index_select(block, 1, column_of, out=expanded[: stop - start])
        yield start, stop, block


def similarity_topk(
    pairs: Sequence[FeaturePair], k: int, *, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` most similar gallery items for every query.

    ``pairs`` is a list of ``(query_feats (Q, D_m), gallery_feats (G, D_m))``,
    one pair per modality; the similarity used is the mean over modalities of
    the cosine similarities (TransRank appendix C.2). ``k`` is clamped to G.

    Returns ``(similarities float32 (Q, k), gallery_indices int64 (Q, k))``,
    best first, equal similarities ordered by lower gallery index.
    """
    check_positive_int("k", k)
    check_positive_int("chunk", chunk)
    search = _prepared_search(pairs)
    k = min(k, search.num_gallery)
    all_values, all_indices = [], []
    with torch.inference_mode():
        for _, _, block in _similarity_blocks(search, chunk):
            values, indices = _stable_topk(block, k)
            all_values.append(values)
            all_indices.append(indices)
    return torch.cat(all_values).numpy(), torch.cat(all_indices).numpy()


def _check_ks(ks: Sequence[int]) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks or min(ks) < 1:
        raise ArgumentError("ks", f"expected a non-empty list of positive integers, got {ks}")
    return ks


def retrieval_recall_multi(
    pairs: Sequence[FeaturePair],
    query_labels: Any,
    gallery_labels: Any,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    chunk: int = 4096,
) -> dict[str, float]:
    """R@k with the similarity averaged over several modalities (TransRank Table 12).

    ``pairs``: ``[(query_feats (Q, D_m), gallery_feats (G, D_m)), ...]``.
    Returns ``{"R@k": fraction of queries with a same-class item among their k
    nearest gallery items}`` for each k in ``ks``.
    """
    ks = _check_ks(ks)
    check_positive_int("chunk", chunk)
    search = _prepared_search(pairs)
    num_queries, num_gallery = search.pairs[0][0].shape[0], search.num_gallery
    q_labels = _as_labels(query_labels, num_queries, "query labels")
    g_labels = _as_labels(gallery_labels, num_gallery, "gallery labels")
    kmax = min(max(ks), num_gallery)
    hits = torch.zeros(len(ks), dtype=torch.int64)
    with torch.inference_mode():
        for start, stop, block in _similarity_blocks(search, chunk):
            _, indices = _stable_topk(block, kmax)
            same_class = g_labels[indices] == q_labels[start:stop, None]
            hit_within = same_class.cummax(dim=1).values  # [:, j] = a match among the first j+1
            for i, k in enumerate(ks):
                hits[i] += int(hit_within[:, min(k, num_gallery) - 1].sum())
    return {f"R@{k}": float(hits[i]) / num_queries for i, k in enumerate(ks)}


def retrieval_recall(
    query_feats: Any,
    query_labels: Any,
    gallery_feats: Any,
    gallery_labels: Any,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    chunk: int = 4096,
) -> dict[str, float]:
    """R@k of cosine-similarity retrieval, one modality (VCOP / TransRank / STS protocol).

    ``query_feats`` (Q, D) with ``query_labels`` (Q,) search ``gallery_feats``
    (G, D) with ``gallery_labels`` (G,). Returns ``{"R@1": ..., "R@5": ...}``,
    each the fraction of queries whose class appears among the labels of their
    k nearest gallery items. Exact; memory O(min(chunk x G, BLOCK_BYTES)) beyond the features.
    """
    return retrieval_recall_multi(
        [(query_feats, gallery_feats)], query_labels, gallery_labels, ks=ks, chunk=chunk
    )


def evaluate_retrieval(
    backbone: torch.nn.Module,
    train_records: Sequence[Any],
    test_records: Sequence[Any],
    reader: Any,
    clips: EvalClips = EvalClips(),
    *,
    layer: str = "pool",
    pooling: str = "avg",
    ks: Sequence[int] = DEFAULT_KS,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    chunk: int = 4096,
    progress: bool = True,
    coarse_labels: Sequence[int] | None = None,
    per_layer: Sequence[str] = (),
    cache: Any = None,
) -> dict[str, Any]:
    """Video retrieval: test videos query train videos (VCOP split-1 protocol, ALGORITHMS.md §5.2).

    Features of ``layer`` (pooled by ``pooling``) averaged over the
    ``clips.num_clips`` clips of each video (:func:`vidssl.eval.features.extract_features`); videos
    that fail to decode are left out of both sides. Returns the ``"R@k"``
    recalls plus ``"num_queries"`` and ``"num_gallery"`` (videos actually used).

    ``coarse_labels[c]`` maps class ``c`` to a coarser group (SynthMotion's
    motion types, TransRank's motion task): the same neighbours are then also
    scored at that level, as ``"coarse": {"R@k": ...}`` (a hit = a neighbour
    of the query's group).

    ``per_layer`` taps (e.g. ``layer3``, ``layer4``, ``pool``: STS Fig. 11)
    are extracted in the same pass and scored too, as ``"per_layer": {tap: R@k}``.
    ``cache``: a :class:`vidssl.eval.feature_cache.FeatureCache` for the features.
    """
    return evaluate_retrieval_streams(
        {"single": (backbone, clips)}, train_records, test_records, reader, layer=layer, pooling=pooling, ks=ks,
        device=device, batch_size=batch_size, workers=workers, chunk=chunk, progress=progress,
        coarse_labels=coarse_labels, per_layer=per_layer, cache=cache,
    )["fused"]


def evaluate_retrieval_streams(
    streams: Mapping[str, tuple[torch.nn.Module, EvalClips]],
    train_records: Sequence[Any],
    test_records: Sequence[Any],
    reader: Any,
    *,
    layer: str = "pool",
    pooling: str = "avg",
    ks: Sequence[int] = DEFAULT_KS,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 2,
    chunk: int = 4096,
    progress: bool = True,
    coarse_labels: Sequence[int] | None = None,
    per_layer: Sequence[str] = (),
    cache: Any = None,
) -> dict[str, Any]:
    """Multi-stream retrieval, e.g. RGB + RGBDiff (TransRank §5.3 "R + RD", appendix C.2, Table 12).

    ``streams`` maps a name to ``(backbone, clips)``: each backbone sees its
    own clips (``clips.modality``). Each stream's video features are computed
    as in :func:`evaluate_retrieval`; the fused similarity of two videos is the
    mean over streams of their cosine similarities (:func:`retrieval_recall_multi`).
    A video that fails to decode in any stream is left out of every score, so
    the per-stream and fused recalls count the same videos.

    Returns ``{"streams": {name: recalls of that stream alone}, "fused": recalls
    of the averaged similarity}``, each as :func:`evaluate_retrieval` returns
    them (``"R@k"``, ``"num_queries"``, ``"num_gallery"``, and ``"coarse"`` when
    ``coarse_labels`` is given); ``per_layer`` adds ``"per_layer": {tap: R@k}``
    to each (the fused similarity of that tap in every stream).
    """
    if len(streams) == 0:
        raise VidsslError("retrieval streams: expected at least one (backbone, clips) stream, got none")
    layers = tuple(dict.fromkeys((layer, *per_layer)))
    common = dict(layers=layers, pooling=pooling, device=device, batch_size=batch_size, workers=workers,
                  progress=progress, cache=cache)
    features = {
        name: _retrieval_features(backbone, train_records, test_records, reader, clips, common)
        for name, (backbone, clips) in streams.items()
    }
    query_valid = np.logical_and.reduce([queries.valid for queries, _ in features.values()])
    gallery_valid = np.logical_and.reduce([gallery.valid for _, gallery in features.values()])
    for what, valid in (("test (query)", query_valid), ("train (gallery)", gallery_valid)):
        if not valid.any():
            raise VidsslError(f"retrieval streams: no {what} video decoded in every stream")

    def layer_pairs(tap: str) -> dict[str, FeaturePair]:
        return {
            name: (queries.by_layer[tap][query_valid], gallery.by_layer[tap][gallery_valid])
            for name, (queries, gallery) in features.items()
        }

    pairs = layer_pairs(layer)
    queries, gallery = next(iter(features.values()))  # labels come from the records: the same in every stream
    to_group = None if coarse_labels is None else _coarse_map(coarse_labels, _num_classes(queries, gallery))
    score = partial(
        _scored_recalls,
        query_labels=queries.labels[query_valid], gallery_labels=gallery.labels[gallery_valid], ks=ks, chunk=chunk,
        to_group=to_group,
    )
    fused = score(list(pairs.values()))
    by_tap = {tap: layer_pairs(tap) for tap in per_layer}
    if per_layer:
        fused["per_layer"] = {tap: score(list(p.values())) for tap, p in by_tap.items()}
    if len(pairs) == 1:  # one stream: its recalls are the fused ones, no need to score twice
        return {"streams": {name: fused for name in pairs}, "fused": fused}
    streams_scored = {name: score([pair]) for name, pair in pairs.items()}
    for name, scored in streams_scored.items():
        if per_layer:
            scored["per_layer"] = {tap: score([p[name]]) for tap, p in by_tap.items()}
    return {"streams": streams_scored, "fused": fused}


def _retrieval_features(
    backbone: torch.nn.Module,
    train_records: Sequence[Any],
    test_records: Sequence[Any],
    reader: Any,
    clips: EvalClips,
    common: dict[str, Any],
) -> tuple[Features, Features]:
    """(query = test, gallery = train) features of one backbone, checked: some decoded, all labelled."""
    gallery = extract_features(backbone, train_records, reader, clips, **common)
    queries = extract_features(backbone, test_records, reader, clips, **common)
    for name, feats in (("train (gallery)", gallery), ("test (query)", queries)):
        if not feats.valid.any():
            raise VidsslError(f"retrieval: every {name} video failed to decode")
        if (feats.labels[feats.valid] < 0).any():
            raise VidsslError(f"retrieval: {name} videos must be labelled, found label -1")
    return queries, gallery


def _num_classes(queries: Features, gallery: Features) -> int:
    return int(max(gallery.labels.max(), queries.labels.max())) + 1


def _scored_recalls(
    pairs: Sequence[FeaturePair],
    query_labels: np.ndarray,
    gallery_labels: np.ndarray,
    *,
    ks: Sequence[int],
    chunk: int,
    to_group: np.ndarray | None,
) -> dict[str, Any]:
    """R@k of ``pairs`` (similarity averaged over them), the video counts, and ``"coarse"`` R@k by ``to_group``."""
    recalls: dict[str, Any] = retrieval_recall_multi(pairs, query_labels, gallery_labels, ks=ks, chunk=chunk)
    recalls["num_queries"] = int(len(query_labels))
    recalls["num_gallery"] = int(len(gallery_labels))
    if to_group is not None:
        recalls["coarse"] = retrieval_recall_multi(
            pairs, to_group[query_labels], to_group[gallery_labels], ks=ks, chunk=chunk
        )
    return recalls


def _coarse_map(coarse_labels: Sequence[int], num_classes: int) -> np.ndarray:
    """``coarse_labels`` as an int64 array, checked to cover every class label seen."""
    to_group = np.asarray(coarse_labels, dtype=np.int64)
    if to_group.ndim != 1 or len(to_group) < num_classes:
        raise VidsslError(
            f"retrieval coarse_labels: expected one group per class ({num_classes} classes), got {len(to_group)}"
        )
    return to_group
