"""Answers the project did not write: 32 GSM8K-style problems, each with a right and a wrong solution written by
hand in capable chat models' styles (markdown, LaTeX, GSM8K calculator notes, unit conversions, algebra), the
wrong ones with their usual mistakes (a misread relation, a missed step, a wrong operation, a unit slip, an
arithmetic slip). The critic as a fresh install runs it (shipped calibration, shipped verifier, no samples)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from mathchat.jsonl import read_jsonl
from mathchat.settings import Settings
from serving.critique.critic import build_critic
from serving.critique.metrics import auroc

ROWS = Path(__file__).resolve().parents[3] / "serving" / "critique" / "data" / "capable_styles_64.jsonl"


@pytest.fixture(scope="module")
def judged(default_model_path):  # noqa: ANN001 - the shipped verifier reads the converted default model
    critic = build_critic(Settings(), policy=None, judge=None)
    rows = list(read_jsonl(ROWS))
    return rows, [critic.critique(r["question"], r["answer"], None) for r in rows], \
        [critic.critique(r["question"], r["answer"], r["reference"]) for r in rows]


def test_the_set_is_balanced_and_its_references_check_every_label(judged) -> None:
    rows, _, with_ref = judged
    assert len(rows) == 64 and sum(r["is_correct"] for r in rows) == 32
    assert [res.passed for res in with_ref] == [r["is_correct"] for r in rows]


def test_without_a_reference_no_wrong_answer_is_shown_as_likely_right(judged) -> None:
    rows, without, _ = judged
    verdicts = Counter((r["is_correct"], res.verdict) for r, res in zip(rows, without))
    assert verdicts[(False, "right")] == 0
    assert verdicts[(True, "wrong")] <= 1  # a right answer's step read as wrong is the checker's misreading
    assert verdicts[(False, "wrong")] >= 8  # arithmetic slips and unused numbers are caught


def test_without_a_reference_the_confidence_still_ranks_right_above_wrong(judged) -> None:
    rows, without, _ = judged
    confidences = [0.5 if res.confidence is None else res.confidence for res in without]
    assert auroc(confidences, [r["is_correct"] for r in rows]) >= 0.65
