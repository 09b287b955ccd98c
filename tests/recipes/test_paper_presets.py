"""Every paper preset's hyper-parameters pinned to its paper (STS here; TransRank, SRO and CORP in test_cli.py),
and warm-up as a fraction of training, which keeps CORP's "first 5 % epochs" when a preset changes its epochs."""
import math

import pytest

from vidssl.engine.optim import build_scheduler
from vidssl.engine.trainer import TrainConfig
from vidssl.errors import VidsslError
from vidssl.recipes.configs import load_run_config

STS_PRESETS = ("sts_c3d", "sts_r3d18", "sts_r2plus1d", "sts_r2plus1d_k400_curriculum", "sts_s3dg",
               "sts_targets/classification", "sts_targets/regression_1d", "sts_targets/regression_2d")


@pytest.mark.parametrize("name", STS_PRESETS)
def test_sts_presets_train_as_section_4_says(name):
    """STS §4 "Self-supervised Pre-training Stage": batch 30, SGD lr 5e-4 divided by 10 every 6 epochs, 25 epochs,
    λ_m = 1, λ_a = 0.1, frames resized to 128 x 171, random 112² crop and horizontal flip; finetuning lr 3e-3."""
    cfg = load_run_config(name)
    t, m = cfg.train, cfg.method
    assert (t.optimizer, t.lr, t.batch_size, t.epochs, t.schedule, t.gamma) == ("sgd", 5e-4, 30, 25, "multistep", 0.1)
    assert [round(f * t.epochs) for f in t.milestones] == [6, 12, 18, 24]
    assert (t.warmup_epochs, t.warmup_fraction) == (0.0, 0.0)
    assert (m.name, m.motion_weight, m.appearance_weight) == ("sts", 1.0, 0.1)
    assert cfg.clip.flip_p == 0.5 and cfg.eval.finetune.lr == 3e-3
    if name != "sts_s3dg":
        assert (cfg.clip.frames, cfg.clip.size, tuple(cfg.clip.resize)) == (16, 112, (128, 171))
        assert (cfg.eval.frames, cfg.eval.size, cfg.eval.resize_short) == (16, 112, 128)


def test_sts_presets_datasets_backbones_and_targets():
    """UCF101 presets: every non-overlapping 16-frame clip; K-400 presets: one random consecutive clip per video
    (§4); backbones of Table 1/5 (the STS code's one-block-per-stage R3D and R(2+1)D); Table 5's S3D-G row at
    64 x 224²; Table 3's curriculum row on K-400 with the 1D regression target its section studies; Table 4's
    three targets."""
    expected = {
        "sts_c3d": ("ucf101", "fixed", "c3d", "classification"),
        "sts_r3d18": ("ucf101", "fixed", "r3d_10", "classification"),
        "sts_r2plus1d": ("ucf101", "fixed", "r2plus1d_10", "classification"),
        "sts_r2plus1d_k400_curriculum": ("kinetics", "random", "r2plus1d_10", "regression_1d"),
        "sts_s3dg": ("kinetics", "random", "s3dg", "classification"),
    }
    for name, (fmt, clips, backbone, target) in expected.items():
        cfg = load_run_config(name)
        assert (cfg.data.format, cfg.method.clips, cfg.model.backbone, cfg.method.sts_target) == (
            fmt, clips, backbone, target), name
    curriculum = load_run_config("sts_r2plus1d_k400_curriculum").method
    assert (curriculum.curriculum, curriculum.curriculum_patience, curriculum.curriculum_min_delta) == (
        "plateau", 2, 0.01)
    for name in STS_PRESETS:
        if name != "sts_r2plus1d_k400_curriculum":
            assert load_run_config(name).method.curriculum == "none", name
    s3dg = load_run_config("sts_s3dg")
    assert (s3dg.clip.frames, s3dg.clip.size, s3dg.eval.frames, s3dg.eval.size) == (64, 224, 64, 224)
    assert [load_run_config(f"sts_targets/{t}").method.sts_target
            for t in ("classification", "regression_1d", "regression_2d")] == [
        "classification", "regression_1d", "regression_2d"]


