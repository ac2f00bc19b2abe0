"""Real Chromium drives the operator console: sign in, see a plot, promote a candidate; a student is kept out."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from feedback import registry
from feedback.db import make_engine, run_in_transaction, session_scope
from feedback.models import Promotion
from serving.model_cache import DEFAULT_CHECKPOINT_ID
from serving.local_app import signup_cookie
from tests.fakes import SCREENSHOTS
from tests.fakes import FakeEngine
from tests.fakes import stream_ask

pytestmark = pytest.mark.browser


def sign_in(page, url: str, name: str, password: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.fill("#username", name)
    page.fill("#password", password)
    page.click("#submit")


def test_operator_sees_plot_and_promotes(served_app_factory, browser, default_model_path: str,
                                         tmp_path: Path) -> None:
    app = served_app_factory(engine=FakeEngine(["The answer is 4."], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    candidate = tmp_path / "cand"
    candidate.mkdir()
    for f in Path(default_model_path).iterdir():
        os.symlink(f, candidate / f.name)
    db = make_engine(app.settings.database.url)
    run_in_transaction(db, lambda s: registry.register_checkpoint(
        session=s, checkpoint_id="rft-browser", path=str(candidate), kind="rft", parent_id=DEFAULT_CHECKPOINT_ID,
        gate_passed=True, metrics={"note": "browser test"}))

    for name, liked in (("fb_student1", True), ("fb_student2", False), ("fb_student3", True)):
        client = httpx.Client(base_url=app.url, headers={"Cookie": signup_cookie(app.url, name)}, timeout=60)
        final = stream_ask(client, "What is 2 + 2?", 16)
        client.post(f"/api/chat/critique/{final['answer_id']}")
        assert client.post("/api/chat/rate", json={"answer_id": final["answer_id"], "liked": liked}).status_code == 200

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    sign_in(page, app.url, "admin", app.admin_password, "/operator/")
    page.wait_for_url("**/operator/", timeout=60_000)
    page.get_by_role("tab", name="Feedback").click()
    plot = page.locator("#mc-feedback-volume img")
    plot.first.wait_for(timeout=60_000)
    assert plot.first.evaluate("img => img.naturalWidth") > 100, "the feedback tab shows a rendered plot"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "console_feedback_plot.png"), full_page=True)

    page.get_by_role("tab", name="Promote / roll back").click()
    dropdown = page.get_by_label("Checkpoint to promote")
    dropdown.click()
    dropdown.fill("rft-browser")
    page.get_by_role("option", name="rft-browser").first.click()
    page.get_by_role("button", name="Promote").click()
    page.wait_for_function("document.body.innerText.includes('Now serving') || "
                           "document.body.innerText.includes('rft-browser') && "
                           "document.body.innerText.includes('flip')", timeout=600_000)
    with session_scope(db) as s:
        promo = s.scalars(select(Promotion)).one()
        assert (promo.to_id, promo.by_user, promo.override) == ("rft-browser", "admin", False)
    assert app.app.state.sync.state.served_id == "rft-browser"


def test_student_cannot_open_console(served_app_factory, browser) -> None:
    app = served_app_factory(engine=FakeEngine(["ok"], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    page = browser.new_page()
    page.goto(f"{app.url}/signup")
    page.fill("#username", "nosy_student")
    page.fill("#password", "correct-horse-9")
    page.click("#submit")
    page.wait_for_url("**/chat/")
    page.goto(f"{app.url}/operator/")
    assert "/login" in page.url
    assert "operator console" not in page.content()
