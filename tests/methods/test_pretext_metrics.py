"""Every method's pretext metrics on a fixed batch equal a count by hand, its chance levels are those of a
model that learnt nothing, and an eval-mode step leaves the model exactly as it was (held-out metrics)."""
import copy
import math

import pytest
import torch
from torch import nn

from vidssl.data.statistics import APPEARANCE_LABELS, motion_label_specs
from vidssl.losses.corp import SECOND_EARLIER
from vidssl.methods.corp import CORP
from vidssl.methods.sro import SRO
from vidssl.methods.sts import STS
from vidssl.methods.transrank import TransRank
from vidssl.methods.vcop import VCOP
from vidssl.methods.view_synthesis import ViewSynthesis
from vidssl.models import build_backbone


class Fixed(nn.Module):
    """A head that ignores its input and returns the outputs a test wrote by hand."""

    def __init__(self, outputs: torch.Tensor) -> None:
        super().__init__()
        self.outputs = outputs

    def forward(self, *inputs):
        return self.outputs


class Call(nn.Module):
    """A module around a plain function, where a method expects a child module (CORP's classifier)."""

    def __init__(self, function) -> None:
        super().__init__()
        self.function = function

    def forward(self, *inputs):
        return self.function(*inputs)


def tiny_backbone():
    torch.manual_seed(0)
    return build_backbone("tiny", width=0.125)


def clips(*shape, seed=0):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def one_hot_logits(predicted: torch.Tensor, classes) -> torch.Tensor:
    """Concatenated per-label logits (B, Σ classes) whose argmax in label i's slice is ``predicted[:, i]``."""
    pieces = [nn.functional.one_hot(predicted[:, i], c).float() for i, c in enumerate(classes)]
    return torch.cat(pieces, dim=1)


# ------------------------------------------------------------------------------------- TransRank / TransCls


def test_transrank_top1_pairwise_and_per_transformation_accuracy_by_hand():
    method = TransRank(tiny_backbone(), transforms=("1x", "2x", "rev"), head="fc", loss="rank")
    targets = torch.tensor([[0, 1, 2], [2, 0, 1]])
    # video 0: clips of 1x, 2x, rev scored right, wrong (says rev), right; video 1: all three right
    scores = torch.tensor([
        [[3.0, 0.0, 0.0], [0.0, 1.0, 2.0], [0.0, 0.0, 4.0]],
        [[0.0, 0.0, 5.0], [6.0, 0.0, 0.0], [0.0, 7.0, 0.0]],
    ])
    method.temporal_head = Fixed(scores)
    _, logs = method.training_step({"clips": clips(2, 3, 3, 4, 16, 16), "transform_ids": targets})
    assert logs["acc"] == pytest.approx(5 / 6)  # 5 of 6 clips' argmax is their transformation
    assert logs["top1/1x"] == 1.0 and logs["top1/2x"] == 0.5 and logs["top1/rev"] == 1.0
    # pairwise on column k: the clip of k must outscore each other clip of its video in that column.
    # 1x: 3 > 0, 0 and 6 > 0, 0. 2x: 1 > 0, 0 and 7 > 0, 0. rev: 4 > 0, 2 and 5 > 0, 0. All 12 pairs right.
    assert logs["acc/1x"] == 1.0 and logs["acc/2x"] == 1.0 and logs["acc/rev"] == 1.0
    scores[0, 1] = torch.tensor([0.0, -1.0, 2.0])  # the 2x clip of video 0 now loses column 2x to both
    _, logs = method.training_step({"clips": clips(2, 3, 3, 4, 16, 16), "transform_ids": targets})
    assert logs["acc/2x"] == pytest.approx(2 / 4)


def test_transrank_chance_levels():
    method = TransRank(tiny_backbone(), transforms=("1x", "2x", "4x", "rev"), loss="ce", aspect="rank",
                       rotation="cls")
    chance = method.pretext_chance()
    assert chance["acc"] == 0.25 and chance["top1/4x"] == 0.25 and chance["acc/rev"] == 0.5
    assert chance["acc_aspect"] == 0.5
    assert chance["acc_rot"] == 0.25 and chance["top1_rot/90deg"] == 0.25 and chance["acc_rot/180deg"] == 0.5
    rotnet = TransRank(tiny_backbone(), transforms=("1x",), loss="none", rotation="cls")
    assert set(rotnet.pretext_chance()) == {"acc_rot", *(f"{p}/{k}deg" for p in ("acc_rot", "top1_rot")
                                                          for k in (0, 90, 180, 270))}


