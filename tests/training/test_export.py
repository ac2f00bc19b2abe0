"""training/export.py: exact TRL conversational formats, DPO thresholds, filters, manifests."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback import store
from feedback.db import make_engine
from feedback.reads import AnswerRecord
from serving.critique.types import CritiqueResult
from tests.fakes import BACKENDS, make_chat, new_database, rolled_back_session
from training.export import (
    ExportFilters,
    build_mathusereval_rows,
    manifest_path,
    pair_records_by_score_gap,
    write_export,
)
from training.formats import FORMAT_VERSION

Q = "What is 2+3?"


@pytest.fixture(scope="module", params=BACKENDS)
def store_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database of each backend for this module (exports read what the store wrote)."""
    with new_database(request.param, tmp_path_factory.mktemp("export")) as url:
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def session(store_engine: Engine) -> Iterator[Session]:
    """A session rolled back after each test."""
    with rolled_back_session(store_engine) as s:
        yield s


def _record(message_id: int, answer: str, score: int | None, question: str = Q,
            liked: bool | None = None) -> AnswerRecord:
    return AnswerRecord(
        message_id=message_id, question_id=1, user_id=1, question=question, answer=answer, status="ok",
        checkpoint_id=None, created_at=datetime(2026, 1, 1, tzinfo=UTC), score=score, passed=None, liked=liked,
        reason=None,
    )


def _critique(session: Session, message_id: int, score: int) -> None:
    store.save_critique(
        session=session,
        message_id=message_id,
        row=CritiqueResult(score=score, band=None, passed=score >= 7, confidence=None, explanation="",
                              parts={}, critic_version="c", calibration_version="k").to_row(),
    )


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- pure builders -----------------------------------------------------------------------------


def test_dpo_pairs_the_largest_score_gap_per_question() -> None:
    rows = pair_records_by_score_gap(
        [_record(1, "five (8)", 8), _record(2, "six (3)", 3), _record(3, "five (10)", 10), _record(4, "seven (1)", 1)]
    )
    assert rows == [
        {
            "prompt": [{"role": "user", "content": Q}],
            "chosen": [{"role": "assistant", "content": "five (10)"}],
            "rejected": [{"role": "assistant", "content": "seven (1)"}],
        }
    ]


@pytest.mark.parametrize(("high", "low"), [(6, 1), (9, 5)])
def test_dpo_skips_questions_outside_the_thresholds(high: int, low: int) -> None:
    assert pair_records_by_score_gap([_record(1, "a", high), _record(2, "b", low)]) == []


def test_dpo_ignores_unscored_answers_and_keeps_questions_apart() -> None:
    records = [
        _record(1, "a", 9), _record(2, "b", None), _record(3, "c", 9, question="What is 7*8?"),
        _record(4, "d", 2, question="what is 7*8"),
    ]
    rows = pair_records_by_score_gap(records)
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [("c", "d")]


def test_dpo_export_uses_thumbs_unless_a_reference_check_contradicts_them() -> None:
    pairs = lambda rows: [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows]  # noqa: E731
    # an unscored thumbs-up answer stands in as chosen, a thumbs-down one as rejected
    assert pairs(pair_records_by_score_gap([_record(1, "up", None, liked=True), _record(2, "down", 5, liked=False)])) \
        == [("up", "down")]
    # ...but not when the reference check failed the liked answer
    assert pair_records_by_score_gap([_record(1, "up", None, liked=True), _record(2, "down", 2)],
                                     verdicts={1: False}) == []


def test_mathusereval_rows_take_a_reference_only_from_a_high_score() -> None:
    rows = build_mathusereval_rows(
        [_record(1, "5", 9), _record(2, "56", 6, question="What is 7*8?")], reference_min=9
    )
    assert rows == [
        {"question_id": 1, "source": "mathchat", "question": Q, "reference": "5", "category": "user",
         "subcategory": "chat"},
        {"question_id": 1, "source": "mathchat", "question": "What is 7*8?", "reference": None, "category": "user",
         "subcategory": "chat"},
    ]


# --- exports from the store --------------------------------------------------------------------


def test_sft_export_writes_passing_answers_in_trl_prompt_completion_format(session: Session, tmp_path: Path) -> None:
    good = make_chat(session, "ada", answer="2+3 = 5. The answer is 5.")
    bad = make_chat(session, "bob", answer="2+3 = 6.")
    _critique(session, good.answer.id, 9)
    _critique(session, bad.answer.id, 2)
    manifest = write_export(session=session, fmt="sft", out=tmp_path / "sft.jsonl")
    assert _read(tmp_path / "sft.jsonl") == [
        {"prompt": [{"role": "user", "content": Q}],
         "completion": [{"role": "assistant", "content": "2+3 = 5. The answer is 5."}]}
    ]
    assert manifest.count == 1


