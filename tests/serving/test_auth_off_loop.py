"""A slow database stalls only the requests that wait for it: the auth reads of the pages and of every Gradio
call run off the event loop, and a PostgreSQL server that never answers fails a connect in seconds."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from feedback.db import make_engine
from serving.local_app import signup_cookie
from tests.fakes import FakeEngine


def test_slow_auth_reads_do_not_block_other_requests(served_app_factory) -> None:  # noqa: ANN001
    app = served_app_factory(engine=FakeEngine())
    cookie = {"Cookie": signup_cookie(app.url, "patient_student")}
    auth = app.app.state.auth
    real = auth.user_from_request

    def slow(request):  # noqa: ANN001, ANN202 - a database that takes 2 s to answer
        time.sleep(2.0)
        return real(request)

    auth.user_from_request = slow
    with ThreadPoolExecutor(4) as pool:
        waiting = [pool.submit(httpx.get, f"{app.url}{path}", headers=cookie, timeout=60)
                   for path in ("/chat/", "/chat/config", "/operator/")]
        time.sleep(0.3)  # they are inside the slow read now
        t0 = time.monotonic()
        health = httpx.get(f"{app.url}/login", timeout=60)
        took = time.monotonic() - t0
        for future in waiting:
            future.result()
    assert health.status_code == 200 and took < 1.0, f"/login waited {took:.2f} s behind the slow auth reads"


@pytest.mark.timeout(60)
def test_a_postgresql_server_that_never_answers_fails_the_connect_quickly() -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts TCP, never speaks the protocol
    port = silent.getsockname()[1]
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/test", connect_timeout_s=1)
    outcome: list[str] = []

    def connect() -> None:
        try:
            engine.connect().close()
            outcome.append("connected")
        except Exception as exc:  # noqa: BLE001
            outcome.append(type(exc).__name__)

    worker = threading.Thread(target=connect, daemon=True)
    t0 = time.monotonic()
    worker.start()
    worker.join(15)
    try:
        assert outcome and outcome[0] != "connected" and time.monotonic() - t0 < 10, outcome
    finally:
        engine.dispose()
        silent.close()
