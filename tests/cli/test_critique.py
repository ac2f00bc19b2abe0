"""cli/critique.py: critique-eval --make-set, the --json report, calibration fitting, MathUserEval."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from cli.critique import DEFAULT_MATHUSEREVAL, register
from serving.critique.calibration import load_calibration


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_make_set_then_eval_json_last_line(tmp_path: Path):
    runner = CliRunner()
    data = tmp_path / "set.jsonl"
    made = runner.invoke(_app(), ["critique-eval", "--make-set", str(data), "--n", "40", "--seed", "3"])
    assert made.exit_code == 0, made.output
    assert len(data.read_text().splitlines()) == 40
    result = runner.invoke(_app(), ["critique-eval", str(data), "--no-judge", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["n"] == 40
    assert {"acc_with_ref", "auroc_without_ref", "parts", "calibration_version"} <= set(report)
    assert {"false_confident_without_ref", "false_confident_with_ref", "ece_without_ref", "ece_with_ref",
            "auroc_with_ref", "coverage_without_ref", "coverage_with_ref"} <= set(report)
    assert report["parts"]["steps"]["without_ref"]["coverage"] > 0.9


def test_fit_calibration_writes_a_loadable_file(tmp_path: Path):
    runner = CliRunner()
    data, out = tmp_path / "set.jsonl", tmp_path / "cal.json"
    runner.invoke(_app(), ["critique-eval", "--make-set", str(data), "--n", "60", "--samples-k", "3"])
    result = runner.invoke(_app(), ["critique-eval", str(data), "--no-judge", "--fit-calibration", str(out)])
    assert result.exit_code == 0, result.output
    cal = load_calibration(out)
    assert cal.coef["ref_match"] > 0 and cal.coef["cons_fraction"] > 0


def _write_mathusereval(folder: Path) -> Path:
    """A four-question MathUserEval folder in the released format (the real one lives in shared/, not here)."""
    folder.mkdir(parents=True, exist_ok=True)
    questions = [
        {"question_id": 1, "source": "a", "question": "What is 2 + 3?", "reference": "5", "category": "calculate"},
        {"question_id": 1, "source": "b", "question": "What is 12 * 3?", "reference": "36", "category": "calculate"},
        {"question_id": 2, "source": "a", "question": "Solve x + 4 = 9.", "reference": "x = 5", "category": "algebra"},
        {"question_id": 3, "source": "a", "question": "What is 7 - 10?", "reference": "-3", "category": "calculate"},
    ]
    answers = ["2 + 3 = 5. The answer is 5.", "12 * 3 = 35. The answer is 35.", "x = 9 - 4 = 5. The answer is 5.",
               "7 - 10 = -3. The answer is -3."]
    (folder / "math-user-eval.jsonl").write_text(
        "".join(json.dumps({**q, "subcategory": ""}) + "\n" for q in questions), encoding="utf-8")
    (folder / "model_answer_gpt-4-1106-preview.jsonl").write_text(
        "".join(json.dumps({"question_id": q["question_id"], "source": q["source"], "answer": a,
                            "model_id": "gpt-4-1106-preview"}) + "\n" for q, a in zip(questions, answers)),
        encoding="utf-8")
    return folder


def test_mathusereval_scores_per_category(tmp_path: Path):
    folder = _write_mathusereval(tmp_path / "mathusereval")
    result = CliRunner().invoke(_app(), ["critique-eval", "--mathusereval", "--mathusereval-dir", str(folder),
                                         "--no-judge", "--json", "--limit", "40"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["n"] == 4 and {"overall", "calculate", "algebra"} <= set(report["by_category"])


def test_the_default_mathusereval_folder_is_the_shared_release():
    assert DEFAULT_MATHUSEREVAL.parts[-3:] == ("shared", "datasets", "mathusereval")


def test_train_critic_builds_rows_and_calls_the_sft_trainer(tmp_path: Path, monkeypatch):
    import training.sft

    seen = {}

    def fake_train_sft(rows, base, out, cfg, *, metadata=None):
        seen.update(rows=list(rows), base=base, out=out, max_length=cfg.max_length, max_steps=cfg.max_steps)
        return Path(out)

    monkeypatch.setattr(training.sft, "train_sft", fake_train_sft)
    result = CliRunner().invoke(_app(), ["train-critic", "--n", "10", "--out", str(tmp_path / "ckpt"),
                                         "--base", "some-model", "--max-steps", "2"])
    assert result.exit_code == 0, result.output
    assert len(seen["rows"]) == 20  # each item with and without its reference
    assert seen["base"] == "some-model" and seen["max_steps"] == 2 and seen["max_length"] >= 1024
    assert seen["rows"][0]["completion"][0]["content"].rstrip().endswith("]]")
