"""The question pool: the project's seed questions plus logged student questions, split by question.

The held-out split is a salted hash of the normalised question text, so it is stable across runs,
machines and pool sizes, and a student who types a held-out question verbatim never moves it into
training. Everything here is pure except the JSONL readers/writers at the bottom.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from feedback.reads import normalise_question
from training.formats import MathUserEvalRow
from training.seed_pool import generate_seed_questions

SEED_SOURCE = "mathchat-seed"
USER_SOURCE = "mathchat-user"
HELD_OUT_SALT = "mathchat-heldout-v1"
"""Changing the salt reshuffles the split; never change it for a live deployment."""


@dataclass(frozen=True)
class PoolQuestion:
    """A question the loop may sample on (or evaluate on, if held out)."""

    question_id: str
    source: str
    question: str
    reference: str | None
    category: str
    subcategory: str
    level: int | None = None
    lang: str | None = None
    user_id: str | None = None
    """Who asked it (logged questions only); used for per-user caps."""

    def to_mathusereval(self) -> MathUserEvalRow:
        """The MathUserEval row, plus our level/lang extras (readers ignore unknown keys)."""
        row = {k: v for k, v in asdict(self).items() if k != "user_id"}
        return row  # type: ignore[return-value]


def question_key(text: str) -> str:
    """Stable short id of a question's text.

    >>> question_key("What is 2+3?") == question_key("what is 2+3? ")
    True
    """
    return hashlib.sha256(normalise_question(text).encode()).hexdigest()[:16]


def is_held_out(text: str, fraction: float, salt: str = HELD_OUT_SALT) -> bool:
    """Whether a question belongs to the held-out set (deterministic in its normalised text).

    >>> is_held_out("What is 2+3?", 0.0), is_held_out("What is 2+3?", 1.0)
    (False, True)
    """
    digest = hashlib.sha256(f"{salt}\0{normalise_question(text)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def build_seed_pool(n: int, seed: int, **kwargs: object) -> list[PoolQuestion]:
    """``n`` generated questions as pool entries (see training.seed_pool for levels and topics)."""
    return [
        PoolQuestion(question_id=f"seed-{question_key(q.question)}", source=SEED_SOURCE, question=q.question,
                     reference=q.reference, category=q.category, subcategory=q.subcategory, level=q.level,
                     lang=q.lang)
        for q in generate_seed_questions(n, seed, **kwargs)  # type: ignore[arg-type]
    ]


def logged_to_pool(logged: Iterable[tuple[str, str | None]],
                   references: Mapping[str, str] | None = None) -> list[PoolQuestion]:
    """Turn logged (question text, user id) pairs into pool entries, deduplicated by normalised text.

    The first asker of a repeated question is kept as its user. A logged question has no reference unless
    ``references`` (question_key -> answer, ``training.corrections.agreed_references``) gives it one: then it
    is ``corrected`` and trains like a seed question. (``merge_pools`` with the seed pool first keeps a seed's
    verified reference over any correction.)

    >>> [(q.reference, q.subcategory) for q in logged_to_pool([("What is 2+3?", "7"), ("what is 2+3", "8")])]
    [(None, 'chat')]
    >>> logged_to_pool([("What is 2+3?", "7")], {question_key("what is 2+3"): "5"})[0].subcategory
    'corrected'
    """
    references = references or {}
    out: dict[str, PoolQuestion] = {}
    for text, user_id in logged:
        if not text or not text.strip():
            continue
        key = question_key(text)
        if key not in out:
            reference = references.get(key)
            out[key] = PoolQuestion(question_id=f"user-{key}", source=USER_SOURCE, question=text.strip(),
                                    reference=reference, category="user",
                                    subcategory="chat" if reference is None else "corrected", user_id=user_id)
    return list(out.values())


def merge_pools(*pools: Sequence[PoolQuestion]) -> list[PoolQuestion]:
    """Concatenate pools, keeping the first entry of each normalised question (seed first wins its reference)."""
    seen: set[str] = set()
    out: list[PoolQuestion] = []
    for pool in pools:
        for q in pool:
            key = question_key(q.question)
            if key not in seen:
                seen.add(key)
                out.append(q)
    return out


def select_sources(train: Sequence[PoolQuestion], train_from: str) -> list[PoolQuestion]:
    """The training questions a cycle may draw from: ``mixed`` (logged first, then seed), ``logged`` (what
    students asked, with or without a reference) or ``seed`` (the generated pool only).

    >>> qs = [PoolQuestion("u", USER_SOURCE, "U", None, "user", "chat"), PoolQuestion("s", SEED_SOURCE, "S", "1", "a", "")]
    >>> [[q.question_id for q in select_sources(qs, f)] for f in ("mixed", "logged", "seed")]
    [['u', 's'], ['u'], ['s']]
    """
    if train_from == "mixed":
        return list(train)
    if train_from == "logged":
        return [q for q in train if q.source == USER_SOURCE]
    if train_from == "seed":
        return [q for q in train if q.source != USER_SOURCE]
    raise ValueError(f"train_from is mixed, logged or seed, not {train_from!r}")


def split_pool(pool: Sequence[PoolQuestion], held_out_fraction: float,
               salt: str = HELD_OUT_SALT) -> tuple[list[PoolQuestion], list[PoolQuestion]]:
    """(train, held_out): held-out questions never enter training data."""
    train, held = [], []
    for q in pool:
        (held if is_held_out(q.question, held_out_fraction, salt) else train).append(q)
    return train, held


def build_held_out_set(n: int, seed: int, held_out_fraction: float, **kwargs: object) -> list[PoolQuestion]:
    """Exactly ``n`` held-out seed questions (drawn from a large enough generated pool).

    Grows the generated pool until ``n`` of its questions hash into the held-out split.
    """
    size = max(64, int(n / max(held_out_fraction, 1e-3) * 1.3))
    while True:
        _, held = split_pool(build_seed_pool(size, seed, **kwargs), held_out_fraction)
        if len(held) >= n:
            return held[:n]
        size *= 2


# --- JSONL at the edge ----------------------------------------------------------------------------


def write_mathusereval_jsonl(questions: Iterable[PoolQuestion], path: Path) -> int:
    """Write questions as MathUserEval JSONL (UTF-8, one object per line); returns the row count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as f:
        for q in questions:
            f.write(json.dumps(q.to_mathusereval(), ensure_ascii=False) + "\n")
            count += 1
    return count


