"""STS training targets (TPAMI 2021 §3.5.2, eqs. 8–10; ALGORITHMS.md STS §1.8): the losses against literal
loops, the 1-based / 2D regression targets, predictions decoded back to labels, the method on the tiny
backbone, and the sts_cpu config trained end to end on SynthMotion for every target."""
import math

import numpy as np
import pytest
import torch

from vidssl.data.statistics import APPEARANCE_LABELS, motion_label_specs, two_d_targets
from vidssl.errors import VidsslError
from vidssl.losses.sts import (
    STSClassificationLoss,
    STSRegressionLoss,
    classification_predictions,
    regression_predictions,
    regression_size,
    regression_targets,
)
from vidssl.methods.sts import STS
from vidssl.models import build_backbone
from vidssl.ops.sts_grid import pattern3_coordinates

# The class counts the paper and the authors' code give (written out, not read from the library).
MOTION_CLASSES = (16, 8, 16, 8, 4, 8, 4, 8, 8, 8, 8, 8, 15, 15)
APPEARANCE_CLASSES = (16, 8, 16, 8, 4, 8, 4, 8, 8, 8, 8, 8, 8)


def random_labels(batch, classes, seed):
    rng = np.random.default_rng(seed)
    return torch.tensor(np.stack([rng.integers(0, c, size=batch) for c in classes], axis=1), dtype=torch.long)


def literal_summed_ce(logits, labels, classes):
    """Σ_labels mean_b −log softmax(logits slice)[label], one python loop per label and sample."""
    total, start = 0.0, 0
    for i, count in enumerate(classes):
        piece = logits[:, start: start + count].double()
        start += count
        per_sample = []
        for b in range(logits.shape[0]):
            row = piece[b]
            log_z = math.log(sum(math.exp(float(v)) for v in row))
            per_sample.append(log_z - float(row[labels[b, i]]))
        total += sum(per_sample) / len(per_sample)
    assert start == logits.shape[1]
    return total


def test_the_library_class_counts_are_the_papers():
    assert tuple(s.num_classes for s in motion_label_specs(15)) == MOTION_CLASSES
    assert tuple(s.num_classes for s in APPEARANCE_LABELS) == APPEARANCE_CLASSES
    assert tuple(s.num_classes for s in motion_label_specs(7))[-2:] == (7, 7)


# ---------------------------------------------------------------- classification (eqs. 9–10)


@pytest.mark.parametrize("weights", [(1.0, 0.1), (0.3, 2.0), (0.0, 1.0), (1.0, 0.0)])
def test_classification_loss_is_the_weighted_sum_of_per_label_cross_entropies(weights):
    lam_m, lam_a = weights
    torch.manual_seed(0)
    batch = 5
    motion = 3 * torch.randn(batch, sum(MOTION_CLASSES))
    appearance = 3 * torch.randn(batch, sum(APPEARANCE_CLASSES))
    motion_labels = random_labels(batch, MOTION_CLASSES, 1)
    appearance_labels = random_labels(batch, APPEARANCE_CLASSES, 2)
    loss_fn = STSClassificationLoss(motion_classes=MOTION_CLASSES, appearance_classes=APPEARANCE_CLASSES,
                                    motion_weight=lam_m, appearance_weight=lam_a)
    loss, logs = loss_fn(motion, appearance, motion_labels, appearance_labels)
    expected_m = literal_summed_ce(motion, motion_labels, MOTION_CLASSES)
    expected_a = literal_summed_ce(appearance, appearance_labels, APPEARANCE_CLASSES)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(lam_m * expected_m + lam_a * expected_a, rel=1e-5, abs=1e-6)
    assert logs["loss/motion"] == pytest.approx(expected_m, rel=1e-5)
    assert logs["loss/appearance"] == pytest.approx(expected_a, rel=1e-5)


