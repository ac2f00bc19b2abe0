"""Shared fixtures. Integration fixtures start the real services themselves (vLLM, the app, PostgreSQL schemas)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from mathchat.settings import Settings, VLLMSettings  # noqa: E402
from tests.fakes import wait_ready  # noqa: E402
from serving.local_app import ServedApp, free_port, isolated_settings  # noqa: E402


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def browser():
    """Debian's Chromium through Playwright (Playwright can't download browsers here)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (make test installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


make_settings = isolated_settings
"""Settings isolated in a temp state dir with a fresh SQLite DB (the model cache stays shared)."""


@pytest.fixture(scope="session")
def default_model_path() -> str:
    """The embedded default model as an HF folder (converted once into the shared cache)."""
    from serving.model_cache import resolve_model_path

    return resolve_model_path(Settings())


@pytest.fixture(scope="session")
def vllm_supervisor(tmp_path_factory: pytest.TempPathFactory, default_model_path: str):
    """One real supervised vLLM server for the whole test session (eager mode: 40 s start instead of 100 s)."""
    from serving.model_cache import DEFAULT_CHECKPOINT_ID
    from serving.vllm_supervisor import VLLMSupervisor

    tmp = tmp_path_factory.mktemp("vllm")
    settings = make_settings(tmp, vllm=VLLMSettings(port=free_port(), enforce_eager=True, logs_dir=tmp / "logs",
                                                     startup_timeout_s=900, restart_backoff_s=0.5))
    supervisor = VLLMSupervisor(settings)
    supervisor.start(default_model_path, DEFAULT_CHECKPOINT_ID, wait=True)
    yield supervisor
    supervisor.shutdown()


@pytest.fixture(scope="session")
def vllm_engine(vllm_supervisor):
    from serving.vllm_engine import OpenAIEngine

    engine = OpenAIEngine(vllm_supervisor.router)
    yield engine
    engine.close()


@pytest.fixture(autouse=True)
def shared_vllm_serves_base(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that uses the session-wide vLLM server finds it ready on the base checkpoint, and leaves it so.

    A test that promotes, reloads or kills it cannot poison later tests, even when its own assertions fail:
    the server is switched back (and a warning names the test) in this finalizer, which runs after the
    test's own fixtures (its apps and their sync loops) are stopped.
    """
    if "vllm_supervisor" not in request.fixturenames and "vllm_engine" not in request.fixturenames:
        yield
        return
    supervisor = request.getfixturevalue("vllm_supervisor")
    restore_base(supervisor, request.getfixturevalue("default_model_path"), f"before {request.node.nodeid}")
    yield
    restore_base(supervisor, request.getfixturevalue("default_model_path"), f"after {request.node.nodeid}")


def restore_base(supervisor, model_path: str, when: str) -> None:
    """Wait for the shared server, and switch it back to the base checkpoint if something changed it."""
    import warnings

    from serving.model_cache import DEFAULT_CHECKPOINT_ID

    wait_ready(supervisor)
    served = supervisor.active.checkpoint_id
    routed = supervisor.router.current().checkpoint_id
    if DEFAULT_CHECKPOINT_ID != served or DEFAULT_CHECKPOINT_ID != routed:
        warnings.warn(f"shared vLLM server served {served!r} {when}; switching it back to the base checkpoint")
        supervisor.switch(model_path, DEFAULT_CHECKPOINT_ID)
        wait_ready(supervisor)
    assert supervisor.active.checkpoint_id == DEFAULT_CHECKPOINT_ID


@pytest.fixture
def served_app_factory(tmp_path: Path) -> Iterator:
    """Start apps on temp state; stopped at test end."""
    import app as web

    started: list[ServedApp] = []

    def start(engine=None, runtime=None, **overrides: object) -> ServedApp:
        settings = make_settings(tmp_path, **overrides)
        served = ServedApp(web.create_app(settings, engine=engine, runtime=runtime, watch_interval_s=1.0),
                           free_port(), settings)
        started.append(served)
        return served

    yield start
    for s in started:
        s.stop()