def test_transrank_spatial_accuracies_by_hand():
    method = TransRank(tiny_backbone(), transforms=("1x",), loss="none", aspect="rank", rotation="cls")
    rotations = torch.tensor([[0, 3], [1, 2]])
    rotation_scores = nn.functional.one_hot(torch.tensor([[0, 3], [2, 2]]), 4).float()  # 3 of 4 right
    ratios = torch.tensor([[0.5, 1.5], [2.0, 1.0]])
    method.rotation_head = Fixed(rotation_scores)
    method.aspect_head = Fixed(torch.tensor([[[0.1], [0.9]], [[0.2], [0.8]]]))  # ordered right in video 0 only
    _, logs = method.training_step({"clips": clips(2, 2, 3, 4, 16, 16), "rotations": rotations,
                                    "aspect_ratios": ratios})
    assert logs["acc_rot"] == 0.75 and logs["top1_rot/90deg"] == 0.0 and logs["top1_rot/180deg"] == 1.0
    assert logs["acc_aspect"] == 0.5


# ----------------------------------------------------------------------------------------------------- VCOP


def test_vcop_order_accuracy_by_hand_and_its_chance():
    method = VCOP(tiny_backbone(), tuple_len=3, head_hidden=8)
    labels = torch.tensor([0, 5, 2, 3])
    method.order_head = Fixed(nn.functional.one_hot(torch.tensor([0, 5, 1, 1]), 6).float())  # 2 of 4 right
    _, logs = method.training_step({"clips": clips(4, 3, 3, 4, 16, 16), "order_label": labels})
    assert logs["acc_order"] == 0.5
    assert method.pretext_chance() == {"acc_order": pytest.approx(1 / 6)}
    assert VCOP(tiny_backbone(), tuple_len=4, head_hidden=8).pretext_chance()["acc_order"] == pytest.approx(1 / 24)


# ------------------------------------------------------------------------------------------------------ SRO


def sro_batch(rates):
    rates = torch.tensor(rates)
    return {"clips": clips(len(rates), 2, 3, 8, 16, 16), "order_label": torch.tensor([0, 1, 2, 3])[: len(rates)],
            "rates": rates}


def test_sro_order_rate_and_contrast_metrics_by_hand():
    method = SRO(tiny_backbone(), num_segments=3, queue_size=8, head_hidden=16, contrast="cosine")
    batch = sro_batch([[1, 2, 3], [4, 5, 6], [1, 1, 1], [8, 2, 2]])
    method.order_head = Fixed(nn.functional.one_hot(torch.tensor([0, 1, 5, 5]), 6).float())  # 2 of 4 right
    predicted = batch["rates"].float() + torch.tensor([[0.5, 0, 0], [0, 0, 0], [0, -1.0, 0], [0, 0, 3.0]])
    method.rate_head = Fixed(predicted)
    positive = torch.tensor([5.0, 1.0, 3.0, -2.0])
    negatives = torch.tensor([[4.0] * 8, [0.5] * 7 + [2.0], [2.9] * 8, [-3.0] * 8])  # the positive wins 3 of 4
    method.similarities = lambda queries, keys: (positive, negatives)
    method.eval()
    with torch.no_grad():
        _, logs = method.training_step(batch)
    assert logs["acc_order"] == 0.5
    assert logs["rate_mae"] == pytest.approx((0.5 + 1.0 + 3.0) / 12)
    assert logs["acc_contrast"] == 0.75


def test_sro_rate_classification_accuracy_by_hand():
    method = SRO(tiny_backbone(), num_segments=2, rate_range=(1, 4), rate="classification", contrast="none",
                 head_hidden=16)
    batch = {"clips": clips(2, 1, 3, 8, 16, 16), "order_label": torch.tensor([0, 1]),
             "rates": torch.tensor([[1, 4], [2, 2]])}
    predicted = torch.tensor([[1, 3], [2, 2]])  # 3 of 4 segments right
    method.rate_head = Fixed(nn.functional.one_hot(predicted - 1, 4).float().reshape(2, 8))
    _, logs = method.training_step(batch)
    assert logs["acc_rate"] == 0.75


def test_sro_chance_levels():
    method = SRO(tiny_backbone(), num_segments=3, queue_size=8, head_hidden=16, rate="classification")
    assert method.pretext_chance() == {"acc_order": pytest.approx(1 / 6), "acc_contrast": pytest.approx(1 / 9)}
    chance = method.pretext_chance(sro_batch([[1, 2, 3], [2, 2, 5], [2, 7, 1]]))
    assert chance["acc_rate"] == pytest.approx(4 / 9)  # rate 2 is 4 of the 9 segments
    # the best constant guess, the median 2: |1-2|+0+|3-2| + 0+0+3 + 0+5+1 = 11 over 9 segments
    assert chance["rate_mae"] == pytest.approx(11 / 9)
    moco = SRO(tiny_backbone(), order=False, rate="none", contrast="cosine", queue_size=16)
    assert moco.pretext_chance() == {"acc_contrast": pytest.approx(1 / 17)}


