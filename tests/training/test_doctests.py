"""The `>>>` examples in the training modules run as tests."""

import doctest
import importlib

import pytest

MODULES = ["training.seed_pool", "training.pool", "training.rft_data", "training.dpo_data", "training.manifest",
           "training.text_similarity", "training.general_data", "training.stats", "training.evaluate",
           "training.gate", "training.adapt", "training.trainer_common", "training.cycle", "training.question_choice",
           "training.launch", "training.scheduler", "training.sampler",
           "training.confidence_report"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and (result.attempted > 0 or name in ())