def test_classification_loss_defaults_to_lambda_m_1_lambda_a_01():
    torch.manual_seed(1)
    motion, appearance = torch.randn(3, sum(MOTION_CLASSES)), torch.randn(3, sum(APPEARANCE_CLASSES))
    ml, al = random_labels(3, MOTION_CLASSES, 3), random_labels(3, APPEARANCE_CLASSES, 4)
    loss, _ = STSClassificationLoss(motion_classes=MOTION_CLASSES, appearance_classes=APPEARANCE_CLASSES)(
        motion, appearance, ml, al)
    expected = (literal_summed_ce(motion, ml, MOTION_CLASSES)
                + 0.1 * literal_summed_ce(appearance, al, APPEARANCE_CLASSES))
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_classification_loss_of_confident_correct_logits_is_near_zero_and_gradients_flow():
    ml, al = random_labels(4, MOTION_CLASSES, 5), random_labels(4, APPEARANCE_CLASSES, 6)
    motion = torch.cat([50 * torch.nn.functional.one_hot(ml[:, i], c).float()
                        for i, c in enumerate(MOTION_CLASSES)], dim=1).requires_grad_()
    appearance = torch.cat([50 * torch.nn.functional.one_hot(al[:, j], c).float()
                            for j, c in enumerate(APPEARANCE_CLASSES)], dim=1)
    loss_fn = STSClassificationLoss(motion_classes=MOTION_CLASSES, appearance_classes=APPEARANCE_CLASSES)
    loss, _ = loss_fn(motion, appearance, ml, al)
    assert loss.item() < 1e-6
    # uniform logits: every label costs log(classes)
    loss, _ = loss_fn(torch.zeros_like(motion), torch.zeros_like(appearance), ml, al)
    uniform = sum(math.log(c) for c in MOTION_CLASSES) + 0.1 * sum(math.log(c) for c in APPEARANCE_CLASSES)
    assert loss.item() == pytest.approx(uniform, rel=1e-6)


def test_classification_loss_rejects_wrong_widths_and_weights():
    loss_fn = STSClassificationLoss(motion_classes=MOTION_CLASSES, appearance_classes=APPEARANCE_CLASSES)
    ml, al = random_labels(2, MOTION_CLASSES, 0), random_labels(2, APPEARANCE_CLASSES, 0)
    good_m, good_a = torch.zeros(2, sum(MOTION_CLASSES)), torch.zeros(2, sum(APPEARANCE_CLASSES))
    with pytest.raises(VidsslError):
        loss_fn(torch.zeros(2, sum(MOTION_CLASSES) - 1), good_a, ml, al)
    with pytest.raises(VidsslError):
        loss_fn(good_m, torch.zeros(2, sum(APPEARANCE_CLASSES) + 1), ml, al)
    with pytest.raises(VidsslError):
        loss_fn(good_m, good_a, ml[:, :13], al)  # one label missing
    for bad in (-0.1, True, "1"):
        with pytest.raises(VidsslError):
            STSClassificationLoss(motion_classes=MOTION_CLASSES, appearance_classes=APPEARANCE_CLASSES,
                                  motion_weight=bad)
        with pytest.raises(VidsslError):
            STSClassificationLoss(motion_classes=MOTION_CLASSES, appearance_classes=APPEARANCE_CLASSES,
                                  appearance_weight=bad)


# ---------------------------------------------------------------- regression (eq. 8, official MSE)


def test_regression_1d_targets_are_the_official_1_based_labels():
    ml = random_labels(6, MOTION_CLASSES, 7)
    targets = regression_targets(ml, "1d")
    assert targets.dtype == torch.float32 and targets.shape == (6, 14)
    for b in range(6):
        for i in range(14):
            assert targets[b, i].item() == ml[b, i].item() + 1


@pytest.mark.parametrize("weights", [(1.0, 0.1), (0.5, 3.0)])
def test_regression_1d_loss_is_weighted_mse_against_labels_plus_one(weights):
    lam_m, lam_a = weights
    torch.manual_seed(2)
    batch = 4
    ml, al = random_labels(batch, MOTION_CLASSES, 8), random_labels(batch, APPEARANCE_CLASSES, 9)
    motion, appearance = 5 * torch.randn(batch, 14), 5 * torch.randn(batch, 13)
    loss_fn = STSRegressionLoss(design="1d", motion_weight=lam_m, appearance_weight=lam_a)
    loss, logs = loss_fn(motion, appearance, ml, al)

    def literal_mse(pred, labels):
        errors = [(float(pred[b, i]) - (int(labels[b, i]) + 1)) ** 2
                  for b in range(pred.shape[0]) for i in range(pred.shape[1])]
        return sum(errors) / len(errors)

    em, ea = literal_mse(motion, ml), literal_mse(appearance, al)
    assert loss.item() == pytest.approx(lam_m * em + lam_a * ea, rel=1e-5)
    assert logs["loss/motion"] == pytest.approx(em, rel=1e-5)
    assert logs["loss/appearance"] == pytest.approx(ea, rel=1e-5)
    # predicting exactly labels + 1 costs nothing
    zero, _ = STSRegressionLoss(design="1d")(ml.float() + 1, al.float() + 1, ml, al)
    assert zero.item() == 0.0