# ----------------------------------------------------------------------------------------------------- CORP


def corp_batch(videos, clips_per_video):
    starts = torch.stack([torch.arange(clips_per_video) * 10 + v for v in range(videos)])
    return {"clips": clips(videos, clips_per_video, 3, 4, 16, 16), "starts": starts}


def test_corp_m_relation_accuracy_by_hand_and_its_majority_chance():
    method = CORP(tiny_backbone(), variant="m", projection_dim=4, relation_heads=2, relation_hidden=8)
    batch = corp_batch(3, 2)
    video_of_clip = torch.arange(3).repeat_interleave(2).float()
    # z carries each clip's video and start, so the stub classifier can answer as it is told
    z = torch.stack([video_of_clip, batch["starts"].flatten().float()], dim=1).view(3, 2, 2)
    method.embed = lambda clips: z

    def always_different(first, second):  # the majority class, P1, for every pair
        return torch.tensor([1.0, 0.0, 0.0]).expand(len(first), 3)

    method.classifier = Call(always_different)
    _, logs = method.training_step(batch)
    # 6 clips, 30 ordered pairs, 6 of them within a video: P1 is right on 24
    assert logs["acc_pair"] == pytest.approx(24 / 30)
    assert logs["acc_order"] == 0.5  # P2 and P3 tie, read as "second earlier": right on half the same-video pairs
    assert method.pretext_chance(batch) == {"acc_pair": pytest.approx(24 / 30), "acc_order": 0.5}

    def oracle(first, second):
        same = first[:, 0] == second[:, 0]
        label = torch.where(same, torch.where(first[:, 1] < second[:, 1], 1, SECOND_EARLIER), 0)
        label[:4] = (label[:4] + 1) % 3  # wrong on the first 4 pairs
        return nn.functional.one_hot(label, 3).float()

    method.classifier = Call(oracle)
    _, logs = method.training_step(batch)
    assert logs["acc_pair"] == pytest.approx(26 / 30)
    # the first 4 pairs are clip 0 with clips 1..4: one same-video pair (0, 1) among them
    assert logs["acc_order"] == pytest.approx(5 / 6)
    assert method.pretext_chance() == {"acc_order": 0.5}  # acc_pair's level needs the batch's shape


def test_corp_f_positive_top1_by_hand_and_its_chance():
    method = CORP(tiny_backbone(), variant="f", projection_dim=4, relation_heads=2, relation_hidden=8)
    batch = corp_batch(3, 2)
    e = torch.eye(4)
    # videos 0 and 1: both clips alike, the partner is the nearest; video 2: its clips opposite, the partner last
    z = torch.stack([torch.stack([e[0], e[0]]), torch.stack([e[1], e[1]]), torch.stack([e[2], -e[2]])])
    method.embed = lambda clips: z
    method.classifier = Call(lambda first, second: torch.tensor([1.0, 0.0]).expand(len(first), 2))  # "i earlier"
    _, logs = method.training_step(batch)
    assert logs["acc_contrast"] == pytest.approx(4 / 6)
    assert logs["acc_order"] == 0.5  # each video's earlier clip is right, its later one wrong
    assert method.pretext_chance(batch) == {"acc_contrast": pytest.approx(1 / 5), "acc_order": 0.5}
    simclr = CORP(tiny_backbone(), variant="f", order=False, projection_dim=4, relation_heads=2, relation_hidden=8)
    assert simclr.pretext_chance(corp_batch(8, 2)) == {"acc_contrast": pytest.approx(1 / 15)}


# ------------------------------------------------------------------------------------------------------ STS


