"""The training subprocess: command lines, job round-trip, and failure reporting."""

import sys
from pathlib import Path

import pytest

from training.config import CycleConfig, SFTTrainSettings, TrainJob
from training.launch import TrainingFailed, build_train_command, run_train_job


def test_python_and_accelerate_commands():
    assert build_train_command("sft", Path("j.json")) == [sys.executable, "-m", "training.train_entry", "sft",
                                                          "--config", "j.json"]
    cmd = build_train_command("dpo", Path("j.json"), "accelerate", Path("training/accelerate/multi_gpu.yaml"))
    assert cmd[1:5] == ["-m", "accelerate.commands.launch", "--config_file", "training/accelerate/multi_gpu.yaml"]
    assert cmd[-4:] == ["training.train_entry", "dpo", "--config", "j.json"]


def test_accelerate_configs_ship_and_parse():
    import yaml

    root = Path(__file__).resolve().parents[2] / "training" / "accelerate"
    assert yaml.safe_load((root / "deepspeed_zero2.yaml").read_text())["deepspeed_config"]["zero_stage"] == 2
    assert yaml.safe_load((root / "multi_gpu.yaml").read_text())["distributed_type"] == "MULTI_GPU"


def test_configs_round_trip_through_json():
    cfg = CycleConfig(k=6, sft=SFTTrainSettings(max_steps=3))
    assert CycleConfig.model_validate_json(cfg.model_dump_json()) == cfg
    job = TrainJob(kind="sft", data_path=Path("d.jsonl"), model_path="m", output_dir=Path("o"), metadata={"a": 1})
    assert TrainJob.model_validate_json(job.model_dump_json()) == job


def test_failed_subprocess_raises_with_log_tail(tmp_path):
    data = tmp_path / "missing.jsonl"  # the child fails reading it
    job = TrainJob(kind="sft", data_path=data, model_path="nowhere", output_dir=tmp_path / "out")
    with pytest.raises(TrainingFailed, match="exited with"):
        run_train_job(job, tmp_path / "job.json", tmp_path / "train.log")
    assert "missing.jsonl" in (tmp_path / "train.log").read_text()