def test_regression_2d_targets_match_the_statistics_module_and_the_papers_example():
    for seed in range(5):
        ml, al = random_labels(7, MOTION_CLASSES, 10 + seed), random_labels(7, APPEARANCE_CLASSES, 20 + seed)
        expected_m, expected_a = two_d_targets(ml.numpy(), al.numpy())
        assert expected_m.shape == (7, 18) and expected_a.shape == (7, 17)
        np.testing.assert_array_equal(regression_targets(ml, "2d").numpy(), expected_m.astype(np.float32))
        np.testing.assert_array_equal(regression_targets(al, "2d").numpy(), expected_a.astype(np.float32))
    # the paper's example (1-based blocks): block 7 → (2, 3), block 1 → (1, 1); 0-based labels 6 and 0
    ml = torch.zeros(2, 14, dtype=torch.long)
    ml[0, 0], ml[1, 0] = 6, 0           # paper's blocks 7 and 1
    ml[0, 8], ml[1, 8] = 3, 5           # triangles 3 and 5 (0-based)
    targets = regression_targets(ml, "2d")
    assert targets[0, :2].tolist() == [2.0, 3.0] and targets[1, :2].tolist() == [1.0, 1.0]
    tri = pattern3_coordinates()
    # motion slots: p1_u (2 values), p1_u_orient, p1_v (2), p1_v_orient, 4 pattern-2 labels → p3_u at column 10
    assert targets[0, 10:12].tolist() == [float(tri[3, 0]), float(tri[3, 1])]
    assert targets[1, 10:12].tolist() == [float(tri[5, 0]), float(tri[5, 1])]


def test_regression_sizes():
    assert (regression_size(14, "1d"), regression_size(13, "1d")) == (14, 13)
    assert (regression_size(14, "2d"), regression_size(13, "2d")) == (18, 17)


def test_regression_2d_loss_is_weighted_mse_against_the_2d_targets():
    torch.manual_seed(3)
    ml, al = random_labels(3, MOTION_CLASSES, 30), random_labels(3, APPEARANCE_CLASSES, 31)
    motion, appearance = 4 * torch.randn(3, 18), 4 * torch.randn(3, 17)
    tm, ta = (torch.as_tensor(t, dtype=torch.float64) for t in two_d_targets(ml.numpy(), al.numpy()))
    expected = ((motion.double() - tm) ** 2).mean().item() + 0.1 * ((appearance.double() - ta) ** 2).mean().item()
    loss, _ = STSRegressionLoss(design="2d")(motion, appearance, ml, al)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_regression_loss_rejects_bad_design_and_weights():
    for design in ("3d", "2D", None):
        with pytest.raises(VidsslError):
            STSRegressionLoss(design=design)
    with pytest.raises(VidsslError):
        STSRegressionLoss(motion_weight=-1.0)
    with pytest.raises(VidsslError):
        STSRegressionLoss(appearance_weight=-0.5)


# ---------------------------------------------------------------- predictions back to labels


@pytest.mark.parametrize("design", ["1d", "2d"])
def test_regression_predictions_recover_labels_from_their_exact_targets(design):
    for seed in range(4):
        ml, al = random_labels(50, MOTION_CLASSES, 40 + seed), random_labels(50, APPEARANCE_CLASSES, 50 + seed)
        assert torch.equal(regression_predictions(regression_targets(ml, design), MOTION_CLASSES, design), ml)
        assert torch.equal(regression_predictions(regression_targets(al, design), APPEARANCE_CLASSES, design), al)
        # a small perturbation still rounds back
        noisy = regression_targets(ml, design) + 0.4 * (2 * torch.rand(50, regression_size(14, design)) - 1)
        assert torch.equal(regression_predictions(noisy, MOTION_CLASSES, design), ml)


def test_every_label_value_round_trips_in_both_designs():
    for classes in (MOTION_CLASSES, APPEARANCE_CLASSES):
        labels = torch.tensor([[v % c for c in classes] for v in range(16)], dtype=torch.long)
        for design in ("1d", "2d"):
            assert torch.equal(regression_predictions(regression_targets(labels, design), classes, design), labels)


