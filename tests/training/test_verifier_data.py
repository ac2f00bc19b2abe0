"""build_verifier_rows on hand-written samples: every filter, the split, the features, the append-only store."""

from __future__ import annotations

from training.samples import ScoredSample
from training.verifier_data import (SampleBatch, append_verifier_rows, build_verifier_rows, held_out_rows,
                                    load_verifier_rows, row_id, select_training_rows, split_of)

Q = "Tom has 3 boxes with 12 apples each. He eats 5 apples. How many apples are left?"
RIGHT = "3 x 12 = 36 apples. 36 - 5 = 31. The answer is 31."
WRONG = "3 x 12 = 36 apples. 36 - 5 = 30. The answer is 30."


def sample(answer: str, verified: bool | None, *, qid: str = "seed-a", question: str = Q, rating: int | None = None,
           i: int = 0) -> ScoredSample:
    return ScoredSample(qid, question, answer, 9 if verified else 2, verified=verified, rating=rating,
                        sample_id=f"{qid}#{i}", finish_reason="stop")


def build(*batches: SampleBatch, **kwargs):
    return build_verifier_rows(list(batches), with_features=kwargs.pop("with_features", False), **kwargs)


def test_labelled_samples_become_rows_with_label_checkpoint_and_temperature() -> None:
    result = build(SampleBatch([sample(RIGHT, True), sample(WRONG, False, i=1)], "rft-1", 0.6, run_id=3))
    assert [(r["label"], r["checkpoint"], r["temperature"], r["run_id"]) for r in result.rows] == \
        [(True, "rft-1", 0.6, 3), (False, "rft-1", 0.6, 3)]
    assert result.counts["rows"] == 2 and result.counts["right"] == 1 and result.counts["wrong"] == 1


def test_samples_without_a_reference_check_are_dropped_and_counted() -> None:
    result = build(SampleBatch([sample(RIGHT, None)], "live", 0.6))
    assert result.rows == [] and result.counts["no_label"] == 1


def test_empty_answers_are_dropped_and_counted() -> None:
    result = build(SampleBatch([sample("  \n", False)], "live", 0.6))
    assert result.rows == [] and result.counts["empty_answer"] == 1


def test_duplicate_answers_to_the_same_question_are_kept_once() -> None:
    batch = SampleBatch([sample(RIGHT, True), sample(RIGHT.replace(" ", "  "), True, i=1),
                         sample(RIGHT, True, qid="user-x", question=Q.lower() + " ", i=2)], "live", 0.6)
    result = build(batch)
    assert len(result.rows) == 1 and result.counts["duplicate"] == 2


def test_rows_already_stored_are_not_added_again() -> None:
    result = build(SampleBatch([sample(RIGHT, True), sample(WRONG, False, i=1)], "live", 0.6),
                   existing_ids={row_id(Q, RIGHT)})
    assert [r["answer"] for r in result.rows] == [WRONG] and result.counts["duplicate"] == 1
    assert result.filters["existing_rows"] == 1


def test_thumbs_join_only_when_the_reference_check_confirms_them() -> None:
    thumbs = SampleBatch([sample(RIGHT, True, rating=1), sample(WRONG, True, rating=-1, i=1),
                          sample(WRONG + " Sure.", None, rating=-1, i=2)], None, None, source="thumbs")
    result = build(thumbs)
    assert [(r["answer"], r["source"]) for r in result.rows] == [(RIGHT, "thumbs")]
    assert result.counts["thumbs_unconfirmed"] == 2


def test_split_is_by_normalised_question_so_all_answers_of_a_question_share_it() -> None:
    questions = [f"What is {i} + {i + 1}?" for i in range(60)]
    samples = [sample(f"The answer is {j}.", j == 2 * i + 1, qid=f"seed-{i}", question=q, i=j)
               for i, q in enumerate(questions) for j in range(3)]
    rows = build(SampleBatch(samples, "live", 0.6), held_out_fraction=0.3).rows
    by_question: dict[str, set[str]] = {}
    for r in rows:
        by_question.setdefault(r["question_id"], set()).add(r["split"])
    assert all(len(splits) == 1 for splits in by_question.values())
    held = sum(1 for splits in by_question.values() if "held_out" in splits)
    assert 5 <= held <= 35  # about 30% of 60 questions
    assert split_of(questions[0], 0.3) == split_of("  " + questions[0].upper(), 0.3)


def test_rows_carry_the_no_reference_features_with_consistency_against_the_other_samples() -> None:
    batch = SampleBatch([sample(RIGHT, True), sample(RIGHT + " Done.", True, i=1), sample(WRONG, False, i=2)],
                        "live", 0.6)
    rows = build(batch, with_features=True).rows
    assert rows[0]["features"]["steps_checked"] == 1.0
    assert rows[0]["features"]["cons_present"] == 1.0
    assert rows[0]["features"].get("cons_fraction", 0.0) == 0.0  # 1 of 2 others agrees: 0.5 - 0.5 (zeros omitted)
    assert rows[2]["features"]["steps_wrong"] == 1.0
    assert "ref_checked" not in rows[0]["features"]


def test_training_rows_are_the_train_split_newest_first_keeping_right_answers() -> None:
    rows = [{"id": str(i), "split": "train", "label": i in (0, 1)} for i in range(6)] + \
        [{"id": "h", "split": "held_out", "label": True}]
    assert [r["id"] for r in select_training_rows(rows, 4)] == ["0", "1", "4", "5"]
    assert [r["id"] for r in select_training_rows(rows, None)] == [str(i) for i in range(6)]
    assert [r["id"] for r in held_out_rows(rows)] == ["h"]


def test_the_store_appends_and_reads_back(tmp_path) -> None:
    path = tmp_path / "verifier" / "rows.jsonl"
    assert load_verifier_rows(path) == []
    first = build(SampleBatch([sample(RIGHT, True)], "live", 0.6)).rows
    append_verifier_rows(first, path)
    second = build(SampleBatch([sample(RIGHT, True), sample(WRONG, False, i=1)], "rft", 0.6),
                   existing_ids={r["id"] for r in load_verifier_rows(path)}).rows
    append_verifier_rows(second, path)
    assert [r["answer"] for r in load_verifier_rows(path)] == [RIGHT, WRONG]
