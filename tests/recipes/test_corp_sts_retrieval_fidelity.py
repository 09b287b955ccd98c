"""Fidelity pass: CORP's eq. (3) placement and pair classifier, STS's triplet ties, retrieval ties.

- CORP sampler (eq. 3): the starts have exactly the distribution of rejection
  sampling conditioned on validity, and the even placement is used only when no
  valid placement exists.
- CORP pair classifier (eqs. 2, 4): ``concat`` (the paper's plain MLP on the
  relation vector) is the default; ``symmetric`` is swap-equivariant.
- STS ``dominant_colour="triplet"``: ties go to the smallest B-major key, as the
  official ``np.ravel_multi_index((b, g, r))`` + ``bincount().argmax()``.
- Retrieval: duplicated gallery rows rank by gallery index whatever the block size.
"""
from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chi2_contingency, chisquare

from vidssl.data.sampling import clip_span, corp_clip_starts, corp_min_offset
from vidssl.data.statistics import COLOUR_NAMES, appearance_statistics
from vidssl.errors import VidsslError
from vidssl.eval.retrieval import retrieval_recall, retrieval_recall_multi, similarity_topk
from vidssl.methods.corp import CORP
from vidssl.models import build_backbone
from vidssl.models.relation import PairClassifier
from vidssl.recipes.configs import load_run_config, parse_run_config
from vidssl.recipes.pretrain import build_method

# ---------------------------------------------------------------- item 7: CORP placement (eq. 3)

P_VALUE_FLOOR = 1e-3
"""Under the null hypothesis a p-value is uniform on [0, 1]: a correct sampler fails one of these checks
with probability 1e-3 per seed. The seeds are fixed, so the tests are deterministic; the power check below
shows the floor still rejects the capped sampler this replaces."""


def pairwise_gaps_ok(starts, delta: float) -> bool:
    return all(abs(int(a) - int(b)) >= delta for a, b in itertools.combinations(starts, 2))


def valid_placement_exists(num_frames: int, clip_len: int, dilation: int, num_clips: int) -> bool:
    """Oracle: evenly spread starts maximise the smallest integer gap, floor(room / (K − 1))."""
    room = num_frames - clip_span(clip_len, dilation)
    delta = corp_min_offset(num_frames, clip_len=clip_len, dilation=dilation, num_clips=num_clips)
    return room >= 0 and room // (num_clips - 1) >= delta


def valid_ordered_starts(num_frames: int, clip_len: int, dilation: int, num_clips: int) -> list[tuple[int, ...]]:
    """Every K-tuple of starts in [0, room] whose pairs are all at least Δ apart (brute force)."""
    room = num_frames - clip_span(clip_len, dilation)
    delta = corp_min_offset(num_frames, clip_len=clip_len, dilation=dilation, num_clips=num_clips)
    return [t for t in itertools.product(range(room + 1), repeat=num_clips) if pairwise_gaps_ok(t, delta)]


def rejection_draws(num_frames, clip_len, dilation, num_clips, count, rng) -> list[tuple[int, ...]]:
    """The paper's procedure with no cap: K independent uniform starts, redrawn until valid (vectorised)."""
    room = num_frames - clip_span(clip_len, dilation)
    delta = corp_min_offset(num_frames, clip_len=clip_len, dilation=dilation, num_clips=num_clips)
    kept: list[tuple[int, ...]] = []
    while len(kept) < count:
        proposals = rng.integers(0, room + 1, size=(200_000, num_clips))
        gaps = np.abs(proposals[:, :, None] - proposals[:, None, :])
        off_diagonal = ~np.eye(num_clips, dtype=bool)
        accepted = proposals[(gaps[:, off_diagonal] >= delta).all(axis=1)]
        kept += [tuple(row) for row in accepted.tolist()]
    return kept[:count]


