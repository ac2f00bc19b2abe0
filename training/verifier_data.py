"""Verifier data from the loop: the policy's critiqued samples on questions with an exact answer, as labelled rows.

Every cycle samples thousands of answers to seed questions whose answers are known, and the critic checks each
against its reference (``ScoredSample.verified``): free, exact, in-distribution labels for a verifier that has
to judge answers WITHOUT a reference. ``build_verifier_rows`` (pure) turns batches of samples into
``VerifierRow``s; filters, each counted in the manifest:

- ``no_label``: no reference check (``verified`` is None): a logged question, or one whose reference states
  no checkable final;
- ``empty_answer``: nothing to judge;
- ``thumbs_unconfirmed``: a student's rated answer joins only when a reference check agrees with the thumb;
- ``duplicate``: the same normalised question with the same answer text (whitespace-folded), kept once,
  here or in the rows already stored (``existing_ids``).

Each row carries the no-reference parts' features (``serving.critique.calibration.part_features`` of the step
check and, where the batch has other samples of the same question, self-consistency against them): what the
critic sees at answer time, so the calibration over the parts (the verifier included) is refitted on real
answers. The held-out split is by question: a salted hash of the normalised question (``training.pool``'s
``is_held_out``, whose normaliser is ``feedback.reads.normalise_question``), with a salt of its own so the
verifier's split is independent of the pool's (the cycle only samples the pool's training questions).

Where rows live: an append-only JSONL under the training workdir (``verifier/rows.jsonl``), not the DB. The
trainer subprocess reads its rows as JSONL anyway, appends need no migration, and the file's sha256 chains
into each run's manifest; the DB records each cycle's append as a ``verifier`` dataset with its manifest.
One cycle runs at a time (``CycleBusy``), so appends never race.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from training.formats import VerifierRow
from mathchat.jsonl import canonical_json, read_jsonl
from training.manifest import BuildResult
from training.pool import is_held_out, question_key
from training.samples import ScoredSample

VERIFIER_SALT = "mathchat-verifier-heldout-v1"
"""Changing the salt reshuffles the verifier's split and makes held-out AUROCs incomparable: never change it."""
ROWS_FILE = Path("verifier") / "rows.jsonl"
"""Where the cycle keeps the rows, relative to the training workdir."""


@dataclass(frozen=True)
class SampleBatch:
    """Samples drawn together: one checkpoint, one temperature (a cycle's sampling stage, or rated answers)."""

    samples: Sequence[ScoredSample]
    checkpoint: str | None
    temperature: float | None
    source: str = "policy"
    """``policy`` (the loop's own samples) or ``thumbs`` (students' rated answers)."""
    run_id: int | None = None


def answer_key(text: str) -> str:
    """Whitespace-folded answer text (its dedup form).

    >>> answer_key(" 2 + 3 =  5.\\nThe answer is 5. ")
    '2 + 3 = 5. The answer is 5.'
    """
    return " ".join(text.split())


def row_id(question: str, answer: str) -> str:
    """The dedup id of a (question, answer): normalised question key + hash of the folded answer.

    >>> row_id("What is 2+3?", "5") == row_id("what is 2+3", " 5 ")
    True
    """
    return f"{question_key(question)}-{hashlib.sha256(answer_key(answer).encode()).hexdigest()[:12]}"


def split_of(question: str, held_out_fraction: float) -> str:
    """``held_out`` or ``train``, deterministic in the normalised question.

    >>> split_of("What is 2+3?", 0.0), split_of("What is 2+3?", 1.0), split_of("what is 2+3", 1.0)
    ('train', 'held_out', 'held_out')
    """
    return "held_out" if is_held_out(question, held_out_fraction, salt=VERIFIER_SALT) else "train"


def thumb_confirmed(sample: ScoredSample) -> bool:
    """A student's thumb agrees with the reference check of the same answer.

    >>> thumb_confirmed(ScoredSample("q", "?", "a", 9, verified=True, rating=1))
    True
    >>> thumb_confirmed(ScoredSample("q", "?", "a", 9, verified=False, rating=1)), thumb_confirmed(ScoredSample("q", "?", "a", 9, rating=1))
    (False, False)
    """
    return sample.rating is not None and sample.verified is not None and (sample.rating > 0) == sample.verified


def no_reference_features(question: str, answer: str, siblings: Sequence[str]) -> dict[str, float]:
    """The calibration features the critic would compute at answer time without a reference (no verifier):
    the step check and, given other samples of the question, self-consistency against them."""
    from serving.critique.calibration import part_features
    from serving.critique.consistency import consistency_part
    from serving.critique.steps import steps_part

    parts = {"steps": steps_part(answer, question)}
    if siblings:
        parts["consistency"] = consistency_part(answer, siblings)
    return {k: v for k, v in part_features(parts).items() if v}


