"""The benchmark behind ``vidssl benchmark``: every method's CPU preset, every protocol, one report — the CPU
model zoo (issue 7).

A benchmark preset (``configs/benchmark/cpu_small.yaml``, read by :mod:`.preset`) lists *rows*: a method's run
config, a ``kind`` (self-supervised ``pretrain``, ``random_init`` or ``supervised``, :mod:`.supervised`) and a
``status``. The work is cut into cells (:mod:`.cells`), each saved the moment it is done, so a killed benchmark
continues from the finished cells (:mod:`.cache` says which are finished):

- a row's pretraining for one seed, in ``OUT/runs/<row>/seed<k>/`` (the ``vidssl pretrain`` run folder, resumed
  from its last epoch);
- each protocol of that (row, seed): ``OUT/cells/<row>/seed<k>/<protocol>.json`` with the metrics, the chance
  level, the seconds it took and the hash of the resolved config.

Then ``OUT/results.json`` (every number), ``OUT/report.md`` (the method × protocol table of :mod:`.table`, mean ±
std over seeds when there are several, the chance levels, links to each row's resolved ``config.yaml``, the git
revision and the wall time; :mod:`.report`) and one bar plot per protocol family in ``OUT/plots/``.
:func:`run_benchmark` (:mod:`.run`) does all of it.
"""
from vidssl.recipes.benchmark.preset import (
    PROTOCOLS,
    BenchmarkPreset,
    BenchmarkRow,
    load_preset,
    packaged_preset_names,
    row_config,
    row_config_dict,
)
from vidssl.recipes.benchmark.run import run_benchmark
from vidssl.recipes.benchmark.table import table_of_results

__all__ = [
    "PROTOCOLS", "BenchmarkPreset", "BenchmarkRow", "load_preset", "packaged_preset_names", "row_config",
    "row_config_dict", "run_benchmark", "table_of_results",
]
