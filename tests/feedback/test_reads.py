"""feedback/reads.py: training reads and console statistics."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from feedback import reads, store
from feedback.models import utcnow
from serving.critique.types import CritiqueResult
from tests.fakes import make_chat


def _critique(session: Session, message_id: int, score: int | None) -> None:
    result = CritiqueResult(
        score=score, band=None, passed=None if score is None else score >= 7, confidence=None, explanation="",
        parts={}, critic_version="c", calibration_version="k",
    )
    store.save_critique(session=session, message_id=message_id, row=result.to_row())


def test_questions_for_training_dedupes_by_normalised_text(session: Session) -> None:
    ada = make_chat(session, "ada", question="What is 2+3?")
    bob = make_chat(session, "bob", question="  what is 2+3 ")
    make_chat(session, "cy", question="What is 7*8?")
    questions = reads.questions_for_training(session=session)
    assert [(q.text, q.user_id) for q in questions] == [("What is 2+3?", ada.user.id), ("What is 7*8?", questions[1].user_id)]
    assert bob.user.id not in {q.user_id for q in questions}
    assert len(reads.questions_for_training(session=session, limit=1)) == 1


def test_questions_for_training_respects_since(session: Session) -> None:
    make_chat(session, "ada")
    assert reads.questions_for_training(session=session, since=utcnow() + timedelta(minutes=1)) == []


def test_rated_answers_joins_question_score_and_rating(session: Session) -> None:
    chat = make_chat(session, "ada", checkpoint_id="rft-1")
    _critique(session, chat.answer.id, 9)
    store.upsert_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=False, reason="unclear")
    [record] = reads.rated_answers(session=session)
    assert (record.question, record.answer, record.score, record.passed) == ("What is 2+3?", chat.answer.content, 9, True)
    assert (record.liked, record.reason, record.checkpoint_id, record.user_id) == (False, "unclear", "rft-1", chat.user.id)


def test_rated_answers_filters_by_score_checkpoint_and_status(session: Session) -> None:
    good = make_chat(session, "ada", checkpoint_id="a")
    bad = make_chat(session, "bob", checkpoint_id="b")
    unscored = make_chat(session, "cy", checkpoint_id="a")
    _critique(session, good.answer.id, 9)
    _critique(session, bad.answer.id, 2)

    def ids(**filters) -> list[int]:
        return [r.message_id for r in reads.rated_answers(session=session, **filters)]

    assert ids() == [good.answer.id, bad.answer.id, unscored.answer.id]
    assert ids(min_score=7) == [good.answer.id]
    assert ids(max_score=4) == [bad.answer.id]
    assert ids(checkpoint_id="a") == [good.answer.id, unscored.answer.id]
    assert ids(rated_only=True) == []
    assert ids(until=utcnow() - timedelta(days=1)) == []


def test_current_corrections_are_the_thumbs_down_answers_with_their_question(session: Session) -> None:
    ada = make_chat(session, "ada", question="What is 2+3?")
    bob = make_chat(session, "bob", question="What is 7*8?")
    cy = make_chat(session, "cy")
    store.upsert_rating(session=session, message_id=ada.answer.id, user_id=ada.user.id, liked=False, correction="5")
    store.upsert_rating(session=session, message_id=bob.answer.id, user_id=bob.user.id, liked=False, reason="unclear")
    store.upsert_rating(session=session, message_id=cy.answer.id, user_id=cy.user.id, liked=True)
    assert [(c.question, c.user_id, c.correction) for c in reads.current_corrections(session=session)] == [
        ("What is 2+3?", ada.user.id, "5")]


def test_current_corrections_list_a_students_latest_change_last(session: Session) -> None:
    first = make_chat(session, "ada", question="What is 2+3?")
    again = make_chat(session, "ada", question="what is 2+3", user=first.user)
    ids = {"session": session, "user_id": first.user.id, "liked": False}
    store.upsert_rating(message_id=first.answer.id, correction="6", **ids)
    store.upsert_rating(message_id=again.answer.id, correction="4", **ids)
    store.upsert_rating(message_id=first.answer.id, correction="5", **ids)  # changed her mind: newest
    assert [c.correction for c in reads.current_corrections(session=session)] == ["4", "5"]


def test_stats_report_thumbs_per_checkpoint_and_judge_agreement(session: Session) -> None:
    chats = [make_chat(session, name, checkpoint_id=ckpt) for name, ckpt in
             [("ada", "a"), ("bob", "a"), ("cy", "b"), ("dee", "b")]]
    scores = [9, 8, 2, None]
    likes = [True, False, False, True]
    for chat, score, liked in zip(chats, scores, likes):
        _critique(session, chat.answer.id, score)
        store.upsert_rating(session=session, message_id=chat.answer.id, user_id=chat.user.id, liked=liked)
    thumbs = {t.checkpoint_id: (t.ratings, t.thumbs_up, t.rate) for t in reads.thumbs_up_rate_by_checkpoint(session=session)}
    assert thumbs == {"a": (2, 1, 0.5), "b": (2, 1, 0.5)}
    [day] = reads.judge_human_agreement_by_day(session=session)
    # ada: pass & up (agree), bob: pass & down (disagree), cy: fail & down (agree), dee: unscored (excluded)
    assert (day.day, day.n, day.agree) == (utcnow().date(), 3, 2)


def test_live_chain_lists_policy_promotions_oldest_first_with_their_run_and_flags(session: Session) -> None:
    from feedback import registry

    registry.register_checkpoint(session=session, checkpoint_id="base", path="/m", kind="base", status="live")
    for ckpt, run_id in (("rft-r1", 1), ("dpo-r2", 2)):
        registry.register_checkpoint(session=session, checkpoint_id=ckpt, path=f"/{ckpt}", kind=ckpt[:3],
                                     gate_passed=ckpt == "rft-r1", metrics={"run_id": run_id})
    registry.register_checkpoint(session=session, checkpoint_id="verifier-1", path="/v", kind="verifier",
                                 gate_passed=True, metrics={"run_id": 1})
    registry.record_promotion(session=session, to_id="rft-r1", by_user="training", automatic=True)
    registry.record_promotion(session=session, to_id="verifier-1", by_user="training", automatic=True)
    registry.record_promotion(session=session, to_id="dpo-r2", by_user="olga", override=True)
    registry.record_promotion(session=session, to_id="rft-r1", by_user="olga", action="rollback")
    chain = reads.load_live_chain(session=session)
    assert [(c.action, c.from_id, c.to_id, c.to_kind, c.run_id, c.by_user, c.automatic, c.override) for c in chain] == [
        ("promote", "base", "rft-r1", "rft", 1, "training", True, False),
        ("promote", "rft-r1", "dpo-r2", "dpo", 2, "olga", False, True),
        ("rollback", "dpo-r2", "rft-r1", "rft", 1, "olga", False, False),
    ]
    assert [c.to_id for c in reads.load_live_chain(session=session, family="verifier")] == ["verifier-1"]
    assert [c.to_id for c in reads.load_live_chain(session=session, limit=1)] == ["rft-r1"]