@pytest.mark.parametrize("design", ["1d", "2d"])
def test_regression_predictions_clamp_out_of_range_values(design):
    width = regression_size(14, design)
    low = regression_predictions(torch.full((1, width), -100.0), MOTION_CLASSES, design)
    high = regression_predictions(torch.full((1, width), 100.0), MOTION_CLASSES, design)
    for labels in (low, high):
        assert all(0 <= int(labels[0, i]) < c for i, c in enumerate(MOTION_CLASSES))
    # 1-based lowest value → class 0 everywhere that is a single value
    assert all(int(low[0, i]) == 0 for i in range(14) if design == "1d" or i not in (0, 2, 8, 10))
    assert all(int(high[0, i]) == c - 1
               for i, c in enumerate(MOTION_CLASSES) if design == "1d" or i not in (0, 2, 8, 10))
    if design == "2d":
        assert int(low[0, 0]) == 0 and int(high[0, 0]) == 15   # (1, 1) and (4, 4)
        tri = pattern3_coordinates()
        assert tuple(tri[int(low[0, 8])]) == (1, 1) and tuple(tri[int(high[0, 8])]) == (4, 2)


def test_classification_predictions_of_one_hot_logits_are_the_labels():
    for classes in (MOTION_CLASSES, APPEARANCE_CLASSES):
        labels = random_labels(9, classes, 60)
        logits = torch.cat([torch.nn.functional.one_hot(labels[:, i], c).float() - 0.5
                            for i, c in enumerate(classes)], dim=1)
        assert torch.equal(classification_predictions(logits, classes), labels)


# ---------------------------------------------------------------- the method on the tiny backbone

CLIP_LEN = 8
TARGETS = ("classification", "regression_1d", "regression_2d")


def sts_batch(seed=0, batch=2):
    gen = torch.Generator().manual_seed(seed)
    motion_classes = tuple(s.num_classes for s in motion_label_specs(CLIP_LEN - 1))
    return {
        "clip": torch.randint(0, 256, (batch, 3, CLIP_LEN, 16, 16), dtype=torch.uint8, generator=gen),
        "motion_labels": random_labels(batch, motion_classes, seed + 100),
        "appearance_labels": random_labels(batch, APPEARANCE_CLASSES, seed + 200),
    }


def make_sts(target, seed=0, **kwargs):
    torch.manual_seed(seed)
    return STS(build_backbone("tiny", width=0.125), target=target, clip_len=CLIP_LEN, **kwargs)


@pytest.mark.parametrize("target", TARGETS)
def test_training_step_loss_is_the_loss_of_the_heads_outputs(target):
    method = make_sts(target, motion_weight=0.7, appearance_weight=0.2)
    method.eval()  # BN uses running statistics, so predict() and training_step() see the same features
    batch = sts_batch()
    global_classes = tuple(s.num_classes for s in motion_label_specs(CLIP_LEN - 1))[-2:]
    assert global_classes == (7, 7)
    width_m = sum(method.motion_classes) if target == "classification" else regression_size(14, target[-2:])
    width_a = sum(APPEARANCE_CLASSES) if target == "classification" else regression_size(13, target[-2:])
    assert (method.motion_head.out_features, method.appearance_head.out_features) == (width_m, width_a)
    loss, logs = method.training_step(batch)
    assert loss.ndim == 0 and torch.isfinite(loss) and loss.requires_grad
    with torch.no_grad():
        motion, appearance = method.predict(batch["clip"])
    assert motion.shape == (2, width_m) and appearance.shape == (2, width_a)
    if target == "classification":
        reference = STSClassificationLoss(motion_classes=MOTION_CLASSES[:12] + (7, 7),
                                          appearance_classes=APPEARANCE_CLASSES,
                                          motion_weight=0.7, appearance_weight=0.2)
    else:
        reference = STSRegressionLoss(design=target[-2:], motion_weight=0.7, appearance_weight=0.2)
    expected, _ = reference(motion, appearance, batch["motion_labels"], batch["appearance_labels"])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert 0.0 <= logs["acc_motion"] <= 1.0 and 0.0 <= logs["acc_appearance"] <= 1.0
    # the logged accuracies are those of the predicted labels
    if target == "classification":
        pm = classification_predictions(motion, method.motion_classes)
        pa = classification_predictions(appearance, APPEARANCE_CLASSES)
    else:
        pm = regression_predictions(motion, method.motion_classes, target[-2:])
        pa = regression_predictions(appearance, APPEARANCE_CLASSES, target[-2:])
    assert logs["acc_motion"] == pytest.approx((pm == batch["motion_labels"]).float().mean().item())
    assert logs["acc_appearance"] == pytest.approx((pa == batch["appearance_labels"]).float().mean().item())
    loss.backward()
    assert next(method.backbone.parameters()).grad is not None
    # a curriculum batch reports its stage
    _, logs = method.training_step({**batch, "curriculum_stage": torch.tensor([1, 1])})
    assert logs["curriculum_stage"] == 1.0


