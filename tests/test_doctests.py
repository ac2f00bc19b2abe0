"""Every `>>>` example in the packages runs (they document the pure helpers, so they must stay true)."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for package in ("mathchat", "feedback", "serving", "training", "console", "cli", "bench")
    for path in (ROOT / package).rglob("*.py")
    if "migrations" not in path.parts and ">>>" in path.read_text(encoding="utf-8")
)


def test_doctest_modules_were_found() -> None:
    assert len(MODULES) >= 20


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
