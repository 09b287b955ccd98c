"""SRO (TCSVT 2021): sampler, queue, InfoNCE, momentum encoder and the method's losses."""
import copy
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidssl.data.pretext.sro import SROSampler
from vidssl.data.sampling import permutation_from_index, sro_clip_indices
from vidssl.data.transforms import ClipAugment
from vidssl.engine.optim import build_optimizer
from vidssl.engine.trainer import TrainConfig
from vidssl.errors import VidsslError
from vidssl.losses.info_nce import MemoryQueue, cosine_logits, cosine_queue_logits, info_nce
from vidssl.losses.shuffle_similarity import algorithm1_distance
from vidssl.methods.sro import SRO
from vidssl.models import build_backbone
from vidssl.models.momentum import frozen_copy, momentum_update


class ScriptedRng:
    """Stands in for numpy's Generator: returns the draws a figure shows, in the order the code asks."""

    def __init__(self, *, cuts, rates, start, order):
        self.cuts, self.rates, self.start, self.order = cuts, rates, start, order

    def choice(self, a, size, replace):
        # the lengths' cut points come from range(a), the segment rates from the array of candidate rates
        return np.array(self.cuts if np.ndim(a) == 0 else self.rates)

    def integers(self, low, high, size=None):
        return self.start

    def permutation(self, n):
        return np.array(self.order)


def test_fig1_example_three_segments_random_lengths_own_rates_shuffled():
    # Fig. 1: n = 3 segments of random lengths >= 3 summing to 16, each at its own rate, then shuffled.
    # (The figure's frame subscripts are only in its image; this is one such draw worked by hand.)
    # spare = 16 - 9 = 7 frames; cuts at 2 and 6 of 0..8 give spare shares 2, 3, 2 -> lengths 5, 6, 5
    rng = ScriptedRng(cuts=[2, 6], rates=[1, 4, 2], start=10, order=[2, 0, 1])
    clip = sro_clip_indices(300, clip_len=16, num_segments=3, rate_range=(1, 8), rng=rng)
    in_time = [[10, 11, 12, 13, 14], [18, 22, 26, 30, 34, 38], [40, 42, 44, 46, 48]]
    assert clip["indices"].tolist() == in_time[2] + in_time[0] + in_time[1]
    assert clip["lengths"].tolist() == [5, 5, 6] and clip["rates"].tolist() == [2, 1, 4]
    assert clip["order_label"] == 4  # (2, 0, 1) is the 5th of 012, 021, 102, 120, 201, 210
    assert permutation_from_index(clip["order_label"], 3) == [2, 0, 1]


class IndexReader:
    """Frames whose red channel is the frame index (mod 256): the clip's pixels tell which frames it holds."""

    def read(self, path, indices):
        indices = np.asarray(indices)
        frames = np.zeros((len(indices), 40, 50, 3), np.uint8)
        frames[..., 0] = (indices % 256)[:, None, None]
        return frames


def plain_augment(size=32):
    return ClipAugment(size, resize=(36, 45), jitter_p=0.0, grayscale_p=0.0, flip_p=0.0, hue=0.0)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_sampler_targets_match_the_frames_of_its_clips(n):
    sampler = SROSampler(clip_len=16, num_segments=n, rate_range=(1, 8), augment=plain_augment())
    assert sampler.num_orders == math.factorial(n)
    rng = np.random.default_rng(n)
    labels = set()
    for _ in range(40):
        sample = sampler(SimpleNamespace(path="v", num_frames=250), IndexReader(), rng)
        assert sample["clips"].shape == (2, 3, 16, 32, 32) and sample["clips"].dtype == torch.uint8
        indices = sample["frame_indices"]
        # every clip shows the frames it says it holds
        assert torch.equal(sample["clips"][:, 0, :, 7, 7].long(), indices % 256)
        lengths, rates = sample["lengths"].tolist(), sample["rates"].tolist()
        assert len(lengths) == n and sum(lengths) == 16 and min(lengths) >= 3
        # inside every shown segment consecutive frames are its rate apart
        query, start = indices[0].tolist(), 0
        segments = []
        for length, rate in zip(lengths, rates):
            segment = query[start:start + length]
            assert all(b - a == rate for a, b in zip(segment, segment[1:]))
            segments.append(segment)
            start += length
        # putting the segments back in time order (the decoded permutation) gives a rising sequence
        order = permutation_from_index(int(sample["order_label"]), n)
        in_time = [None] * n
        for position, segment_id in enumerate(order):
            in_time[segment_id] = segments[position]
        flat = [i for segment in in_time for i in segment]
        assert flat == sorted(flat)
        labels.add(int(sample["order_label"]))
    assert len(labels) > 1


