"""TransRank method: scores, losses and logs on a real (tiny) backbone."""
import pytest
import torch

from vidssl.errors import VidsslError
from vidssl.losses.ranking import TransformRankingLoss, transform_cross_entropy
from vidssl.methods.transrank import TransRank
from vidssl.models import build_backbone


def make_batch(b=2, n=3, t=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    clips = torch.randint(0, 256, (b, n, 3, t, size, size), generator=g, dtype=torch.uint8)
    ids = torch.stack([torch.randperm(n, generator=g) for _ in range(b)])
    return {"clips": clips, "transform_ids": ids}


@pytest.mark.parametrize("loss", ["rank", "ce"])
def test_training_step_uses_the_selected_equation(loss):
    torch.manual_seed(0)
    method = TransRank(build_backbone("tiny"), transforms=("1x", "2x", "rev"), head="mlp", loss=loss, margin=0.5)
    batch = make_batch()
    got, logs = method.training_step(batch)
    scores = method.scores(batch["clips"])
    assert scores.shape == (2, 3, 3)
    expected = (
        TransformRankingLoss(0.5)(scores, batch["transform_ids"])
        if loss == "rank"
        else transform_cross_entropy(scores, batch["transform_ids"])
    )
    assert torch.allclose(got, expected)
    assert set(logs) >= {"acc", "acc/1x", "acc/2x", "acc/rev"}
    assert all(0.0 <= v <= 1.0 for v in logs.values())


def test_gradients_reach_backbone_and_overfitting_one_batch_lowers_the_loss():
    torch.manual_seed(0)
    method = TransRank(build_backbone("tiny"), transforms=("1x", "2x", "rev"), head="fc")
    batch = make_batch(b=4)
    opt = torch.optim.SGD(method.parameters(), lr=0.05, momentum=0.9)
    first, _ = method.training_step(batch)
    first.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.backbone.parameters())
    opt.step()
    for _ in range(15):
        opt.zero_grad()
        loss, _ = method.training_step(batch)
        loss.backward()
        opt.step()
    assert loss.item() < first.item()


def test_forward_returns_backbone_features():
    backbone = build_backbone("tiny")
    method = TransRank(backbone, transforms=("1x", "2x"))
    x = torch.randn(2, 3, 4, 32, 32)
    method.eval()
    assert torch.equal(method(x), backbone(x))


def test_bad_arguments():
    with pytest.raises(VidsslError, match="^loss: expected one of rank, ce, none, got 'hinge'$"):
        TransRank(build_backbone("tiny"), transforms=("1x", "2x"), loss="hinge")
    with pytest.raises(VidsslError, match="at least 2"):
        TransRank(build_backbone("tiny"), transforms=("1x",))


