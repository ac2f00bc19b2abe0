"""Export stored chats as TRL-ready JSONL (sft, dpo, kto) or as MathUserEval rows.

Rows are built by pure functions from ``AnswerRecord``s streamed out of the store and written
line by line; sft/kto/mathusereval hold at most one row per question, while dpo holds the selected
answers in memory because it pairs them with the training loop's builder. Every file
gets a manifest beside it: format, ``FORMAT_VERSION``, filters, count, content hash, config hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from feedback.models import utcnow
from feedback.reads import AnswerRecord, normalise_question, rated_answers
from mathchat.settings import PASS_THRESHOLD, VerdictSettings
from training.dpo_data import REJECTED_MAX, pair_by_score_gap
from training.formats import FORMAT_VERSION, KTORow, MathUserEvalRow, PreferenceRow, SFTRow
from training.manifest import config_hash
from training.store_io import reference_verdicts, samples_from_records

EXPORT_FORMATS = ("sft", "dpo", "kto", "mathusereval")
REFERENCE_MIN_SCORE = 9
"""A MathUserEval export uses a stored answer as the reference only if the critic gave it at least this."""


@dataclass(frozen=True)
class ExportFilters:
    """Which answers an export reads; None means no bound. ``until`` is exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    checkpoint_id: str | None = None
    min_score: int | None = None
    max_score: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the manifest."""
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ExportManifest:
    """What an export wrote; saved as JSON beside the data file."""

    format: str
    format_version: int
    path: str
    count: int
    content_hash: str
    config_hash: str
    filters: dict[str, Any]
    created_at: str


# --- pure row builders -------------------------------------------------------------------------


def build_sft_row(question: str, answer: str) -> SFTRow:
    """A conversational prompt/completion row.

    >>> build_sft_row("What is 2+3?", "The answer is 5.")["completion"]
    [{'role': 'assistant', 'content': 'The answer is 5.'}]
    """
    return {"prompt": [{"role": "user", "content": question}], "completion": [{"role": "assistant", "content": answer}]}


def build_kto_row(question: str, answer: str, liked: bool) -> KTORow:
    """A conversational unpaired-preference row from a thumbs up (True) or down (False).

    >>> build_kto_row("What is 2+3?", "6", False)["label"]
    False
    """
    return {**build_sft_row(question, answer), "label": liked}


def pair_records_by_score_gap(records: Iterable[AnswerRecord], verdicts: dict[int, bool] | None = None,
                              pass_mark: int = PASS_THRESHOLD,
                              verdict: VerdictSettings | None = None) -> list[PreferenceRow]:
    """DPO pairs from stored answers, with the training loop's own builder (``pair_by_score_gap``).

    Per question, its best answer (>= ``pass_mark``) against its worst (<= REJECTED_MAX); an uncontradicted
    thumbs up/down stands in for the score. Unlike the cycle, an export keeps every user's pairs and
    does not require the "The answer is" format.
    """
    samples = samples_from_records(records, verdicts or {}, system=None)
    return pair_by_score_gap(samples, chosen_min=pass_mark, require_stated_answer=False, max_per_user=None,
                             verdict=verdict).rows


def build_mathusereval_rows(
    records: Iterable[AnswerRecord], *, reference_min: int = REFERENCE_MIN_SCORE, source: str = "mathchat"
) -> list[MathUserEvalRow]:
    """One MathUserEval row per distinct question; ``reference`` is its best answer if that scored >= ``reference_min``.

    ``question_id`` is the id of the first message asking it (unique together with ``source``).
    """
    first: dict[str, AnswerRecord] = {}
    reference: dict[str, AnswerRecord] = {}
    for record in records:
        key = normalise_question(record.question)
        first.setdefault(key, record)
        if record.score is not None and record.score >= reference_min:
            if key not in reference or record.score > reference[key].score:  # type: ignore[operator]
                reference[key] = record
    return [
        {
            "question_id": record.question_id,
            "source": source,
            "question": record.question,
            "reference": reference[key].answer if key in reference else None,
            "category": "user",
            "subcategory": "chat",
        }
        for key, record in first.items()
    ]


# --- streaming from the store ------------------------------------------------------------------


def iter_export_rows(*, session: Session, fmt: str, filters: ExportFilters, pass_mark: int = PASS_THRESHOLD,
                     verdict: VerdictSettings | None = None) -> Iterator[dict[str, Any]]:
    """The rows of one export format, streamed from the store (only ``ok`` answers are used; sft keeps answers
    scored >= ``pass_mark`` unless ``filters.min_score`` says otherwise)."""
    query = {
        "since": filters.since, "until": filters.until, "checkpoint_id": filters.checkpoint_id,
        "min_score": filters.min_score, "max_score": filters.max_score,
    }
    if fmt == "sft":
        if query["min_score"] is None:
            query["min_score"] = pass_mark
        for record in rated_answers(session=session, **query):
            yield build_sft_row(record.question, record.answer)
    elif fmt == "kto":
        for record in rated_answers(session=session, rated_only=True, **query):
            yield build_kto_row(record.question, record.answer, bool(record.liked))
    elif fmt == "dpo":
        records = list(rated_answers(session=session, **query))
        verdicts = reference_verdicts(session, [r.message_id for r in records], pass_mark)
        yield from pair_records_by_score_gap(records, verdicts, pass_mark, verdict)
    elif fmt == "mathusereval":
        yield from build_mathusereval_rows(rated_answers(session=session, **query))
    else:
        raise ValueError(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")


def export_config(fmt: str, filters: ExportFilters, pass_mark: int = PASS_THRESHOLD,
                  verdict: VerdictSettings | None = None) -> dict[str, Any]:
    """What defines an export (format, version, filters, thresholds); its ``config_hash`` goes in the manifest.

    >>> export_config("sft", ExportFilters())["dpo"]
    [7, 4]
    """
    return {
        "format": fmt, "format_version": FORMAT_VERSION, "filters": filters.to_dict(),
        "sft_min_score": pass_mark, "dpo": [pass_mark, REJECTED_MAX], "reference_min": REFERENCE_MIN_SCORE,
        "verdict": (verdict or VerdictSettings()).model_dump(include={"doubtful_below", "confident_at"}),
    }


def manifest_path(out: Path) -> Path:
    """Where the manifest of ``out`` goes: ``sft.jsonl`` -> ``sft.manifest.json``."""
    return out.with_name(out.name.removesuffix(".jsonl") + ".manifest.json")


def write_export(
    *,
    session: Session,
    fmt: str,
    out: Path,
    filters: ExportFilters = ExportFilters(),
    on_row: Callable[[int], None] | None = None,
    pass_mark: int = PASS_THRESHOLD,
    verdict: VerdictSettings | None = None,
) -> ExportManifest:
    """Write one export as JSONL plus its manifest, atomically (a temp file renamed into place).

    ``on_row(count)`` is called after each row (progress bars); ``pass_mark`` is the settings'
    ``critique.pass_threshold``, ``verdict`` its ``critique.verdict`` (where a thumbs is overruled).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}.")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    count = 0
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("wb") as handle:
        for row in iter_export_rows(session=session, fmt=fmt, filters=filters, pass_mark=pass_mark, verdict=verdict):
            line = (json.dumps(row, ensure_ascii=False) + "\n").encode()
            handle.write(line)
            digest.update(line)
            count += 1
            if on_row is not None:
                on_row(count)
    os.replace(tmp, out)
    manifest = ExportManifest(
        format=fmt,
        format_version=FORMAT_VERSION,
        path=str(out),
        count=count,
        content_hash="sha256:" + digest.hexdigest(),
        config_hash=config_hash(export_config(fmt, filters, pass_mark, verdict)),
        filters=filters.to_dict(),
        created_at=utcnow().isoformat(),
    )
    manifest_path(out).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest
