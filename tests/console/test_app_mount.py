"""The mounted console over HTTP: anonymous and student clients are refused on /operator and /api/operator;
an operator promotes through gradio_client and sees the switch report.

Runs the real app (uvicorn in a thread, temp state, SQLite) with a FakeEngine; no vLLM.
"""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client
from sqlalchemy.orm import Session

from feedback import registry
from feedback.db import make_engine
from serving.model_cache import DEFAULT_CHECKPOINT_ID
from serving.local_app import login_cookie, signup_cookie
from tests.fakes import FakeEngine

GRADIO_CALLS = ["promote", "rollback", "runs", "candidate", "feedback", "promote_panel", "start_cycle"]


@pytest.fixture
def served(served_app_factory):  # noqa: ANN001, ANN201
    return served_app_factory(engine=FakeEngine(checkpoint_id=DEFAULT_CHECKPOINT_ID))


def promotions_count(served) -> int:  # noqa: ANN001
    db = make_engine(served.settings.database.url)
    try:
        with Session(db) as s:
            return len(registry.list_promotions(session=s))
    finally:
        db.dispose()


@pytest.mark.parametrize("who", ["anonymous", "student"])
def test_console_and_operator_api_refuse_non_operators(served, who: str) -> None:  # noqa: ANN001
    headers = {} if who == "anonymous" else {"Cookie": signup_cookie(served.url, "stu1")}
    refused = {401, 403}
    with httpx.Client(base_url=served.url, headers=headers, follow_redirects=False) as http:
        page = http.get("/operator/")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        assert http.get("/operator/config").status_code in refused
        assert http.get("/operator/gradio_api/info").status_code in refused
        for name in GRADIO_CALLS:
            assert http.post(f"/operator/gradio_api/call/{name}", json={"data": []}).status_code in refused, name
        join = http.post("/operator/gradio_api/queue/join", json={"data": [], "fn_index": 0, "session_hash": "x"})
        assert join.status_code in refused
        assert http.get("/api/operator/status").status_code in refused
        assert http.post("/api/operator/promote", json={"checkpoint_id": DEFAULT_CHECKPOINT_ID,
                                                        "override": True}).status_code in refused
        assert http.post("/api/operator/rollback").status_code in refused
    with pytest.raises(Exception):  # noqa: B017  (gradio_client cannot even read the config)
        Client(f"{served.url}/operator/", headers=headers, verbose=False)
    assert promotions_count(served) == 0


def test_operator_promotes_through_gradio_client_and_sees_the_switch(served) -> None:  # noqa: ANN001
    live = make_engine(served.settings.database.url)
    try:
        with Session(live) as s, s.begin():
            base = registry.get_checkpoint(session=s, checkpoint_id=DEFAULT_CHECKPOINT_ID)
            registry.register_checkpoint(session=s, checkpoint_id="rft-test", path=base.path, kind="rft",
                                         parent_id=base.id, gate_passed=False,
                                         metrics={"gate": {"promotable": False, "reasons": ["too small a gain"]}})
    finally:
        live.dispose()
    cookie = login_cookie(served.url, "admin", served.admin_password)
    client = Client(f"{served.url}/operator/", headers={"Cookie": cookie}, verbose=False)
    assert "too small a gain" in client.predict("rft-test", api_name="/gate")
    refused = client.predict("rft-test", False, api_name="/promote")
    assert refused.startswith("**Not promoted:**")
    done = client.predict("rft-test", True, api_name="/promote")  # blocks until the switch is done
    assert "gate overridden" in done and "Switched" in done and "→ **rft-test**" in done
    assert served.app.state.sync.state.served_id == "rft-test"
    status = httpx.get(f"{served.url}/api/operator/status", headers={"Cookie": cookie}).json()
    assert status["live_in_db"] == "rft-test" and status["served"] == "rft-test"
    back = client.predict(api_name="/rollback")
    assert f"→ **{DEFAULT_CHECKPOINT_ID}**" in back
    assert promotions_count(served) == 2