def test_sft_export_skips_failed_and_streaming_answers(session: Session, tmp_path: Path) -> None:
    chat = make_chat(session, "ada")
    _critique(session, chat.answer.id, 9)
    broken = store.begin_assistant_message(
        session=session, conversation_id=chat.conversation.id, parent_id=chat.question.id, checkpoint_id="x",
        sampling={},
    )
    _critique(session, broken.id, 9)
    store.finish_assistant_message(session=session, message_id=broken.id, status="failed", text="2+3 =")
    assert write_export(session=session, fmt="sft", out=tmp_path / "sft.jsonl").count == 1


def test_dpo_export_from_the_store_matches_trl_preference_format(session: Session, tmp_path: Path) -> None:
    ada = make_chat(session, "ada", answer="2+3 = 5.")
    bob = make_chat(session, "bob", question="what is 2+3", answer="2+3 = 23.")
    _critique(session, ada.answer.id, 9)
    _critique(session, bob.answer.id, 1)
    write_export(session=session, fmt="dpo", out=tmp_path / "dpo.jsonl")
    assert _read(tmp_path / "dpo.jsonl") == [
        {"prompt": [{"role": "user", "content": Q}],
         "chosen": [{"role": "assistant", "content": "2+3 = 5."}],
         "rejected": [{"role": "assistant", "content": "2+3 = 23."}]}
    ]


def test_kto_export_labels_rated_answers_with_their_thumbs(session: Session, tmp_path: Path) -> None:
    up = make_chat(session, "ada", answer="5")
    down = make_chat(session, "bob", answer="6")
    make_chat(session, "cy", answer="unrated")
    store.upsert_rating(session=session, message_id=up.answer.id, user_id=up.user.id, liked=True)
    store.upsert_rating(session=session, message_id=down.answer.id, user_id=down.user.id, liked=False, reason="wrong answer")
    write_export(session=session, fmt="kto", out=tmp_path / "kto.jsonl")
    assert _read(tmp_path / "kto.jsonl") == [
        {"prompt": [{"role": "user", "content": Q}], "completion": [{"role": "assistant", "content": "5"}], "label": True},
        {"prompt": [{"role": "user", "content": Q}], "completion": [{"role": "assistant", "content": "6"}], "label": False},
    ]


def test_export_filters_by_checkpoint_and_time(session: Session, tmp_path: Path) -> None:
    a = make_chat(session, "ada", answer="from a", checkpoint_id="a")
    b = make_chat(session, "bob", answer="from b", checkpoint_id="b")
    for chat in (a, b):
        _critique(session, chat.answer.id, 9)
    write_export(session=session, fmt="sft", out=tmp_path / "a.jsonl", filters=ExportFilters(checkpoint_id="b"))
    assert [r["completion"][0]["content"] for r in _read(tmp_path / "a.jsonl")] == ["from b"]
    future = ExportFilters(since=datetime(2999, 1, 1, tzinfo=UTC))
    assert write_export(session=session, fmt="sft", out=tmp_path / "none.jsonl", filters=future).count == 0


def test_manifest_records_version_filters_count_and_the_files_hash(session: Session, tmp_path: Path) -> None:
    chat = make_chat(session, "ada")
    _critique(session, chat.answer.id, 8)
    out = tmp_path / "sft.jsonl"
    filters = ExportFilters(min_score=8, since=datetime(2026, 1, 1, tzinfo=UTC))
    write_export(session=session, fmt="sft", out=out, filters=filters)
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["format"] == "sft" and manifest["format_version"] == FORMAT_VERSION and manifest["count"] == 1
    assert manifest["filters"]["min_score"] == 8 and manifest["filters"]["since"].startswith("2026-01-01")
    assert manifest["content_hash"] == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert not out.with_name(out.name + ".tmp").exists()


def test_unknown_format_is_refused(session: Session, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown export format"):
        write_export(session=session, fmt="csv", out=tmp_path / "x.jsonl")


def test_exports_load_as_trl_conversational_datasets(session: Session, tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from trl.data_utils import is_conversational

    good = make_chat(session, "ada", answer="5")
    bad = make_chat(session, "bob", answer="6")
    _critique(session, good.answer.id, 9)
    _critique(session, bad.answer.id, 2)
    store.upsert_rating(session=session, message_id=bad.answer.id, user_id=bad.user.id, liked=False)
    expected_columns = {"sft": {"prompt", "completion"}, "dpo": {"prompt", "chosen", "rejected"},
                        "kto": {"prompt", "completion", "label"}}
    for fmt, columns in expected_columns.items():
        out = tmp_path / f"{fmt}.jsonl"
        write_export(session=session, fmt=fmt, out=out)
        dataset = datasets.load_dataset("json", data_files=str(out), split="train")
        assert set(dataset.column_names) == columns and len(dataset) == 1
        assert is_conversational(dataset[0])
