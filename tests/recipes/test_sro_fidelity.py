"""SRO fidelity (TCSVT 2021): distinct segment rates (Fig. 1), rates conditioned on the clip fitting (§III-D),
and the sign of the info-min term (eq. 16). ALGORITHMS.md "SRO" records the decisions.

Distributions are compared with an oracle that enumerates every rate combination with itertools and places
the segments with :func:`segment_indices_in_time_order` (the clip fits when its last frame is inside the video).
Tolerances are 5 standard errors of the estimate (bounds stated where used), so a seeded run is far from them.
"""
import functools
import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidssl.data.sampling import segment_indices_in_time_order, sro_clip_indices
from vidssl.errors import VidsslError

CLIP_LEN, SEGMENTS, RATES = 16, 3, (1, 8)  # sro_r3d18 (paper §IV-D, Table IV p = [1, 8])
UCF_LIKE_LENGTHS = np.geomspace(29, 900, 200).round().astype(int)
"""Log-uniform over UCF101's range of lengths from its shortest video (29 frames): 42 % are under 121 frames,
the span of 16 frames all at rate 8, i.e. the videos the old cap limited."""


# ----------------------------------------------------------------------------------------------- oracle


def clip_fits(lengths, rates, num_frames):
    """Do segments placed from frame 0 end inside the video? (indices built the sampler's documented way)"""
    return int(segment_indices_in_time_order(0, lengths, rates)[-1][-1]) < num_frames


def oracle_rate_set(lengths, num_frames, rate_range=RATES):
    """The combinations the paper's draw is conditioned on: distinct rates if any fit, else repeats, else none."""
    values = range(rate_range[0], rate_range[1] + 1)
    n = len(lengths)
    distinct = [c for c in itertools.permutations(values, n) if clip_fits(lengths, c, num_frames)]
    if distinct:
        return distinct
    return [c for c in itertools.product(values, repeat=n) if clip_fits(lengths, c, num_frames)]


@functools.cache
def all_rate_tuples(rate_range, n):
    """Ordered tuples of rate_range: (distinct ones, ones with replacement)."""
    values = range(rate_range[0], rate_range[1] + 1)
    return np.array(list(itertools.permutations(values, n))), np.array(list(itertools.product(values, repeat=n)))


def oracle_rate_set_fast(lengths, num_frames, rate_range=RATES):
    """:func:`oracle_rate_set` vectorised: the last frame of the clip placed at 0 is Σ l_i·r_i − r_1 (checked
    against the slow oracle in test_oracle_span_formula_matches_the_placed_segments)."""
    for table in all_rate_tuples(rate_range, len(lengths)):
        fitting = table[table @ np.asarray(lengths) - table[:, 0] < num_frames]
        if len(fitting):
            return fitting
    return np.empty((0, len(lengths)), dtype=int)


def compositions(total, n, min_length):
    return [c for c in itertools.product(range(min_length, total + 1), repeat=n) if sum(c) == total]


def oracle_expectations(video_lengths, clip_len=CLIP_LEN, n=SEGMENTS, rate_range=RATES):
    """Expected rate histogram (share of each rate 1..8), mean rate and share of clips with a repeated rate.

    Lengths are uniform over the compositions (tested in test_sampling_segments); given them, the rates are
    uniform over :func:`oracle_rate_set`. Every video weighs the same.
    """
    values = np.arange(rate_range[0], rate_range[1] + 1)
    comps = compositions(clip_len, n, 3)
    hist, repeat = np.zeros(len(values)), 0.0
    for num_frames in video_lengths:
        for lengths in comps:
            combos = oracle_rate_set_fast(lengths, num_frames, rate_range)
            hist += np.array([(combos == v).sum() for v in values]) / combos.size / len(comps)
            repeat += np.mean([len(set(c)) < n for c in combos]) / len(comps)
    hist /= len(video_lengths)
    return hist, float(hist @ values), repeat / len(video_lengths)


def test_oracle_span_formula_matches_the_placed_segments():
    for lengths, num_frames in [((3, 3, 10), 40), ((5, 6, 5), 60), ((4, 4, 4, 4), 50), ((7, 9), 33)]:
        fast = {tuple(c) for c in oracle_rate_set_fast(lengths, num_frames, RATES)}
        assert fast == set(oracle_rate_set(lengths, num_frames)) and fast


# ----------------------------------------------------------------------------------------------- helpers


def realised(video_lengths, draws_per_video, *, clip_len=CLIP_LEN, n=SEGMENTS, seed=0):
    """Histogram (share of each rate 1..8), mean rate and share of clips with a repeated rate, as sampled."""
    rng = np.random.default_rng(seed)
    rates = np.array([sro_clip_indices(int(num_frames), clip_len=clip_len, num_segments=n, rate_range=RATES,
                                       rng=rng)["rates"]
                      for num_frames in video_lengths for _ in range(draws_per_video)])
    hist = np.array([(rates == v).mean() for v in range(1, 9)])
    repeated = np.mean([len(set(row)) < n for row in rates.tolist()])
    return hist, float(rates.mean()), float(repeated), len(rates)