_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.S)


def parse_eval_row(row: dict[str, object], index: int) -> PoolQuestion:
    """One MathUserEval or GSM8K-style row as a PoolQuestion.

    >>> parse_eval_row({"question": "2+3?", "answer": "2+3=5\\n#### 5"}, 0).reference
    '5'
    >>> parse_eval_row({"question_id": 7, "source": "s", "question": "q", "reference": "r",
    ...                 "category": "c", "subcategory": "d"}, 0).question_id
    '7'
    """
    question = str(row["question"])
    if "reference" in row or "category" in row:
        ref = row.get("reference")
        return PoolQuestion(
            question_id=str(row.get("question_id", index)), source=str(row.get("source", "mathusereval")),
            question=question, reference=None if ref is None else str(ref),
            category=str(row.get("category") or "uncategorised"), subcategory=str(row.get("subcategory") or ""),
            level=row.get("level"), lang=row.get("lang"))  # type: ignore[arg-type]
    answer = str(row.get("answer", ""))
    match = _GSM8K_ANSWER.search(answer)
    ref = match.group(1).replace(",", "").strip() if match else (answer.strip() or None)
    return PoolQuestion(question_id=str(row.get("question_id", index)), source=str(row.get("source", "gsm8k")),
                        question=question, reference=ref, category=str(row.get("category", "gsm8k")),
                        subcategory=str(row.get("subcategory", "")))


def load_eval_questions(path: Path) -> list[PoolQuestion]:
    """Read MathUserEval JSONL or GSM8K-style JSONL (``question`` + ``answer`` ending in ``#### N``)."""
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if line.strip():
                out.append(parse_eval_row(json.loads(line), i))
    return out
