"""The cycle's ``train_verifier`` stage: keep this run's labelled samples, train a verifier on all kept so far,
and make it the app's verifier only when it beats the one in use on the same held-out rows.

1. Every ``samples_*.jsonl`` the run wrote (the live model's and each later round's samples of seed questions,
   reference-checked) plus students' rated answers whose thumb a reference check confirms become
   ``VerifierRow``s (``training/verifier_data.py``), appended to ``<workdir>/verifier/rows.jsonl``; the append is
   recorded as a ``verifier`` dataset with its manifest (counts per filter, config hash, the store's sha256
   before and after).
2. ``python -m training.train_entry verifier`` (a subprocess, like SFT and DPO) trains on the newest train-split
   rows from the live policy's backbone, scores the newest held-out rows with the new verifier and with the
   live one, and refits the part calibration with the new verifier (``training/verifier.py``).
3. The checkpoint is registered as kind ``verifier`` with ``held_out_auroc`` (and the live one's on the same
   rows) and the out-of-sample reliability of its calibrated confidence (``confidence``) in its metrics.
   Gate: it is promoted (an automatic audit row by ``training``) when there is no verifier in use (live, or
   else the shipped default) or its AUROC beats that one's by ``auroc_margin``; otherwise it is registered
   ``rejected``. The app's critic switches to the new live verifier and its calibration within ``critique.verifier_refresh_s``
   (``MathCritic.refresh_verifier``), without a restart.

Steps 2-3 are the stage's cost (whole passes of the policy over the support's and the held-out rows); under the
cycle's time budget they run only where they fit (``training.round_stop.verifier_fits``) and are otherwise
deferred, the rows kept, so the stage never pushes a cycle past its budget.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from training.config import CycleConfig, TrainJob
from mathchat.jsonl import read_jsonl, write_jsonl
from training.manifest import build_manifest
from training.samples import ScoredSample
from training.trainer_common import read_metadata
from training.verifier_data import (ROWS_FILE, SampleBatch, append_verifier_rows, build_verifier_rows, file_sha256,
                                    held_out_rows, load_verifier_rows, rows_summary, select_training_rows)


def sample_batches(run_dir: Path, live_id: str, temperature: float, run_id: int | None) -> list[SampleBatch]:
    """The run's sample files as batches: ``samples_live`` from ``live_id`` (the checkpoint the run started from:
    live, or the unproven candidate it continued from), ``samples_<name>`` from the checkpoint trained as
    ``<name>`` (its id read from ``job_<name>.json``)."""
    batches = []
    for path in sorted(Path(run_dir).glob("samples_*.jsonl")):
        name = path.stem.removeprefix("samples_")
        checkpoint = live_id if name == "live" else _trained_id(run_dir, name)
        samples = [ScoredSample(**row) for row in read_jsonl(path)]
        batches.append(SampleBatch(samples, checkpoint, temperature, run_id=run_id))
    return batches


def _trained_id(run_dir: Path, name: str) -> str:
    job = Path(run_dir) / f"job_{name}.json"
    if job.is_file():
        return json.loads(job.read_text(encoding="utf-8")).get("metadata", {}).get("checkpoint_id") or name
    return name


def gate_verifier(new_auroc: float | None, current_auroc: float | None, margin: float = 0.0) -> tuple[bool, str]:
    """Whether a new verifier replaces the one in use, and why.

    >>> gate_verifier(0.81, None), gate_verifier(0.81, 0.84)[0], gate_verifier(None, None)[0]
    ((True, 'no verifier in use; held-out AUROC 0.810'), False, False)
    """
    if new_auroc is None:
        return False, "held-out AUROC undefined (one class only)"
    if current_auroc is None:
        return True, f"no verifier in use; held-out AUROC {new_auroc:.3f}"
    if new_auroc > current_auroc + margin:
        return True, f"held-out AUROC {new_auroc:.3f} beats the live verifier's {current_auroc:.3f}"
    return False, f"held-out AUROC {new_auroc:.3f} does not beat the live verifier's {current_auroc:.3f} (+{margin})"


def run_verifier_stage(*, db, cfg: CycleConfig, workdir: Path, checkpoints_dir: Path, run_dir: Path, run_id: int,
                       live: dict[str, Any], train: Callable[[TrainJob, Path, Path], Path],
                       log: Callable[[str], None], shipped: dict[str, str] | None = None,
                       fits: Callable[[dict[str, int]], tuple[bool, str]] | None = None,
                       started_from: str | None = None) -> dict[str, Any]:
    """Steps 1-3 of the module docstring; returns what the run records (``cycle.json["verifier"]``). ``shipped``
    (``{"id", "path"}``): the verifier the critic uses while none is live (the shipped default), which a new one
    must beat like a live one. ``fits(counts)``: whether steps 2-3 for these row counts (train, held_out,
    support) end within the cycle's time budget, and why not; when not, they are deferred (the rows stay kept,
    so a later cycle trains on them). ``started_from``: the checkpoint that drew ``samples_live`` when not live."""
    from feedback.db import run_in_transaction
    from feedback.registry import get_live_checkpoint, record_dataset
    from training.store_io import load_rated_samples

    vd, vc = cfg.verifier_data, cfg.verifier
    store = Path(workdir) / ROWS_FILE
    before = load_verifier_rows(store)
    batches = sample_batches(run_dir, started_from or live["id"], cfg.sampling.temperature, run_id)
    if vd.use_thumbs:
        rated = run_in_transaction(db, lambda s: load_rated_samples(session=s, system=cfg.system_prompt), read_only=True)
        batches.append(SampleBatch(rated, None, None, source="thumbs", run_id=run_id))
    built = build_verifier_rows(batches, held_out_fraction=vd.held_out_fraction,
                                existing_ids={r["id"] for r in before})
    sha_before = file_sha256(store)
    append_verifier_rows(built.rows, store)
    rows = before + built.rows
    manifest = build_manifest("verifier", built, config=vd, inputs={"store_before": sha_before or ""},
                              extra={"path": str(store), "store_after": file_sha256(store), "store": rows_summary(rows)})
    (run_dir / "verifier.manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
    run_in_transaction(db, lambda s: record_dataset(session=s, kind="verifier", path=str(store), count=len(rows),
                                                    content_hash=manifest["store_after"] or "", manifest=manifest,
                                                    run_id=run_id))
    out: dict[str, Any] = {"added": built.counts, "store": rows_summary(rows)}
    log(f"verifier rows: +{len(built.rows)} ({built.counts}); store {out['store']}")

    train_rows = select_training_rows(rows, vc.max_rows)
    held = held_out_rows(rows, vc.max_held_out)
    for name, part, least in (("train", train_rows, vd.min_train_rows), ("held-out", held, vd.min_held_out_rows)):
        if len(part) < least or not any(r["label"] for r in part) or all(r["label"] for r in part):
            out["skipped"] = f"{len(part)} {name} rows ({sum(r['label'] for r in part)} right): too few to train and gate"
            log(f"verifier not trained: {out['skipped']}")
            return out

    counts = {"train": len(train_rows), "held_out": len(held), "support": min(vc.support_rows, len(train_rows))}
    runs, why = fits(counts) if fits is not None else (True, "")
    if not runs:
        out["deferred"] = why
        log(why)
        return out

    current = run_in_transaction(db, lambda s: _live_verifier(get_live_checkpoint(session=s, family="verifier")),
                                 read_only=True) \
        or shipped
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M")
    ckpt_id = f"verifier-r{run_id}-{stamp}"
    write_jsonl(train_rows, run_dir / "verifier_train.jsonl")
    write_jsonl(held, run_dir / "verifier_held_out.jsonl")
    job = TrainJob(kind="verifier", data_path=run_dir / "verifier_train.jsonl", model_path=live["path"],
                   output_dir=Path(checkpoints_dir) / ckpt_id, verifier=vc,
                   held_out_path=run_dir / "verifier_held_out.jsonl",
                   current_verifier=current["path"] if current else None,
                   metadata={"checkpoint_id": ckpt_id, "parent": live["id"], "data_manifest": manifest,
                             "run_id": run_id})
    path = train(job, run_dir / "job_verifier.json", run_dir / "train_verifier.log")
    evaluation = read_metadata(path).get("evaluation", {})
    new_auroc = (evaluation.get("held_out") or {}).get("auroc")
    current_auroc = (evaluation.get("current") or {}).get("auroc") if current else None
    passed, reason = gate_verifier(new_auroc, current_auroc, vd.auroc_margin)
    metrics = {"held_out_auroc": new_auroc, "held_out": evaluation.get("held_out"),
               "current": {"id": current["id"], **(evaluation.get("current") or {})} if current else None,
               "held_out_ids_sha256": evaluation.get("held_out_ids_sha256"),
               "calibration_version": evaluation.get("calibration_version"),
               "confidence": evaluation.get("confidence"), "gate": reason, "run_id": run_id}

    def register(session) -> None:
        from feedback.registry import record_promotion, register_checkpoint

        register_checkpoint(session=session, checkpoint_id=ckpt_id, path=str(path), kind="verifier",
                            parent_id=live["id"], status="candidate" if passed else "rejected", gate_passed=passed,
                            metrics=metrics, manifest=manifest, config=vc.model_dump(mode="json"))
        if passed:
            record_promotion(session=session, to_id=ckpt_id, by_user="training", automatic=True,
                             evaluation={"held_out_auroc": new_auroc, "current_auroc": current_auroc,
                                         "reason": reason})

    run_in_transaction(db, register)
    log(f"verifier {ckpt_id}: {reason}; {'now live' if passed else 'rejected'}")
    out.update(id=ckpt_id, path=str(path), held_out_auroc=new_auroc, current_auroc=current_auroc, live=passed,
               gate=reason)
    return out


def _live_verifier(checkpoint) -> dict[str, str] | None:  # noqa: ANN001
    return None if checkpoint is None else {"id": checkpoint.id, "path": checkpoint.path}