def in_time_order(clip):
    """The clip's segments (indices), lengths and rates put back in time order."""
    parts = np.split(clip["indices"], np.cumsum(clip["lengths"])[:-1])
    n = len(parts)
    segments, lengths, rates = [None] * n, [0] * n, [0] * n
    for position, segment in enumerate(clip["order"].tolist()):
        segments[segment] = parts[position]
        lengths[segment], rates[segment] = int(clip["lengths"][position]), int(clip["rates"][position])
    return segments, lengths, rates


def chi_square_is_plausible(counts, probabilities):
    """Pearson's statistic within 5 standard deviations of its mean (dof, sd √(2·dof)) under the hypothesis."""
    counts, probabilities = np.asarray(counts, float), np.asarray(probabilities, float)
    expected = counts.sum() * probabilities
    statistic = ((counts - expected) ** 2 / expected).sum()
    dof = len(counts) - 1
    return statistic < dof + 5 * math.sqrt(2 * dof), statistic


# ----------------------------------------------------------------------------------------------- item 4: distinct rates


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_rates_of_a_clip_are_distinct_and_uniform_when_every_combination_fits(n):
    # Fig. 1: "each video segment is sampled by the different sample rates": without replacement from p = [1, 8]
    rng = np.random.default_rng(n)
    draws = 6000
    rates = np.array([sro_clip_indices(2000, clip_len=CLIP_LEN, num_segments=n, rate_range=RATES, rng=rng)["rates"]
                      for _ in range(draws)])
    assert all(len(set(row)) == n for row in rates.tolist())
    # each rate is equally likely at every shown position: 1/8 (with replacement too, so this guards the support)
    counts = np.stack([(rates == v).sum(axis=0) for v in range(1, 9)])  # (8, n)
    for position in range(n):
        ok, statistic = chi_square_is_plausible(counts[:, position], np.full(8, 1 / 8))
        assert ok, (position, statistic)
    # pairs of positions are uniform over the 56 ordered pairs of distinct rates
    pairs = {p: 0 for p in itertools.permutations(range(1, 9), 2)}
    for row in rates[:, :2].tolist():
        pairs[tuple(row)] += 1
    ok, statistic = chi_square_is_plausible(list(pairs.values()), np.full(56, 1 / 56))
    assert ok, statistic


def test_rates_repeat_only_when_the_rate_set_or_the_video_leaves_no_distinct_combination():
    rng = np.random.default_rng(1)
    # fewer candidate rates than segments: with replacement, uniform over {1, 2}^3
    rates = [tuple(sro_clip_indices(500, num_segments=3, rate_range=(1, 2), rng=rng)["rates"].tolist())
             for _ in range(4000)]
    cells = list(itertools.product((1, 2), repeat=3))
    ok, statistic = chi_square_is_plausible([rates.count(c) for c in cells], np.full(8, 1 / 8))
    assert ok, statistic
    # short videos: repeats exactly when no distinct combination fits the drawn lengths
    repeats_needed = repeats_seen = 0
    for num_frames in range(16, 40):
        for _ in range(60):
            clip = sro_clip_indices(num_frames, clip_len=CLIP_LEN, num_segments=3, rate_range=RATES, rng=rng)
            _, lengths, rates_in_time = in_time_order(clip)
            distinct_possible = any(clip_fits(lengths, c, num_frames) for c in itertools.permutations(range(1, 9), 3))
            assert (len(set(rates_in_time)) == 3) == distinct_possible, (num_frames, lengths, rates_in_time)
            assert clip_fits(lengths, rates_in_time, num_frames)
            repeats_needed += not distinct_possible
            repeats_seen += len(set(rates_in_time)) < 3
    assert repeats_needed == repeats_seen > 0


# ----------------------------------------------------------------------------------------------- item 5: fitting