def test_sts_per_label_accuracy_by_hand_and_its_majority_chance():
    method = STS(tiny_backbone(), target="classification", clip_len=8)
    motion_classes = [spec.num_classes for spec in motion_label_specs(7)]
    appearance_classes = [spec.num_classes for spec in APPEARANCE_LABELS]
    motion_labels = torch.zeros(4, 14, dtype=torch.long)
    motion_labels[:, 0] = torch.tensor([3, 3, 3, 5])  # p1_u_block: class 3 is 3 of 4
    appearance_labels = torch.ones(4, 13, dtype=torch.long)
    motion_pred = motion_labels.clone()
    motion_pred[:2, 0] = 9  # p1_u_block right on 2 of 4
    motion_pred[0, 13] = 4  # global_v_frame right on 3 of 4
    appearance_pred = appearance_labels.clone()
    appearance_pred[:, 12] = 0  # global_colour right on none
    method.predict = lambda clip: (one_hot_logits(motion_pred, motion_classes),
                                   one_hot_logits(appearance_pred, appearance_classes))
    batch = {"clip": clips(4, 3, 8, 16, 16), "motion_labels": motion_labels, "appearance_labels": appearance_labels}
    _, logs = method.training_step(batch)
    assert logs["acc_motion/p1_u_block"] == 0.5 and logs["acc_motion/global_v_frame"] == 0.75
    assert logs["acc_motion/p2_v_orientation"] == 1.0
    assert logs["acc_motion"] == pytest.approx((14 - 0.5 - 0.25) / 14)
    assert logs["acc_appearance/global_colour"] == 0.0 and logs["acc_appearance/p3_diverse_colour"] == 1.0
    assert logs["acc_appearance"] == pytest.approx(12 / 13)
    chance = method.pretext_chance(batch)
    assert chance["acc_motion/p1_u_block"] == 0.75 and chance["acc_motion/global_u_frame"] == 1.0
    assert chance["acc_motion"] == pytest.approx((13 + 0.75) / 14) and chance["acc_appearance"] == 1.0
    assert set(chance) == {key for key in logs if key.startswith("acc")}
    assert method.pretext_chance() == {}  # the labels' frequencies come with the data


def test_view_synthesis_logs_losses_and_has_no_chance_level():
    method = ViewSynthesis(tiny_backbone(), vae_width=4, latent_channels=2, flow_width=4)
    assert method.pretext_chance() == {}


# ---------------------------------------------------------------------------------- no side effect in eval mode


def method_and_batch(name):
    """A real method on the tiny backbone and a batch it trains on."""
    if name == "transrank":
        return (TransRank(tiny_backbone(), transforms=("1x", "2x"), rotation="cls", aspect="rank"),
                {"clips": clips(2, 2, 3, 4, 16, 16), "transform_ids": torch.tensor([[0, 1], [1, 0]]),
                 "rotations": torch.tensor([[0, 1], [2, 3]]), "aspect_ratios": torch.tensor([[0.5, 1.0], [2.0, 1.0]])})
    if name == "vcop":
        return VCOP(tiny_backbone(), tuple_len=3, head_hidden=8), {"clips": clips(2, 3, 3, 4, 16, 16),
                                                                    "order_label": torch.tensor([0, 4])}
    if name.startswith("sro"):
        contrast = {"sro": "shuffle", "sro_moco": "cosine"}[name]
        method = SRO(tiny_backbone(), num_segments=3, queue_size=8, head_hidden=16, contrast=contrast,
                     projection_dim=12, rate="classification")
        return method, sro_batch([[1, 2, 3], [4, 5, 6], [1, 1, 1], [8, 2, 2]])
    if name.startswith("corp"):
        variant = name[-1]
        method = CORP(tiny_backbone(), variant=variant, projection_dim=4, relation_heads=2, relation_hidden=8)
        return method, corp_batch(3, 2 if variant == "f" else 3)
    if name == "sts":
        return STS(tiny_backbone(), clip_len=8), {
            "clip": clips(2, 3, 8, 16, 16), "motion_labels": torch.zeros(2, 14, dtype=torch.long),
            "appearance_labels": torch.zeros(2, 13, dtype=torch.long)}
    return (ViewSynthesis(tiny_backbone(), vae_width=4, latent_channels=2, flow_width=4),
            {"clips": clips(2, 1, 3, 4, 16, 16)})


METHODS = ("transrank", "vcop", "sro", "sro_moco", "corp_m", "corp_f", "sts", "view_synthesis")


@pytest.mark.parametrize("name", METHODS)
def test_an_eval_mode_step_without_gradients_leaves_the_model_as_it_was(name):
    method, batch = method_and_batch(name)
    method.train()
    method.training_step(batch)  # a training step first: BN statistics, queue and key encoder have moved
    method.eval()
    before = copy.deepcopy(method.state_dict())
    with torch.no_grad():
        loss, logs = method.training_step(batch)
    assert math.isfinite(loss.item()) and logs
    after = method.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert set(method.pretext_chance(batch)) <= set(logs)


@pytest.mark.parametrize("name", ["sro", "sro_moco"])
def test_in_training_the_queue_and_key_encoder_do_move(name):
    """The other side of the property above: the same step in train mode writes the queue and moves K."""
    method, batch = method_and_batch(name)
    method.train()
    queue, pointer = method.queue.keys.clone(), method.queue.pointer.clone()
    key_weights = copy.deepcopy(method.key_projection.state_dict())
    with torch.no_grad():
        next(method.projection.parameters()).add_(1.0)  # so the momentum step has something to move K towards
        method.training_step(batch)
    assert not torch.equal(method.queue.keys, queue) and int(method.queue.pointer) != int(pointer)
    assert any(not torch.equal(v, key_weights[k]) for k, v in method.key_projection.state_dict().items())
