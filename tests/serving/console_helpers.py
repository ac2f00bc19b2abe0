"""Hand-made loop data for the console tests: a migrated SQLite DB, a finished run with its files, a candidate.

Everything goes through the real store/registry functions, and the run folder holds the files the cycle
writes (rft.jsonl, dpo.jsonl, samples_live.jsonl, eval.json, train_sft.log) in their real formats.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from feedback import registry
from feedback.db import make_engine, upgrade_db

BASE_ID = "base-smollm2-135m-instruct"
CAND_ID = "rft-r1-20261125-1200"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    """A fresh migrated SQLite database (tests commit for real: the console reads in its own transactions)."""
    url = f"sqlite:///{tmp_path / 'console.db'}"
    upgrade_db(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def block(n: int, k: int, mean: float | None, lo: float, hi: float) -> dict[str, Any]:
    """One summary block as ``training.evaluate.summarize`` writes it."""
    return {"n": n, "strict_accuracy": {"k": k, "n": n, "rate": k / n, "ci95": [lo, hi]},
            "accuracy": {"k": k, "n": n, "rate": k / n, "ci95": [lo, hi]}, "format_rate": 0.9,
            "scored": n, "mean_score": mean, "pass_rate": 0.5}


def item(qid: int, answer: str, correct: bool, score: int) -> dict[str, Any]:
    """One evaluation item as ``training.evaluate.evaluate`` writes it."""
    return {"question_id": f"q{qid}", "source": "seed", "category": "add", "question": f"{qid} + 1 = ?",
            "reference": str(qid + 1), "answer": answer, "strict_correct": correct, "correct": correct,
            "format_ok": True, "score": score, "passed": score >= 7}


def report(checkpoint_id: str, items: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    return {"report_version": 1, "checkpoint_id": checkpoint_id, "questions": len(items), "summary": summary,
            "perplexity": 10.0, "items": items}


@dataclass
class Loop:
    """What ``make_loop`` created."""

    run_id: int
    run_dir: Path
    rft_dataset_id: int
    dpo_dataset_id: int
    live_scores: list[int]


def make_loop(db: Engine, run_dir: Path, *, gate_passed: bool = False) -> Loop:
    """A live base checkpoint, one finished run with its files, and its RFT candidate (gate as given)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    live_scores = [9, 9, 2, 5, 7]
    samples = [{"question_id": f"q{i}", "question": f"{i} + 1 = ?", "answer": f"The answer is {i}.", "score": s}
               for i, s in enumerate(live_scores)]
    samples.append({"question_id": "q9", "question": "?", "answer": "", "score": None})  # unscored: skipped
    (run_dir / "samples_live.jsonl").write_text("".join(json.dumps(r) + "\n" for r in samples))
    rft_rows = [{"prompt": [{"role": "system", "content": "sys"}, {"role": "user", "content": f"{i} + 1 = ?"}],
                 "completion": [{"role": "assistant", "content": f"The answer is {i + 1}."}]} for i in range(7)]
    (run_dir / "rft.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rft_rows))
    dpo_rows = [{"prompt": [{"role": "user", "content": "2 + 3 = ?"}],
                 "chosen": [{"role": "assistant", "content": "The answer is 5."}],
                 "rejected": [{"role": "assistant", "content": "The answer is 6."}]}]
    (run_dir / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in dpo_rows))
    (run_dir / "train_sft.log").write_text("step 1 loss 2.0\nstep 2 loss 1.5\n")

    live_items = [item(1, "2", True, 9), item(2, "4", False, 2), item(3, "4", True, 8)]
    cand_items = [item(1, "2", True, 9), item(2, "3", True, 8), item(3, "5", False, 3)]
    live_summary = {"overall": block(3, 2, 6.3, 0.2, 0.9), "per_category": {"add": block(3, 2, 6.3, 0.2, 0.9),
                                                                            "sub": block(2, 0, 2.0, 0.0, 0.6)}}
    cand_summary = {"overall": block(3, 2, 6.7, 0.25, 0.95), "per_category": {"add": block(3, 2, 6.7, 0.25, 0.95)}}
    (run_dir / "eval.json").write_text(json.dumps({"reports": [report(BASE_ID, live_items, live_summary),
                                                               report(CAND_ID, cand_items, cand_summary)]}))
    gate = {"promotable": gate_passed, "reasons": ["strict accuracy gain +0.000 is below the margin 0.020"],
            "accuracy_delta": 0.0, "mcnemar_p": 1.0, "perplexity_ratio": 1.01}

    with Session(db) as s, s.begin():
        registry.register_checkpoint(session=s, checkpoint_id=BASE_ID, path="/models/base", kind="base",
                                     status="live", gate_passed=True,
                                     metrics={"eval": {"checkpoint_id": BASE_ID, "summary": live_summary,
                                                       "perplexity": 10.0}})
        run = registry.create_run(session=s, trigger="manual", config={"k": 4})
        registry.update_run_stage(session=s, run_id=run.id, stage="pool", progress={"status": "done", "seconds": 1.5})
        registry.update_run_stage(session=s, run_id=run.id, stage="sample_live",
                                  progress={"status": "running", "done": 40, "total": 128})
        registry.append_run_log(session=s, run_id=run.id, text="[10:00:00] stage pool started\n")
        rft = registry.record_dataset(session=s, kind="rft", path=str(run_dir / "rft.jsonl"), count=7,
                                      content_hash="a" * 64, run_id=run.id,
                                      manifest={"kind": "rft", "rows": 7, "inputs": {"samples_live": "b" * 64},
                                                "counts": {"questions_mixed": 3}})
        dpo = registry.record_dataset(session=s, kind="dpo", path=str(run_dir / "dpo.jsonl"), count=1,
                                      content_hash="c" * 64, run_id=run.id,
                                      manifest={"kind": "dpo", "rows": 1, "inputs": {"samples_rft": "d" * 64}})
        registry.register_checkpoint(
            session=s, checkpoint_id=CAND_ID, path="/models/rft", kind="rft", parent_id=BASE_ID,
            status="candidate", gate_passed=gate_passed,
            metrics={"eval": {"checkpoint_id": CAND_ID, "summary": cand_summary, "perplexity": 10.1,
                              "vs_baseline": {"baseline_checkpoint_id": BASE_ID, "mcnemar_p": 1.0,
                                              "only_baseline": 1, "only_candidate": 1}},
                     "live_eval": {"checkpoint_id": BASE_ID}, "gate": gate, "run_id": run.id})
        run_id, rft_id, dpo_id = run.id, rft.id, dpo.id
    return Loop(run_id, run_dir, rft_id, dpo_id, live_scores)
