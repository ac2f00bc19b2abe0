"""ChatService on a real SQLite DB with a scripted engine: nothing lost, clear refusals, idempotent ratings."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from feedback import auth as user_auth
from feedback.db import make_engine, run_in_transaction, session_scope, upgrade_db
from feedback.errors import InvalidInput, NotAllowed, StoreUnavailable
from feedback.models import Message, Rating, RatingEvent
from mathchat.settings import DatabaseSettings, RateLimitSettings, ServerSettings, Settings
from serving.chat_service import ChatService, view_of
from serving.engine import EngineError
from serving.input_checks import RejectedInput
from serving.rate_limit import RateLimited
from mathchat.sampling import SamplingSettings
from tests.fakes import FakeEngine

ANSWER = "First 7 + 8 = 15. Then 30 + 40 = 70, and 70 + 15 = 85. The answer is 85."
SAMPLING = SamplingSettings(temperature=0.0, max_tokens=64)


@pytest.fixture
def db(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    upgrade_db(url)
    engine = make_engine(url, busy_timeout_ms=200)
    yield engine
    engine.dispose()


def make_service(db, engine=None, limits: RateLimitSettings | None = None, **server) -> ChatService:
    settings = Settings(server=ServerSettings(**server), database=DatabaseSettings(url=str(db.url), write_retries=2),
                        limits=limits or RateLimitSettings())
    return ChatService(settings=settings, engine=engine or FakeEngine([ANSWER], checkpoint_id="ck-1"), db=db,
                       critic=None)


def new_user(db, name: str) -> int:
    return run_in_transaction(db, lambda s: user_auth.register_user(session=s, username=name,
                                                                   password="long-enough-pw").id)


def messages(db) -> list[Message]:
    with session_scope(db) as s:
        rows = list(s.scalars(select(Message).order_by(Message.id)))
        s.expunge_all()
        return rows


def test_turn_stores_question_and_answer_with_checkpoint_and_sampling(db) -> None:
    uid = new_user(db, "ann")
    updates = list(make_service(db).ask(uid, None, "What is 37 + 48?", SAMPLING))
    assert updates[-1].done and updates[-1].status == "ok" and updates[-1].text == ANSWER
    q, a = messages(db)
    assert (q.role, q.content, a.role, a.status, a.content) == ("user", "What is 37 + 48?", "assistant", "ok", ANSWER)
    assert a.checkpoint_id == "ck-1" and a.sampling["max_tokens"] == 64 and a.parent_id == q.id
    assert a.completion_tokens and a.latency_s is not None


def test_question_is_committed_before_the_answer_finishes(db) -> None:
    uid = new_user(db, "ann")
    stream = make_service(db).ask(uid, None, "What is 37 + 48?", SAMPLING)
    next(stream)
    q, a = messages(db)
    assert q.content == "What is 37 + 48?" and a.status == "streaming"
    list(stream)


def test_dying_engine_marks_answer_failed_and_keeps_partial_text(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db, engine=FakeEngine([ANSWER], fail_after=20))
    final = list(svc.ask(uid, None, "What is 37 + 48?", SAMPLING))[-1]
    assert final.status == "failed" and "could not be finished" in final.error
    _, a = messages(db)
    assert a.status == "failed" and a.content and ANSWER.startswith(a.content) and a.error
    svc.engine = FakeEngine([ANSWER])
    assert list(svc.ask(uid, final.conversation_id, "Try again: 37 + 48?", SAMPLING))[-1].status == "ok"


def test_failed_answers_are_not_sent_back_to_the_model(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db, engine=FakeEngine([ANSWER], fail_after=10))
    conv = list(svc.ask(uid, None, "q1", SAMPLING))[-1].conversation_id
    engine = FakeEngine([ANSWER])
    svc.engine = engine
    list(svc.ask(uid, conv, "q2", SAMPLING))
    sent = engine.calls[-1][1]
    assert [m["role"] for m in sent] == ["system", "user", "user"]


@pytest.mark.parametrize("question", ["", "   ", "\n\t "])
def test_empty_question_is_refused_and_nothing_stored(db, question: str) -> None:
    uid = new_user(db, "ann")
    with pytest.raises(RejectedInput, match="type a question"):
        next(make_service(db).ask(uid, None, question, SAMPLING))
    assert messages(db) == []


def test_too_long_question_names_the_cap(db) -> None:
    uid = new_user(db, "ann")
    with pytest.raises(RejectedInput, match="limit is 50"):
        next(make_service(db, max_question_chars=50).ask(uid, None, "x" * 51, SAMPLING))
    assert messages(db) == []


def test_control_and_binary_characters_are_stripped(db) -> None:
    uid = new_user(db, "ann")
    list(make_service(db).ask(uid, None, "What\x00 is\x07 2+2?\u202e", SAMPLING))
    assert messages(db)[0].content == "What is 2+2?"


def test_rate_limit_refuses_with_clear_message(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db, limits=RateLimitSettings(ask_per_user="2/minute"))
    for _ in range(2):
        list(svc.ask(uid, None, "1+1?", SAMPLING))
    with pytest.raises(RateLimited, match="too fast"):
        next(svc.ask(uid, None, "1+1?", SAMPLING))
    other = new_user(db, "bob")
    assert list(svc.ask(other, None, "1+1?", SAMPLING))[-1].status == "ok", "limits are per user"


def test_repeated_ratings_are_idempotent_and_changes_keep_history(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "What is 37 + 48?", SAMPLING))[-1].answer_id
    for _ in range(3):
        svc.rate(uid, answer_id, False, "wrong answer", None)
    svc.rate(uid, answer_id, True, None, "my mistake, it is right")
    with session_scope(db) as s:
        assert len(s.scalars(select(Rating)).all()) == 1
        assert [e.liked for e in s.scalars(select(RatingEvent).order_by(RatingEvent.id))] == [False, True]


def test_bad_rating_input_is_refused_and_nothing_written(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "2+2?", SAMPLING))[-1].answer_id
    with pytest.raises(InvalidInput, match="Unknown reason"):
        svc.rate(uid, answer_id, False, "because", None)
    with pytest.raises(InvalidInput, match="too long"):
        svc.rate(uid, answer_id, False, None, "x" * 5000)
    intruder = new_user(db, "mallory")
    with pytest.raises(NotAllowed):
        svc.rate(intruder, answer_id, False, None, None)
    with session_scope(db) as s:
        assert s.scalars(select(Rating)).all() == []


def test_locked_database_refuses_rating_clearly_then_accepts_it(db, tmp_path: Path) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "2+2?", SAMPLING))[-1].answer_id
    locker = sqlite3.connect(tmp_path / "chat.db", timeout=0)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="nothing was saved"):
            svc.rate(uid, answer_id, False, "wrong answer", None)
    finally:
        locker.rollback()
        locker.close()
    assert svc.rate(uid, answer_id, False, "wrong answer", None).startswith("Thanks")
    with session_scope(db) as s:
        assert len(s.scalars(select(Rating)).all()) == 1


def test_brief_lock_is_retried_and_rating_lands(db, tmp_path: Path) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "2+2?", SAMPLING))[-1].answer_id
    locker = sqlite3.connect(tmp_path / "chat.db", timeout=0, check_same_thread=False)
    locker.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.3, locker.rollback).start()
    assert svc.rate(uid, answer_id, True, None, None).startswith("Thanks")
    locker.close()
    with session_scope(db) as s:
        assert s.scalars(select(Rating)).one().liked is True


def test_other_users_conversation_is_invisible(db) -> None:
    ann, bob = new_user(db, "ann"), new_user(db, "bob")
    svc = make_service(db)
    conv = list(svc.ask(ann, None, "secret 2+2?", SAMPLING))[-1].conversation_id
    assert svc.load_conversation(bob, conv) == []
    assert svc.list_conversations(bob) == []
    # Bob asking "into" Ann's conversation starts a new conversation of his own.
    update = list(svc.ask(bob, conv, "3+3?", SAMPLING))[-1]
    assert update.conversation_id != conv
    assert [t.content for t in svc.load_conversation(ann, conv)][0] == "secret 2+2?"


def test_long_conversations_keep_the_prompt_inside_the_context(db) -> None:
    uid = new_user(db, "ann")
    engine = FakeEngine(["word " * 400])
    svc = make_service(db, engine=engine)
    conv = None
    for i in range(12):
        conv = list(svc.ask(uid, conv, f"question {i}", SAMPLING))[-1].conversation_id
    sent = engine.calls[-1][1]
    assert sent[-1]["content"] == "question 11" and sent[1]["role"] == "user"
    assert sum(len(m["content"]) for m in sent) < (svc.settings.vllm.max_model_len - SAMPLING.max_tokens) * 3
    assert len(sent) < 2 + 2 * 11, "older turns were dropped"


class OverflowOnceEngine(FakeEngine):
    """Refuses any prompt with earlier turns, as vLLM does when the context is exceeded."""

    def stream_chat(self, messages, sampling):
        if len(messages) > 2:
            raise EngineError("model server answered 400: This model's maximum context length is 2048 tokens")
        return super().stream_chat(messages, sampling)


def test_context_overflow_is_retried_without_history(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    conv = list(svc.ask(uid, None, "first", SAMPLING))[-1].conversation_id
    svc.engine = OverflowOnceEngine([ANSWER])
    final = list(svc.ask(uid, conv, "second", SAMPLING))[-1]
    assert final.status == "ok" and final.text == ANSWER


def critic_service(db, engine: FakeEngine, **critique) -> ChatService:
    from mathchat.settings import CritiqueSettings
    from serving.critique.critic import MathCritic

    settings = Settings(database=DatabaseSettings(url=str(db.url), write_retries=2),
                        critique=CritiqueSettings(use_judge=False, **critique))
    return ChatService(settings=settings, engine=engine, db=db,
                       critic=MathCritic(settings.critique, policy=engine))


def sample_calls(engine: FakeEngine) -> int:
    return sum(1 for kind, *_ in engine.calls if kind == "sample")


WORD_PROBLEM = "How many sides does a hexagon have?"


def test_samples_are_drawn_while_the_answer_streams_and_the_critique_uses_them(db) -> None:
    engine = FakeEngine(["A hexagon has 6 sides. The answer is 6."] + ["The answer is 6."] * 4)
    svc = critic_service(db, engine, prefetch_samples=True)
    user = new_user(db, "overlap")
    stream = svc.ask(user, None, WORD_PROBLEM, SAMPLING)
    next(stream)  # the first piece of the answer: the samples are already on their way
    assert svc.prefetch.pending() == 1
    *_, final = stream
    view = svc.critique(user, final.answer_id)
    assert sample_calls(engine) == 1, "the critique took the prefetched samples instead of drawing again"
    assert svc.prefetch.pending() == 0 and view is not None and "4 of 4" in view.explanation


def test_a_failed_answer_cancels_its_samples(db) -> None:
    engine = FakeEngine(["A hexagon has six sides, so the answer is 6."], fail_after=12)
    svc = critic_service(db, engine, prefetch_samples=True)
    *_, final = svc.ask(new_user(db, "fails"), None, WORD_PROBLEM, SAMPLING)
    assert final.status == "failed" and svc.prefetch.pending() == 0


def test_arithmetic_questions_and_prefetch_off_draw_nothing_ahead(db) -> None:
    engine = FakeEngine(["3 + 4 = 7. The answer is 7."])
    svc = critic_service(db, engine, prefetch_samples=True)
    list(svc.ask(new_user(db, "arith"), None, "What is 3 + 4?", SAMPLING))  # its own reference: no samples
    off = critic_service(db, FakeEngine(["The answer is 6."]), prefetch_samples=False)
    list(off.ask(new_user(db, "off"), None, WORD_PROBLEM, SAMPLING))
    assert (svc.prefetch.pending(), sample_calls(engine), off.prefetch.pending()) == (0, 0, 0)


def test_prefetch_auto_overlaps_only_where_a_gpu_serves(db, monkeypatch) -> None:
    import serving.chat_service as chat_service

    for gpu in (False, True):
        monkeypatch.setattr(chat_service, "has_cuda", lambda: gpu)
        engine = FakeEngine(["A hexagon has 6 sides. The answer is 6."] + ["The answer is 6."] * 4)
        svc = critic_service(db, engine)  # prefetch_samples=None: auto
        stream = svc.ask(new_user(db, f"auto{gpu}"), None, WORD_PROBLEM, SAMPLING)
        next(stream)
        assert svc.prefetch.pending() == (1 if gpu else 0)
        list(stream)


def test_samples_drawn_after_the_answer_are_used_when_they_come_in_time(db) -> None:
    engine = FakeEngine(["A hexagon has 6 sides. The answer is 6."] + ["The answer is 6."] * 4)
    svc = critic_service(db, engine, prefetch_samples=False, samples_deadline_s=30)
    user = new_user(db, "after")
    *_, final = svc.ask(user, None, WORD_PROBLEM, SAMPLING)
    assert svc.prefetch.pending() == 0, "nothing drawn beside the stream"
    view = svc.critique(user, final.answer_id)
    assert sample_calls(engine) == 1 and view is not None and "4 of 4" in view.explanation
    assert svc.prefetch.pending() == 0


class HeldSamples(FakeEngine):
    """Answers at once, but its samples wait until the test releases them (a slow CPU server) or the caller
    cancels them (then it records that the request was stopped)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()
        self.stopped = threading.Event()

    def sample(self, *args, cancel: threading.Event | None = None, **kwargs):
        deadline = time.monotonic() + 30
        while not self.release.is_set() and time.monotonic() < deadline:
            if cancel is not None and cancel.wait(0.01):
                self.stopped.set()
                break
        return super().sample(*args, cancel=cancel, **kwargs)