@pytest.mark.parametrize("tries", [0, None])  # 0: enumeration alone; None: rejection draws first (the default)
@pytest.mark.parametrize("lengths, num_frames", [
    ((5, 6, 5), 2000),    # everything fits: the paper's distribution itself
    ((5, 6, 5), 60),      # 113 of the 336 distinct tuples fit
    ((3, 10, 3), 45),     # 66 fit
    ((6, 5, 5), 31),      # 6 fit: the rejection draws all miss about half of the time, then enumeration
    ((10, 3, 3), 23),     # no distinct tuple fits: 6 with a repeat do
    ((4, 4, 4, 4), 70),   # four segments: 936 of 1680
])
def test_rates_given_the_lengths_are_uniform_over_the_combinations_that_fit(lengths, num_frames, tries):
    from vidssl.data.sampling import draw_fitting_rates

    expected = oracle_rate_set(lengths, num_frames)
    rng = np.random.default_rng(num_frames)
    draws = max(40 * len(expected), 3000)
    seen = {c: 0 for c in expected}
    kwargs = {} if tries is None else {"tries": tries}
    for _ in range(draws):
        rates = tuple(int(r) for r in draw_fitting_rates(lengths, num_frames, rate_range=RATES, rng=rng, **kwargs))
        assert rates in seen, rates  # never a combination that does not fit (or repeats when distinct fit)
        seen[rates] += 1
    ok, statistic = chi_square_is_plausible(list(seen.values()), np.full(len(expected), 1 / len(expected)))
    assert ok, (len(expected), statistic)


def test_no_rate_combination_fits_gives_none_and_the_clip_keeps_the_short_video_rule():
    from vidssl.data.sampling import draw_fitting_rates

    rng = np.random.default_rng(0)
    assert draw_fitting_rates((5, 6, 5), 15, rate_range=RATES, rng=rng) is None  # 16 frames at rate 1 > 15
    assert draw_fitting_rates((5, 6, 5), 20, rate_range=(4, 8), rng=rng) is None
    for num_frames, rate_range, rule in [(12, RATES, "loop"), (20, (4, 8), "loop"), (12, RATES, "clamp")]:
        clip = sro_clip_indices(num_frames, rate_range=rate_range, short_video=rule, rng=rng)
        assert clip["start"] == 0 and set(clip["rates"].tolist()) == {rate_range[0]}
        assert 0 <= clip["indices"].min() and clip["indices"].max() < num_frames


def test_realised_rates_on_ucf101_like_lengths_follow_the_conditional_distribution():
    # Before: every rate capped at (frames - 1) // 15 and drawn with replacement: mean 3.61, 49.5 % repeats here.
    expected_hist, expected_mean, expected_repeat = oracle_expectations(UCF_LIKE_LENGTHS)
    hist, mean, repeated, clips = realised(UCF_LIKE_LENGTHS, 60)
    # clips are independent; per clip the count of a rate is 0..3 (variance <= 9/4, so a share's standard error
    # is <= 1.5/3/sqrt(N)) and the clip's mean rate lies in 1..8 (variance <= 3.5**2, standard error <= 3.5/sqrt(N))
    se_share, se_mean = 0.5 / math.sqrt(clips), 3.5 / math.sqrt(clips)
    assert np.abs(hist - expected_hist).max() < 5 * se_share, (hist.round(3), expected_hist.round(3))
    assert abs(mean - expected_mean) < 5 * se_mean, (mean, expected_mean)
    assert abs(repeated - expected_repeat) < 5 * 0.5 / math.sqrt(clips), (repeated, expected_repeat)
    # the oracle's figures (4.03, 0.04 %, 9.4 % at rate 8): a video of >= 121 frames gets the paper's 4.5 and 1/8
    # each, a shorter one leans to low rates only as far as its length forces it; a repeat needs a 29-30 frame video
    assert 4.0 < expected_mean < 4.1 and expected_repeat < 0.001 and expected_hist[-1] > 0.09


def test_short_videos_reach_high_rates_the_all_highest_cap_excluded():
    # 60 frames, 16-frame clips: the cap put every rate <= 3; (1, 2, 8) on lengths (10, 3, 3) spans 40 frames
    rng = np.random.default_rng(5)
    rates = np.concatenate([sro_clip_indices(60, clip_len=CLIP_LEN, rate_range=RATES, rng=rng)["rates"]
                            for _ in range(3000)])
    expected_hist, _, _ = oracle_expectations([60])
    hist = np.array([(rates == v).mean() for v in range(1, 9)])
    assert expected_hist[3:].sum() > 0.3 and rates.max() == 8
    assert np.abs(hist - expected_hist).max() < 5 * 0.5 / math.sqrt(3000), (hist.round(3), expected_hist.round(3))


@pytest.mark.parametrize("n", [2, 3, 5])
def test_no_segment_ever_goes_back_in_time(n):
    # a loop inside a segment would contradict the order label: every frame index rises within and across segments
    rng = np.random.default_rng(10 + n)
    for num_frames in [*range(16, 29), *UCF_LIKE_LENGTHS[::4]]:
        for _ in range(10):
            clip = sro_clip_indices(int(num_frames), clip_len=CLIP_LEN, num_segments=n, rate_range=RATES, rng=rng)
            segments, lengths, rates = in_time_order(clip)
            for segment, rate in zip(segments, rates):
                assert np.all(np.diff(segment) == rate)  # strictly increasing at the segment's own rate
            flat = np.concatenate(segments)
            assert np.all(np.diff(flat) > 0) and 0 <= flat.min() and flat.max() < num_frames
            assert clip["indices"].max() < num_frames and sorted(lengths) == sorted(clip["lengths"].tolist())


