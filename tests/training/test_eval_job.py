"""`mathchat eval`'s job: checkpoint resolution, candidate vs baseline, gate, files (scripted engines)."""

import json
from contextlib import contextmanager

import training.engines
from training import eval_job
from tests.fakes import FakeEngine
from training.eval_job import resolve_checkpoint, run_eval
from training.trainer_common import write_metadata


def test_resolve_checkpoint_reads_folder_metadata_and_registry(settings, db, tmp_path):
    from feedback.db import session_scope
    from feedback.registry import register_checkpoint

    folder = tmp_path / "ck"
    folder.mkdir()
    write_metadata(folder, {"checkpoint_id": "rft-7"})
    assert resolve_checkpoint(settings, str(folder)) == (str(folder), "rft-7")
    with session_scope(db) as s:
        register_checkpoint(session=s, checkpoint_id="dpo-3", path="/ckpt/dpo-3", kind="dpo")
    assert resolve_checkpoint(settings, "dpo-3") == ("/ckpt/dpo-3", "dpo-3")


def test_run_eval_compares_with_baseline_and_writes_reports(settings, tmp_path, monkeypatch):
    data = tmp_path / "gsm.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"#### {i + 1}"}) + "\n"
                            for i in range(30)))
    base, cand = tmp_path / "base", tmp_path / "cand"
    for folder in (base, cand):
        folder.mkdir()
        write_metadata(folder, {"checkpoint_id": folder.name})

    @contextmanager
    def fake_engine(settings, path, checkpoint_id, *, backend, url):
        good = "cand" in str(path)

        def reply(messages, sampling):
            i = int(messages[-1]["content"].split()[2])
            return f"The answer is {i + 1 if good or i % 10 == 0 else i}."

        yield FakeEngine([reply], checkpoint_id=checkpoint_id)

    monkeypatch.setattr(training.engines, "checkpoint_engine", fake_engine)
    monkeypatch.setattr(eval_job, "general_text_perplexity", lambda path: 20.0)
    result = run_eval(settings, str(cand), data, baseline=str(base), out_prefix=tmp_path / "out" / "e")
    base_rep, cand_rep = result["reports"]
    assert base_rep["summary"]["overall"]["strict_accuracy"]["k"] == 3
    assert cand_rep["summary"]["overall"]["strict_accuracy"]["k"] == 30
    assert cand_rep["gate"]["promotable"] and cand_rep["vs_baseline"]["only_candidate"] == 27
    assert all((tmp_path / "out" / f"e.{ext}").is_file() for ext in ("json", "md", "png"))
