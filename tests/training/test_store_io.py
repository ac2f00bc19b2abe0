"""What the cycle reads from the feedback store: logged questions and rated answers (with reference verdicts)."""

from feedback.db import session_scope
from feedback.store import (add_user_message, begin_assistant_message, create_conversation, create_user,
                            finish_assistant_message, save_critique, upsert_rating)
from serving.critique.types import CritiqueResult, PartScore
from training.dpo_data import pair_by_score_gap
from training.store_io import load_corrections, load_logged_questions, load_rated_samples


def critique(score, answer_score=None, has_reference=False, confidence=None):
    parts = {"answer_match": PartScore("answer_match", answer_score)} if answer_score is not None else {}
    return CritiqueResult(score=score, band=None, passed=score >= 7, confidence=confidence, explanation="", parts=parts,
                          critic_version="t", calibration_version="t", has_reference=has_reference)


def ask(s, user_id, question, answer, *, result=None, liked=None):
    conv = create_conversation(session=s, user_id=user_id)
    q = add_user_message(session=s, conversation_id=conv.id, user_id=user_id, content=question)
    a = begin_assistant_message(session=s, conversation_id=conv.id, parent_id=q.id, checkpoint_id="base",
                                sampling={})
    finish_assistant_message(session=s, message_id=a.id, status="ok", text=answer)
    if result is not None:
        save_critique(session=s, message_id=a.id, row=result.to_row())
    if liked is not None:
        upsert_rating(session=s, message_id=a.id, user_id=user_id, liked=liked)
    return a.id


def test_logged_questions_are_distinct_with_their_askers(db):
    with session_scope(db) as s:
        alice = create_user(session=s, username="alice", password_hash="x")
        bob = create_user(session=s, username="bob", password_hash="x")
        ask(s, alice.id, "What is 2+2?", "The answer is 4.")
        ask(s, bob.id, "what is 2+2", "The answer is 4.")
        ask(s, bob.id, "What is 3+5?", "The answer is 8.")
    with session_scope(db) as s:
        got = load_logged_questions(session=s, limit=10)
        assert [q for q, _ in got] == ["What is 2+2?", "What is 3+5?"]
        assert got[0][1] == str(alice.id)
        assert load_logged_questions(session=s, limit=1) == [("What is 3+5?", str(bob.id))]
        assert load_logged_questions(session=s, limit=0) == []


def test_rated_answers_become_samples_and_contradicted_thumbs_are_ignored(db):
    with session_scope(db) as s:
        u = create_user(session=s, username="carol", password_hash="x")
        ask(s, u.id, "What is 6*7?", "The answer is 42.", result=critique(9, 10.0, True), liked=True)
        ask(s, u.id, "What is 6*7?", "The answer is 48.", result=critique(2, 1.0, True), liked=True)
        ask(s, u.id, "What is 6*7?", "The answer is 41.", liked=False)
        ask(s, u.id, "What is 6*7?", "The answer is 13.")  # unrated: not loaded
    with session_scope(db) as s:
        samples = load_rated_samples(session=s, system="SYS")
    assert len(samples) == 3 and len({x.question_id for x in samples}) == 1
    by_answer = {x.answer: x for x in samples}
    assert by_answer["The answer is 48."].verified is False and by_answer["The answer is 48."].rating == 1
    assert by_answer["The answer is 41."].verified is None and by_answer["The answer is 41."].rating == -1
    row = pair_by_score_gap(samples).rows[0]
    assert row["chosen"][0]["content"] == "The answer is 42."  # never the thumbs-up the reference failed
    assert row["prompt"][0] == {"role": "system", "content": "SYS"}


def test_without_a_reference_a_thumbs_against_the_badge_is_overruled(db):
    """A careless student's thumbs-up on an answer the badge showed as likely wrong (no reference) is never
    DPO's chosen answer; one on an answer the critic was unsure of still counts."""
    with session_scope(db) as s:
        u = create_user(session=s, username="dave", password_hash="x")
        ask(s, u.id, "Tom has 3 bags of 4 pears. How many?", "3 * 4 = 13. The answer is 13.",
            result=critique(2, confidence=0.06), liked=True)
        ask(s, u.id, "Tom has 3 bags of 4 pears. How many?", "The answer is 7.",
            result=critique(3, confidence=0.2))
        ask(s, u.id, "Ann has 5 pens and buys 6. How many?", "The answer is 11.",
            result=critique(6, confidence=0.5), liked=True)
        ask(s, u.id, "Ann has 5 pens and buys 6. How many?", "The answer is 30.",
            result=critique(2, confidence=0.1), liked=False)
    with session_scope(db) as s:
        samples = load_rated_samples(session=s, system="SYS")
    assert sorted(x.confidence for x in samples) == [0.06, 0.1, 0.5]
    result = pair_by_score_gap(samples)
    assert result.counts["ratings_contradicted"] == 1
    assert [r["chosen"][0]["content"] for r in result.rows] == ["The answer is 11."]


def test_previous_run_is_the_newest_succeeded_one_with_its_verdict_and_adaptation(db):
    from feedback.registry import create_run, finish_run, register_checkpoint, update_run_stage
    from training.store_io import load_previous_run

    gate = {"promotable": False, "guards": [{"guard": "perplexity", "passed": False, "value": 0.08, "limit": 0.05}]}
    with session_scope(db) as s:
        assert load_previous_run(session=s) is None
        register_checkpoint(session=s, checkpoint_id="rft-1", path="/c/rft-1", kind="rft",
                            metrics={"gate": gate, "stage": "rft3"})
        ok = create_run(session=s)
        update_run_stage(session=s, run_id=ok.id, stage="adapt",
                         progress={"overrides": {"sft.learning_rate": 7.5e-5}, "base_sha": "abc"})
        finish_run(session=s, run_id=ok.id, status="succeeded", candidate_checkpoint_id="rft-1")
        crashed = create_run(session=s)
        finish_run(session=s, run_id=crashed.id, status="failed", error="boom")
    with session_scope(db) as s:
        previous = load_previous_run(session=s)
        assert (previous.run_id, previous.stage, previous.base_sha) == (ok.id, "rft3", "abc")
        assert previous.verdict == gate and previous.overrides == {"sft.learning_rate": 7.5e-5}
        assert load_previous_run(session=s, before=ok.id) is None
        skipped = create_run(session=s)
        finish_run(session=s, run_id=skipped.id, status="succeeded")
        assert load_previous_run(session=s).verdict is None  # no candidate: nothing to react to


def test_corrections_are_loaded_with_their_question_and_student(db):
    with session_scope(db) as s:
        alice = create_user(session=s, username="alice", password_hash="x")
        bob = create_user(session=s, username="bob", password_hash="x")
        a = ask(s, alice.id, "What is 2+2?", "The answer is 5.")
        ask(s, bob.id, "What is 3+5?", "The answer is 8.", liked=True)
        upsert_rating(session=s, message_id=a, user_id=alice.id, liked=False, correction="4")
    with session_scope(db) as s:
        assert load_corrections(session=s) == [("What is 2+2?", str(alice.id), "4")]
