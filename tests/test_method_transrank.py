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
    with pytest.raises(VidsslError, match="method.loss"):
        TransRank(build_backbone("tiny"), transforms=("1x", "2x"), loss="hinge")
    with pytest.raises(VidsslError, match="at least 2"):
        TransRank(build_backbone("tiny"), transforms=("1x",))
