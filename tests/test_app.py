"""The web app end to end over HTTP: sign-in, a streamed chat through gradio_client, critique, rating, access."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client
from sqlalchemy import select

from feedback.db import make_engine, session_scope
from feedback.models import Critique, Message, Rating
from serving.model_cache import DEFAULT_CHECKPOINT_ID
from serving.local_app import login_cookie, signup_cookie
from tests.fakes import FakeEngine

ANSWER = "We add the ones: $7 + 8 = 15$, so $37 + 48 = 85$. The answer is 85."


def ask(url: str, cookie: str, question: str, max_tokens: int = 64):
    client = Client(f"{url}/chat/", headers={"Cookie": cookie}, verbose=False)
    job = client.submit(question, [], 0.0, max_tokens, api_name="/ask")
    final = job.result(timeout=600)
    return client, job.outputs(), final


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def test_anonymous_is_sent_to_login_and_refused_by_the_chat_api(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine([ANSWER], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    r = httpx.get(f"{app.url}/chat/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = httpx.get(f"{app.url}/chat/gradio_api/info")
    assert r.status_code == 401


def test_session_cookie_is_httponly_and_samesite(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine([ANSWER], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    r = httpx.post(f"{app.url}/signup", data={"username": "cookie_kid", "password": "correct-horse-9"})
    header = r.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header


def test_wrong_password_is_refused(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine([ANSWER], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    r = httpx.post(f"{app.url}/login", data={"username": "admin", "password": "not-it-at-all"})
    assert r.status_code == 303 and "error=" in r.headers["location"] and "set-cookie" not in r.headers


def test_chat_streams_and_stores_answer_and_critique(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine([ANSWER], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    cookie = signup_cookie(app.url, "ann")
    client, outputs, final = ask(app.url, cookie, "What is 37 + 48?")
    assert len(outputs) > 3, "the answer arrives in several updates"
    chat = final[1]
    assert text_of(chat[-1]) == ANSWER
    badge = client.predict(chat, api_name="/critique_ask")
    assert "mc-badge" in badge and "data-score" in badge
    db = make_engine(app.settings.database.url)
    with session_scope(db) as s:
        answer = s.scalars(select(Message).where(Message.role == "assistant")).one()
        assert answer.status == "ok" and answer.content == ANSWER
        assert answer.checkpoint_id == DEFAULT_CHECKPOINT_ID and answer.sampling["temperature"] == 0.0
        critique = s.scalars(select(Critique)).one()
        assert critique.message_id == answer.id and critique.score is not None
        assert s.scalars(select(Rating)).all() == []


def test_students_see_only_their_own_chats(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine([ANSWER], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    ann, bob = signup_cookie(app.url, "ann2"), signup_cookie(app.url, "bob2")
    ask(app.url, ann, "Ann's private question: 2+2?")
    bob_client = Client(f"{app.url}/chat/", headers={"Cookie": bob}, verbose=False)
    who, history = bob_client.predict(api_name="/whoami")
    assert "bob2" in who
    ann_client = Client(f"{app.url}/chat/", headers={"Cookie": ann}, verbose=False)
    _, ann_history = ann_client.predict(api_name="/whoami")
    assert "Ann's private question" in str(ann_history)
    assert "Ann's private question" not in str(history)


def test_operator_can_sign_in(served_app_factory) -> None:
    app = served_app_factory(engine=FakeEngine([ANSWER], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    cookie = login_cookie(app.url, "admin", app.admin_password)
    r = httpx.get(f"{app.url}/api/operator/status", headers={"Cookie": cookie})
    assert r.status_code == 200 and r.json()["served"] == DEFAULT_CHECKPOINT_ID


@pytest.mark.vllm
def test_chat_answers_through_real_vllm(served_app_factory, vllm_supervisor, vllm_engine) -> None:
    from tests.fakes import wait_ready

    wait_ready(vllm_supervisor)
    app = served_app_factory(engine=vllm_engine)
    cookie = signup_cookie(app.url, "vera")
    _, outputs, final = ask(app.url, cookie, "What is 12 + 7?", max_tokens=48)
    partials = [text_of(o[1][-1]) for o in outputs if o[1] and o[1][-1]["role"] == "assistant"]
    assert len({p for p in partials if p}) >= 3, "tokens stream in"
    assert text_of(final[1][-1]).strip()
    r = httpx.get(f"{app.url}/healthz")
    assert r.status_code == 200 and r.json()["checkpoint_id"] == DEFAULT_CHECKPOINT_ID