def capped_rejection_draws(num_frames, clip_len, dilation, num_clips, count, rng, tries=100):
    """The replaced sampler, for the power check only: the first valid of 100 draws, else the even placement."""
    room = num_frames - clip_span(clip_len, dilation)
    delta = corp_min_offset(num_frames, clip_len=clip_len, dilation=dilation, num_clips=num_clips)
    proposals = rng.integers(0, room + 1, size=(count, tries, num_clips))
    gaps = np.abs(proposals[..., :, None] - proposals[..., None, :])
    valid = (gaps[..., ~np.eye(num_clips, dtype=bool)] >= delta).all(axis=-1)
    chosen = proposals[np.arange(count), valid.argmax(axis=1)]
    chosen[~valid.any(axis=1)] = np.arange(num_clips) * room // (num_clips - 1)
    return [tuple(row) for row in chosen.tolist()]


def uniformity_p_value(draws, cells) -> float:
    counts = Counter(draws)
    return float(chisquare([counts[c] for c in cells]).pvalue)


CASES = [(27, 16, 1, 4), (29, 8, 2, 4)]  # Δ = 2.75 and 3.25, 360 valid ordered tuples each


@pytest.mark.parametrize(("frames", "clip_len", "dilation", "clips"), CASES)
def test_starts_are_distributed_as_rejection_sampling_conditioned_on_validity(frames, clip_len, dilation, clips):
    cells = valid_ordered_starts(frames, clip_len, dilation, clips)
    draws_per_cell = 100  # expected count per cell: the χ² approximation needs >= 5
    rng = np.random.default_rng(frames)
    ours = []
    for _ in range(draws_per_cell * len(cells)):
        starts, fell_back = corp_clip_starts(frames, clip_len=clip_len, dilation=dilation, num_clips=clips, rng=rng)
        assert not fell_back
        ours.append(tuple(starts.tolist()))
    reference = rejection_draws(frames, clip_len, dilation, clips, len(ours), np.random.default_rng(1))
    assert set(ours) == set(cells) == set(reference)  # same support: every valid ordered tuple, nothing else
    # the conditional distribution of rejection sampling is uniform over the valid ordered tuples
    assert uniformity_p_value(ours, cells) > P_VALUE_FLOOR
    assert uniformity_p_value(reference, cells) > P_VALUE_FLOOR
    ours_counts, reference_counts = Counter(ours), Counter(reference)
    table = [[ours_counts[c] for c in cells], [reference_counts[c] for c in cells]]
    assert chi2_contingency(table).pvalue > P_VALUE_FLOOR  # the two samplers agree with each other
    # power: the capped sampler it replaces (18 % / 49 % even placements here) fails the same check
    capped = capped_rejection_draws(frames, clip_len, dilation, clips, 10 * len(cells), np.random.default_rng(2))
    assert uniformity_p_value(capped, cells) < P_VALUE_FLOOR


def corp_m_sampling_defaults() -> tuple[int, int, int]:
    """(clip_len, dilation, K) of the CORP_m paper preset (Something-Something V2)."""
    cfg = load_run_config("corp_m_r3d50")
    return cfg.clip.frames, cfg.clip.base_interval, cfg.method.num_clips


def test_corp_m_defaults_never_fall_back_on_something_something_lengths():
    clip_len, dilation, clips = corp_m_sampling_defaults()
    assert (clip_len, dilation, clips) == (16, 1, 4)
    rng = np.random.default_rng(0)
    fallbacks = 0
    for frames in range(24, 73):
        delta = corp_min_offset(frames, clip_len=clip_len, dilation=dilation, num_clips=clips)
        for _ in range(40):
            starts, fell_back = corp_clip_starts(
                frames, clip_len=clip_len, dilation=dilation, num_clips=clips, rng=rng
            )
            fallbacks += fell_back
            assert pairwise_gaps_ok(starts, delta)
    assert fallbacks == 0  # with 100 tries then the even placement: 51 % of draws (15-73 % per length from 29)