def test_sampler_rejects_bad_settings_naming_the_parameter():
    with pytest.raises(VidsslError, match="^num_segments: expected 2 to 5"):
        SROSampler(num_segments=6)
    with pytest.raises(VidsslError, match="^num_segments: 5 segments of at least 3 frames do not fit in a 8-frame"):
        SROSampler(clip_len=8, num_segments=5)
    with pytest.raises(VidsslError, match="^rate_range: "):
        SROSampler(rate_range=(0, 4))
    sampler = SROSampler(key_clip=False, augment=plain_augment())
    sample = sampler(SimpleNamespace(path="v", num_frames=9), IndexReader(), np.random.default_rng(0))
    assert sample["clips"].shape[0] == 1 and int(sample["frame_indices"].max()) < 9  # short video loops


def test_resize_then_crop_augment_keeps_the_size_and_reports_the_true_ratio():
    augment = ClipAugment(112, resize=(128, 171), jitter_p=0.0, grayscale_p=0.0, flip_p=0.0)
    frames = np.random.default_rng(0).integers(0, 255, (4, 240, 320, 3), dtype=np.uint8)
    clip, info = augment(frames, np.random.default_rng(1))
    assert clip.shape == (3, 4, 112, 112)
    assert info["aspect_ratio"] == pytest.approx((320 / 171) / (240 / 128))
    with pytest.raises(VidsslError, match="resize"):
        ClipAugment(112, resize=(100, 171))


# ------------------------------------------------------------------ queue, InfoNCE, momentum


def test_queue_enqueues_fifo_and_wraps_around():
    queue = MemoryQueue(size=6, dim=2)
    batches = [torch.full((2, 2), float(i)) for i in range(4)]
    for i, keys in enumerate(batches[:3]):
        queue.enqueue(keys)
        assert int(queue.pointer) == (2 * (i + 1)) % 6
    assert queue.keys[:, 0].tolist() == [0, 0, 1, 1, 2, 2]
    queue.enqueue(batches[3])  # the oldest batch (0) is overwritten
    assert queue.keys[:, 0].tolist() == [3, 3, 1, 1, 2, 2] and int(queue.pointer) == 2
    with pytest.raises(VidsslError, match="queue size 6 is not a multiple of the \\(global\\) batch of keys 4"):
        queue.enqueue(torch.zeros(4, 2))
    assert "keys" in queue.state_dict() and "pointer" in queue.state_dict()


def test_info_nce_matches_the_formula_term_by_term():
    torch.manual_seed(0)
    q, k, bank = F.normalize(torch.randn(4, 8), dim=1), F.normalize(torch.randn(4, 8), dim=1), F.normalize(
        torch.randn(10, 8), dim=1)
    tau = 0.07
    loss = info_nce(cosine_logits(q, k, temperature=tau), cosine_queue_logits(q, bank, temperature=tau))
    expected = 0.0
    for i in range(4):
        pos = math.exp(float(q[i] @ k[i]) / tau)
        neg = sum(math.exp(float(q[i] @ bank[j]) / tau) for j in range(10))
        expected += -math.log(pos / (pos + neg))
    assert loss.item() == pytest.approx(expected / 4, rel=1e-5)
    with pytest.raises(VidsslError, match="temperature"):
        cosine_logits(q, k, temperature=0.0)


def test_momentum_update_is_equation_18():
    torch.manual_seed(0)
    query = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    key = frozen_copy(query)
    assert all(not p.requires_grad for p in key.parameters())
    with torch.no_grad():
        for p in query.parameters():
            p.add_(1.0)
    before = {n: p.clone() for n, p in key.named_parameters()}
    momentum_update(key, query, 0.9)
    for name, param in key.named_parameters():
        expected = 0.9 * before[name] + 0.1 * dict(query.named_parameters())[name]
        assert torch.allclose(param, expected)
    with pytest.raises(VidsslError, match="momentum"):
        momentum_update(key, query, 1.5)


# ------------------------------------------------------------------ the method


