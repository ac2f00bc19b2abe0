"""Smoke tests of the benches in bench/: each runs the bench's own ``main`` at tiny sizes and checks its last line.

Benches that need a vLLM server are pointed at the session-wide one (``vllm_url``) instead of starting their
own; none of them restarts, promotes or reloads it.
"""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def vllm_url(vllm_supervisor) -> str:
    """Base URL of the session-wide vLLM server (tests/conftest.py), serving the base checkpoint."""
    return vllm_supervisor.router.current().base_url


def last_json_line(out: str) -> dict:
    """The bench's last stdout line, which must be one JSON object."""
    lines = out.strip().splitlines()
    assert lines, "the bench printed nothing"
    result = json.loads(lines[-1])
    assert isinstance(result, dict), lines[-1]
    return result
