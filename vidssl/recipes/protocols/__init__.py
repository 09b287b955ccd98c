"""The ``vidssl eval`` protocols: one record each, in one table.

A :class:`Protocol` (:mod:`.record`) names its runner,
the ``eval.*`` sub-sections holding its settings (their defaults are the config
dataclasses of :mod:`vidssl.config.schema`), the figures it may draw, where
``--data`` points it, whether ``--fuse`` and ``vidssl benchmark`` take it, and
what it reports. Every list of protocol names derives from :data:`PROTOCOLS`:
the CLI's choices (read when argparse needs them, so ``vidssl --help`` imports no
torch), the benchmark's columns (:data:`BENCHMARK_PROTOCOLS`), the ``--fuse``
and ``--data`` rules of :mod:`vidssl.recipes.protocols.evaluate`.

The modules beside this one: ``configured`` (the eval library called with a run
config's settings, shared with quickstart and the benchmark), ``runners`` (one
function per protocol, and the table itself), ``fusion`` (two streams), ``evaluate`` (one protocol on
one run, results written).
"""
from vidssl.recipes.protocols.record import Protocol
from vidssl.recipes.protocols.runners import BENCHMARK_PROTOCOLS, PROTOCOLS

__all__ = ["BENCHMARK_PROTOCOLS", "PROTOCOLS", "Protocol"]