@pytest.mark.parametrize("beside", [True, False])
def test_the_badge_does_not_wait_past_samples_deadline_s_for_samples(db, beside: bool) -> None:
    from feedback.models import Critique

    engine = HeldSamples(["A hexagon has 2 x 3 = 6 sides. The answer is 6."] + ["The answer is 6."] * 4)
    svc = critic_service(db, engine, prefetch_samples=beside, samples_deadline_s=0.2)
    user = new_user(db, f"late{beside}")
    try:
        *_, final = svc.ask(user, None, WORD_PROBLEM, SAMPLING)
        view = svc.critique(user, final.answer_id)  # returns while the samples are still held
        assert not engine.release.is_set()
        assert view is not None and view.verdict == "unverified"
        assert "not ready within 0.2 s" in view.explanation and "4 of 4" not in view.explanation
        assert view.skipped == ("consistency",), "said in a field, not only in words"
        with session_scope(db) as s:
            stored = s.scalars(select(Critique).where(Critique.message_id == final.answer_id)).one()
            assert stored.parts["consistency"]["data"]["late"] is True
            assert view_of(stored).skipped == ("consistency",), "and read back from the stored row"
        assert svc.prefetch.pending() == 0, "the late entry is forgotten"
        assert engine.stopped.wait(10), "the late request is stopped: the server does not generate for nobody"
    finally:
        engine.release.set()


