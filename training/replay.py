"""Retraining from the base on a chain's rows (as ReST-EM does), instead of fine-tuning the last model further.

A chain that fine-tunes each cycle's model on that cycle's rows stalls: bench/learning.py, 2026-12-06 (2-core
Intel Xeon with AMX, bf16): 13.2% -> 38.8% -> 46.8% -> cycle 3 gained nothing (47.2% serving). The same chain's
481 RFT rows, trained once from the base with the shipped SFT recipe, gave 52.4% [46.2-58.5] against cycle 2's
model's 46.0% in the same evaluation (McNemar p = 0.009), at +5.2% perplexity over the base (one run). With
``CycleConfig.retrain_from_base`` round 1 trains the chain's base on this cycle's rows plus the rows every RFT
checkpoint in its start model's lineage trained on; later rounds fine-tune round 1's model as before.

Pure: rows in, a ``BuildResult`` out (the cycle reads the lineage's files at its edge).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from mathchat.jsonl import canonical_json
from training.manifest import BuildResult
from training.pool import question_key


def row_question(row: dict[str, Any]) -> str:
    """The question an SFT row answers: its last user message."""
    return next((m.get("content", "") for m in reversed(row.get("prompt") or []) if m.get("role") == "user"), "")


def replay_rows(current: Sequence[dict[str, Any]], earlier: Iterable[Sequence[dict[str, Any]]],
                held_keys: Collection[str], max_rows: int | None = None) -> BuildResult:
    """This cycle's rows, then the earlier ones (nearest checkpoint first), each (prompt, completion) once and none
    on a held-out question; at most ``max_rows`` in all, this cycle's first.

    >>> row = lambda q, a: {"prompt": [{"role": "user", "content": q}], "completion": [{"role": "assistant", "content": a}]}
    >>> out = replay_rows([row("1+1?", "2")], [[row("1+1?", "2"), row("2+2?", "4"), row("held?", "x")], [row("3+3?", "6")]],
    ...                   held_keys={question_key("held?")})
    >>> [row_question(r) for r in out.rows], out.counts
    (['1+1?', '2+2?', '3+3?'], {'this_cycle': 1, 'earlier_files': 2, 'earlier_rows': 4, 'duplicate': 1, 'held_out': 1, 'over_cap': 0, 'rows': 3})
    >>> len(replay_rows([row("1+1?", "2")], [[row("2+2?", "4")]], set(), max_rows=1).rows)
    1
    """
    seen: set[str] = set()
    out: list[dict[str, Any]] = []
    counts = {"this_cycle": 0, "earlier_files": 0, "earlier_rows": 0, "duplicate": 0, "held_out": 0, "over_cap": 0}

    def add(row: dict[str, Any]) -> None:
        key = canonical_json([row.get("prompt"), row.get("completion")])
        if key in seen:
            counts["duplicate"] += 1
        elif question_key(row_question(row)) in held_keys:
            counts["held_out"] += 1
        elif max_rows is not None and len(out) >= max_rows:
            counts["over_cap"] += 1
        else:
            seen.add(key)
            out.append(row)

    for row in current:
        counts["this_cycle"] += 1
        add(row)
    for rows in earlier:
        counts["earlier_files"] += 1
        for row in rows:
            counts["earlier_rows"] += 1
            add(row)
    counts["rows"] = len(out)
    return BuildResult(out, counts, {"max_rows": max_rows})