def test_rate_draws_come_from_the_given_rng_only():
    # resume exactness: the same generator state gives the same clips, the fallback paths included
    def clips(seed):
        rng = np.random.default_rng(seed)
        return [sro_clip_indices(int(f), rng=rng)["indices"].tolist() for f in [*range(12, 60), *UCF_LIKE_LENGTHS]]

    assert clips(3) == clips(3) != clips(4)


# ----------------------------------------------------------------------------------------------- item 6: info-min sign


def similarity_after_one_step_on_the_view(form=None, lr=1e-2):
    """cos(f(x), f(x')) before and after one gradient step of the info-min loss on the synthesised view x'."""
    from vidssl.losses.view_synthesis import infomin_loss

    torch.manual_seed(0)
    f = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.Tanh(), torch.nn.Linear(16, 8))
    x = torch.randn(6, 12)
    view = (x + 0.5 * torch.randn(6, 12)).requires_grad_(True)
    kwargs = {} if form is None else {"form": form}
    infomin_loss(f(x), f(view), **kwargs).backward()
    with torch.no_grad():
        before = F.cosine_similarity(f(x), f(view), dim=1)
        after = F.cosine_similarity(f(x), f(view - lr * view.grad), dim=1)
    return before, after


def test_infomin_by_default_pushes_the_view_away_from_the_input():
    # §III-G: "we minimise the mutual information between the embedding of the synthesised view and the original
    # video clip to suppress the appearance dependence": a step lowers the similarity for every clip
    before, after = similarity_after_one_step_on_the_view()
    assert torch.all(after < before), (before, after)
    before, after = similarity_after_one_step_on_the_view("intent")
    assert torch.all(after < before)


def test_infomin_printed_form_pulls_the_view_towards_the_input():
    # eq. (16) as printed, L = -D(f(x), f(x')): a step raises the similarity
    before, after = similarity_after_one_step_on_the_view("printed")
    assert torch.all(after > before), (before, after)


def test_infomin_values_and_bad_form():
    from vidssl.losses.view_synthesis import infomin_loss

    torch.manual_seed(1)
    a, b = torch.randn(4, 8), torch.randn(4, 8)
    cos = F.cosine_similarity(a, b, dim=1).mean().item()
    assert infomin_loss(a, b).item() == pytest.approx(cos)
    assert infomin_loss(a, b, form="printed").item() == pytest.approx(-cos)
    with pytest.raises(VidsslError, match="form: expected one of intent, printed"):
        infomin_loss(a, b, form="maximise")


def test_view_synthesis_step_pushes_the_generated_view_away_unless_printed():
    from vidssl.methods.view_synthesis import ViewSynthesis
    from vidssl.models import build_backbone

    def similarity_change(**kwargs):
        torch.manual_seed(0)
        method = ViewSynthesis(build_backbone("tiny", width=0.125), vae_width=4, latent_channels=2, flow_width=4,
                               kl_weight=0.0, infomax_weight=0.0, photometric_weight=0.0, **kwargs)
        captured = {}
        method.generator.register_forward_hook(lambda module, inputs, out: captured.update(view=out[0]))
        method.generator.register_forward_hook(lambda module, inputs, out: out[0].retain_grad())
        generator = torch.Generator().manual_seed(0)
        clips = torch.randint(0, 256, (3, 1, 3, 4, 16, 16), dtype=torch.uint8, generator=generator)
        loss, _ = method.training_step({"clips": clips})
        loss.backward()
        view = captured["view"]
        from vidssl.data.transforms import to_model_input

        x = to_model_input(clips[:, 0], "rgb")
        with torch.no_grad():
            before = F.cosine_similarity(method(x), method(view), dim=1)
            after = F.cosine_similarity(method(x), method(view - 1e-2 * view.grad / view.grad.abs().max()), dim=1)
        return after - before

    assert torch.all(similarity_change() < 0)
    assert torch.all(similarity_change(infomin="printed") > 0)


def test_view_infomin_is_a_config_key_passed_to_the_method():
    from vidssl.models import build_backbone
    from vidssl.recipes.configs import load_run_config
    from vidssl.recipes.pretrain import build_method

    cfg = load_run_config("sro_view_synthesis")
    assert cfg.method.view.infomin == "intent"
    printed = load_run_config("sro_view_synthesis", ["method.view.infomin=printed"])
    method = build_method(printed, build_backbone("tiny", width=0.125))
    assert method.infomin == "printed"
    with pytest.raises(VidsslError, match="^method.view.infomin: expected one of intent, printed"):
        load_run_config("sro_view_synthesis", ["method.view.infomin=pull"])
