"""Pretext samplers: one file per method, video record + reader + rng → clips and pretext targets."""

from vidssl.data.pretext.transrank import TransRankSampler

__all__ = ["TransRankSampler"]