def test_fallback_only_when_no_valid_placement_exists():
    rng = np.random.default_rng(3)
    for frames, clip_len, dilation, clips in itertools.product(range(1, 81), (4, 8, 16), (1, 2), (2, 3, 4, 5)):
        exists = valid_placement_exists(frames, clip_len, dilation, clips)
        delta = corp_min_offset(frames, clip_len=clip_len, dilation=dilation, num_clips=clips)
        for _ in range(5):
            starts, fell_back = corp_clip_starts(
                frames, clip_len=clip_len, dilation=dilation, num_clips=clips, rng=rng
            )
            assert fell_back == (not exists), (frames, clip_len, dilation, clips)
            assert len(set(starts.tolist())) == clips  # always distinct: every pair keeps a true order
            if exists:
                assert pairwise_gaps_ok(starts, delta) and starts.min() >= 0
                assert starts.max() <= frames - clip_span(clip_len, dilation)


# ---------------------------------------------------------------- item 8: CORP pair classifier (eqs. 2, 4)

DIM, HEADS = 6, 4
SWAPPED_CLASSES = {3: [0, 2, 1], 2: [1, 0]}  # P1 stays, P2 <-> P3; (earlier, later) -> (later, earlier)


def generic_classifier(num_classes: int, attention: str, pair_classifier: str, seed: int) -> PairClassifier:
    """Every parameter redrawn from N(0, 1) in float64: generic weights, no accidental symmetry."""
    classifier = PairClassifier(
        DIM, num_classes, attention=attention, heads=HEADS, mlp_layers=2, hidden=5, pair_classifier=pair_classifier
    ).double()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in classifier.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return classifier


def clip_features(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 7, DIM, generator=generator, dtype=torch.float64).unbind(0)


@pytest.mark.parametrize("attention", ["decoupling", "mixed"])
@pytest.mark.parametrize("num_classes", [2, 3])
def test_concat_classifier_is_a_plain_mlp_whose_logits_change_when_the_clips_swap(num_classes, attention):
    classifier = generic_classifier(num_classes, attention, "concat", seed=num_classes)
    z_i, z_j = clip_features(seed=10)
    forward, swapped = classifier(z_i, z_j), classifier(z_j, z_i)
    assert forward.shape == (7, num_classes)
    torch.testing.assert_close(forward, classifier.mlp(classifier.relation(z_i, z_j)))  # eq. (2) / (4)
    assert (swapped - forward[:, SWAPPED_CLASSES[num_classes]]).abs().min() > 1e-6  # no pair is equivariant
    assert (swapped - forward).abs().min() > 1e-6


@pytest.mark.parametrize("attention", ["decoupling", "mixed"])
@pytest.mark.parametrize("num_classes", [2, 3])
def test_symmetric_classifier_logits_are_exactly_swap_equivariant(num_classes, attention):
    classifier = generic_classifier(num_classes, attention, "symmetric", seed=num_classes)
    z_i, z_j = clip_features(seed=11)
    forward, swapped = classifier(z_i, z_j), classifier(z_j, z_i)
    torch.testing.assert_close(swapped, forward[:, SWAPPED_CLASSES[num_classes]], rtol=1e-12, atol=1e-12)
    assert (forward[:, -1] - forward[:, -2]).abs().min() > 1e-6  # the order logits still depend on the order


def test_concat_is_the_default_and_the_config_key_reaches_the_classifier():
    assert PairClassifier(DIM, 3, heads=HEADS).pair_classifier == "concat"
    assert parse_run_config({"method": {"name": "corp_m"}}).method.pair_classifier == "concat"
    for preset in ("corp_m_r3d50", "corp_f_r3d50", "corp_ablation/mixed_attention", "corp_ablation/mlp1"):
        assert load_run_config(preset).method.pair_classifier == "concat", preset
    backbone = build_backbone("tiny", width=0.125)
    for name, choice in (("corp_m", "symmetric"), ("corp_f", "symmetric"), ("corp_m", "concat")):
        cfg = parse_run_config({"method": {"name": name, "pair_classifier": choice, "relation_heads": 8}})
        method = build_method(cfg, backbone)
        assert isinstance(method, CORP) and method.classifier.pair_classifier == choice
    with pytest.raises(VidsslError, match="^method.pair_classifier: "):
        build_method(parse_run_config({"method": {"name": "corp_m", "pair_classifier": "sum"}}), backbone)


