"""Faults through the app: the model server dies mid-answer (the supervisor restarts it: the one kill of the
session's server in the suite, as each restart costs a minute); the database is locked while rating."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from feedback.db import make_engine, session_scope
from feedback.models import Message, Rating
from serving.factory import PolicyRuntime
from serving.local_app import signup_cookie
from tests.fakes import stream_ask, wait_ready
from tests.fakes import FakeEngine


@pytest.mark.vllm
def test_vllm_killed_mid_answer_fails_cleanly_and_recovers(served_app_factory, vllm_supervisor, vllm_engine) -> None:
    wait_ready(vllm_supervisor)
    app = served_app_factory(runtime=PolicyRuntime(engine=vllm_engine, supervisor=vllm_supervisor))
    cookie = signup_cookie(app.url, "crash_kid")
    old_pid, restarts = vllm_supervisor.active.proc.pid, vllm_supervisor.restarts
    client = httpx.Client(base_url=app.url, headers={"Cookie": cookie}, timeout=600)

    def kill_after_some_tokens(i: int) -> None:
        if i == 1:  # the answer has started streaming; the rest is still to be generated
            vllm_supervisor.active.kill()

    final = stream_ask(client, "Write the numbers from 1 to 200 separated by commas.", 600, kill_after_some_tokens)
    assert final["status"] == "failed"
    assert "could not be finished" in final["error"] and "saved" in final["error"]
    db = make_engine(app.settings.database.url)
    with session_scope(db) as s:
        answer = s.get(Message, final["answer_id"])
        question = s.get(Message, final["question_id"])
        assert answer.status == "failed" and answer.content.strip(), "partial text is kept"
        assert question.content.startswith("Write the numbers from 1 to 200")
    deadline = time.monotonic() + 30
    while vllm_supervisor.restarts == restarts and time.monotonic() < deadline:
        time.sleep(0.5)
    assert vllm_supervisor.restarts == restarts + 1, "the supervisor restarts a server that died"
    wait_ready(vllm_supervisor)
    assert vllm_supervisor.active.proc.pid != old_pid
    assert "start:" in vllm_supervisor.active.log_path.read_text(), "server logs are kept"
    assert stream_ask(client, "What is 2 + 2?", 16)["status"] == "ok"


def test_rating_while_db_locked_is_refused_then_accepted(served_app_factory, tmp_path: Path) -> None:
    app = served_app_factory(engine=FakeEngine(["The answer is 4."], checkpoint_id="base-smollm2-135m-instruct"))
    cookie = signup_cookie(app.url, "lock_kid")
    client = httpx.Client(base_url=app.url, headers={"Cookie": cookie}, timeout=60)
    final = stream_ask(client, "What is 2 + 2?", 16)
    db_file = app.settings.database.url.removeprefix("sqlite:///")
    locker = sqlite3.connect(db_file, timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        r = client.post("/api/chat/rate", json={"answer_id": final["answer_id"], "liked": False,
                                                "reason": "wrong answer"})
    finally:
        locker.rollback()
        locker.close()
    assert r.status_code == 503 and "nothing was saved" in r.json()["detail"]
    for _ in range(2):  # retry, then a double click: one row
        r = client.post("/api/chat/rate", json={"answer_id": final["answer_id"], "liked": False,
                                                "reason": "wrong answer"})
        assert r.status_code == 200
    with session_scope(make_engine(app.settings.database.url)) as s:
        assert len(s.scalars(select(Rating)).all()) == 1


def test_bad_chat_input_gets_clear_errors(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine(["ok"], checkpoint_id="base-smollm2-135m-instruct"))
    cookie = signup_cookie(app.url, "bad_input_kid")
    client = httpx.Client(base_url=app.url, headers={"Cookie": cookie}, timeout=60)
    r = client.post("/api/chat/ask", json={"question": "   "})
    assert r.status_code == 400 and "type a question" in r.json()["detail"]
    r = client.post("/api/chat/ask", json={"question": "x" * 5000})
    assert r.status_code == 400 and "limit is 4000" in r.json()["detail"]
    r = client.post("/api/chat/ask", json={"question": 12345})
    assert r.status_code == 422
    r = client.post("/api/chat/rate", json={"answer_id": 999999, "liked": True})
    assert r.status_code == 400
    r = httpx.post(f"{app.url}/api/chat/ask", json={"question": "hi"})
    assert r.status_code == 401


def test_json_api_streams_before_the_answer_is_finished(served_app_factory) -> None:
    import threading

    gate = threading.Event()

    def slow_reply(messages, sampling) -> str:  # noqa: ANN001
        return "one two three four five"

    class GatedEngine(FakeEngine):
        def stream_chat(self, messages, sampling):  # noqa: ANN001, ANN202
            for i, event in enumerate(super().stream_chat(messages, sampling)):
                if i == 2:
                    assert gate.wait(30), "the client never saw the first pieces"
                yield event

    app = served_app_factory(engine=GatedEngine([slow_reply], checkpoint_id="base-smollm2-135m-instruct"))
    client = httpx.Client(base_url=app.url, headers={"Cookie": signup_cookie(app.url, "stream_kid")}, timeout=60)
    final = stream_ask(client, "count please", 16, on_line=lambda i: gate.set() if i == 1 else None)
    assert final["status"] == "ok"
