"""A pretraining run folder, found from whatever names it, and the files it holds.

``vidssl pretrain`` writes a run folder: ``config.yaml``, ``checkpoints/last.pt``
(after every epoch), ``logs/`` and, once finished, ``backbone.pt``; evaluations
add ``eval_<protocol>.json``, ``results.json``, ``report.md`` and ``plots/``.
Commands that read a run (``eval``, ``embed``, ``export``) accept it three ways,
the folder, ``RUN/backbone.pt`` or ``RUN/checkpoints/last.pt``, and
:meth:`Run.resolve` turns each into the same :class:`Run`. A ``.pt`` file
elsewhere (a copied ``backbone.pt``) is a run of the folder holding it, which
may have no config.yaml.

Starting a run over an old one, moving one aside and what a resume may change
are :mod:`vidssl.engine.run_folder`'s.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from torch import nn

from vidssl.engine.checkpoint import load_checkpoint, load_matching_state_dict
from vidssl.engine.run_folder import CHECKPOINT
from vidssl.errors import VidsslError
from vidssl.models import build_backbone
from vidssl.recipes.configs import load_run_config
from vidssl.recipes.pretrain import load_backbone
from vidssl.recipes.run_config import RunConfig

RUN_SOURCES = "give a run folder, its backbone.pt or checkpoints/last.pt"
BACKBONE_FILE = "backbone.pt"
CONFIG_FILE = "config.yaml"


class NamedBackbone(NamedTuple):
    """A loaded backbone, its builder name and width (None = the builder's default), and the file it came from."""

    module: nn.Module
    name: str
    width: float | None
    weights: Path


@dataclass(frozen=True)
class Run:
    """A run folder, and the ``.pt`` file that named it if a file did (``file`` is None for a folder)."""

    folder: Path
    file: Path | None = None

    @classmethod
    def resolve(cls, source: str | Path, *, expected: str = RUN_SOURCES) -> Run:
        """The run of a folder, of ``RUN/backbone.pt`` or of ``RUN/checkpoints/last.pt`` (any file in
        ``checkpoints/`` belongs to the folder above). ``expected`` ends the message when ``source`` is missing."""
        path = Path(source)
        if path.is_dir():
            return cls(path)
        if path.is_file():
            return cls(path.parent.parent if path.parent.name == "checkpoints" else path.parent, path)
        raise VidsslError(f"{path}: does not exist ({expected})")

    @property
    def name(self) -> str:
        """The run folder's name, which figures and fused results call the run by."""
        return self.folder.resolve().name

    @property
    def config_path(self) -> Path:
        return self.folder / CONFIG_FILE

    @property
    def has_config(self) -> bool:
        return self.config_path.is_file()

    @property
    def backbone_path(self) -> Path:
        """Where a finished run keeps its backbone (it may not exist yet)."""
        return self.folder / BACKBONE_FILE

    @property
    def checkpoint_path(self) -> Path:
        """Where the run keeps its last training checkpoint (it may not exist yet)."""
        return self.folder / CHECKPOINT

    @property
    def results_path(self) -> Path:
        return self.folder / "results.json"

    @property
    def report_path(self) -> Path:
        return self.folder / "report.md"

    @property
    def plots_dir(self) -> Path:
        return self.folder / "plots"

    @property
    def weights(self) -> Path:
        """The file the backbone comes from: the file named, else ``backbone.pt``, else ``checkpoints/last.pt``
        (a run that has not finished yet)."""
        if self.file is not None:
            return self.file
        found = next((p for p in (self.backbone_path, self.checkpoint_path) if p.is_file()), None)
        if found is None:
            raise VidsslError(f"{self.folder}: no {BACKBONE_FILE} or {CHECKPOINT.as_posix()} in this folder "
                              f"({RUN_SOURCES})")
        return found

    def load_config(self, overrides: Sequence[str] = ()) -> RunConfig:
        """The run's ``config.yaml`` with ``overrides``; an error when the folder has none."""
        if not self.has_config:
            raise VidsslError(f"{self.config_path}: config.yaml of the run not found (expected next to the "
                              f"checkpoint or in RUN/)")
        return load_run_config(str(self.config_path), list(overrides))

    def load_backbone(self) -> nn.Module:
        """The backbone of :attr:`weights` (see :meth:`load_named_backbone`)."""
        return self.load_named_backbone().module

    def load_named_backbone(self) -> NamedBackbone:
        """The backbone of a ``backbone.pt``, or the ``backbone.`` weights of a training checkpoint's method put
        into the backbone that the run's config.yaml names."""
        weights = self.weights
        try:
            state = load_checkpoint(weights)
        except VidsslError:
            raise VidsslError(
                f"{weights}: not a vidssl backbone.pt or training checkpoint (unreadable by torch.load)"
            ) from None
        if "model" in state and "state_dict" not in state:
            return self.backbone_of_training_checkpoint(weights, state)
        module = load_backbone(weights)  # checks the file and builds the backbone
        return NamedBackbone(module, state["backbone"], state["width"], weights)

    def backbone_of_training_checkpoint(self, checkpoint: Path, state: dict) -> NamedBackbone:
        """The ``backbone.`` entries of ``state["model"]`` (the method's weights) in the config's backbone."""
        model = self.load_config().model
        prefix = "backbone."
        weights = {key[len(prefix):]: value for key, value in state["model"].items() if key.startswith(prefix)}
        if not weights:
            raise VidsslError(f"{checkpoint}: the method's weights have no '{prefix}' entries")
        width = {} if model.width is None else {"width": model.width}
        backbone = build_backbone(model.backbone, **width)
        load_matching_state_dict(
            backbone, weights, source=f"{checkpoint} (backbone weights, {model.backbone} of {self.config_path})"
        )
        return NamedBackbone(backbone, model.backbone, model.width, checkpoint)
