"""An external vLLM (MATHCHAT_VLLM__URL): a promotion never loads weights in the app; it says an operator must
switch the server, and health/status name the checkpoint the server really serves."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from feedback import registry
from feedback.db import make_engine, run_in_transaction, upgrade_db
from mathchat.settings import VLLMSettings
from serving.factory import PolicyRuntime
from serving.live_model import LiveModelSync, SwitchableEngine
from console.promotion import promote
from serving.router import Endpoint, EndpointRouter
from serving.vllm_engine import OpenAIEngine
from serving.local_app import login_cookie, signup_cookie


class FakeOpenAIServer:
    """/v1/models (what it serves, changeable), /health and a streaming /v1/chat/completions, on loopback."""

    def __init__(self, models: list[tuple[str, str]]) -> None:
        self.models = models
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def _json(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path == "/v1/models":
                    self._json({"data": [{"id": i, "root": r} for i, r in outer.models]})
                else:
                    self._json({})

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for chunk in ({"choices": [{"delta": {"content": "The answer is 4."}}]},
                              {"choices": [{"delta": {}, "finish_reason": "stop"}]},
                              {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5}}):
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def external():
    server = FakeOpenAIServer([("base", "/models/base")])
    yield server
    server.close()


@pytest.fixture
def no_weights_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading weights in this process fails the test."""
    import serving.hf_engine

    def refuse(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the app loaded weights in process despite an external vLLM server")

    monkeypatch.setattr(serving.hf_engine, "HFEngine", refuse)


@pytest.fixture
def db(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ext.db'}"
    upgrade_db(url)
    engine = make_engine(url)
    for ckpt, kind, status in (("base", "base", "live"), ("rft-1", "rft", "candidate")):
        run_in_transaction(engine, lambda s, c=ckpt, k=kind, st=status: registry.register_checkpoint(
            session=s, checkpoint_id=c, path=f"/ckpt/{c}", kind=k, status=st, gate_passed=True))
    yield engine
    engine.dispose()


def test_a_promotion_waits_for_an_operator_and_never_loads_weights(external, db, no_weights_here) -> None:  # noqa: ANN001
    openai = OpenAIEngine(EndpointRouter(Endpoint(external.url, "base", "base")))
    policy = SwitchableEngine(openai)
    sync = LiveModelSync(None, db, PolicyRuntime(engine=openai, external_url=external.url), policy,  # type: ignore[arg-type]
                         served_id="base")
    promote(db, "rft-1", by_user="olga")
    sync.request_switch("rft-1")
    status = sync.wait_for("rft-1", 10)
    assert status.state == "needs_operator" and status.finished
    assert "an operator must switch the external server" in status.error and "rft-1" in status.error
    assert policy.checkpoint_id == "base" and status.served == "base"

    external.models = [("rft-1", "/mnt/gpu-host/ckpt/rft-1")]  # the operator restarted the server on rft-1
    assert sync.sync() is not None
    done = sync.status("rft-1")
    assert done.state == "done" and policy.checkpoint_id == "rft-1"
    assert "serves it as 'rft-1'" in done.report.notes[0]


def test_health_and_answers_name_the_checkpoint_the_external_server_serves(
        external, served_app_factory, no_weights_here) -> None:  # noqa: ANN001
    external.models = [("someone-elses-model", "/srv/other")]
    app = served_app_factory(vllm=VLLMSettings(url=external.url))
    health = httpx.get(f"{app.url}/healthz").json()
    assert health["checkpoint_id"] == "someone-elses-model"  # not the database's live checkpoint
    assert health["external"]["models"][0]["id"] == "someone-elses-model"

    cookie = signup_cookie(app.url, "ext_student")
    lines = httpx.post(f"{app.url}/api/chat/ask", json={"question": "What is 2+2?"},
                       headers={"Cookie": cookie, "Origin": app.url}).text.splitlines()
    assert json.loads(lines[-1])["checkpoint_id"] == "someone-elses-model"

    admin = login_cookie(app.url, "admin", app.admin_password)
    deadline = time.monotonic() + 20
    while (status := httpx.get(f"{app.url}/api/operator/status", headers={"Cookie": admin}).json())[
            "switch"]["state"] == "pending" and time.monotonic() < deadline:
        time.sleep(0.2)  # the sync loop ticks every second
    assert status["external"]["served_checkpoint"] == "someone-elses-model"
    assert status["switch"]["state"] == "needs_operator"
    assert "an operator must switch the external server" in status["switch"]["error"]
