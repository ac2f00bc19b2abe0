from collections import Counter

from serving.critique.answers import answers_equivalent, extract_answer
from mathchat.jsonl import read_jsonl, write_jsonl
from serving.critique.labelled_set import HUMAN_BANDS, make_labelled_set
from serving.critique.steps import check_steps


def test_same_seed_same_rows_and_different_seed_differs():
    assert make_labelled_set(30, seed=3) == make_labelled_set(30, seed=3)
    assert make_labelled_set(30, seed=3) != make_labelled_set(30, seed=4)


def test_all_kinds_and_both_languages_appear():
    rows = make_labelled_set(300, seed=0)
    assert set(Counter(r["kind"] for r in rows)) == set(HUMAN_BANDS)
    assert {r["language"] for r in rows} == {"en", "zh"}


def test_labels_agree_with_the_reference_and_the_bands():
    for row in make_labelled_set(200, seed=1):
        assert row["is_correct"] == answers_equivalent(extract_answer(row["answer"]), row["reference"])
        low, high = HUMAN_BANDS[row["kind"]]
        assert low <= row["human_score"] <= high
        assert row["is_correct"] == (row["kind"] in ("correct", "flawed_right"))


def test_kinds_have_the_step_errors_they_claim():
    for row in make_labelled_set(200, seed=2):
        wrong = check_steps(row["answer"]).wrong
        if row["kind"] in ("correct", "misread"):
            assert wrong == [], row
        else:
            assert len(wrong) == 1, row
        if row["kind"] == "late_wrong":
            assert not wrong[0].early


def test_simulated_samples_are_attached_on_request():
    rows = make_labelled_set(5, seed=0, samples_k=3)
    assert all(len(r["samples"]) == 3 for r in rows)


def test_jsonl_roundtrip(tmp_path):
    rows = make_labelled_set(5, seed=0)
    write_jsonl(rows, tmp_path / "set.jsonl")
    assert list(read_jsonl(tmp_path / "set.jsonl")) == rows
