"""bench/students.py: the simulated students' choices (pure) and one student on a served app (scripted engine)."""

from __future__ import annotations

import random

from sqlalchemy import select

from bench.students import StudentProfile, StudentQuestion, phrase, rate_answer, run_student, student_questions
from feedback.db import make_engine, session_scope
from feedback.models import Rating
from tests.fakes import FakeEngine


def test_honest_students_never_like_a_wrong_answer_and_careless_ones_flip_about_their_share():
    rng = random.Random(0)
    honest, careless = StudentProfile("h", correction_rate=0.5), StudentProfile("c", careless=0.2)
    wrong = [rate_answer("The answer is 8.", "7", honest, rng) for _ in range(500)]
    assert not any(r.liked for r in wrong)
    assert {r.correction for r in wrong} == {None, "7"}, "some honest thumbs-down carry the truth, some do not"
    right = [rate_answer("So the answer is 7.", "7", careless, rng) for _ in range(2000)]
    flipped = sum(not r.liked for r in right) / len(right)
    assert 0.16 < flipped < 0.24
    assert all(r.correction is None for r in right), "a careless thumbs-down never carries a correction"


def test_phrasings_vary_but_keep_the_numbers():
    rng = random.Random(1)
    profile = StudentProfile("p", typo_rate=0.5)
    typed = {phrase("Tom has 3 boxes with 12 apples each. How many apples?", profile, rng) for _ in range(30)}
    assert len(typed) > 5
    assert all("3" in t and "12" in t for t in typed)


def test_student_questions_are_distinct_and_known():
    qs = student_questions(20, seed=7, held_out_fraction=0.3)
    assert len({q.question for q in qs}) == 20 and all(q.truth for q in qs)


def test_a_student_asks_rates_and_corrects_through_the_http_api(served_app_factory):
    engine = FakeEngine(["3 + 4 = 8. The answer is 8."])  # always wrong for the question below
    served = served_app_factory(engine=engine)
    profile = StudentProfile("sim_student", correction_rate=1.0, off_topic_rate=0.0, follow_up_rate=0.0)
    log = run_student(served.url, profile, [StudentQuestion("What is 3 + 4?", "7")] * 2, seed=0, max_tokens=32)
    assert log.errors == [] and len(log.asked) == 2
    assert all(not a.right and not a.rating.liked and a.rating.correction == "7" for a in log.asked)
    db = make_engine(served.settings.database.url)
    try:
        with session_scope(db) as s:
            stored = {(r.message_id, r.liked, r.correction) for r in s.scalars(select(Rating))}
    finally:
        db.dispose()
    assert stored == {(a.answer_id, False, "7") for a in log.asked}
    again = run_student(served.url, profile, [StudentQuestion("What is 3 + 4?", "7")], seed=1, max_tokens=32)
    assert again.errors == [] and len(again.asked) == 1, "a returning student logs in again"


def test_a_returning_student_signs_in_after_the_hashing_cap_says_retry(monkeypatch):
    import httpx

    from bench import app_client

    monkeypatch.setattr(app_client.time, "sleep", lambda s: None)
    seen = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/signup":
            return httpx.Response(303, headers={"location": "/signup?error=taken"})  # the name exists: no cookie
        if len(seen) < 4:
            return httpx.Response(429)  # the hashing cap: retry
        return httpx.Response(303, headers={"set-cookie": f"{app_client.SESSION_COOKIE}=abc; Path=/"})

    with httpx.Client(transport=httpx.MockTransport(reply), base_url="http://127.0.0.1") as client:
        assert app_client.signup(client, "kim", "pw") == "signup 303"
        assert app_client.login(client, "kim", "pw") is None
        assert seen == ["/signup", "/login", "/login", "/login"]
        assert {c.value for c in client.cookies.jar if c.name == app_client.SESSION_COOKIE} == {"abc"}
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(429)), base_url="http://127.0.0.1") as c:
        assert app_client.login(c, "kim", "pw", attempts=3) == "login 429"  # gives up with the reason
