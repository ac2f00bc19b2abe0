"""bench/learning.py: what it measures from a cycle's files (pure), and a miniature chain on the real stack."""

from __future__ import annotations

import json

from bench.learning import rows_by_source, selected_precision
from feedback.reads import normalise_question


def _row(question: str, answer: str) -> dict:
    return {"prompt": [{"role": "system", "content": "Solve."}, {"role": "user", "content": question}],
            "completion": [{"role": "assistant", "content": answer}]}


def test_selected_precision_counts_only_logged_questions_and_checks_them_against_the_truth(tmp_path):
    rows = [_row("hey, what is 2 + 3?", "The answer is 5."), _row("Homework question: What is 7 - 1?", "The answer is 5."),
            _row("A seed question nobody asked?", "The answer is 1.")]
    (tmp_path / "rft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:2]))
    (tmp_path / "rft2.jsonl").write_text(json.dumps(rows[2]) + "\n")
    truths = {normalise_question("hey, what is 2 + 3?"): "5", normalise_question("Homework question: What is 7 - 1?"): "6"}
    assert selected_precision(tmp_path, truths) == {"selected": 2, "right": 1, "precision": 0.5}
    assert selected_precision(tmp_path, {}) == {"selected": 0, "right": 0, "precision": None}


def test_rows_by_source_adds_up_every_round():
    result = {"rft_data": {"rows_from_logs": 3, "rows_from_seed": 10, "rows_with_thumbs": 1},
              "rft2_data": {"rows_from_logs": 2, "rows_from_seed": 4}, "dpo_data": {"rows_from_logs": 99}}
    assert rows_by_source(result) == {"rows_from_logs": 5, "rows_from_seed": 14, "rows_with_thumbs": 1}
