"""The floors hold: pyproject's import-linter contracts pass on the repo, and an upward import breaks them.

Each check runs ``lint-imports`` in a subprocess whose working directory and import path hold only the tree
it checks (this process has already imported the real packages, which would shadow a copy). No model, no
server: a few seconds of import-graph building.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cli", "console", "training", "serving", "feedback", "mathchat")


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the packages under ``tree`` with ``tree/pyproject.toml``'s contracts."""
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONSAFEPATH": "1"}
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The packages' Python files and pyproject.toml, copied (data files and caches left out)."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=lambda folder, names: [n for n in names if not (n.endswith(".py") or
                                                                               (Path(folder) / n).is_dir())
                                                      or n == "__pycache__"])
    shutil.copy(ROOT / "app.py", tmp_path / "app.py")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_repo_keeps_its_floor_contracts() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_copy_of_the_repo_keeps_them_too(tree_copy: Path) -> None:
    result = lint_imports(tree_copy)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("module, upward", [
    ("mathchat/settings.py", "import serving.engine"),
    ("feedback/store.py", "from serving.critique.types import CritiqueResult"),
    ("serving/engine.py", "import training.formats"),
    ("training/cycle.py", "import console.tables"),
    ("console/tables.py", "import cli.main"),
])
def test_an_upward_import_breaks_the_layers_contract(tree_copy: Path, module: str, upward: str) -> None:
    _append(tree_copy / module, upward + "  # deliberately upward")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout and module.removesuffix(".py").replace("/", ".") in result.stdout


def test_only_the_cli_may_import_app(tree_copy: Path) -> None:
    _append(tree_copy / "serving" / "ui.py", "import app  # deliberately upward")
    result = lint_imports(tree_copy)
    assert result.returncode != 0
    assert "Only the CLI imports app.py" in result.stdout and "BROKEN" in result.stdout
