"""Real Chromium (Debian's) drives the student page: sign in, streamed answer from real vLLM, KaTeX, badge,
thumbs-down with a reason that lands in the DB, and chat HTML rendered inert."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from feedback.db import make_engine, session_scope
from feedback.models import Message, Rating
from tests.fakes import SCREENSHOTS, wait_ready

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser):
    return browser.new_page(viewport={"width": 1280, "height": 900})


def sign_up(page, url: str, name: str) -> None:
    page.goto(f"{url}/signup")
    page.fill("#username", name)
    page.fill("#password", "correct-horse-9")
    page.click("#submit")
    page.wait_for_selector("#mc-question textarea", timeout=60_000)


def bot_text(page) -> str:
    bots = page.locator("#mc-chat .bot, #mc-chat [data-testid=bot]")
    return bots.last.inner_text() if bots.count() else ""


@pytest.mark.vllm
def test_student_chat_in_chromium(served_app_factory, vllm_supervisor, vllm_engine, page) -> None:
    wait_ready(vllm_supervisor)
    app = served_app_factory(engine=vllm_engine)
    sign_up(page, app.url, "chromium_student")
    page.fill("#mc-question textarea", r"What is $\frac{3}{4} \times 8$? Explain each step.")
    page.click("#mc-send")
    seen: set[str] = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        text = bot_text(page)
        if text:
            seen.add(text)
        if page.locator("#confidence-badge .mc-badge[data-state=scored]").count():
            break
        page.wait_for_timeout(50)
    assert len(seen) >= 3, f"the answer should stream in pieces, saw {len(seen)} states"
    assert page.locator("#mc-chat .katex").count() >= 1, "LaTeX is rendered by KaTeX"
    badge = page.inner_text("#confidence-badge")
    assert "score" in badge or "unscored" in badge or "Not verified" in badge  # the real model's answer varies
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat_with_badge.png"), full_page=True)

    page.click("#mc-chat button[aria-label=Feedback]")
    page.locator("#mc-chat .extra-feedback-option", has_text="wrong answer").click()
    page.wait_for_function("document.querySelector('#mc-status').innerText.includes('saved')", timeout=30_000)
    db = make_engine(app.settings.database.url)
    with session_scope(db) as s:
        rating = s.scalars(select(Rating)).one()
        answer = s.get(Message, rating.message_id)
        assert (rating.liked, rating.reason, answer.role, answer.status) == (False, "wrong answer", "assistant", "ok")

    page.get_by_text("Comment on your last rating").click()
    page.fill("#mc-correction :is(input, textarea)", "6")
    page.click("#mc-send-comment")
    page.wait_for_function("document.querySelector('#mc-status').innerText.includes('your answer')", timeout=30_000)
    with session_scope(db) as s:
        assert s.scalars(select(Rating)).one().correction == "6"


PATHOLOGICAL_LATEX = [
    r"$\def\a{\a}\a$",  # infinite macro expansion
    "$" + r"\frac{1}{" * 60 + "x" + "}" * 60 + "$",  # deep nesting
    r"$$\begin{matrix}" + "&".join(["x"] * 500) + r"\end{matrix}$$",  # very wide
    r"\( unclosed $$ \frac{ $ \[",  # unbalanced delimiters
]
HOSTILE_ANSWER = ('<script>window.__pwned=3</script><img src=x onerror="window.__pwned=4">'
                  '<a href="javascript:window.__pwned=5">click</a> The answer is 2.')


@pytest.mark.parametrize("question", [
    "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\"> what is 1+1?",
    *PATHOLOGICAL_LATEX,
])
def test_hostile_input_and_output_are_rendered_inert(served_app_factory, page, question: str) -> None:
    from serving.model_cache import DEFAULT_CHECKPOINT_ID
    from tests.fakes import FakeEngine

    app = served_app_factory(engine=FakeEngine([HOSTILE_ANSWER + " " + question], checkpoint_id=DEFAULT_CHECKPOINT_ID))
    sign_up(page, app.url, "chromium_hostile")
    page.fill("#mc-question textarea", question)
    page.click("#mc-send")
    page.wait_for_selector("#confidence-badge .mc-badge[data-state=scored]", timeout=120_000)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#mc-chat script").count() == 0
    assert page.locator("#mc-chat [onerror]").count() == 0
    assert page.locator("#mc-chat a[href^='javascript']").count() == 0
    assert "The answer is 2" in page.inner_text("#mc-chat"), "the page still renders the answer"
    page.fill("#mc-question textarea", "still responsive?")
    page.click("#mc-send")
    page.wait_for_function("document.querySelector('#mc-chat').innerText.includes('still responsive?')",
                           timeout=60_000)


def test_badge_says_not_verified_when_nothing_can_check_the_answer(served_app_factory, page) -> None:
    """No reference, no checkable step, no verifier, and only 3 of 4 samples agree: the badge shows plain words,
    no number. (The shipped verifier would vouch for this answer: it is right.)"""
    from mathchat.settings import CritiqueSettings
    from serving.model_cache import DEFAULT_CHECKPOINT_ID
    from tests.fakes import FakeEngine

    answer = "A hexagon has 6 sides. The answer is 6."
    replies = [answer, "The answer is 6.", "The answer is 6.", "The answer is 5."]  # samples: 6, 6, 5, 6
    app = served_app_factory(engine=FakeEngine(replies, checkpoint_id=DEFAULT_CHECKPOINT_ID),
                             critique=CritiqueSettings(use_verifier=False))
    sign_up(page, app.url, "chromium_unverified")
    page.fill("#mc-question textarea", "How many sides does a hexagon have?")
    page.click("#mc-send")
    page.wait_for_selector("#confidence-badge .mc-badge[data-state=scored]", timeout=120_000)
    badge = page.locator("#confidence-badge .mc-badge")
    assert badge.get_attribute("data-verdict") == "unverified"
    text = badge.inner_text()
    assert "Not verified — check this answer yourself" in text and "likely right" not in text
    assert "%" not in text.split("\n")[0], "no confidence number in the headline"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat_badge_not_verified.png"), full_page=True)


def test_sign_out_takes_a_click_on_a_post_form(served_app_factory, page) -> None:
    """The page's "Sign out" link opens the confirmation page; its button POSTs (same-site) and ends the session."""
    from tests.fakes import FakeEngine

    app = served_app_factory(engine=FakeEngine())
    sign_up(page, app.url, "chromium_leaver")
    with page.expect_popup() as opened:  # Gradio opens Markdown links in a new tab
        page.click("#mc-who a[href='/logout']")
    confirm = opened.value
    confirm.wait_for_selector("#logout", timeout=30_000)
    confirm.click("#logout")
    confirm.wait_for_selector("form[action='/login'] #username", timeout=30_000)
    page.goto(f"{app.url}/chat/")
    assert "/login" in page.url  # the session is gone
