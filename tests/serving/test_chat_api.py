"""serving/chat_api.py in-process (FastAPI TestClient, a real SQLite store, a stand-in for the cookie check)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from feedback.db import session_scope
from feedback.models import Rating
from serving.chat_api import build_chat_router
from serving.web_auth import SessionUser
from tests.serving.test_chat_service import SAMPLING, db, make_service, new_user  # noqa: F401 - db is a fixture


@pytest.fixture
def api(db):  # noqa: ANN001, ANN201, F811
    uid = new_user(db, "ann")
    service = make_service(db)
    answer_id = list(service.ask(uid, None, "What is 37 + 48?", SAMPLING))[-1].answer_id
    auth = SimpleNamespace(user_from_request=lambda request: SessionUser(uid, "ann", "student"))
    app = FastAPI()
    app.include_router(build_chat_router(service.settings, service, auth), prefix="/api/chat")
    return SimpleNamespace(client=TestClient(app), answer_id=answer_id, db=db)


def test_rate_with_a_correction_stores_it_and_says_so(api) -> None:  # noqa: ANN001
    r = api.client.post("/api/chat/rate", json={"answer_id": api.answer_id, "liked": False, "reason": "wrong answer",
                                                "correction": "85"})
    assert r.status_code == 200 and "your answer `85`" in r.json()["message"]
    with session_scope(api.db) as s:
        assert s.scalar(select(Rating.correction)) == "85"


def test_rate_refuses_a_correction_with_a_thumbs_up(api) -> None:  # noqa: ANN001
    r = api.client.post("/api/chat/rate", json={"answer_id": api.answer_id, "liked": True, "correction": "85"})
    assert r.status_code == 400 and "thumbs-down only" in r.json()["detail"]


def test_rate_refuses_an_overlong_correction_before_the_store(api) -> None:  # noqa: ANN001
    r = api.client.post("/api/chat/rate", json={"answer_id": api.answer_id, "liked": False, "correction": "9" * 65})
    assert r.status_code == 422
    with session_scope(api.db) as s:
        assert s.scalars(select(Rating)).all() == []
