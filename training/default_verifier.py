"""Fit the shipped default verifier (``serving/critique/data/default_verifier/``) on the loop's labelled answers.

The same job a cycle's ``train_verifier`` stage runs (``training/verifier.py``: a mean probe on the embedded
policy's first layers, its support, the part calibration refitted with it on the held-out rows), on the committed
``VerifierRow``s of one cycle (the default model's samples of seed questions from three checkpoints, labelled by
their exact references): trained on the train split, judged and calibrated on the held-out split. Only the small
files are kept; ``serving/critique/default_verifier.py`` puts them beside the converted model.

    python -m training.default_verifier serving/critique/data/cycle_rows_smollm2_20261202.jsonl.gz \
        [--out serving/critique/data/default_verifier]

The last line printed is one JSON object (the held-out figures).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from serving.critique.default_verifier import SHIPPED_DIR
from serving.critique.verifier import CALIBRATION_FILE, CONFIG_FILE, PROBE_FILE
from training.config import VerifierTrainSettings
from training.default_calibration import read_rows
from training.trainer_common import read_metadata
from training.verifier import train_verifier


def fit_default_verifier(rows_path: Path, base_model: str, out: Path | None) -> dict[str, Any]:
    """Train on the train split, judge on the held-out split; copy the small files to ``out`` when given."""
    rows = read_rows(rows_path)
    train = [r for r in rows if r["split"] == "train"]
    held = [r for r in rows if r["split"] == "held_out"]
    cfg = VerifierTrainSettings(max_rows=None, max_held_out=None, num_threads="auto")
    with tempfile.TemporaryDirectory() as tmp:
        folder = train_verifier(train, base_model, Path(tmp) / "verifier", cfg, held_out=held,
                                metadata={"source": rows_path.name})
        meta = read_metadata(folder)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            config["base"] = "the embedded SmolLM2-135M-Instruct (serving.model_cache.DEFAULT_MODEL_NAME)"
            (out / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False), encoding="utf-8")
            for name in (PROBE_FILE, CALIBRATION_FILE):
                shutil.copyfile(folder / name, out / name)
    evaluation = meta["evaluation"]
    return {"rows": str(rows_path), "train": len(train), "held_out": len(held), "support": meta.get("support"),
            "in_support": evaluation.get("in_support"), "verifier": evaluation["held_out"],
            "calibrated": {k: evaluation["confidence"]["calibrated"].get(k)
                           for k in ("auroc", "ece", "false_confident", "n")},
            "calibration_version": evaluation.get("calibration_version"), "written": str(out) if out else None}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", type=Path, help="VerifierRows JSONL (.gz allowed)")
    parser.add_argument("--out", type=Path, default=None, help=f"where to write the files (e.g. {SHIPPED_DIR})")
    parser.add_argument("--base-model", default=None, help="the model folder (default: the embedded default)")
    args = parser.parse_args(argv)
    base = args.base_model
    if base is None:
        from mathchat.settings import load_settings
        from serving.model_cache import ensure_default_model

        base = str(ensure_default_model(load_settings()))
    result = fit_default_verifier(args.rows, base, args.out)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
