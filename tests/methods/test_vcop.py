"""VCOP (CVPR 2019), the clip-order baseline of SRO's Table VIII: tuple indices, sampler, pairwise head, method."""
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vidssl.data.pretext.vcop import VCOPSampler
from vidssl.data.sampling import permutation_from_index, vcop_tuple_indices
from vidssl.data.transforms import ClipAugment
from vidssl.errors import VidsslError
from vidssl.methods.vcop import VCOP
from vidssl.models import build_backbone
from vidssl.models.heads import PairwiseOrderHead


def test_tuple_clips_are_consecutive_frames_interval_apart_and_the_label_decodes_the_shown_order():
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        draw = vcop_tuple_indices(300, clip_len=16, interval=8, tuple_len=3, rng=rng)
        starts, order, indices = draw["starts"], draw["order"], draw["indices"]
        assert indices.shape == (3, 16)
        # time order: clip k starts at start + k * (16 + 8) and holds 16 consecutive frames
        assert list(np.diff(starts)) == [24, 24] and 0 <= starts[0] <= 300 - (3 * 16 + 2 * 8)
        for position, clip in enumerate(indices):
            assert list(clip) == list(range(starts[order[position]], starts[order[position]] + 16))
        decoded = permutation_from_index(draw["order_label"], 3)
        assert decoded == list(order)
        # putting the shown clips back in the decoded order restores time order
        restored = indices[np.argsort(decoded)]
        assert (np.diff(restored[:, 0]) > 0).all()
        seen.add(draw["order_label"])
    assert seen == set(range(6))


def test_short_videos_shrink_the_gap_then_overlap_clips_in_time_order():
    rng = np.random.default_rng(1)
    # 53 frames: three 16-frame clips leave 5 spare frames, so the gap shrinks from 8 to 2
    draw = vcop_tuple_indices(53, clip_len=16, interval=8, tuple_len=3, rng=rng)
    assert list(draw["starts"]) == [0, 18, 36]
    # 30 frames: the clips overlap, starts spread evenly over [0, 14]
    draw = vcop_tuple_indices(30, clip_len=16, interval=8, tuple_len=3, rng=rng)
    assert list(draw["starts"]) == [0, 7, 14]
    assert draw["indices"].max() == 29
    # shorter than one clip: the short-video rule maps the indices into the video
    draw = vcop_tuple_indices(10, clip_len=16, interval=8, tuple_len=3, short_video="clamp", rng=rng)
    assert draw["indices"].max() == 9 and draw["indices"].min() == 0
    with pytest.raises(VidsslError, match="^interval: expected an integer >= 0, got -1$"):
        vcop_tuple_indices(100, interval=-1, rng=rng)


class IndexReader:
    """Decodes frame i as a frame whose every pixel is i (mod 256); counts read calls."""

    def __init__(self):
        self.calls = 0

    def read(self, path, indices):
        self.calls += 1
        return np.stack([np.full((24, 24, 3), i % 256, dtype=np.uint8) for i in indices])


def test_sampler_clips_show_their_frames_in_the_labelled_order_with_one_read():
    sampler = VCOPSampler(clip_len=4, interval=2, tuple_len=3,
                          augment=ClipAugment(16, scale=(1, 1), flip_p=0, jitter_p=0, grayscale_p=0))
    reader = IndexReader()
    record = SimpleNamespace(path="v.avi", num_frames=40)
    sample = sampler(record, reader, np.random.default_rng(3))
    assert reader.calls == 1
    assert sample["clips"].shape == (3, 3, 4, 16, 16) and sample["clips"].dtype == torch.uint8
    frames = sample["clips"][:, 0, :, 0, 0].long()  # (clips, T): the pixel value is the frame index
    assert torch.equal(frames, sample["frame_indices"])
    order = permutation_from_index(int(sample["order_label"]), 3)
    firsts = sample["frame_indices"][:, 0]
    assert sorted(range(3), key=lambda p: firsts[p].item()) == [order.index(k) for k in range(3)]
    assert sampler.num_orders == 6
    with pytest.raises(VidsslError, match="^tuple_len: expected a VCOP tuple of 2 to 5 clips, got 6$"):
        VCOPSampler(tuple_len=6)
    with pytest.raises(VidsslError, match="^short_video: expected one of loop, clamp"):
        VCOPSampler(short_video="wrap")


def test_pairwise_head_concatenates_each_pair_through_one_shared_layer():
    torch.manual_seed(0)
    head = PairwiseOrderHead(5, 3, hidden=4, dropout=0.5).eval()
    f = torch.randn(2, 3, 5)
    pair_w, pair_b = head.pair[0].weight, head.pair[0].bias
    parts = [torch.relu(torch.cat([f[:, i], f[:, j]], dim=1) @ pair_w.T + pair_b) for i, j in ((0, 1), (0, 2), (1, 2))]
    expected = torch.cat(parts, dim=1) @ head.classifier.weight.T + head.classifier.bias
    torch.testing.assert_close(head(f), expected)
    assert head(f).shape == (2, 6)
    assert PairwiseOrderHead(5, 4).classifier.out_features == 24
    with pytest.raises(VidsslError, match=r"\(B, 3, 5\)"):
        head(torch.randn(2, 4, 5))
    with pytest.raises(VidsslError, match="num_clips"):
        PairwiseOrderHead(5, 1)


def test_vcop_loss_is_the_cross_entropy_of_the_order_and_it_learns_a_fixed_batch():
    torch.manual_seed(0)
    method = VCOP(build_backbone("tiny", width=0.125), tuple_len=3, head_hidden=16, dropout=0.0)
    gen = torch.Generator().manual_seed(0)
    batch = {
        "clips": torch.randint(0, 255, (6, 3, 3, 4, 16, 16), generator=gen, dtype=torch.uint8),
        "order_label": torch.arange(6),
    }
    method.eval()
    loss, logs = method.training_step(batch)
    logits = method.order_head(method.clip_features(batch["clips"]))
    assert loss.item() == pytest.approx(F.cross_entropy(logits, batch["order_label"]).item(), rel=1e-5)
    assert set(logs) == {"loss/order", "acc_order"}
    method.train()
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        loss, logs = method.training_step(batch)
        loss.backward()
        optimizer.step()
    assert loss.item() < math.log(6) / 4 and logs["acc_order"] == 1.0
