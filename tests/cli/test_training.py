"""The training CLI: `mathchat pool` writes MathUserEval JSONL; `mathchat cycle` config layering."""

import json

from typer.testing import CliRunner

from cli.main import app
from cli.training import _cycle_config
from training.pool import is_held_out


def test_pool_writes_exactly_n_held_out_questions(tmp_path):
    out = tmp_path / "held.jsonl"
    result = CliRunner().invoke(app, ["pool", "--out", str(out), "--n", "30"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 30 and all(is_held_out(r["question"], 0.3) for r in rows)
    assert all(r["reference"] for r in rows)


def test_cycle_flags_override_config_file(tmp_path):
    cfg_file = tmp_path / "cycle.json"
    cfg_file.write_text(json.dumps({"k": 8, "questions": 100, "sft": {"learning_rate": 1e-5}}))
    cfg = _cycle_config(cfg_file, {"questions": 50, "sft": {"max_steps": 3}, "dpo": {}})
    assert (cfg.k, cfg.questions, cfg.sft.learning_rate, cfg.sft.max_steps) == (8, 50, 1e-5, 3)
