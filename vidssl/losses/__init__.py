"""Objectives, one file each, as plain functions or ``nn.Module`` s with no backbone inside.

- :mod:`vidssl.losses.ranking`: TransRank's transformation ranking and aspect-ratio ranking.
- :mod:`vidssl.losses.info_nce`: InfoNCE against a MoCo memory queue (SRO's contrastive term).
- :mod:`vidssl.losses.shuffle_similarity`: SRO's similarity of clips whose segments are shuffled.
- :mod:`vidssl.losses.corp`: CORP_m's pair classification and CORP_f's contrastive objective.
- :mod:`vidssl.losses.sts`: STS's classification and regression targets.
- :mod:`vidssl.losses.view_synthesis`: the view-synthesis terms (photometric, KL, info-max, info-min).
"""

from vidssl.losses.corp import CorpFLoss, CorpMLoss
from vidssl.losses.info_nce import MemoryQueue, info_nce
from vidssl.losses.ranking import AspectRankingLoss, TransformRankingLoss
from vidssl.losses.shuffle_similarity import paired_shuffle_similarity, shuffle_similarity
from vidssl.losses.sts import STSClassificationLoss, STSRegressionLoss
from vidssl.losses.view_synthesis import infomax_loss, infomin_loss, kl_loss, photometric_loss

__all__ = [
    "AspectRankingLoss",
    "CorpFLoss",
    "CorpMLoss",
    "MemoryQueue",
    "STSClassificationLoss",
    "STSRegressionLoss",
    "TransformRankingLoss",
    "info_nce",
    "infomax_loss",
    "infomin_loss",
    "kl_loss",
    "paired_shuffle_similarity",
    "photometric_loss",
    "shuffle_similarity",
]
