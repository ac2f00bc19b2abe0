"""feedback/store.py on SQLite and PostgreSQL: ownership, streaming lifecycle, critiques, ratings."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback import store
from feedback.errors import InvalidInput, NotAllowed
from feedback.models import MAX_COMMENT_CHARS, Critique, Message, Rating, RatingEvent
from serving.critique.types import CritiqueResult, PartScore
from tests.fakes import make_chat


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _result(score: int | None, passed: bool | None = None) -> CritiqueResult:
    return CritiqueResult(
        score=score,
        band="9-10" if score and score >= 9 else "3-5",
        passed=passed if passed is not None else (score is not None and score >= 7),
        confidence=0.8,
        explanation="Step 1 is right.",
        parts={
            "judge": PartScore("judge", 9.0, "judge said [[9]]"),
            "answer_match": PartScore("answer_match", 10.0, data={"expected": "5"}),
            "consistency": PartScore("consistency", None, "no samples"),
        },
        critic_version="critic-1",
        calibration_version="cal-1",
        has_reference=True,
    )


# --- users and conversations -------------------------------------------------------------------


def test_create_user_refuses_a_taken_username(session: Session) -> None:
    store.create_user(session=session, username="ada", password_hash="x")
    with pytest.raises(InvalidInput, match="taken"):
        store.create_user(session=session, username="ada", password_hash="y")


def test_create_user_refuses_unknown_role(session: Session) -> None:
    with pytest.raises(InvalidInput, match="role"):
        store.create_user(session=session, username="ada", password_hash="x", role="admin")


def test_other_users_conversation_is_invisible(session: Session) -> None:
    ada = make_chat(session, "ada")
    bob = make_chat(session, "bob")
    assert store.get_conversation(session=session, conversation_id=ada.conversation.id, user_id=bob.user.id) is None
    assert store.conversation_messages(session=session, conversation_id=ada.conversation.id, user_id=bob.user.id) == []
    assert [c.id for c in store.list_conversations(session=session, user_id=bob.user.id)] == [bob.conversation.id]
    own = store.conversation_messages(session=session, conversation_id=ada.conversation.id, user_id=ada.user.id)
    assert [m.role for m in own] == ["user", "assistant"]


def test_add_user_message_refuses_someone_elses_conversation(session: Session) -> None:
    ada = make_chat(session, "ada")
    bob = make_chat(session, "bob")
    with pytest.raises(NotAllowed):
        store.add_user_message(session=session, conversation_id=ada.conversation.id, user_id=bob.user.id, content="hi")


def test_first_question_titles_the_conversation(session: Session) -> None:
    chat = make_chat(session, "ada", question="  What   is 12*12? ")
    assert chat.conversation.title == "What is 12*12?"


def test_add_user_message_refuses_empty_and_overlong_questions(session: Session) -> None:
    chat = make_chat(session, "ada")
    args = {"session": session, "conversation_id": chat.conversation.id, "user_id": chat.user.id}
    with pytest.raises(InvalidInput, match="empty"):
        store.add_user_message(**args, content="   ")
    with pytest.raises(InvalidInput, match="too long"):
        store.add_user_message(**args, content="x" * 11, max_chars=10)


# --- streaming lifecycle -----------------------------------------------------------------------


def _begin(session: Session) -> tuple[Message, object]:
    chat = make_chat(session, "ada")
    q = store.add_user_message(
        session=session, conversation_id=chat.conversation.id, user_id=chat.user.id, content="And 3+4?"
    )
    answer = store.begin_assistant_message(
        session=session, conversation_id=chat.conversation.id, parent_id=q.id, checkpoint_id="rft-1",
        sampling={"temperature": 0.0, "max_tokens": 64},
    )
    return answer, chat


def test_streaming_answer_then_ok_stores_text_timings_and_sampling(session: Session) -> None:
    answer, _ = _begin(session)
    assert answer.status == "streaming" and answer.content == ""
    assert store.update_assistant_text(session=session, message_id=answer.id, text="3+4 = ")
    done = store.finish_assistant_message(
        session=session, message_id=answer.id, status="ok", text="3+4 = 7.", ttft_s=0.2, latency_s=1.5,
        prompt_tokens=20, completion_tokens=6,
    )
    session.expire_all()
    row = session.get(Message, done.id)
    assert (row.status, row.content, row.checkpoint_id) == ("ok", "3+4 = 7.", "rft-1")
    assert row.sampling == {"temperature": 0.0, "max_tokens": 64}
    assert (row.ttft_s, row.latency_s, row.prompt_tokens, row.completion_tokens) == (0.2, 1.5, 20, 6)
    assert row.finished_at is not None and row.finished_at.tzinfo is not None


def test_failed_answer_keeps_its_partial_text(session: Session) -> None:
    answer, _ = _begin(session)
    store.update_assistant_text(session=session, message_id=answer.id, text="3+4 = ")
    store.finish_assistant_message(session=session, message_id=answer.id, status="failed", error="engine died")
    session.expire_all()
    row = session.get(Message, answer.id)
    assert (row.status, row.content, row.error) == ("failed", "3+4 = ", "engine died")


def test_finished_answer_is_not_overwritten_by_late_stream_updates(session: Session) -> None:
    answer, _ = _begin(session)
    store.finish_assistant_message(session=session, message_id=answer.id, status="ok", text="7")
    assert not store.update_assistant_text(session=session, message_id=answer.id, text="late")
    with pytest.raises(InvalidInput, match="already finished"):
        store.finish_assistant_message(session=session, message_id=answer.id, status="failed")
    session.expire_all()
    assert session.get(Message, answer.id).content == "7"


def test_sampling_settings_object_is_stored_as_json(session: Session) -> None:
    from mathchat.sampling import SamplingSettings

    chat = make_chat(session, "ada")
    answer = store.begin_assistant_message(
        session=session, conversation_id=chat.conversation.id, parent_id=chat.question.id, checkpoint_id=None,
        sampling=SamplingSettings(temperature=0.3, seed=5),
    )
    assert answer.sampling["temperature"] == 0.3 and answer.sampling["seed"] == 5


def test_mark_interrupted_messages_fails_leftover_streams(session: Session) -> None:
    answer, _ = _begin(session)
    store.update_assistant_text(session=session, message_id=answer.id, text="partial")
    assert store.mark_interrupted_messages(session=session) == 1
    session.expire_all()
    row = session.get(Message, answer.id)
    assert (row.status, row.content) == ("failed", "partial")


# --- critiques ---------------------------------------------------------------------------------


def test_save_critique_stores_parts_as_columns_and_json(session: Session) -> None:
    chat = make_chat(session, "ada")
    store.save_critique(session=session, message_id=chat.answer.id, row=_result(9).to_row())
    session.expire_all()
    row = store.get_critique(session=session, message_id=chat.answer.id)
    assert (row.score, row.passed, row.judge_score, row.answer_score) == (9, True, 9.0, 10.0)
    assert row.steps_score is None and row.consistency_score is None
    assert row.parts["answer_match"]["data"] == {"expected": "5"}
    assert (row.critic_version, row.calibration_version, row.has_reference) == ("critic-1", "cal-1", True)


def test_newer_critique_replaces_the_old_one(session: Session) -> None:
    chat = make_chat(session, "ada")
    store.save_critique(session=session, message_id=chat.answer.id, row=_result(9).to_row())
    store.save_critique(session=session, message_id=chat.answer.id, row=_result(None, passed=False).to_row())
    assert _count(session, Critique) == 1
    row = store.get_critique(session=session, message_id=chat.answer.id)
    assert row.score is None and row.passed is False


def test_critique_refuses_a_user_message(session: Session) -> None:
    chat = make_chat(session, "ada")
    with pytest.raises(InvalidInput):
        store.save_critique(session=session, message_id=chat.question.id, row=_result(9).to_row())


def test_save_critique_takes_a_plain_row_and_refuses_unknown_fields(session: Session) -> None:
    chat = make_chat(session, "ada")
    store.save_critique(session=session, message_id=chat.answer.id,
                        row={"score": 3, "passed": False, "explanation": "wrong", "critic_version": "c",
                             "calibration_version": "k"})
    row = store.get_critique(session=session, message_id=chat.answer.id)
    assert (row.score, row.passed, row.has_reference, row.parts) == (3, False, False, None)
    with pytest.raises(InvalidInput, match="Unknown critique fields: verdict"):
        store.save_critique(session=session, message_id=chat.answer.id, row={"score": 3, "verdict": "wrong"})


# --- ratings -----------------------------------------------------------------------------------


def test_repeated_identical_rating_writes_one_row_and_one_event(session: Session) -> None:
    chat = make_chat(session, "ada")
    for _ in range(3):
        store.upsert_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=True)
    assert _count(session, Rating) == 1
    assert _count(session, RatingEvent) == 1


def test_changed_rating_updates_the_row_and_keeps_history(session: Session) -> None:
    chat = make_chat(session, "ada")
    ids = {"session": session, "message_id": chat.answer.id, "user_id": chat.user.id}
    first = store.upsert_rating(**ids, liked=True)
    second = store.upsert_rating(**ids, liked=False, reason="wrong steps", comment="step 2 adds wrong")
    assert first.id == second.id
    assert _count(session, Rating) == 1
    current = store.get_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id)
    assert (current.liked, current.reason, current.comment) == (False, "wrong steps", "step 2 adds wrong")
    history = store.rating_history(session=session, message_id=chat.answer.id, user_id=chat.user.id)
    assert [(e.liked, e.reason) for e in history] == [(True, None), (False, "wrong steps")]


@pytest.mark.parametrize(
    ("reason", "comment", "match"),
    [("too easy", None, "Unknown reason"), ("other", "x" * (MAX_COMMENT_CHARS + 1), "too long")],
)
def test_invalid_rating_is_rejected_with_nothing_written(
    session: Session, reason: str, comment: str | None, match: str
) -> None:
    chat = make_chat(session, "ada")
    with pytest.raises(InvalidInput, match=match):
        store.upsert_rating(
            session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=False, reason=reason,
            comment=comment,
        )
    assert _count(session, Rating) == 0 and _count(session, RatingEvent) == 0


def test_invalid_change_leaves_the_existing_rating_untouched(session: Session) -> None:
    chat = make_chat(session, "ada")
    ids = {"session": session, "message_id": chat.answer.id, "user_id": chat.user.id}
    store.upsert_rating(**ids, liked=True)
    with pytest.raises(InvalidInput):
        store.upsert_rating(**ids, liked=False, reason="nonsense")
    assert store.get_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id).liked is True
    assert _count(session, RatingEvent) == 1


def test_rating_someone_elses_answer_is_refused(session: Session) -> None:
    ada = make_chat(session, "ada")
    bob = make_chat(session, "bob")
    with pytest.raises(NotAllowed):
        store.upsert_rating(session=session, message_id=ada.answer.id, user_id=bob.user.id, liked=False)
    assert _count(session, Rating) == 0


def test_rating_a_question_is_refused(session: Session) -> None:
    chat = make_chat(session, "ada")
    with pytest.raises(NotAllowed):
        store.upsert_rating(session=session, message_id=chat.question.id, user_id=chat.user.id, liked=True)


def test_every_reason_in_the_fixed_list_is_accepted(session: Session) -> None:
    from feedback.models import RATING_REASONS

    chat = make_chat(session, "ada")
    for reason in RATING_REASONS:
        rating = store.upsert_rating(
            session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=False, reason=reason
        )
        assert rating.reason == reason
    assert _count(session, RatingEvent) == len(RATING_REASONS)


def test_a_thumbs_down_keeps_its_correction_and_a_new_correction_alone_is_a_change(session: Session) -> None:
    chat = make_chat(session, "ada")
    ids = {"session": session, "message_id": chat.answer.id, "user_id": chat.user.id}
    store.upsert_rating(**ids, liked=False, reason="wrong answer", correction=" 85 ")
    store.upsert_rating(**ids, liked=False, reason="wrong answer", correction="85")  # same state: no event
    store.upsert_rating(**ids, liked=False, reason="wrong answer", correction="86")
    assert store.get_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id).correction == "86"
    history = store.rating_history(session=session, message_id=chat.answer.id, user_id=chat.user.id)
    assert [e.correction for e in history] == ["85", "86"]


def test_a_thumbs_up_clears_an_earlier_correction(session: Session) -> None:
    chat = make_chat(session, "ada")
    ids = {"session": session, "message_id": chat.answer.id, "user_id": chat.user.id}
    store.upsert_rating(**ids, liked=False, correction="85")
    store.upsert_rating(**ids, liked=True)
    assert store.get_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id).correction is None


@pytest.mark.parametrize(
    ("liked", "correction", "match"),
    [(True, "85", "thumbs-down only"), (False, "8" * 65, "too long"), (False, "85\nor 86", "one line"),
     (False, "?!", "number or a letter")],
)
def test_invalid_correction_is_refused_with_nothing_written(
    session: Session, liked: bool, correction: str, match: str
) -> None:
    chat = make_chat(session, "ada")
    with pytest.raises(InvalidInput, match=match):
        store.upsert_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=liked,
                            correction=correction)
    assert _count(session, Rating) == 0 and _count(session, RatingEvent) == 0


def test_saved_critique_keeps_its_verdict_in_the_parts_json(session: Session) -> None:
    from dataclasses import replace

    from serving.chat_service import view_of

    chat = make_chat(session, "ada")
    result = replace(_result(9), verdict="unverified", verdict_reasons=["no reference answer"])
    store.save_critique(session=session, message_id=chat.answer.id, row=result.to_row())
    session.expire_all()
    row = store.get_critique(session=session, message_id=chat.answer.id)
    assert row.parts["verdict"]["data"] == {"verdict": "unverified", "reasons": ["no reference answer"]}
    assert view_of(row).verdict == "unverified"
