"""Package faces are light and say what they export.

Importing a package (``import vidssl.eval``) must not load the optional heavy
libraries (matplotlib, scikit-learn, TensorBoard): the modules that need them
are imported on their own (``vidssl.eval.plots``). The command line's entry
point and the contracts do not even load torch, so ``vidssl --help`` is quick.
Imports run in fresh interpreters, since this test process has imported everything already.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FACES = ("vidssl.data", "vidssl.models", "vidssl.losses", "vidssl.methods", "vidssl.engine", "vidssl.eval")
HEAVY = ("matplotlib", "sklearn", "tensorboard")
TORCH_FREE = ("vidssl", "vidssl.contracts", "vidssl.cli.main")

# Imports the faces one after another in one interpreter (each costs torch's start-up once, not six times);
# modules are only ever added, so the first face after which a heavy module is loaded is the one that loaded it.
FIRST_FACE_LOADING_HEAVY = """
import importlib, sys
for face in {faces!r}:
    importlib.import_module(face)
    loaded = [name for name in {heavy!r} if name in sys.modules]
    if loaded:
        print(face, "loads", ", ".join(loaded))
        break
"""


def run_python(code: str) -> str:
    """stdout of ``python -c code`` in a fresh interpreter at the repository root (fails on an error)."""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_no_package_face_loads_matplotlib_sklearn_or_tensorboard():
    assert run_python(FIRST_FACE_LOADING_HEAVY.format(faces=FACES, heavy=HEAVY)) == ""


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch(module):
    code = f"import sys, {module}; print(sorted(set(sys.modules) & {{'torch', 'numpy', 'matplotlib'}}))"
    assert run_python(code) == "[]"


@pytest.mark.parametrize("face", FACES)
def test_face_lists_its_public_names_and_each_exists(face):
    package = importlib.import_module(face)
    assert package.__doc__, f"{face} has no docstring"
    assert package.__all__, f"{face} exports nothing"
    assert len(set(package.__all__)) == len(package.__all__)
    missing = [name for name in package.__all__ if not hasattr(package, name)]
    assert not missing, f"{face}.__all__ names what it lacks: {missing}"