# ---------------------------------------------------------------- item 9: STS triplet ties

S, T = 32, 4  # pattern-1 blocks of 8 x 8 pixels


def official_triplet_colour(pixels_rgb: np.ndarray) -> int:
    """The official rule, literally: ravel_multi_index over (b, g, r), bincount, argmax, then the 8-bin table."""
    r, g, b = (pixels_rgb[:, c].astype(np.int64) for c in range(3))
    mode = int(np.bincount(np.ravel_multi_index((b, g, r), (256, 256, 256))).argmax())
    b_mode, g_mode, r_mode = np.unravel_index(mode, (256, 256, 256))
    high = {"r": r_mode >= 128, "g": g_mode >= 128, "b": b_mode >= 128}
    table = {  # ALGORITHMS.md §1.7, (R, G, B) high? -> colour
        (False, False, True): "blue", (False, True, True): "cyan", (True, False, True): "magenta",
        (True, True, True): "white", (False, False, False): "black", (False, True, False): "green",
        (True, False, False): "red", (True, True, False): "yellow",
    }
    return COLOUR_NAMES.index(table[(bool(high["r"]), bool(high["g"]), bool(high["b"]))])


def test_triplet_tie_goes_to_the_smallest_b_major_key():
    # block 0: half the pixels (R, G, B) = (0, 0, 200), half (200, 0, 0): a tie of two triplets.
    # R-major keys: the blue one (0·2^16 + 200) is smaller; B-major keys: the red one (200) is smaller.
    frames = np.random.default_rng(0).integers(0, 256, (T, S, S, 3), dtype=np.uint8)
    frames[:, 0:4, 0:8] = (0, 0, 200)
    frames[:, 4:8, 0:8] = (200, 0, 0)
    stats = appearance_statistics(frames, dominant_colour="triplet")
    assert stats.colours[0] == COLOUR_NAMES.index("red") == official_triplet_colour(frames[:, :8, :8].reshape(-1, 3))
    # the whole clip: the same tie (every other pixel random, so seen at most a few times)
    frames[:, : S // 2] = (0, 0, 200)
    frames[:, S // 2 :] = (200, 0, 0)
    assert appearance_statistics(frames, dominant_colour="triplet").labels[12] == COLOUR_NAMES.index("red")


def test_triplet_colours_of_noisy_blocks_match_the_official_rule():
    # 4 levels per channel: 64 triplets over 256 pixels per block, so the mode is often tied
    levels = np.array([0, 100, 160, 255], dtype=np.uint8)
    frames = levels[np.random.default_rng(5).integers(0, 4, (T, S, S, 3))]
    stats = appearance_statistics(frames, dominant_colour="triplet")
    block = S // 4
    expected = [
        official_triplet_colour(frames[:, r * block : (r + 1) * block, c * block : (c + 1) * block].reshape(-1, 3))
        for r in range(4) for c in range(4)
    ]
    assert stats.colours[:16].tolist() == expected
    assert stats.labels[12] == official_triplet_colour(frames.reshape(-1, 3))


# ---------------------------------------------------------------- item 13: retrieval ties

CHUNKS = (1, 3, 7, 64, 10_000)
KS = (1, 5, 10)


def exact_cosines(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Cosines from correctly rounded float64 sums of the normalised rows' exact products: equal rows, equal values."""
    qn = query / np.linalg.norm(query, axis=1, keepdims=True)
    gn = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    return np.array([[math.fsum(np.asarray(a, np.float64) * b) for b in gn] for a in qn])


def reference_ranking(sim: np.ndarray, k: int) -> np.ndarray:
    return np.array([sorted(range(sim.shape[1]), key=lambda j: (-row[j], j))[:k] for row in sim])


def reference_recall(ranking: np.ndarray, query_labels, gallery_labels) -> dict[str, float]:
    hits = gallery_labels[ranking] == np.asarray(query_labels)[:, None]
    return {f"R@{k}": float(hits[:, :k].any(axis=1).mean()) for k in KS}


def duplicated_gallery_problem(seed: int, num_q: int = 21, num_g: int = 53, dim: int = 64, classes: int = 6):
    """Random queries; a gallery whose second half repeats its first half (so half the items have a twin)."""
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(num_q, dim)).astype(np.float32)
    half = rng.normal(size=((num_g + 1) // 2, dim)).astype(np.float32)
    gallery = np.concatenate([half, half])[:num_g]
    return query, rng.integers(0, classes, num_q), gallery, rng.integers(0, classes, num_g)


@pytest.mark.parametrize("seed", range(12))
def test_duplicated_gallery_rows_rank_by_index_whatever_the_block_size(seed):
    query, query_labels, gallery, gallery_labels = duplicated_gallery_problem(seed)
    expected = reference_ranking(exact_cosines(query, gallery), 10)
    expected_recall = reference_recall(expected, query_labels, gallery_labels)
    for chunk in CHUNKS:
        values, indices = similarity_topk([(query, gallery)], 10, chunk=chunk)
        np.testing.assert_array_equal(indices, expected, err_msg=f"chunk {chunk}")
        assert retrieval_recall(query, query_labels, gallery, gallery_labels, ks=KS, chunk=chunk) == expected_recall
        twins = np.abs(indices[:, :, None] - indices[:, None, :]) == len(gallery) // 2 + 1
        assert (values[:, :, None] == values[:, None, :])[twins].all()  # twins: bitwise equal similarities


def test_rows_duplicated_in_one_modality_only_are_not_merged():
    query, query_labels, gallery, gallery_labels = duplicated_gallery_problem(20, dim=16)
    rng = np.random.default_rng(21)
    second_query = rng.normal(size=(len(query), 5)).astype(np.float32)
    second_gallery = rng.normal(size=(len(gallery), 5)).astype(np.float32)
    second_gallery[-3:] = second_gallery[:3]  # items 0-2 and 50-52 are twins in both modalities
    pairs = [(query, gallery), (second_query, second_gallery)]
    fused = (exact_cosines(query, gallery) + exact_cosines(second_query, second_gallery)) / 2
    expected = reference_ranking(fused, 10)
    for chunk in CHUNKS:
        np.testing.assert_array_equal(similarity_topk(pairs, 10, chunk=chunk)[1], expected)
        assert retrieval_recall_multi(pairs, query_labels, gallery_labels, ks=KS, chunk=chunk) == reference_recall(
            expected, query_labels, gallery_labels
        )


def test_negative_zero_counts_as_zero_for_duplicates():
    gallery = np.array([[0.0, 1.0, 2.0], [-0.0, 1.0, 2.0], [1.0, 0.0, 0.0]] * 3, dtype=np.float32)
    rng = np.random.default_rng(22)
    query = np.concatenate([rng.uniform(0, 0.2, (5, 1)), rng.uniform(0.5, 1, (5, 2))], axis=1).astype(np.float32)
    for chunk in (1, 2, 9):
        values, indices = similarity_topk([(query, gallery)], 9, chunk=chunk)
        assert indices[:, :6].tolist() == [[0, 1, 3, 4, 6, 7]] * 5  # the six equal rows, by gallery index
        assert all(len(set(row)) == 1 for row in values[:, :6].tolist())