def test_the_critiques_samples_use_top_k_and_no_nucleus_cut() -> None:
    from mathchat.settings import CritiqueSettings
    from serving.critique.critic import MathCritic

    critic = MathCritic(CritiqueSettings(use_judge=False), policy=FakeEngine())
    assert (critic.sample_settings.top_k, critic.sample_settings.top_p) == (20, 1.0)
    assert critic.sample_settings.temperature == CritiqueSettings().self_consistency_temperature


def test_a_stream_the_client_closes_leaves_a_failed_row_with_its_partial_text(db) -> None:
    uid = new_user(db, "ann")
    updates = make_service(db).ask(uid, None, "What is 7 + 8?", SAMPLING)
    seen = [next(updates) for _ in range(3)]
    updates.close()  # the browser tab closed: Starlette/Gradio close the generator (GeneratorExit)
    answer = messages(db)[-1]
    assert answer.status == "failed" and answer.content == seen[-1].text and "closed" in answer.error


def test_comment_control_characters_are_stripped(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "What is 7 + 8?", SAMPLING))[-1].answer_id
    svc.rate(uid, answer_id, False, None, "\u202ewrong\x00 sum\x07 ")
    with session_scope(db) as s:
        assert s.scalar(select(Rating.comment)) == "wrong sum"


