"""The >>> examples in the critique modules are part of their contract."""

import doctest
import importlib

import pytest

MODULES = ["answers", "parse", "bands", "prompt", "steps", "consistency", "judge", "calibration", "combine",
           "labelled_set", "evaluate", "critic"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(f"serving.critique.{name}")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