def build_verifier_rows(batches: Sequence[SampleBatch], *, held_out_fraction: float = 0.3,
                        existing_ids: Collection[str] = (), with_features: bool = True) -> BuildResult:
    """Labelled rows from critiqued samples (see the module docstring for the filters), in input order.

    ``existing_ids`` are the ids of rows kept before (the append-only store), so no answer is stored twice.
    """
    counts: Counter = Counter()
    seen = set(existing_ids)
    rows: list[VerifierRow] = []
    for batch in batches:
        by_question: dict[str, list[int]] = defaultdict(list)
        for i, s in enumerate(batch.samples):
            by_question[s.question_id].append(i)
        for i, s in enumerate(batch.samples):
            counts["input"] += 1
            if batch.source == "thumbs" and not thumb_confirmed(s):
                counts["thumbs_unconfirmed"] += 1
                continue
            if s.verified is None:
                counts["no_label"] += 1
                continue
            if not s.answer.strip():
                counts["empty_answer"] += 1
                continue
            rid = row_id(s.question, s.answer)
            if rid in seen:
                counts["duplicate"] += 1
                continue
            seen.add(rid)
            siblings = [batch.samples[j].answer for j in by_question[s.question_id] if j != i] \
                if batch.source == "policy" else []
            row: VerifierRow = {
                "id": rid, "question_id": s.question_id, "question": s.question, "answer": s.answer,
                "label": bool(s.verified), "split": split_of(s.question, held_out_fraction),
                "checkpoint": batch.checkpoint, "temperature": batch.temperature, "source": batch.source,
                "sample_id": s.sample_id, "finish_reason": s.finish_reason, "run_id": batch.run_id,
                "features": no_reference_features(s.question, s.answer, siblings) if with_features else {},
            }
            rows.append(row)
    counts.update(rows_summary(rows))
    filters = {"held_out_fraction": held_out_fraction, "salt": VERIFIER_SALT, "existing_rows": len(existing_ids)}
    return BuildResult(rows=rows, counts=dict(counts), filters=filters)


def select_training_rows(rows: Sequence[VerifierRow], max_rows: int | None, seed: int = 0) -> list[VerifierRow]:
    """The train-split rows a verifier trains on: the newest ``max_rows`` (later rows come from later
    checkpoints, closer to the live policy), the rarer label kept whole up to half of them, so neither class is
    ever cut away. Right answers are the rare class while the policy is weak; after a few cycles of a chain they
    are not (2026-12-06: 1,150 right rows in the store, and keeping right answers first left 800 right and no wrong
    rows, so the stage could not train).

    >>> rows = [{"id": str(i), "split": "train", "label": i == 0} for i in range(5)] + [{"id": "h", "split": "held_out", "label": True}]
    >>> [r["id"] for r in select_training_rows(rows, 3)]
    ['0', '3', '4']
    >>> strong = [{"id": str(i), "split": "train", "label": i % 4 != 0} for i in range(12)]  # 9 right, 3 wrong
    >>> [(r["id"], r["label"]) for r in select_training_rows(strong, 4)]
    [('4', False), ('8', False), ('10', True), ('11', True)]
    """
    train = [r for r in rows if r["split"] == "train"]
    if max_rows is None or len(train) <= max_rows:
        return train
    right = [r for r in train if r["label"]]
    wrong = [r for r in train if not r["label"]]
    rare, common = sorted((right, wrong), key=len)
    n_rare = min(len(rare), max(max_rows // 2, max_rows - len(common)))
    n_common = min(len(common), max_rows - n_rare)
    keep = {r["id"] for r in rare[len(rare) - n_rare:]} | {r["id"] for r in common[len(common) - n_common:]}
    return [r for r in train if r["id"] in keep]


def held_out_rows(rows: Sequence[VerifierRow], max_rows: int | None = None) -> list[VerifierRow]:
    """The held-out split (its newest ``max_rows``), where every verifier is scored for the gate."""
    held = [r for r in rows if r["split"] == "held_out"]
    return held[-max_rows:] if max_rows else held


# --- the append-only store at the edge -------------------------------------------------------------


def load_verifier_rows(path: Path) -> list[VerifierRow]:
    """Every row kept so far ([] before the first cycle)."""
    return read_jsonl(path) if Path(path).is_file() else []  # type: ignore[return-value]


def append_verifier_rows(rows: Iterable[VerifierRow], path: Path) -> int:
    """Append rows (canonical JSON lines); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(canonical_json(row) + "\n")
            n += 1
    return n


def file_sha256(path: Path) -> str | None:
    """sha256 of a file's bytes (None when missing): the append-only store's state in a manifest."""
    path = Path(path)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


def rows_summary(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Counts of a stored row set (for manifests and logs).

    >>> rows_summary([{"split": "train", "label": True}, {"split": "held_out", "label": False}])
    {'rows': 2, 'train': 1, 'held_out': 1, 'right': 1, 'wrong': 1}
    """
    return {"rows": len(rows), "train": sum(r["split"] == "train" for r in rows),
            "held_out": sum(r["split"] == "held_out" for r in rows), "right": sum(bool(r["label"]) for r in rows),
            "wrong": sum(not r["label"] for r in rows)}
