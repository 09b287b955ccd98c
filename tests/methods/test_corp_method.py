"""CORP_m / CORP_f / SimCLR as methods: one training step each, the projection, and CORP_f's negatives under DDP."""
import os

import pytest
import torch

from forked_ddp import needs_fork, run_forked
from vidssl.engine.distributed import cleanup, init_distributed
from vidssl.errors import VidsslError
from vidssl.losses.corp import CorpFLoss, CorpMLoss
from vidssl.methods.corp import CORP, corp_projection
from vidssl.models import build_backbone
from vidssl.models.heads import MLPHead


def corp_batch(videos=3, clips=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    starts = torch.stack([torch.randperm(50, generator=gen)[:clips] for _ in range(videos)])
    return {
        "clips": torch.randint(0, 255, (videos, clips, 3, 4, 16, 16), generator=gen, dtype=torch.uint8),
        "starts": starts,
    }


def make_corp(variant="m", **kwargs):
    torch.manual_seed(0)
    options = dict(projection_dim=16, relation_heads=8, relation_hidden=8)
    options.update(kwargs)
    return CORP(build_backbone("tiny", width=0.125), variant=variant, **options)


def test_projection_has_depth_layers_with_batch_norm_between():
    head = corp_projection(64, depth=3, width=32, out_dim=8)
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    norms = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert [(m.in_features, m.out_features) for m in linears] == [(64, 32), (32, 32), (32, 8)]
    assert len(norms) == 2
    assert isinstance(corp_projection(64, depth=1), MLPHead) and corp_projection(64, depth=1).hidden_dims == ()
    assert corp_projection(64).hidden_dims == (64, 64)  # width defaults to the feature size
    with pytest.raises(VidsslError, match="^depth: expected an integer >= 1, got 0$"):
        corp_projection(64, depth=0)


@pytest.mark.parametrize(("variant", "clips", "kwargs", "keys"), [
    ("m", 4, {}, {"acc_pair", "acc_order"}),
    ("m", 3, {"task": "order", "attention": "mixed", "relation_layers": 1}, {"acc_pair", "acc_order"}),
    ("f", 2, {}, {"loss/nce", "loss/order", "acc_contrast", "acc_order"}),
    ("f", 2, {"order": False}, {"loss/nce", "acc_contrast"}),
])
def test_one_training_step_is_the_objective_on_the_normalised_projections(variant, clips, kwargs, keys):
    method = make_corp(variant, **kwargs)
    batch = corp_batch(clips=clips)
    method.eval()  # deterministic BN so the loss can be recomputed
    loss, logs = method.training_step(batch)
    assert set(logs) == keys and torch.isfinite(loss)
    z = method.embed(batch["clips"])
    assert z.shape == (3, clips, 16)
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(3, clips))
    if variant == "m":
        expected, _ = CorpMLoss(kwargs.get("task", "corp"))(z, batch["starts"], method.classifier)
    else:
        expected, _ = CorpFLoss(0.1)(z, batch["starts"], method.classifier)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    method.train()
    loss, _ = method.training_step(batch)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in method.backbone.parameters())
    if method.classifier is not None:
        assert all(p.grad is not None for p in method.classifier.parameters())
    else:
        assert method.classifier is None


def test_corp_rejects_mismatched_options_naming_the_parameter():
    with pytest.raises(VidsslError, match="^variant: "):
        make_corp("x")
    with pytest.raises(VidsslError, match="^task: "):
        make_corp("f", task="order")
    with pytest.raises(VidsslError, match="^order: "):
        make_corp("m", order=False)
    with pytest.raises(VidsslError, match="^projection_depth: "):
        make_corp("m", projection_depth=0)
    with pytest.raises(VidsslError, match=r"clips \(B, K, C, T, H, W\)"):
        make_corp("m").training_step({"clips": torch.zeros(2, 3, 4, 16, 16, dtype=torch.uint8),
                                      "starts": torch.zeros(2, 3)})


def _ddp_worker(out_dir: str) -> None:
    info = init_distributed("cpu")
    method = make_corp("f").eval()  # same weights on both processes (seeded), deterministic BN
    batch = corp_batch(videos=2, clips=2, seed=10 + info.rank)  # each process its own videos
    loss, logs = method.training_step(batch)
    loss.backward()
    grad = next(p for p in method.backbone.parameters() if p.grad is not None).grad.clone()
    torch.save({"loss": loss.detach(), "z": method.embed(batch["clips"]).detach(), "starts": batch["starts"],
                "grad_norm": grad.norm()}, os.path.join(out_dir, f"rank{info.rank}.pt"))
    cleanup()


@needs_fork
def test_corp_f_under_two_process_ddp_contrasts_against_every_processs_clips(tmp_path):
    assert run_forked(_ddp_worker, tmp_path) == [0, 0]
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    every_clip = torch.cat([r["z"].reshape(-1, 16) for r in ranks])  # rank 0's 4 clips, then rank 1's
    method = make_corp("f").eval()
    for rank, saved in enumerate(ranks):
        global_loss, _ = CorpFLoss(0.1)(saved["z"], saved["starts"], method.classifier,
                                        negatives=every_clip, offset=4 * rank)
        local_only, _ = CorpFLoss(0.1)(saved["z"], saved["starts"], method.classifier)
        assert saved["loss"].item() == pytest.approx(global_loss.item(), rel=1e-5)
        assert saved["loss"].item() > local_only.item()  # 4 more negatives than alone
        assert saved["grad_norm"] > 0
