"""The four contracts the parts of vidssl meet each other through, written as ``typing.Protocol``.

One video travels ``Reader`` -> ``Sampler`` -> (collate) -> ``Method.training_step``;
the ``Method`` trains a ``Backbone``, and evaluation sees only the ``Backbone``.
``Record`` is the little a sampler reads of a video record.
Each protocol states the contract as the code keeps it today, so a new reader,
sampler, backbone or method can be checked against it (``tests/test_contracts.py``
checks every one in the package) without reading the other side.

This module sits at the bottom of the layers and imports only the standard
library when run (numpy and torch for type checkers alone), so any layer, the
torch-free command line included, may name these types.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

__all__ = ["TAPS", "Backbone", "Method", "Reader", "Record", "Sampler"]

TAPS = ("stem", "layer1", "layer2", "layer3", "layer4", "pool")
"""Feature taps every backbone offers to ``forward_features``, shallow to deep (``vidssl.models.TAPS``)."""


@runtime_checkable
class Reader(Protocol):
    """Decodes the frames asked for of one video: ``read(path, indices) -> uint8 (len(indices), H, W, 3)`` RGB.

    - ``indices`` (a sequence or an integer array) may repeat and come in any
      order; row ``i`` of the result is frame ``indices[i]``. Each distinct
      frame is decoded once.
    - Frame ``k`` of an encoded file is the frame on screen ``k / fps`` after the
      first shown frame, so indices ``0 .. num_frames - 1`` of the probed
      ``VideoRecord`` are all served.
    - A file that does not decode, or lacks a wanted frame, raises
      ``vidssl.errors.CorruptVideoError`` (the dataset then skips the video).
    - A reader holds no open file between calls, so it pickles into DataLoader
      workers.

    Metadata is not the reader's job: ``vidssl.data.video.probe`` (encoded files)
    and ``probe_frames`` (frame folders) measure a video once, and the dataset
    index caches it in the ``VideoRecord``. Readers are built by kind with
    ``vidssl.data.video.make_reader`` ("pyav", "frames", "cache"); the "cache"
    reader serves frames resized at cache time, so H and W may differ from the
    record's.
    """

    def read(self, path: str, indices: Sequence[int] | np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Record(Protocol):
    """What a sampler reads from a video record: the path its reader opens and how many frames it serves.

    ``vidssl.data.datasets.VideoRecord`` (plus ``label``, ``fps``, ``height``,
    ``width``) and STS's fixed ``ClipRecord`` (plus ``label``, ``start``) both
    qualify. Read-only here, so frozen dataclasses meet it.
    """

    @property
    def path(self) -> str: ...

    @property
    def num_frames(self) -> int: ...


@runtime_checkable
class Sampler(Protocol):
    """A method's data half: ``sampler(record, reader, rng) -> dict`` of uint8 clips and pretext targets.

    - ``VideoDataset`` calls it inside DataLoader workers with
      ``rng = np.random.default_rng([seed, epoch, index])``; every random draw
      comes from ``rng``, so a sample depends on (seed, epoch, index) alone.
    - It reads its frames through ``reader`` (one ``read`` per sample where it
      can) and returns torch tensors: the clips as uint8 ``(C, T, H, W)`` each —
      ``"clips"`` ``(N, C, T, H, W)`` for the multi-clip methods, ``"clip"`` for
      STS — normalised later on the device, the pretext targets under the names
      its method reads, and ``"frame_indices"`` (long) for inspection. The
      dataset adds ``label``, ``video_index`` and ``skipped``; a sampler uses
      none of those keys.
    - A video it cannot use (no frames, a short read) raises
      ``CorruptVideoError``; bad settings raise ``VidsslError`` in the
      constructor, which takes keyword arguments only.
    - It is pure CPU work and picklable (plain attributes, no open files).
    """

    def __call__(self, record: Record, reader: Reader, rng: np.random.Generator) -> dict[str, torch.Tensor]: ...


@runtime_checkable
class Backbone(Protocol):
    """A video network without a classifier that both pre-training and evaluation use.

    An ``nn.Module`` (called as ``backbone(x)``, moved with ``.to``, saved with
    ``state_dict``) whose input ``x`` is float ``(B, 3, T, H, W)``, already
    normalised on the device; another shape or dtype raises ``VidsslError``.

    - ``num_features``: the size of the pooled feature.
    - ``forward(x) -> (B, num_features)``: the average-pooled ``pool`` tap.
    - ``forward_features(x, layers=("pool",), *, pooling="avg")`` -> dict of the
      requested taps of :data:`TAPS`, in TAPS order, computing only up to the
      deepest one: conv taps are ``(B, C, T', H', W')`` maps, ``pool`` is
      ``(B, num_features)`` (``pooling="vcop"`` instead max-pools layer4 over
      2x2 spatial cells and flattens it, VCOP's retrieval feature). An unknown
      tap raises an error that is both a ``VidsslError`` and a ``ValueError``.

    Heads live outside: methods put theirs on ``num_features`` and
    ``vidssl.eval.finetune.Classifier`` adds a new ``nn.Linear``, so there is no
    ``forward_head`` or ``reset_classifier``. Backbones are built by name from
    ``vidssl.models.BACKBONES`` (keyword-only ``width``); at width 1.0 the
    R3D/R(2+1)D/MC3/S3D parameter names and shapes equal torchvision's video
    models without ``fc``.
    """

    num_features: int

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def forward_features(
        self, x: torch.Tensor, layers: Sequence[str] = ("pool",), *, pooling: str = "avg"
    ) -> dict[str, torch.Tensor]: ...


# Not runtime_checkable: ``backbone`` is a registered submodule, which ``isinstance`` against a protocol does not
# see from Python 3.12 on (it looks attributes up statically); check it with ``hasattr`` instead.
class Method(Protocol):
    """A method's model half: heads and loss on a backbone, trained by ``vidssl.engine.fit``.

    An ``nn.Module``; the engine calls nothing of it but ``training_step`` and
    the module's own ``to``, ``train``, ``parameters`` and ``state_dict`` /
    ``load_state_dict`` (checkpoints).

    - ``training_step(batch) -> (loss, logs)``: ``batch`` is the collated
      sampler dict (plus ``label``, ``video_index``, ``skipped``) on the device,
      clips still uint8 (the method makes its network input); ``loss`` is a
      0-dim tensor (anything else, or a non-finite value, stops the run) and
      ``logs`` maps names such as ``"loss/<term>"`` and ``"acc_<task>"`` to
      numbers averaged over the epoch. Under DDP it runs as the wrapped
      module's ``forward``, so gradients synchronise.
    - ``forward(x)``: features ``(B, D)`` of float clips, never the loss.
    - ``backbone``: the :class:`Backbone` being trained (frozen for the view
      generator); the run saves it as ``backbone.pt`` and evaluation uses it.
    """

    backbone: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def training_step(self, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, Any]]: ...
