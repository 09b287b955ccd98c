"""What a ``vidssl eval`` protocol is, as a record of the table in :mod:`vidssl.recipes.protocols.runners`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Protocol:
    """One ``vidssl eval`` protocol.

    ``subsections`` are the ``eval.<name>`` sections of its own settings; every
    protocol also reads ``eval``'s shared keys (clips, size, layer, batch size).
    ``figures`` are the PNG files in ``plots/`` it may draw (some only with some
    settings). ``data_section`` is where ``--data/--format/--annotations`` go.
    """

    name: str
    runner: Callable[..., dict]
    description: str
    subsections: tuple[str, ...]
    figures: tuple[str, ...]
    data_section: str = "eval"
    fusable: bool = False
    benchmarked: bool = False
