"""The supervised row (TransRank Table 9, "labels used in pretraining"): the random-init backbone trained by
cross-entropy on every labelled training video, then scored like the self-supervised rows."""
from __future__ import annotations

from pathlib import Path

import torch

from vidssl.config.loading import to_dict
from vidssl.data.datasets import VideoDataset
from vidssl.data.transforms import frames_for_modality
from vidssl.engine.trainer import fit
from vidssl.eval.finetune import Classifier, TrainClipSampler, default_finetune_augment
from vidssl.recipes.pretrain import random_init_backbone, save_backbone
from vidssl.recipes.protocols.configured import eval_clips
from vidssl.recipes.run_config import RunConfig, write_yaml_atomic

SUPERVISED_NOTE = (
    "The supervised row used labels in pretraining (TransRank Table 9): the random-init backbone trained by "
    "cross-entropy on every labelled training video, then scored like the self-supervised rows."
)


def supervised_pretrain(cfg: RunConfig, data: dict, run_dir: Path, *, resume: bool = False):
    """TransRank Table 9's "labels used in pretraining": the random-init backbone trained by cross-entropy on
    every labelled training video, with the ``train`` section's schedule and the finetuning clips and augmentation
    of ``eval``; writes config.yaml, checkpoints, logs and backbone.pt as a pretraining run does.

    Built from :class:`Classifier`, :class:`TrainClipSampler` and ``fit`` rather than
    :func:`vidssl.eval.finetune.finetune`, which tunes a private copy, tests it, and starts over when killed:
    here a killed run resumes from its last epoch like every other row's pretraining. Returns (backbone, history).
    """
    clips = eval_clips(cfg)
    finetune_cfg = cfg.eval.finetune
    backbone = random_init_backbone(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)  # the classifier layer's initial weights depend on the seed alone
        model = Classifier(backbone, num_classes=len(data["classes"]), dropout=finetune_cfg.dropout,
                           modality=clips.modality)
    sampler = TrainClipSampler(
        clip_len=frames_for_modality(clips.clip_len, clips.modality), interval=clips.interval,
        augment=default_finetune_augment(clips.size, scale=finetune_cfg.scale, flip_p=finetune_cfg.flip_p),
    )
    dataset = VideoDataset(data["train"], data["reader"], sampler, seed=cfg.train.seed)
    write_yaml_atomic(run_dir / "config.yaml", to_dict(cfg))
    history = fit(model, dataset, cfg=cfg.train, run_dir=run_dir, resume=resume)
    save_backbone(run_dir / "backbone.pt", model.backbone, name=cfg.model.backbone, width=cfg.model.width)
    return model.backbone, history
