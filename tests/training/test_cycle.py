"""The cycle's orchestration with scripted engines and a stand-in trainer (the real one is in test_training_real)."""

from __future__ import annotations

import itertools
import json
from contextlib import contextmanager
from pathlib import Path

import pytest

from feedback.db import session_scope
from feedback.models import Checkpoint, Dataset, Promotion, TrainingRun
from feedback.registry import create_run, get_live_checkpoint
from tests.fakes import fake_deps, make_chat, small_config
from training.config import CycleConfig, EvalSettings, PoolSettings, RFTDataSettings
from training.cycle import run_cycle
from training.question_choice import choose_training_questions
from training.pool import PoolQuestion, question_key
from training.run_record import CycleBusy
from training.auto_promote import AUTO_PROMOTER, OFF

def test_cycle_registers_the_better_checkpoint_as_candidate(settings, db, tmp_path):
    calls: list = []
    result = run_cycle(settings, small_config(), deps=fake_deps(tmp_path, calls=calls), db=db)
    assert result["candidate"]["kind"] == "dpo"  # 3/4 right beats the RFT engine's 2/4
    with session_scope(db) as s:
        run = s.get(TrainingRun, result["run_id"])
        assert run.status == "succeeded" and run.candidate_checkpoint_id == result["candidate"]["id"]
        for stage in ("pool", "sample_live", "build_rft", "train_sft", "sample_rft", "build_dpo", "train_dpo",
                      "eval_dpo", "register"):
            assert run.progress[stage]["status"] == "done" and "seconds" in run.progress[stage]
        cand = s.get(Checkpoint, result["candidate"]["id"])
        assert cand.status == "candidate" and cand.gate_passed is True
        assert cand.manifest["sha256"] and cand.metrics["gate"]["promotable"]
        assert get_live_checkpoint(session=s).kind == "base"  # live untouched
        assert {d.kind for d in s.query(Dataset).all()} == {"rft", "dpo"}
    assert [c for c in calls if c[1]] == [(result["live"]["id"], True)]
    run_dir = Path(result["run_dir"])
    for name in ("held_out.jsonl", "rft.jsonl", "rft.manifest.json", "dpo.jsonl", "eval.md", "eval.png", "cycle.json"):
        assert (run_dir / name).is_file(), name


def test_cycle_never_trains_on_held_out_questions(settings, db, tmp_path):
    result = run_cycle(settings, small_config(), deps=fake_deps(tmp_path), db=db)
    run_dir = Path(result["run_dir"])
    held = {question_key(json.loads(line)["question"]) for line in (run_dir / "held_out.jsonl").read_text().splitlines()}
    for name in ("rft.jsonl", "dpo.jsonl"):
        for line in (run_dir / name).read_text().splitlines():
            question = json.loads(line)["prompt"][-1]["content"]
            assert question_key(question) not in held


def test_a_crash_marks_the_run_failed_and_leaves_live_alone(settings, db, tmp_path):
    with pytest.raises(RuntimeError, match="dpo exploded"):
        run_cycle(settings, small_config(), deps=fake_deps(tmp_path, fail_stage="dpo"), db=db)
    with session_scope(db) as s:
        run = s.query(TrainingRun).one()
        assert run.status == "failed" and "dpo exploded" in run.error and "FAILED" in run.log
        assert run.progress["train_dpo"]["status"] == "failed"
        assert s.query(Checkpoint).filter(Checkpoint.status == "candidate").count() == 0
        assert get_live_checkpoint(session=s).kind == "base"


def test_only_one_run_at_a_time(settings, db, tmp_path):
    with session_scope(db) as s:
        other = create_run(session=s)
        other.status = "running"
        other.progress = {"owner": {"pid": 1, "host": "elsewhere"}}
    with pytest.raises(CycleBusy):
        run_cycle(settings, small_config(), deps=fake_deps(tmp_path), db=db)


