"""A cancellable sample (``PolicyEngine.sample(cancel=...)``) over HTTP: read as a stream it gives what a plain
request gives, and once its event is set it raises ``SampleCancelled`` and closes the connection, so the server
stops generating (vLLM aborts a request whose client went away). The real servers are in test_vllm_engine.py and
test_hf_engine.py; here a loopback server shows the client's side exactly."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mathchat.sampling import SamplingSettings
from serving.engine import SampleCancelled
from serving.router import Endpoint, EndpointRouter
from serving.vllm_engine import OpenAIEngine
from tests.fakes import CancelAfter

QUESTION = [{"role": "user", "content": "Count to a hundred."}]


class SlowSSEServer:
    """Streams ``tokens`` pieces to each of the request's n choices, one piece every 10 ms, and records whether
    the client went away before the end."""

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens
        self.payloads: list[dict] = []
        self.client_left = threading.Event()
        self.finished = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

            def _send(self, body: dict | str) -> None:
                data = body if isinstance(body, str) else json.dumps(body)
                self.wfile.write(f"data: {data}\n\n".encode())
                self.wfile.flush()

            def do_POST(self) -> None:  # noqa: N802
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.payloads.append(payload)
                n = payload.get("n", 1)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for t in range(outer.tokens):
                        for i in range(n):
                            self._send({"choices": [{"index": i, "delta": {"content": f"{t + i} "}}]})
                        time.sleep(0.01)
                    for i in range(n):
                        reason = "stop" if i == 0 else "length"
                        self._send({"choices": [{"index": i, "delta": {}, "finish_reason": reason}]})
                    self._send({"choices": [], "usage": {"completion_tokens": outer.tokens * n}})
                    self._send("[DONE]")
                    outer.finished.set()
                except (BrokenPipeError, ConnectionResetError):
                    outer.client_left.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def slow_server():
    servers: list[SlowSSEServer] = []

    def make(tokens: int) -> tuple[SlowSSEServer, OpenAIEngine]:
        server = SlowSSEServer(tokens)
        servers.append(server)
        return server, OpenAIEngine(EndpointRouter(Endpoint(server.url, "m", "ckpt")), timeout_s=30)

    yield make
    for server in servers:
        server.close()


def test_a_cancellable_sample_that_is_not_cancelled_gives_every_choice(slow_server) -> None:
    server, engine = slow_server(tokens=3)
    samples = engine.sample(QUESTION, SamplingSettings(temperature=0.8, max_tokens=8), n=2, cancel=threading.Event())
    assert [s.text for s in samples] == ["0 1 2 ", "1 2 3 "]
    assert [s.finish_reason for s in samples] == ["stop", "length"]
    # the server sets `finished` just after it writes [DONE], which the client may read first: wait for it
    assert server.payloads[0]["stream"] is True and server.payloads[0]["n"] == 2 and server.finished.wait(5)


def test_a_cancelled_sample_raises_and_the_server_sees_the_client_leave(slow_server) -> None:
    server, engine = slow_server(tokens=3000)  # 30 s of stream, were it read to the end
    cancel = CancelAfter(5)
    with pytest.raises(SampleCancelled):
        engine.sample(QUESTION, SamplingSettings(temperature=0.8, max_tokens=4000), n=2, cancel=cancel)
    assert cancel.looks == 5, "the stream was left at the first line read after the cancel"
    assert server.client_left.wait(10), "the connection was closed, so the server stops generating"
    assert not server.finished.is_set()


def test_a_sample_cancelled_before_it_starts_sends_nothing(slow_server) -> None:
    server, engine = slow_server(tokens=3)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(SampleCancelled, match="before the request was sent"):
        engine.sample(QUESTION, SamplingSettings(temperature=0.8, max_tokens=8), n=2, cancel=cancel)
    assert server.payloads == []