@pytest.mark.parametrize("target", TARGETS)
def test_training_step_in_train_mode_matches_the_loss_of_the_same_forward(target):
    """In train mode (BN on batch statistics) the loss equals the loss module applied to predict() of the
    same batch: BN in train mode is a deterministic function of the batch."""
    method = make_sts(target)
    method.train()
    batch = sts_batch(seed=3)
    loss, _ = method.training_step(batch)
    motion, appearance = method.predict(batch["clip"])
    expected, _ = method.loss(motion, appearance, batch["motion_labels"], batch["appearance_labels"])
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def train_on_one_batch(method, batch, *, lr, steps=30):
    """AdamW steps on the same batch; (losses, [(acc_motion, acc_appearance)] per step)."""
    optimizer = torch.optim.AdamW(method.parameters(), lr=lr, weight_decay=0.0)
    method.train()
    losses, accuracies = [], []
    for _ in range(steps):
        loss, logs = method.training_step(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        accuracies.append((logs["acc_motion"], logs["acc_appearance"]))
    return losses, accuracies


def test_the_method_learns_a_fixed_batch():
    losses, accuracies = train_on_one_batch(make_sts("classification"), sts_batch(seed=5, batch=4), lr=3e-3)
    assert losses[-1] < 0.1 * losses[0], losses
    assert max(accuracies[0]) < 0.5, accuracies[0]  # chance level at the start: 1/4 to 1/16 per label
    assert min(accuracies[-1]) >= 0.9, accuracies[-1]


def test_regression_method_learns_a_fixed_batch():
    losses, _ = train_on_one_batch(make_sts("regression_2d"), sts_batch(seed=6, batch=4), lr=1e-2)
    assert losses[-1] < 0.1 * losses[0], losses


def test_bad_target_raises():
    with pytest.raises(VidsslError, match="^target: expected one of classification, regression_1d, regression_2d"):
        STS(build_backbone("tiny", width=0.125), target="regression_3d", clip_len=CLIP_LEN)
    with pytest.raises(VidsslError):
        STS(build_backbone("tiny", width=0.125), target="classification", clip_len=CLIP_LEN, motion_weight=-1)


# ---------------------------------------------------------------- the sts_cpu config on SynthMotion

TINY_STS = ["data.synth_per_class=2", "train.epochs=2", "train.batch_size=4", "train.workers=0",
            "train.progress=false", "clip.frames=8", "clip.size=16", "clip.resize=[20,27]", "method.flow_cache=false",
            "method.clips=random",  # one random clip per video (18 samples): the fixed clips of sts_cpu give ~170
            "model.width=0.125"]  # the tiny backbone at 1/8 width: checkpoints 4x smaller


@pytest.mark.parametrize("target", TARGETS)
def test_sts_cpu_trains_on_synthmotion(target, tmp_path):
    from vidssl.recipes.configs import load_run_config
    from vidssl.recipes.pretrain import pretrain

    cfg = load_run_config("sts_cpu", [*TINY_STS, f"method.sts_target={target}"])
    assert (cfg.method.name, cfg.method.sts_target, cfg.method.curriculum) == ("sts", target, "epoch")
    run = tmp_path / "run"
    method, history = pretrain(cfg, run)
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "backbone.pt").is_file()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and len(history) == 2
    for row in history:
        assert math.isfinite(row["loss"]) and row["skipped"] == 0
        assert 0.0 <= row["acc_motion"] <= 1.0 and 0.0 <= row["acc_appearance"] <= 1.0
    assert [row["curriculum_stage"] for row in history] == [1.0, 2.0]  # curriculum_epoch 1 in sts_cpu
    assert method.target == target