def test_a_failed_answer_tells_the_student_no_internal_detail(db) -> None:
    from serving.engine import EngineError as ServerError

    class LeakyEngine(FakeEngine):
        def stream_chat(self, messages, sampling):  # noqa: ANN001, ANN202
            yield from []
            raise ServerError("model server answered 500: b'Traceback (most recent call last): /srv/vllm/x.py'")

    uid = new_user(db, "ann")
    final = list(make_service(db, engine=LeakyEngine()).ask(uid, None, "What is 2+2?", SAMPLING))[-1]
    assert final.status == "failed" and "model server had a problem" in final.error
    assert "Traceback" not in final.error and "/srv" not in final.error and "500" not in final.error
    assert "Traceback" in messages(db)[-1].error  # operators keep the detail


def test_a_thumbs_down_with_the_right_answer_stores_it_and_the_ack_names_it(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "What is 37 + 48?", SAMPLING))[-1].answer_id
    ack = svc.rate(uid, answer_id, False, "wrong answer", None, " 85\x00 ")
    assert "your answer `85`" in ack
    with session_scope(db) as s:
        assert s.scalar(select(Rating.correction)) == "85"
    assert "your answer" not in svc.rate(uid, answer_id, False, "wrong answer", None)


def test_a_thumbs_up_with_a_correction_is_refused_and_nothing_written(db) -> None:
    uid = new_user(db, "ann")
    svc = make_service(db)
    answer_id = list(svc.ask(uid, None, "What is 37 + 48?", SAMPLING))[-1].answer_id
    with pytest.raises(InvalidInput, match="thumbs-down only"):
        svc.rate(uid, answer_id, True, None, None, "85")
    with session_scope(db) as s:
        assert s.scalars(select(Rating)).all() == []
