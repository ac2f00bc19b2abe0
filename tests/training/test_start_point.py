"""Which model a cycle continues from (training/start_point.py) and what it reads to decide."""

import json

import pytest

from feedback.db import session_scope
from training.adapt import PreviousRun
from training.cycle_samples import questions_sampled_before
from training.pool import question_key
from training.start_point import unproven_start


def verdict(failed: set[str], delta: float = 0.03, ppl: float = 0.01) -> dict:
    names = ("accuracy_margin", "significance", "perplexity", "base_perplexity")
    return {"promotable": not failed, "accuracy_delta": delta,
            "guards": [{"guard": g, "passed": g not in failed, **({"value": ppl} if g == "perplexity" else {})}
                       for g in names]}


def run(v: dict, **changes) -> PreviousRun:
    fields = dict(candidate_id="rft2-r3", candidate_path="/ck/rft2-r3", candidate_status="candidate",
                  candidate_lineage=("rft-r3", "live"))
    return PreviousRun(3, v, "rft2", **{**fields, **changes})


def test_a_gain_refused_for_size_or_significance_alone_is_continued():
    for failed in ({"significance"}, {"accuracy_margin"}, {"accuracy_margin", "significance"}):
        start, note = unproven_start(run(verdict(failed)), "live")
        assert start is not None and start.path == "/ck/rft2-r3" and start.accuracy_delta == 0.03, failed
        assert note.startswith("continuing from run 3's candidate rft2-r3: it gained +3.0 points")


@pytest.mark.parametrize("v", [verdict(set()),                                    # promotable: it went or may go live
                               verdict({"significance", "perplexity"}),           # drifted
                               verdict({"significance", "base_perplexity"}),      # drifted from the chain's base
                               verdict({"significance"}, delta=0.0),              # gained nothing
                               verdict({"accuracy_margin", "significance"}, delta=-0.02)])  # lost
def test_a_candidate_that_passed_drifted_or_did_not_gain_is_not_continued(v):
    assert unproven_start(run(v), "live") == (None, "")


def test_a_candidate_no_longer_pending_or_not_from_live_is_not_continued():
    unproven = verdict({"significance"})
    start, note = unproven_start(run(unproven, candidate_status="rejected"), "live")
    assert start is None and note.endswith("is rejected: starting from live")
    start, note = unproven_start(run(unproven), "another-live")
    assert start is None and "does not descend from live another-live" in note
    assert unproven_start(run(unproven, candidate_id=None), "live") == (None, "")
    assert unproven_start(None, "live") == (None, "")


def test_questions_sampled_before_counts_runs_not_samples_and_only_earlier_runs(tmp_path):
    def keep(run_id: int, name: str, questions: list[str]) -> None:
        folder = tmp_path / f"run-{run_id:05d}"
        folder.mkdir(exist_ok=True)
        (folder / name).write_text("".join(json.dumps({"question": q, "answer": "a"}) + "\n" for q in questions))

    keep(1, "samples_live.jsonl", ["What is 2+2?", "What is 2+2?", "Half of 8?"])
    keep(1, "samples_rft.jsonl", ["What is 2+2?"])
    keep(2, "samples_rft2.jsonl", ["Half of 8?"])
    keep(2, "samples_rated.jsonl", ["A student's question?"])  # answers students rated, not sampled by the run
    keep(3, "samples_live.jsonl", ["Later question?"])
    (tmp_path / "run-00002" / "samples_live.jsonl").write_text("{not json\n")
    counts = questions_sampled_before(tmp_path, before_run=3)
    assert counts == {question_key("What is 2+2?"): 1, question_key("Half of 8?"): 2}
    assert questions_sampled_before(tmp_path, before_run=3, runs=1) == {question_key("Half of 8?"): 1}
    assert questions_sampled_before(tmp_path / "missing", before_run=3) == {}


def test_the_previous_run_carries_its_candidate_and_the_candidates_ancestors(db):
    from feedback.registry import create_run, finish_run, register_checkpoint
    from training.store_io import load_previous_run

    with session_scope(db) as s:
        register_checkpoint(session=s, checkpoint_id="base", path="/c/base", kind="base")
        register_checkpoint(session=s, checkpoint_id="rft-1", path="/c/rft-1", kind="rft", parent_id="base")
        register_checkpoint(session=s, checkpoint_id="rft2-1", path="/c/rft2-1", kind="rft", parent_id="rft-1",
                            metrics={"gate": verdict({"significance"}), "stage": "rft2"})
        run_row = create_run(session=s)
        finish_run(session=s, run_id=run_row.id, status="succeeded", candidate_checkpoint_id="rft2-1")
    with session_scope(db) as s:
        previous = load_previous_run(session=s)
    assert (previous.candidate_id, previous.candidate_path, previous.candidate_status) == \
        ("rft2-1", "/c/rft2-1", "candidate")
    assert previous.candidate_lineage == ("rft-1", "base")
    assert unproven_start(previous, "base")[0].id == "rft2-1"
