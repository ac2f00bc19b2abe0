"""The shipped calibration is fitted on the policy's real answers and is honest on their held-out split."""

from pathlib import Path

import pytest

from mathchat.jsonl import read_jsonl
from serving.critique.calibration import DEFAULT_PATH, load_calibration
from training.default_calibration import fit_default, held_out_figures, main, read_rows
from training.other_writers import SET_B_PATH, load_other_writer_rows, other_writer_rows

ROWS = Path(__file__).resolve().parents[2] / "serving" / "critique" / "data" / "cycle_rows_smollm2_20261202.jsonl.gz"


@pytest.fixture(scope="module")
def rows():
    return read_rows(ROWS)


def test_the_shipped_default_rarely_shows_a_wrong_answer_as_likely_right(rows):
    held = [r for r in rows if r["split"] == "held_out"]
    figures = held_out_figures(load_calibration(DEFAULT_PATH), held)
    assert figures["n"] >= 400 and 0 < figures["right"] < figures["n"]
    for condition in ("with_samples", "without_samples"):
        assert figures[condition]["false_confident"] <= 0.05, condition
        assert figures[condition]["ece"] <= 0.08, condition
    assert figures["with_samples"]["auroc"] >= 0.85


def test_the_shipped_default_is_what_the_fit_gives_on_the_committed_rows(rows):
    shipped, refit = load_calibration(DEFAULT_PATH), fit_default(rows, source="test", others=load_other_writer_rows())
    for name, weight in shipped.coef.items():
        assert refit.coef[name] == pytest.approx(weight, abs=1e-3), name
    assert refit.intercept == pytest.approx(shipped.intercept, abs=1e-3)
    assert "train" not in {r["split"] for r in rows if r["split"] == "held_out"}


def test_the_command_reports_old_and_new_and_writes_only_when_asked(tmp_path, capsys):
    result = main([str(ROWS)])
    assert result["written"] is None and result["new"]["version"] == load_calibration(DEFAULT_PATH).version
    out = tmp_path / "cal.json"
    main([str(ROWS), "--out", str(out)])
    assert load_calibration(out).version == result["new"]["version"]
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("{")


def test_other_writers_teach_the_fit_the_flaws_the_policy_never_shows(rows):
    """The policy's own answers almost never miss the question's unit or difference (4 of 1,504): alone they give
    that sign next to no weight; set A gives it one, and set B (in no fit) ranks better for it."""
    alone, both = fit_default(rows, source="test"), fit_default(rows, source="test", others=load_other_writer_rows())
    assert both.coef["steps_misfit"] < alone.coef["steps_misfit"] - 1.0
    set_b = other_writer_rows(list(read_jsonl(SET_B_PATH)))
    assert held_out_figures(both, set_b)["without_samples"]["auroc"] > held_out_figures(alone, set_b)["without_samples"]["auroc"]
    held = [r for r in rows if r["split"] == "held_out"]  # and the policy's own held-out answers lose nothing
    assert held_out_figures(both, held)["with_samples"]["auroc"] >= held_out_figures(alone, held)["with_samples"]["auroc"] - 0.01