def make_st_batch(b=3, n=4, seed=0):
    batch = make_batch(b=b, n=n, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    batch["aspect_ratios"] = torch.rand(b, n, generator=g) + 0.5
    batch["rotations"] = torch.randint(0, 4, (b, n), generator=g)
    return batch


@pytest.mark.parametrize("rotation", ["cls", "rank"])
def test_transrank_st_total_is_equation_4(rotation):
    """L = L_T + λ_aspect·L_eq3 + λ_rot·L_rot, each term recomputed from the heads by hand."""
    from vidssl.losses.ranking import AspectRankingLoss

    torch.manual_seed(0)
    transforms = ("1x", "2x", "rev", "rev-2x")
    method = TransRank(build_backbone("tiny"), transforms=transforms, head="mlp", margin=0.7, aspect="rank",
                       aspect_margin=0.3, aspect_weight=0.25, rotation=rotation, rotation_weight=0.75)
    method.eval()  # BN in eval mode: the same features on both passes
    batch = make_st_batch()
    total, logs = method.training_step(batch)
    feats = method.clip_features(batch["clips"])
    temporal = TransformRankingLoss(0.7)(method.temporal_head(feats), batch["transform_ids"])
    aspect = AspectRankingLoss(0.3)(method.aspect_head(feats).squeeze(-1), batch["aspect_ratios"])
    rot_scores = method.rotation_head(feats)
    rot = (TransformRankingLoss(0.7)(rot_scores, batch["rotations"]) if rotation == "rank"
           else transform_cross_entropy(rot_scores, batch["rotations"]))
    assert torch.allclose(total, temporal + 0.25 * aspect + 0.75 * rot)
    assert logs["loss/temporal"] == pytest.approx(temporal.item(), rel=1e-5)
    assert logs["loss/aspect"] == pytest.approx(aspect.item(), rel=1e-5)
    assert logs["loss/rotation"] == pytest.approx(rot.item(), rel=1e-5)
    assert 0.0 <= logs["acc_aspect"] <= 1.0 and 0.0 <= logs["acc_rot"] <= 1.0


def test_rotation_alone_is_3d_rotnet_and_has_no_temporal_head():
    torch.manual_seed(0)
    method = TransRank(build_backbone("tiny"), transforms=("1x",), loss="none", rotation="cls")
    batch = make_st_batch(n=1)
    batch["transform_ids"] = torch.zeros(3, 1, dtype=torch.long)
    total, logs = method.training_step(batch)
    expected = 0.5 * transform_cross_entropy(method.rotation_head(method.clip_features(batch["clips"])),
                                             batch["rotations"])
    method.eval()
    assert not hasattr(method, "temporal_head") and "acc" not in logs and "acc_rot" in logs
    assert total.item() > 0 and torch.isfinite(expected)
    with pytest.raises(VidsslError, match="no temporal head"):
        method.scores(batch["clips"])


def test_spatial_heads_are_trained_by_their_losses():
    torch.manual_seed(0)
    method = TransRank(build_backbone("tiny"), transforms=("1x", "2x"), aspect="rank", rotation="cls", head="fc")
    batch = make_st_batch(n=2)
    batch["transform_ids"] = torch.tensor([[0, 1], [1, 0], [0, 1]])
    total, _ = method.training_step(batch)
    total.backward()
    for head in (method.temporal_head, method.aspect_head, method.rotation_head):
        # weights only: a ranking loss sees score differences, so its head's bias gets no gradient
        weight = head.layers[-1].weight
        assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_bad_spatial_arguments():
    with pytest.raises(VidsslError, match="^aspect: "):
        TransRank(build_backbone("tiny"), transforms=("1x", "2x"), aspect="cls")
    with pytest.raises(VidsslError, match="^rotation: "):
        TransRank(build_backbone("tiny"), transforms=("1x", "2x"), rotation="yes")
    with pytest.raises(VidsslError, match="every task is none"):
        TransRank(build_backbone("tiny"), transforms=("1x",), loss="none")
    with pytest.raises(VidsslError, match="^aspect_weight: "):
        TransRank(build_backbone("tiny"), transforms=("1x", "2x"), aspect="rank", aspect_weight=-1)
    with pytest.raises(VidsslError, match="^aspect_margin: "):
        TransRank(build_backbone("tiny"), transforms=("1x", "2x"), aspect="rank", aspect_margin=-1)


def test_per_transformation_logs_are_ranking_accuracy_and_top1_recall():
    # 1 video, 3 clips: clip of 1x predicted 1x, clip of 2x predicted rev, clip of rev predicted rev
    scores = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 1.5], [0.0, 0.5, 3.0]]])
    targets = torch.tensor([[0, 1, 2]])
    logs = TransRank._accuracy_logs(scores, targets, ("1x", "2x", "rev"), prefix="acc")
    assert logs["acc"] == pytest.approx(2 / 3)
    assert logs["top1/1x"] == 1.0 and logs["top1/2x"] == 0.0 and logs["top1/rev"] == 1.0
    # ranking on column 2x: the 2x clip (1.0) beats the 1x clip (0.0) and the rev clip (0.5)
    assert logs["acc/2x"] == 1.0 and logs["acc/rev"] == 1.0 and logs["acc/1x"] == 1.0
    rot = TransRank._accuracy_logs(scores[..., :3], targets, ("0deg", "90deg", "180deg"), prefix="acc_rot")
    assert set(rot) >= {"acc_rot", "acc_rot/90deg", "top1_rot/90deg"}
