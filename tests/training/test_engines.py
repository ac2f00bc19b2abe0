"""Engines for checkpoints: backend choice and the readiness wait."""

import pytest

from serving.engine import EngineError, Health
from tests.fakes import FakeEngine
from training.engines import resolve_backend, wait_healthy


def test_explicit_backend_is_kept_and_auto_picks_an_installed_one():
    assert resolve_backend("transformers") == "transformers"
    assert resolve_backend("auto") in ("vllm", "transformers")


def test_wait_healthy_raises_for_an_engine_that_never_comes_up():
    class Down(FakeEngine):
        def health(self):
            return Health(ok=False, backend="vllm", checkpoint_id="", detail="no server ready")

    with pytest.raises(EngineError, match="not healthy"):
        wait_healthy(Down(), timeout_s=0.0, poll_s=0.0)
    wait_healthy(FakeEngine(), timeout_s=0.0)
