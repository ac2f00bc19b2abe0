"""bench/learning.py: what it measures from a cycle's files (pure), and a miniature chain on the real stack."""

from __future__ import annotations

import json

import httpx
import pytest

import training.cycle
import bench.learning
from bench.learning import main, pairs_precision, rows_by_source, selected_precision, wait_serving
from feedback.reads import normalise_question
from tests.fakes import ShortestPassesCritic, miniature_cycle_config


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


def test_pairs_precision_checks_chosen_and_rejected_answers_of_logged_questions_against_the_truth(tmp_path):
    def pair(question, chosen, rejected):
        return {"prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": chosen}], "rejected": [{"role": "assistant", "content": rejected}]}

    rows = [pair("hey, what is 2 + 3?", "The answer is 5.", "The answer is 6."),
            pair("What is 7 - 1?", "The answer is 5.", "The answer is 6."),  # a careless thumbs' pair: upside down
            pair("A seed question nobody asked?", "The answer is 1.", "The answer is 2.")]
    (tmp_path / "dpo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    truths = {normalise_question("hey, what is 2 + 3?"): "5", normalise_question("What is 7 - 1?"): "6"}
    assert pairs_precision(tmp_path, truths) == {"pairs": 2, "chosen_right": 1, "rejected_wrong": 1,
                                                 "chosen_precision": 0.5}
    assert pairs_precision(tmp_path, {})["chosen_precision"] is None


def test_rows_by_source_adds_up_every_round():
    result = {"rft_data": {"rows_from_logs": 3, "rows_from_seed": 10, "rows_with_thumbs": 1},
              "rft2_data": {"rows_from_logs": 2, "rows_from_seed": 4}, "dpo_data": {"rows_from_logs": 99}}
    assert rows_by_source(result) == {"rows_from_logs": 5, "rows_from_seed": 14, "rows_with_thumbs": 1}


@pytest.mark.parametrize("wanted, polls", [(None, 2), ("rft-1", 3)])
def test_wait_serving_waits_for_the_model_to_be_up_and_for_the_wanted_checkpoint(monkeypatch, wanted, polls):
    """A starting app names no checkpoint (the first run's students all got 'the model server is starting')."""
    replies = iter([{"ok": False, "checkpoint_id": None}, {"ok": True, "checkpoint_id": "base"},
                    {"ok": True, "checkpoint_id": "rft-1"}])
    seen = []
    monkeypatch.setattr(bench.learning.httpx, "get", lambda url, timeout: seen.append(url) or httpx.Response(200, json=next(replies)))
    monkeypatch.setattr(bench.learning.time, "sleep", lambda s: None)
    wait_serving("http://127.0.0.1:1", wanted, timeout_s=60)
    assert len(seen) == polls


@pytest.mark.vllm
@pytest.mark.training
def test_miniature_chain_learns_from_logged_questions_and_the_promoted_model_serves_the_next_chat(
        vllm_url, tmp_path, capsys, monkeypatch):
    """2 students on a real app (transformers backend: the switch loads the new weights in process), one tiny
    cycle on their logged questions only (sampled on the session's vLLM server), auto-promote, one more chat."""
    real_deps = training.cycle.default_deps

    def deps_with_scripted_critic(settings, cfg):
        deps = real_deps(settings, cfg)
        deps.make_critic = lambda engine: ShortestPassesCritic()  # every question mixed: the cycle always trains
        return deps

    monkeypatch.setattr(training.cycle, "default_deps", deps_with_scripted_critic)
    base = miniature_cycle_config()
    config = base.model_copy(update={
        "rft_rounds": 1, "run_dpo": False, "train_verifier": False, "live_url": vllm_url,
        "eval": base.eval.model_copy(update={"margin": -1.0}),  # 4 held-out questions: any candidate passes
    })
    path = tmp_path / "cycle.json"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    main(["--state", str(tmp_path / "state"), "--cycles", "1", "--students", "2", "--questions-per-student", "2",
          "--max-tokens", "48", "--app-backend", "transformers", "--train-from", "logged", "--config", str(path)])
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines() if line.startswith("{")]
    report, summary = lines[-2], lines[-1]
    assert report["students"]["asked"] == 4 and report["students"]["errors"] == 0
    assert report["pool"]["logged"] >= 4, "the students' questions reached the cycle's pool"
    assert report["rows_by_source"]["rows_from_logs"] >= 1 and report["rows_by_source"]["rows_from_seed"] == 0
    # rows on the students' maths questions (their off-topic chat and follow-ups are logged questions too)
    assert 1 <= report["selected_on_logs"]["selected"] <= report["rows_by_source"]["rows_from_logs"]
    assert report["pairs_on_logs"]["pairs"] == 0  # no DPO in this miniature
    promoted = report["auto_promoted"]
    assert promoted["promoted"] is True
    assert report["next_chat_checkpoint"] == promoted["candidate_id"], "the promoted model answers the next student"
    assert summary["chains"]["logged"]["final"]["promotions"] == 1