def test_transrank_presets_train_as_appendix_c1_says():
    """TransRank App. C.1: SGD, batch 64, lr 0.1, cosine annealing, 16 x 112² clips with jitter U[0.8, 1.2] at
    base interval 2; finetuning SGD lr 0.16, batch 128, 100 epochs, x0.1 after 3/5 and 4/5 of them."""
    for name in ("transrank_t_r3d18", "transrank_st_r3d18", "transcls_r3d18", "speednet_r3d18", "rotnet3d_r3d18"):
        cfg = load_run_config(name)
        t = cfg.train
        assert (t.optimizer, t.batch_size, t.lr, t.schedule, t.momentum, t.weight_decay) == (
            "sgd", 64, 0.1, "cosine", 0.9, 1e-4), name
        assert (cfg.clip.base_interval, tuple(cfg.clip.jitter)) == (2, (0.8, 1.2)), name
        assert cfg.method.margin == 1.0, name
    finetune = load_run_config("transrank_t_r3d18")
    f = finetune.eval.finetune
    assert (f.lr, f.batch_size, f.epochs) == (0.16, 128, 100)
    assert (finetune.eval.finetune.momentum, finetune.eval.finetune.weight_decay) == (0.9, 1e-4)
    st = load_run_config("transrank_st_r3d18").method
    assert (st.aspect_weight, st.rotation_weight) == (0.5, 0.5)  # λ of eq. (4)


def test_corp_warmup_is_five_percent_of_every_preset_length():
    """CORP §4.1: "linear warm-up learning rate for the first 5% epochs", for 200 (CORP_m), 267/400 (Table 6b's
    equal-compute K = 3, 2) and 800 (K-400, §4.2) epochs alike; SimCLR (CVRL) keeps its 200."""
    epochs = {"corp_m_r3d50": 200, "corp_ablation/k3": 267, "corp_ablation/k2": 400, "corp_f_r3d50": 800,
              "simclr_r3d50": 200}
    for name, total in epochs.items():
        t = load_run_config(name).train
        assert (t.epochs, t.warmup_fraction, t.warmup_epochs) == (total, 0.05, 0.0), name
        scheduler = build_scheduler(_sgd(), t, steps_per_epoch=10)
        lrs = _factors(scheduler, t.epochs * 10)
        peak = max(range(len(lrs)), key=lambda i: lrs[i])
        assert peak == round(0.05 * total * 10) - 1, name  # the last warm-up step reaches the full lr


def test_warmup_fraction_scales_with_the_epochs_and_excludes_warmup_epochs():
    short = TrainConfig(epochs=10, lr=1.0, schedule="constant", warmup_fraction=0.2)
    long = TrainConfig(epochs=40, lr=1.0, schedule="constant", warmup_fraction=0.2)
    assert _factors(build_scheduler(_sgd(), short, steps_per_epoch=5), 50)[:11] == pytest.approx(
        [(i + 1) / 10 for i in range(10)] + [1.0])
    long_factors = _factors(build_scheduler(_sgd(), long, steps_per_epoch=5), 200)
    assert long_factors[39] == 1.0 and long_factors[38] == pytest.approx(39 / 40)
    with pytest.raises(VidsslError, match="set one of them"):
        build_scheduler(_sgd(), TrainConfig(epochs=10, warmup_epochs=1, warmup_fraction=0.1), steps_per_epoch=5)
    with pytest.raises(VidsslError, match="train.warmup_fraction=1.5"):
        build_scheduler(_sgd(), TrainConfig(epochs=10, warmup_fraction=1.5), steps_per_epoch=5)


def _sgd():
    import torch

    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)


def _factors(scheduler, steps):
    """The lr at each of ``steps`` steps, as a fraction of the base lr."""
    factors = []
    base = scheduler.base_lrs[0]
    for _ in range(steps):
        factors.append(scheduler.optimizer.param_groups[0]["lr"] / base)
        scheduler.optimizer.step()
        scheduler.step()
    assert all(math.isfinite(f) for f in factors)
    return factors
