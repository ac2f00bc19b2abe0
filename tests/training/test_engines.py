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


def test_cycle_server_starts_once_then_swaps_weights_and_closes(monkeypatch):
    """The cycle's one server: started in dev mode on its own port, reloaded for each new checkpoint."""
    import serving.factory
    from mathchat.settings import Settings
    from serving.factory import PolicyRuntime
    from training.engines import CYCLE_PORT_OFFSET, CycleServer

    started, reloads, closed = [], [], []

    class Supervisor:
        def reload(self, path, checkpoint_id):
            reloads.append((path, checkpoint_id))
            engine._checkpoint_id = checkpoint_id
            return 0.5

        def shutdown(self):
            closed.append(True)

    engine = FakeEngine(checkpoint_id="live")

    def fake_start(settings, path, checkpoint_id, wait=True):
        started.append((settings.vllm.weight_reload, settings.vllm.port, path, checkpoint_id))
        return PolicyRuntime(engine=engine, supervisor=Supervisor())

    monkeypatch.setattr(serving.factory, "start_policy", fake_start)
    app_settings = Settings()
    server = CycleServer(app_settings)
    with server.checkpoint("/ck/live", "live") as e:
        assert e.checkpoint_id == "live"
    with server.checkpoint("/ck/live", "live"):
        pass  # same checkpoint again: nothing to do
    with server.checkpoint("/ck/rft", "rft") as e:
        assert e.checkpoint_id == "rft"
    server.close()
    assert started == [(True, app_settings.vllm.port + CYCLE_PORT_OFFSET, "/ck/live", "live")]
    assert reloads == [("/ck/rft", "rft")] and server.reloads == [0.5] and closed == [True]
    assert app_settings.vllm.weight_reload is False  # the app's own settings never turn dev mode on