def test_a_run_whose_process_died_does_not_block_forever(settings, db, tmp_path):
    import socket

    with session_scope(db) as s:
        other = create_run(session=s)
        other.status = "running"
        other.progress = {"owner": {"pid": 2**22 + 12345, "host": socket.gethostname()}}
    result = run_cycle(settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    with session_scope(db) as s:
        assert s.get(TrainingRun, other.id).status == "failed"
        assert s.get(TrainingRun, result["run_id"]).status == "succeeded"


def test_next_cycle_starts_from_the_live_checkpoint(settings, db, tmp_path):
    from feedback.registry import record_promotion

    first = run_cycle(settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    with session_scope(db) as s:
        record_promotion(session=s, to_id=first["candidate"]["id"], by_user="test")
    calls: list = []
    second = run_cycle(settings, small_config(run_dpo=False), deps=fake_deps(tmp_path, calls=calls), db=db)
    assert second["live"]["id"] == first["candidate"]["id"]
    assert calls[0] == (first["candidate"]["id"], True)
    with session_scope(db) as s:
        assert s.get(Checkpoint, second["candidate"]["id"]).parent_id == first["candidate"]["id"]


@pytest.fixture
def auto_settings(settings):
    """The test settings with ``training.auto_promote`` on."""
    return settings.model_copy(update={"training": settings.training.model_copy(update={"auto_promote": True})})


def test_auto_promote_is_off_by_default_and_the_candidate_waits_for_an_operator(settings, db, tmp_path):
    assert settings.training.auto_promote is False
    result = run_cycle(settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    assert result["auto_promoted"] == {"promoted": False, "reason": OFF, "candidate_id": result["candidate"]["id"],
                                       "live_id": None}
    with session_scope(db) as s:
        assert s.query(Promotion).count() == 0 and get_live_checkpoint(session=s).kind == "base"
        assert s.get(Checkpoint, result["candidate"]["id"]).status == "candidate"
        assert s.get(TrainingRun, result["run_id"]).progress["auto_promote"]["reason"] == OFF


def test_auto_promote_makes_a_passed_candidate_live_and_the_next_cycle_starts_from_it(auto_settings, db, tmp_path):
    first = run_cycle(auto_settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    cand = first["candidate"]["id"]
    assert first["candidate"]["gate"]["promotable"] and first["auto_promoted"]["promoted"] is True
    with session_scope(db) as s:
        [promotion] = s.query(Promotion).all()
        assert (promotion.from_id, promotion.to_id, promotion.by_user) == (first["live"]["id"], cand, AUTO_PROMOTER)
        assert promotion.automatic is True and promotion.override is False
        assert s.get(Checkpoint, first["live"]["id"]).status == "retired"
        assert get_live_checkpoint(session=s).id == cand
        run = s.get(TrainingRun, first["run_id"])
        assert run.status == "succeeded" and run.progress["auto_promote"]["status"] == "promoted"
        assert "auto_promote: " + cand + " promoted" in run.log
    report = json.loads((Path(first["run_dir"]) / "cycle.json").read_text())
    assert report["auto_promoted"]["promoted"] is True

    calls: list = []
    second = run_cycle(auto_settings, small_config(run_dpo=False), deps=fake_deps(tmp_path, calls=calls), db=db)
    assert second["live"]["id"] == cand and calls[0] == (cand, True)  # cycle n+1 samples cycle n's model
    with session_scope(db) as s:
        assert s.get(Checkpoint, second["candidate"]["id"]).parent_id == cand
        chain = [(p.from_id, p.to_id, p.automatic) for p in s.query(Promotion).order_by(Promotion.id)]
        assert chain[0] == (first["live"]["id"], cand, True)
        assert chain[1:] == [(cand, second["candidate"]["id"], True)]  # and the chain goes on
        assert get_live_checkpoint(session=s).id == second["candidate"]["id"]


def _chain_perplexity(path) -> float:  # noqa: ANN001
    """Base 10.0; cycle 1's models +4% (within +5% of the base); cycle 2's +2.9% over cycle 1's: +7% over the base."""
    name = Path(path).name
    return 10.4 if "-r1-" in name else 10.7 if "-r2-" in name else 10.0


@pytest.mark.parametrize("base_tolerance", [0.05, None])
def test_a_chain_is_guarded_against_drift_from_the_base_not_only_from_live(auto_settings, db, tmp_path,
                                                                          base_tolerance):
    cfg = small_config(run_dpo=False)
    cfg.eval.base_ppl_tolerance = base_tolerance
    first = run_cycle(auto_settings, cfg, deps=fake_deps(tmp_path, perplexity=_chain_perplexity), db=db)
    assert first["auto_promoted"]["promoted"] is True and "base_perplexity" not in first  # live was the base
    assert [g["guard"] for g in first["candidate"]["gate"]["guards"]][-1] == "perplexity"
    measured: list[str] = []
    deps = fake_deps(tmp_path, perplexity=lambda p: measured.append(str(p)) or _chain_perplexity(p))
    second = run_cycle(auto_settings, cfg, deps=deps, db=db)
    gate = second["candidate"]["gate"]
    assert second["base_perplexity"] == 10.0
    assert deps.base_model_path() not in measured  # read from cycle 1's evaluation of the base, not measured again
    if base_tolerance is None:  # only the guard against live (+2.9%): promoted, the chain is at +7%
        assert gate["promotable"] and second["auto_promoted"]["promoted"] is True
        return
    assert gate["failed_guards"] == ["base_perplexity"] and not second["auto_promoted"]["promoted"]
    [base_guard] = [g for g in gate["guards"] if g["guard"] == "base_perplexity"]
    assert base_guard["value"] == pytest.approx(0.07) and base_guard["limit"] == 0.05
    assert "+7.0% over the base model" in base_guard["message"]
    with session_scope(db) as s:
        assert get_live_checkpoint(session=s).id == first["candidate"]["id"]  # the chain stopped at cycle 1


def test_auto_promote_leaves_a_failed_candidate_and_records_why(auto_settings, db, tmp_path):
    drifting = fake_deps(tmp_path)
    drifting.perplexity = lambda path: 10.0 if "base" in str(path) else 12.0
    result = run_cycle(auto_settings, small_config(run_dpo=False), deps=drifting, db=db)
    assert result["candidate"]["gate"]["promotable"] is False
    outcome = result["auto_promoted"]
    assert outcome["promoted"] is False and outcome["reason"].startswith("gate failed")
    with session_scope(db) as s:
        assert s.query(Promotion).count() == 0 and get_live_checkpoint(session=s).kind == "base"
        step = s.get(TrainingRun, result["run_id"]).progress["auto_promote"]
        assert step["status"] == "not promoted" and step["reason"] == outcome["reason"]


def test_auto_promote_with_no_candidate_records_why(auto_settings, db, tmp_path):
    result = run_cycle(auto_settings, small_config(min_rft_rows=10_000), deps=fake_deps(tmp_path), db=db)
    assert result["candidate"] is None and result["auto_promoted"]["reason"] == "no candidate this cycle"


def test_too_few_rft_rows_ends_without_training(settings, db, tmp_path):
    result = run_cycle(settings, small_config(min_rft_rows=10_000), deps=fake_deps(tmp_path), db=db)
    assert result["skipped"] == "too few RFT rows" and result["candidate"] is None


def _correct(db, votes: list[tuple[str, str, str]]) -> None:
    """Each (student, question, value): the student asks, gets a wrong answer, and gives the right one."""
    from feedback import store

    with session_scope(db) as s:
        users = {}
        for name, question, value in votes:
            if name not in users:
                users[name] = store.create_user(session=s, username=name, password_hash="x")
            chat = make_chat(s, name, question=question, answer="The answer is 1.", user=users[name])
            store.upsert_rating(session=s, message_id=chat.answer.id, user_id=users[name].id, liked=False,
                                correction=value)


def test_agreed_corrections_give_logged_questions_references_but_never_evaluate(settings, db, tmp_path):
    pears = "Ann has 3 bags of 4 pears. How many pears does she have?"  # a training question
    pens = "Cleo has 8 boxes of 3 pens. How many pens does she have?"  # a held-out one
    eggs = "A box holds 6 eggs. How many eggs are in 5 boxes?"
    _correct(db, [("ann", pears, "12"), ("bob", pears, "12"), ("ann", pens, "24"), ("bob", pens, "24"),
                  ("ann", "What is 37 + 48?", "85"), ("ann", eggs, "30"), ("cy", eggs, "31"),
                  ("dee", "hi! solve for x: 3x = 12 please", None)])
    config = small_config(pool=PoolSettings(seed_questions=400, eval_questions=60, logged_questions=10))
    result = run_cycle(settings, config, deps=fake_deps(tmp_path), db=db)
    assert result["pool"]["logged"] == 5 and result["pool"]["logged_with_reference"] == 3
    assert result["pool"]["logged_computable"] == 1  # the equation: its critiques compute the reference
    assert result["pool"]["corrections"] == {"questions": 4, "agreed": 2, "confirmed": 1, "conflicts": 1,
                                             "refuted": 0, "waiting": 0, "unusable": 0}
    run_dir = Path(result["run_dir"])
    trained = [json.loads(line) for line in (run_dir / "train_questions.jsonl").read_text().splitlines()]
    references = {q["question"]: (q["reference"], q["subcategory"]) for q in trained if q["source"] == "mathchat-user"}
    assert references == {pears: ("12", "corrected"), "What is 37 + 48?": ("85", "corrected"), eggs: (None, "chat"),
                          "hi! solve for x: 3x = 12 please": (None, "chat")}
    held = [json.loads(line) for line in (run_dir / "held_out.jsonl").read_text().splitlines()]
    assert all(q["source"] == "mathchat-seed" for q in held)


@pytest.mark.parametrize("train_from", ["logged", "seed"])
def test_train_from_picks_which_questions_a_cycle_samples(settings, db, tmp_path, train_from):
    eggs = "A box holds 6 eggs. How many eggs are in 5 boxes?"
    _correct(db, [("ann", eggs, "30"), ("bob", "What is 37 + 48?", "85")])
    config = small_config(pool=PoolSettings(seed_questions=400, eval_questions=60, logged_questions=10,
                                            train_from=train_from))
    result = run_cycle(settings, config, deps=fake_deps(tmp_path), db=db)
    run_dir = Path(result["run_dir"])
    sources = {json.loads(line)["source"] for line in (run_dir / "train_questions.jsonl").read_text().splitlines()}
    assert sources == ({"mathchat-user"} if train_from == "logged" else {"mathchat-seed"})
    rft = json.loads((run_dir / "rft.manifest.json").read_text())["counts"]
    if train_from == "seed":
        assert rft["rows_from_logs"] == 0
    else:
        assert rft["rows_from_seed"] == 0


def _rated_answer(db, name: str, question: str, answer: str, *, liked: bool) -> None:
    """A student asked, got ``answer`` (no critique stored: the API critiques on request) and rated it."""
    from feedback import store

    with session_scope(db) as s:
        chat = make_chat(s, name, question=question, answer=answer)
        store.upsert_rating(session=s, message_id=chat.answer.id, user_id=chat.user.id, liked=liked)


class UnsureCritic:
    """Judges by the final answer, as a critic without a reference would: 30 likely right but unsure (score 9,
    confidence 0.6), 33 wrongly sure (0.95), anything else wrong (0.05)."""

    def critique(self, question, answer, reference=None, *, samples=None):
        from serving.critique.types import CritiqueResult

        confidence = 0.6 if answer.endswith("is 30.") else 0.95 if answer.endswith("is 33.") else 0.05
        score = 9 if confidence >= 0.5 else 2
        return CritiqueResult(score=score, band=None, passed=score >= 7, confidence=confidence, explanation="x",
                              parts={}, critic_version="test", calibration_version="test")


@pytest.mark.parametrize("use_thumbs", [True, False])
def test_a_thumbs_up_stands_in_for_the_confidence_and_a_thumbs_down_vetoes(settings, db, tmp_path, use_thumbs):
    import dataclasses

    eggs = "A box holds 6 eggs. How many eggs are in 5 boxes?"  # a training question, no reference
    vouched = "5 boxes of 6 eggs: 5 x 6 = 30 eggs. The answer is 30."
    vetoed = "6 + 5 = 11, so 11 x 3 = 33 eggs. The answer is 33."
    _rated_answer(db, "ann", eggs, vouched, liked=True)  # the critic unsure, a student sure
    _rated_answer(db, "bob", eggs, vetoed, liked=False)  # the critic wrongly sure, a student says no
    config = small_config(pool=PoolSettings(seed_questions=400, eval_questions=60, logged_questions=10,
                                            train_from="logged"),
                          rft=RFTDataSettings(use_thumbs=use_thumbs), min_rft_rows=1, run_dpo=False)
    deps = dataclasses.replace(fake_deps(tmp_path), make_critic=lambda engine: UnsureCritic())
    result = run_cycle(settings, config, deps=deps, db=db)
    run_dir = Path(result["run_dir"])
    counts = result["rft_data"]
    rft_file = run_dir / "rft.jsonl"
    completions = [json.loads(line)["completion"][0]["content"]
                   for line in rft_file.read_text().splitlines()] if rft_file.exists() else []
    assert vetoed not in completions
    if use_thumbs:  # the scripted policy's samples of the question ("The answer is 1" / "10") are its failing siblings
        assert counts["rated_answers"] == 2 and counts["rows_with_thumbs"] == 1 and completions == [vouched]
        rated = [json.loads(line) for line in (run_dir / "samples_rated.jsonl").read_text().splitlines()]
        assert {(r["answer"], r["rating"], r["confidence"]) for r in rated} == {(vouched, 1, 0.6), (vetoed, -1, 0.95)}
    else:
        assert counts["rated_answers"] == 0 and result["skipped"] == "too few RFT rows"


def test_a_careless_thumbs_up_on_an_answer_the_critic_shows_as_wrong_is_never_dpo_chosen(settings, db, tmp_path):
    """The app stores no critique unless one is asked for, so DPO used to meet students' rated answers with no
    score: a thumbs-up alone made a wrong answer the chosen one. Now the thumbs meet the cycle's critique."""
    import dataclasses

    eggs = "A box holds 6 eggs. How many eggs are in 5 boxes?"
    vouched = "5 boxes of 6 eggs: 5 x 6 = 30 eggs. The answer is 30."
    careless = "6 + 5 = 11 eggs. The answer is 11."
    _rated_answer(db, "ann", eggs, vouched, liked=True)
    _rated_answer(db, "cal", eggs, careless, liked=True)  # a careless thumbs-up, the critic sure it is wrong
    config = small_config(pool=PoolSettings(seed_questions=400, eval_questions=60, logged_questions=10,
                                            train_from="logged"),
                          rft=RFTDataSettings(use_thumbs=True), min_rft_rows=1, run_dpo=True, min_dpo_pairs=1)
    deps = dataclasses.replace(fake_deps(tmp_path), make_critic=lambda engine: UnsureCritic())
    result = run_cycle(settings, config, deps=deps, db=db)
    run_dir = Path(result["run_dir"])
    counts = json.loads((run_dir / "dpo.manifest.json").read_text())["counts"]
    chosen = [json.loads(line)["chosen"][0]["content"] for line in (run_dir / "dpo.jsonl").read_text().splitlines()]
    assert counts["ratings_contradicted"] == 1 and careless not in chosen
    assert vouched in chosen  # the thumbs where the critic was unsure still counts


def test_training_questions_spread_over_categories():
    qs = [PoolQuestion(f"q{i}", "s", f"Q{i}", "1", c, "") for i, c in enumerate("aaaaaaaabbc")]
    chosen = choose_training_questions(qs, 6, seed=0)
    assert sorted(q.category for q in chosen) == ["a", "a", "a", "b", "b", "c"]


def test_two_rft_rounds_chain_checkpoints_and_register_lineage(settings, db, tmp_path):
    result = run_cycle(settings, small_config(rft_rounds=2, eval_every_round=True), deps=fake_deps(tmp_path), db=db)
    assert set(result["eval"]) == {"live", "rft", "rft2", "dpo"}
    with session_scope(db) as s:
        rows = {c.metrics["stage"]: c for c in s.query(Checkpoint).filter(Checkpoint.kind != "base")}
        assert rows["rft2"].parent_id == rows["rft"].id and rows["dpo"].parent_id == rows["rft2"].id
        assert [c.status for c in rows.values()].count("candidate") == 1
        assert rows["dpo"].status == "candidate"
        assert s.get(TrainingRun, result["run_id"]).progress["train_sft2"]["status"] == "done"


def test_without_eval_every_round_two_rounds_skip_round_one_eval_and_sample_new_questions(settings, db, tmp_path):
    calls: list = []
    cfg = small_config(rft_rounds=2, eval_every_round=False)
    result = run_cycle(settings, cfg, deps=fake_deps(tmp_path, calls=calls), db=db)
    assert set(result["eval"]) == {"live", "rft2", "dpo"}  # round 1's model is an intermediate
    assert result["rounds"]["2"]["new"] == cfg.dpo_questions  # the 400-question pool has fresh ones to give
    run_dir = Path(result["run_dir"])
    first = {json.loads(line)["question_id"] for line in (run_dir / "train_questions.jsonl").read_text().splitlines()}
    second = [json.loads(line)["question_id"]
              for line in (run_dir / "train_questions_round2.jsonl").read_text().splitlines()]
    assert len(second) == cfg.dpo_questions and not first & set(second)
    with session_scope(db) as s:
        rows = {c.metrics["stage"]: c for c in s.query(Checkpoint).filter(Checkpoint.kind != "base")}
        assert rows["rft"].status == "rejected" and rows["rft"].metrics["eval"] is None
        assert rows["rft"].gate_passed is None and "not evaluated" in rows["rft"].metrics["note"]
        assert rows["dpo"].status == "candidate"


def test_three_rounds_chain_on_fresh_questions_and_dpo_starts_from_the_last(settings, db, tmp_path):
    cfg = small_config(rft_rounds=3, dpo_questions=20)
    result = run_cycle(settings, cfg, deps=fake_deps(tmp_path), db=db)
    assert set(result["eval"]) == {"live", "rft", "rft2", "rft3", "dpo"}  # eval_every_round is the default
    run_dir = Path(result["run_dir"])
    rounds = [{json.loads(line)["question_id"] for line in (run_dir / name).read_text().splitlines()}
              for name in ("train_questions.jsonl", "train_questions_round2.jsonl", "train_questions_round3.jsonl")]
    assert not rounds[0] & rounds[1] and not rounds[2] & (rounds[0] | rounds[1])
    assert result["rounds"]["3"]["new"] == 20 and set(result["rounds"]["3"]["previous_yield"])
    last_samples = (run_dir / "samples_rft2.jsonl").read_text().splitlines()  # round 2's model, sampled for round 3
    assert result["rft3_data"]["math_rows"] > 0 and result["dpo_data"]["samples_in"] == len(last_samples)
    with session_scope(db) as s:
        rows = {c.metrics["stage"]: c for c in s.query(Checkpoint).filter(Checkpoint.kind != "base")}
        assert rows["rft2"].parent_id == rows["rft"].id and rows["rft3"].parent_id == rows["rft2"].id
        assert rows["dpo"].parent_id == rows["rft3"].id
        assert rows["rft2"].metrics["eval"] is not None and rows["rft3"].metrics["eval"] is not None
        run = s.get(TrainingRun, result["run_id"])
        assert {"sample_rft", "train_sft2", "sample_rft2", "train_sft3", "eval_rft3"} <= set(run.progress)


def test_an_earlier_round_within_the_perplexity_guard_is_the_candidate_when_the_last_drifted(settings, db, tmp_path):
    def perplexity(path):  # round 3 and the DPO model built on it drift past the 5% guard
        name = Path(path).name
        return 10.0 if "base" in str(path) else 12.0 if name.startswith(("rft3-", "dpo-")) else 10.2

    result = run_cycle(settings, small_config(rft_rounds=3, dpo_questions=20),
                       deps=fake_deps(tmp_path, perplexity=perplexity), db=db)
    gates = {name: report["gate"]["promotable"] for name, report in result["eval"].items() if name != "live"}
    assert gates["rft3"] is False and gates["dpo"] is False
    assert result["candidate"]["stage"] in {"rft", "rft2"} and gates[result["candidate"]["stage"]] is True
    assert result["candidate"]["gate"]["promotable"] is True


def test_a_round_projected_past_the_perplexity_guard_is_not_trained_and_dpo_starts_from_the_last_good_model(
        settings, db, tmp_path):
    def perplexity(path):  # round 1 at +3%: a round 2 adding as much lands at +6%, past the 5% guard
        return 10.0 if "base" in str(path) else 10.3

    result = run_cycle(settings, small_config(rft_rounds=3, dpo_questions=20),
                       deps=fake_deps(tmp_path, perplexity=perplexity), db=db)
    rest = result["rounds"]["2"]["rest"]
    assert not rest["train_round"] and rest["run_dpo"] and rest["projected_ppl_ratio"] == pytest.approx(1.06)
    assert result["rest_plan"][0].startswith("round 2 not trained: round 1 is at +3.0% perplexity")
    assert "3" not in result["rounds"] and set(result["eval"]) == {"live", "rft", "dpo"}
    assert result["dpo_data"]["samples_in"] > 0  # round 2's questions were still sampled, for DPO
    with session_scope(db) as s:
        rows = {c.metrics["stage"]: c for c in s.query(Checkpoint).filter(Checkpoint.kind != "base")}
        assert set(rows) == {"rft", "dpo"} and rows["dpo"].parent_id == rows["rft"].id
        run = s.get(TrainingRun, result["run_id"])
        assert "train_sft2" not in run.progress and "round 2 not trained" in run.log


@pytest.mark.parametrize("run_dpo", [False, True])
def test_a_round_and_dpo_that_would_run_past_the_time_budget_are_not_started(settings, db, tmp_path, run_dpo):
    cfg = small_config(rft_rounds=2, run_dpo=run_dpo, time_budget_s=0.001)
    result = run_cycle(settings, cfg, deps=fake_deps(tmp_path), db=db)
    rest = result["rounds"]["2"]["rest"]
    assert not rest["train_round"] and not rest["run_dpo"] and rest["projected_finish_s"] > 0.001
    assert rest["reason"].startswith("round 2 not trained: the cycle would end at")
    assert ("DPO dropped" in rest["reason"]) is run_dpo
    assert set(result["eval"]) == {"live", "rft"} and result["candidate"]["stage"] == "rft"
    assert not (Path(result["run_dir"]) / "samples_rft.jsonl").exists()  # nothing left to sample for
    with session_scope(db) as s:
        run = s.get(TrainingRun, result["run_id"])
        assert "train_dpo" not in run.progress and run.progress["round_stop"]["reason"] == rest["reason"]


def test_rounds_within_the_guard_and_the_budget_all_train(settings, db, tmp_path):
    result = run_cycle(settings, small_config(rft_rounds=2, run_dpo=False, time_budget_s=3600),
                       deps=fake_deps(tmp_path), db=db)  # +2% a round: round 2 projected at +4%
    rest = result["rounds"]["2"]["rest"]
    assert rest["train_round"] and rest["projected_ppl_ratio"] == pytest.approx(1.04) and rest["projected_finish_s"] < 3600
    assert "rest_plan" not in result and set(result["eval"]) == {"live", "rft", "rft2"}


def test_two_rounds_with_too_few_round_two_rows_still_offer_round_one(settings, db, tmp_path):
    cfg = small_config(rft_rounds=2, run_dpo=False, min_rft_rows=20)
    deps = fake_deps(tmp_path)
    opened = deps.open_engine

    @contextmanager
    def all_wrong_after_round_one(path, checkpoint_id, is_live):  # round 2 finds nothing to learn from
        with opened(path, checkpoint_id, is_live) as engine:
            if checkpoint_id.startswith("rft-"):
                engine._replies = itertools.cycle(["The answer is -1."])
            yield engine

    deps.open_engine = all_wrong_after_round_one
    result = run_cycle(settings, cfg, deps=deps, db=db)
    assert result["rft2_data"]["after_user_cap"] == 0
    assert set(result["eval"]) == {"live", "rft"} and result["candidate"]["stage"] == "rft"


def test_a_perplexity_refusal_makes_the_next_cycle_adapt_and_record_it(settings, db, tmp_path):
    drifting = fake_deps(tmp_path)
    drifting.perplexity = lambda path: 10.0 if "base" in str(path) else 12.0
    first = run_cycle(settings, small_config(run_dpo=False), deps=drifting, db=db)
    assert first["candidate"]["gate"]["failed_guards"] == ["perplexity"]
    assert first["adaptation"]["note"] == "no previous run: configured settings"

    deps, rates = fake_deps(tmp_path), []
    train = deps.train
    deps.train = lambda job, *a: (rates.append(job.sft.learning_rate), train(job, *a))[1]
    second = run_cycle(settings, small_config(run_dpo=False), deps=deps, db=db)
    configured = small_config().sft.learning_rate
    assert rates == [configured / 2]
    assert second["adaptation"]["note"].startswith(f"run {first['run_id']}: perplexity refused (+20.0% > +5.0%)")
    assert second["config"]["rft"] == first["config"]["rft"]  # more general rows are no step (training/adapt.py)
    with session_scope(db) as s:
        run = s.get(TrainingRun, second["run_id"])
        assert run.config["sft"]["learning_rate"] == configured / 2  # the run records what it ran with
        assert run.progress["adapt"]["overrides"] == {"sft.learning_rate": configured / 2}
        assert "adaptation: run" in run.log
    report = json.loads((Path(second["run_dir"]) / "cycle.json").read_text())
    assert report["adaptation"]["changes"][0]["setting"] == "sft.learning_rate"


def test_adapt_false_runs_the_configured_settings(settings, db, tmp_path):
    drifting = fake_deps(tmp_path)
    drifting.perplexity = lambda path: 10.0 if "base" in str(path) else 12.0
    run_cycle(settings, small_config(run_dpo=False), deps=drifting, db=db)
    second = run_cycle(settings, small_config(run_dpo=False, adapt=False), deps=fake_deps(tmp_path), db=db)
    assert second["config"]["sft"]["learning_rate"] == small_config().sft.learning_rate
    assert second["adaptation"]["changes"] == []


def _sampled(run_dir: Path, name: str) -> dict[str, int]:
    rows = [json.loads(line) for line in (run_dir / f"{name}.jsonl").read_text().splitlines()]
    return {qid: sum(r["question_id"] == qid for r in rows) for qid in {r["question_id"] for r in rows}}


def test_a_round_stops_sampling_once_it_has_enough_mixed_questions(settings, db, tmp_path):
    # every question is mixed (1 of 4 right); one request in flight, so exactly 5 questions are sent
    cfg = small_config(stop_at_mixed=5, sample_concurrency=4, rft_rounds=2)
    result = run_cycle(settings, cfg, deps=fake_deps(tmp_path), db=db)
    run_dir = Path(result["run_dir"])
    live, later = _sampled(run_dir, "samples_live"), _sampled(run_dir, "samples_rft")
    assert len(live) == 5 and set(live.values()) == {4}
    assert len(later) == 5 and not set(later) & set(live)


def test_plan_by_yield_sizes_later_rounds_and_records_the_plan(settings, db, tmp_path):
    cfg = small_config(stop_at_mixed=5, plan_by_yield=True, sample_concurrency=4, rft_rounds=2)
    result = run_cycle(settings, cfg, deps=fake_deps(tmp_path), db=db)
    plan = result["rounds"]["2"]["plan"]
    assert 2 <= plan["k"] <= 8 and plan["questions"] == result["rounds"]["2"]["questions"]
    assert set(_sampled(Path(result["run_dir"]), "samples_rft").values()) == {plan["k"]}


def verifier_config(**changes) -> CycleConfig:
    from training.config import VerifierDataSettings

    return small_config(**{"train_verifier": True,
                           "verifier_data": VerifierDataSettings(min_train_rows=5, min_held_out_rows=5), **changes})


def test_cycles_keep_their_labelled_samples_as_verifier_rows_without_duplicates(settings, db, tmp_path):
    from training.verifier_data import ROWS_FILE, load_verifier_rows

    first = run_cycle(settings, verifier_config(), deps=fake_deps(tmp_path, verifier_aurocs=[0.8]), db=db)
    store = Path(settings.training.workdir) / ROWS_FILE
    kept = load_verifier_rows(store)
    assert kept and first["verifier"]["store"]["rows"] == len(kept)
    assert {r["checkpoint"] for r in kept} >= {first["live"]["id"]} and {r["split"] for r in kept} == {"train", "held_out"}
    assert len({r["id"] for r in kept}) == len(kept)
    assert all(r["temperature"] == 0.6 for r in kept)
    run_cycle(settings, verifier_config(), deps=fake_deps(tmp_path, verifier_aurocs=[0.7]), db=db)
    again = load_verifier_rows(store)
    assert len({r["id"] for r in again}) == len(again) >= len(kept)


def test_a_verifier_goes_live_only_when_it_beats_the_live_one_on_held_out_auroc(settings, db, tmp_path):
    first = run_cycle(settings, verifier_config(), deps=fake_deps(tmp_path, verifier_aurocs=[0.8]), db=db)
    assert first["verifier"]["live"] is True
    second = run_cycle(settings, verifier_config(), deps=fake_deps(tmp_path, verifier_aurocs=[0.4]), db=db)
    assert second["verifier"]["live"] is False and second["verifier"]["current_auroc"] == 0.5
    with session_scope(db) as s:
        live = get_live_checkpoint(session=s, family="verifier")
        assert live.id == first["verifier"]["id"] and live.metrics["held_out_auroc"] == 0.8
        rejected = s.get(Checkpoint, second["verifier"]["id"])
        assert rejected.status == "rejected" and rejected.gate_passed is False
        assert get_live_checkpoint(session=s).kind == "base"  # the policy is never touched
        run = s.get(TrainingRun, second["run_id"])
        assert run.progress["train_verifier"]["status"] == "done"
        [promotion] = s.query(Promotion).all()  # the verifier stage's own promotion is the loop's, not a person's
        assert (promotion.to_id, promotion.automatic) == (first["verifier"]["id"], True)


def test_a_failing_verifier_stage_leaves_the_policy_candidate_standing(settings, db, tmp_path):
    result = run_cycle(settings, verifier_config(), deps=fake_deps(tmp_path, fail_stage="verifier"), db=db)
    assert result["candidate"]["kind"] == "dpo" and "verifier exploded" in result["verifier"]["error"]
    with session_scope(db) as s:
        run = s.get(TrainingRun, result["run_id"])
        assert run.status == "succeeded" and run.progress["train_verifier"]["status"] == "failed"


def test_a_verifier_stage_past_the_time_budget_is_deferred_with_its_rows_kept_and_comes_first_next(settings, db,
                                                                                                 tmp_path):
    from training.verifier_data import ROWS_FILE, load_verifier_rows

    def deps(pass_s: float, timed: list[int]):
        made = fake_deps(tmp_path, verifier_aurocs=[0.8])
        made.time_verifier_pass = lambda path, pairs: timed.append(len(pairs)) or (pass_s, 0.2)
        return made

    cfg = verifier_config(rft_rounds=2, run_dpo=False, time_budget_s=3600)
    timed: list[int] = []
    first = run_cycle(settings, cfg, deps=deps(60.0, timed), db=db)  # a minute an answer: no stage fits
    deferred = first["verifier"]
    assert deferred["deferred"].startswith("verifier stage deferred: it would end the cycle at")
    assert "id" not in deferred and len(timed) == 1 and 0 < timed[0] <= 24, "timed once, on the run's samples"
    assert first["rounds"]["2"]["rest"]["train_round"] and not first["verifier_first"]  # the round came first
    kept = load_verifier_rows(Path(settings.training.workdir) / ROWS_FILE)
    assert len(kept) == deferred["store"]["rows"] > 0
    with session_scope(db) as s:
        assert not s.query(Checkpoint).filter(Checkpoint.kind == "verifier").count()
        run = s.get(TrainingRun, first["run_id"])
        assert "verifier stage deferred" in run.log and run.progress["verifier_deferred"]["reason"] == deferred["deferred"]
    # 5 s an answer: the stage's few rows fit, but not with its projected full size beside another round
    second = run_cycle(settings, cfg, deps=deps(5.0, []), db=db)
    assert second["verifier_first"] and not second["rounds"]["2"]["rest"]["train_round"]
    assert "deferred by the last run" in second["rounds"]["2"]["rest"]["reason"]
    assert second["verifier"]["live"] is True and "deferred" not in second["verifier"]
    trained_on = {json.loads(line)["id"] for line in
                  (Path(second["run_dir"]) / "verifier_train.jsonl").read_text().splitlines()}
    assert trained_on & {r["id"] for r in kept if r["split"] == "train"}, "the deferred rows train the next verifier"
    third = run_cycle(settings, cfg, deps=deps(5.0, []), db=db)  # nothing deferred last time: the round first again
    assert not third["verifier_first"] and third["rounds"]["2"]["rest"]["train_round"]


def test_the_verifier_stage_is_off_with_its_flag(settings, db, tmp_path):
    result = run_cycle(settings, verifier_config(train_verifier=False), deps=fake_deps(tmp_path), db=db)
    assert "verifier" not in result


def test_general_rows_are_drawn_only_when_the_recipe_mixes_them_in(settings, db, tmp_path):
    plain = run_cycle(settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    assert plain["rft_data"]["general_answered"] == 0 and plain["rft_data"]["general_rows"] == 0
    mixed = run_cycle(settings, small_config(run_dpo=False, rft=RFTDataSettings(general_ratio=0.5)),
                      deps=fake_deps(tmp_path), db=db)
    counts = mixed["rft_data"]
    assert counts["general_answered"] > 0 and counts["general_rows"] == round(0.5 * counts["math_rows"]) > 0


def test_with_no_live_verifier_a_new_one_must_beat_the_shipped_default(settings, db, tmp_path, default_model_path):
    from serving.critique.default_verifier import CHECKPOINT_ID

    result = run_cycle(settings, verifier_config(), deps=fake_deps(tmp_path, verifier_aurocs=[0.4]), db=db)
    assert result["verifier"]["live"] is False and result["verifier"]["current_auroc"] == 0.5  # the scripted 0.5
    with session_scope(db) as s:
        assert s.get(Checkpoint, result["verifier"]["id"]).metrics["current"]["id"] == CHECKPOINT_ID
        assert get_live_checkpoint(session=s, family="verifier") is None


def unproven_config(**changes) -> CycleConfig:
    """One round, no DPO, 8 held-out questions: the scripted RFT engine's 4 of 8 against live's 2 of 8 gains
    without significance, so the gate refuses it for that alone."""
    return small_config(run_dpo=False, eval=EvalSettings(margin=0.0),
                        pool=PoolSettings(seed_questions=400, eval_questions=8, logged_questions=0),
                        **{"retrain_from_base": False, **changes})


def test_a_candidate_refused_only_for_significance_is_where_the_next_cycle_continues(settings, db, tmp_path):
    first = run_cycle(settings, unproven_config(), deps=fake_deps(tmp_path), db=db)
    assert first["candidate"]["gate"]["failed_guards"] == ["significance"] and first["start"] is None
    cand, live = first["candidate"]["id"], first["live"]["id"]
    import shutil

    shutil.rmtree(Path(settings.training.workdir) / "eval_cache")  # live's baseline is evaluated on live again
    calls, jobs = [], []
    deps = fake_deps(tmp_path, calls=calls)
    train = deps.train
    deps.train = lambda job, *a: (jobs.append(job), train(job, *a))[1]
    second = run_cycle(settings, unproven_config(), deps=deps, db=db)
    assert second["start"]["id"] == cand and second["live"]["id"] == live
    assert calls[:2] == [(live, True), (cand, False)]  # the gate's baseline from live, the samples from the candidate
    assert jobs[0].model_path == first["candidate"]["path"]
    with session_scope(db) as s:
        assert s.get(Checkpoint, second["candidate"]["id"]).parent_id == cand
        assert get_live_checkpoint(session=s).id == live
        run = s.get(TrainingRun, second["run_id"])
        assert "continuing from run" in run.log and run.progress["start_point"]["id"] == cand
        from console.tables import run_summary_markdown
        from console.views import build_run_view

        summary = run_summary_markdown(build_run_view(session=s, run_id=second["run_id"]).run)
        assert f"**Started from:** continuing from run {first['run_id']}'s candidate {cand}" in summary
    asked = [{json.loads(line)["question"] for line in (Path(r["run_dir"]) / "train_questions.jsonl").open()}
             for r in (first, second)]
    assert second["pool"]["sampled_before"] >= len(asked[0]) and not asked[0] & asked[1]  # new questions first

    off = run_cycle(settings, unproven_config(continue_unproven=False), deps=fake_deps(tmp_path), db=db)
    assert off["start"] is None
    with session_scope(db) as s:
        assert s.get(Checkpoint, off["candidate"]["id"]).parent_id == live


def test_a_candidate_refused_for_perplexity_is_not_continued(settings, db, tmp_path):
    drifting = fake_deps(tmp_path, perplexity=lambda path: 10.0 if "base" in str(path) else 12.0)
    first = run_cycle(settings, unproven_config(), deps=drifting, db=db)
    assert "perplexity" in first["candidate"]["gate"]["failed_guards"]
    second = run_cycle(settings, unproven_config(), deps=fake_deps(tmp_path), db=db)
    assert second["start"] is None
    with session_scope(db) as s:
        assert s.get(Checkpoint, second["candidate"]["id"]).parent_id == first["live"]["id"]


def test_retrain_from_base_trains_round_one_from_the_base_on_this_and_the_lineages_rows(auto_settings, db, tmp_path):
    first = run_cycle(auto_settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    assert first["auto_promoted"]["promoted"] is True
    jobs = []
    deps = fake_deps(tmp_path)
    train = deps.train
    deps.train = lambda job, *a: (jobs.append(job), train(job, *a))[1]
    second = run_cycle(auto_settings, small_config(run_dpo=False, retrain_from_base=True), deps=deps, db=db)
    assert jobs[0].model_path == str(tmp_path / "base-model") and jobs[0].data_path.name == "replay_rft.jsonl"
    rows = lambda path: {json.dumps(r, sort_keys=True) for r in map(json.loads, Path(path).read_text().splitlines())}
    replayed = rows(jobs[0].data_path)
    assert replayed == rows(Path(first["run_dir"]) / "rft.jsonl") | rows(Path(second["run_dir"]) / "rft.jsonl")
    counts = second["replay_data"]
    assert counts["this_cycle"] > 0 and counts["earlier_files"] == 1 and counts["rows"] == len(replayed)
    with session_scope(db) as s:
        ck = s.get(Checkpoint, second["candidate"]["id"])
        assert ck.parent_id == first["candidate"]["id"]  # the lineage is the chain's; the weights are the base's
        assert ck.manifest["path"] == str(jobs[0].data_path)
    off = []
    deps = fake_deps(tmp_path)
    deps.train = lambda job, *a: (off.append(job), train(job, *a))[1]
    run_cycle(auto_settings, small_config(run_dpo=False, retrain_from_base=False), deps=deps, db=db)
    assert off[0].data_path.name == "rft.jsonl" and "base-model" not in off[0].model_path


def test_a_retrain_from_base_round_is_capped_to_what_the_time_budget_holds(auto_settings, db, tmp_path):
    first = run_cycle(auto_settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    with session_scope(db) as s:
        run = s.get(TrainingRun, first["run_id"])
        trained = run.progress["train_sft"]
        assert trained["rows"] == len((Path(first["run_dir"]) / "rft.jsonl").read_text().splitlines()) > 0
        run.progress = {**run.progress, "train_sft": {**trained, "seconds": 100.0 * trained["rows"]}}  # 100 s a row
    second = run_cycle(auto_settings, small_config(run_dpo=False), deps=fake_deps(tmp_path), db=db)
    counts = second["replay_data"]  # 1800 s hold 16 rows at 100 s a row: this cycle's rows only
    assert counts["rows"] == counts["this_cycle"] > 0 and counts["over_cap"] > 0
    assert any("round 1 replays at most" in why for why in second["rest_plan"])