def tiny_batch(batch=4, n=3, clips=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    orders = torch.randint(0, math.factorial(n), (batch,), generator=gen)
    return {
        "clips": torch.randint(0, 255, (batch, clips, 3, 8, 16, 16), generator=gen, dtype=torch.uint8),
        "order_label": orders,
        "rates": torch.randint(1, 9, (batch, n), generator=gen),
    }


def make_sro(**kwargs):
    torch.manual_seed(0)
    options = dict(num_segments=3, queue_size=8, head_hidden=16)
    options.update(kwargs)
    return SRO(build_backbone("tiny", width=0.125), **options)


def test_total_loss_is_equation_17_over_the_three_tasks():
    batch = tiny_batch()
    method = make_sro(contrast="cosine", order_weight=1.0, rate_weight=0.3, contrast_weight=1.0)
    reference = copy.deepcopy(method)
    loss, logs = method.training_step(batch)
    expected = logs["loss/order"] + 0.3 * logs["loss/rate"] + logs["loss/contrast"]
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    # order: cross-entropy over n! = 6 classes; rate: MSE of the raw rates — recomputed by hand
    features = reference.backbone(reference_input := (batch["clips"][:, 0].float() / 255 - torch.tensor(
        [0.43216, 0.394666, 0.37645]).view(3, 1, 1, 1)) / torch.tensor([0.22803, 0.22145, 0.216989]).view(3, 1, 1, 1))
    logits = reference.order_head(features)
    assert logits.shape == (4, 6)
    manual_ce = -torch.log_softmax(logits, 1)[torch.arange(4), batch["order_label"]].mean()
    assert logs["loss/order"] == pytest.approx(manual_ce.item(), rel=1e-4)
    rates = reference.rate_head(features)
    manual_mse = ((rates - batch["rates"].float()) ** 2).mean()
    assert logs["loss/rate"] == pytest.approx(manual_mse.item(), rel=1e-4)
    assert reference_input.shape == (4, 3, 8, 16, 16)


def test_contrastive_step_updates_key_encoder_by_momentum_and_enqueues_the_keys():
    batch = tiny_batch()
    method = make_sro(contrast="cosine", order=False, rate="none", key_momentum=0.5, queue_size=8)
    with torch.no_grad():
        for p in method.backbone.parameters():
            p.add_(0.01)  # query and key encoders now differ
    key_before = {n: p.clone() for n, p in method.key_backbone.named_parameters()}
    query_params = dict(method.backbone.named_parameters())
    method.train()
    method.training_step(batch)
    for name, param in method.key_backbone.named_parameters():
        assert torch.allclose(param, 0.5 * key_before[name] + 0.5 * query_params[name])
    # the 4 keys of this batch are the first 4 queue entries, unit length, and equal K's projections
    assert int(method.queue.pointer) == 4
    keys = method.queue.keys[:4]
    assert torch.allclose(keys.norm(dim=1), torch.ones(4))
    # the key encoder's parameters are not trained
    groups = build_optimizer(method, TrainConfig())
    trained = {id(p) for g in groups.param_groups for p in g["params"]}
    assert not any(id(p) in trained for p in method.key_backbone.parameters())
    assert not any(id(p) in trained for p in method.key_projection.parameters())


def test_contrastive_gradient_reaches_the_query_encoder_only():
    method = make_sro(contrast="shuffle", order=False, rate="none")
    loss, logs = method.training_step(tiny_batch())
    loss.backward()
    assert all(p.grad is None for p in method.key_backbone.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.backbone.parameters())
    assert set(logs) >= {"loss/contrast", "acc_contrast"}


def test_shuffle_contrast_uses_algorithm_1_between_query_and_queue():
    method = make_sro(contrast="shuffle", temperature=0.5)
    torch.manual_seed(1)
    q = F.normalize(torch.randn(2, 128), dim=1)
    k = F.normalize(torch.randn(2, 128), dim=1)
    positive, negatives = method.similarities(q, k)
    for i in range(2):
        assert positive[i].item() == pytest.approx(-algorithm1_distance(q[i], k[i], 3) / 0.5, rel=1e-4)
        for j in range(8):
            expected = -algorithm1_distance(q[i], method.queue.keys[j], 3) / 0.5
            assert negatives[i, j].item() == pytest.approx(expected, rel=1e-4)


def test_rate_classification_variant_and_unit_targets():
    batch = tiny_batch()
    method = make_sro(contrast="none", rate="classification", rate_range=(1, 8))
    _, logs = method.training_step(batch)
    assert {"acc_rate", "rate_mae", "loss/rate"} <= set(logs)
    assert method.rate_head.out_features == 3 * 8
    unit = make_sro(contrast="none", rate_target="unit", rate_range=(1, 8))
    assert unit.rate_targets(torch.tensor([[1, 8, 4]])).tolist() == [[0.0, 1.0, pytest.approx(3 / 7)]]


def test_sro_rejects_bad_options_naming_the_parameter():
    with pytest.raises(VidsslError, match="^contrast: "):
        make_sro(contrast="euclid")
    with pytest.raises(VidsslError, match="all off"):
        make_sro(order=False, rate="none", contrast="none")
    with pytest.raises(VidsslError, match="^num_segments: "):
        make_sro(num_segments=6)
    with pytest.raises(VidsslError, match="needs a key clip"):
        make_sro(contrast="cosine").training_step(tiny_batch(clips=1))
