"""One full self-critique cycle on the default model, checked against the issue's done-criteria.

Runs ``run_cycle`` (the same code as ``mathchat cycle``) against a fresh SQLite database and state folder
(so it never touches the app's), then compares the candidate with the live baseline on the held-out
seed questions: strict-accuracy ratio (target >= 3x), non-overlapping Wilson 95% CIs, general-text
perplexity within 5%, and the whole cycle's wall time (target <= 30 min). The last line printed is one
JSON object.

    python bench/cycle.py [--state /tmp/mathchat-bench] [--backend auto|vllm|transformers]
                          [--live-url URL] [--config cycle.json] [--questions N] [--k K] [--no-dpo]
                          [--rft-rounds 2] [--eval-questions N] [--auto-promote] [--resume]

With ``--auto-promote`` (or ``MATHCHAT_TRAINING__AUTO_PROMOTE=true``) a candidate that passes its gate is promoted
in the bench's own database, as ``mathchat cycle`` would; ``auto_promoted`` says what happened.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mathchat.settings import DatabaseSettings, TrainingSettings, load_settings  # noqa: E402
from training.config import CycleConfig  # noqa: E402
from training.cycle import run_cycle  # noqa: E402


def bench_database(state: Path, *, resume: bool) -> Path | None:
    """The SQLite file a run uses: a fresh one, or with ``resume`` the state's newest (None: there is none)."""
    if not resume:
        return state / f"bench-{time.time_ns()}.db"
    kept = sorted(state.glob("bench-*.db"), key=lambda path: path.stat().st_mtime)
    return kept[-1] if kept else None


def summarise_cycle(result: dict, wall: float) -> dict:
    """A cycle's result as the bench reports it: accuracy with CIs per evaluated stage against live, perplexity
    ratio, gate, rows, stage times, and the issue's done-criteria (also used by bench/learning.py)."""
    ev = result.get("eval") or {}
    live = ev.get("live", {})
    cand_kind = (result.get("candidate") or {}).get("kind")
    out: dict = {"run_dir": result.get("run_dir"), "wall_s": round(wall, 1), "stages_s": result.get("stages"),
                 "pool": result.get("pool"), "rounds": result.get("rounds"),
                 "rft_rows": {k: v.get("math_rows") for k, v in result.items() if k.startswith("rft") and k.endswith("_data")},
                 "dpo_pairs": (result.get("dpo_data") or {}).get("after_user_cap"), "candidate": cand_kind,
                 "candidate_stage": (result.get("candidate") or {}).get("stage"),
                 "skipped": result.get("skipped"), "rest_plan": result.get("rest_plan"),
                 "auto_promoted": result.get("auto_promoted"),
                 "started_from": (result.get("start") or {}).get("id") or (result.get("live") or {}).get("id")}
    if live:
        lacc = live["summary"]["overall"]["strict_accuracy"]
        out["live"] = {"strict_acc": lacc["rate"], "ci95": lacc["ci95"], "n": lacc["n"],
                       "perplexity": live.get("perplexity"), "format_rate": live["summary"]["overall"]["format_rate"]}
        for name in (n for n in ev if n != "live"):
            acc = ev[name]["summary"]["overall"]["strict_accuracy"]
            ppl = ev[name].get("perplexity")
            out[name] = {"strict_acc": acc["rate"], "ci95": acc["ci95"],
                         "ratio_vs_live": acc["rate"] / lacc["rate"] if lacc["rate"] else None,
                         "cis_disjoint": acc["ci95"][0] > lacc["ci95"][1],
                         "ppl_ratio": ppl / live["perplexity"] if ppl and live.get("perplexity") else None,
                         "mcnemar_p": ev[name].get("vs_baseline", {}).get("mcnemar_p"),
                         "format_rate": ev[name]["summary"]["overall"]["format_rate"],
                         "mean_critique": ev[name]["summary"]["overall"]["mean_score"],
                         "gate": ev[name].get("gate", {}).get("promotable")}
        best = out.get((result.get("candidate") or {}).get("stage") or "", {})
        out["done_criteria"] = {
            "ratio_ge_3": bool(best.get("ratio_vs_live") and best["ratio_vs_live"] >= 3),
            "cis_disjoint": bool(best.get("cis_disjoint")),
            "ppl_within_5pct": bool(best.get("ppl_ratio") and best["ppl_ratio"] <= 1.05),
            "eval_ge_200": lacc["n"] >= 200,
            "wall_le_30min": wall <= 1800,
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, default=Path("/tmp/mathchat-bench-cycle"))
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--live-url", default=None)
    parser.add_argument("--config", type=Path, default=None, help="JSON file of CycleConfig fields")
    parser.add_argument("--questions", type=int, default=None)
    parser.add_argument("--k", type=int, default=None)
    parser.add_argument("--eval-questions", type=int, default=None)
    parser.add_argument("--no-dpo", action="store_true")
    parser.add_argument("--rft-rounds", type=int, default=None)
    parser.add_argument("--auto-promote", action="store_true", help="promote a candidate that passes its gate")
    parser.add_argument("--resume", action="store_true",
                        help="run the next cycle in the state's newest database (what the last run deferred, "
                             "adapted or promoted carries over) instead of a fresh one")
    args = parser.parse_args(argv)

    data = json.loads(args.config.read_text()) if args.config else {}
    data.update(engine_backend=args.backend, live_url=args.live_url)
    if args.questions:
        data["questions"] = args.questions
    if args.k:
        data["k"] = args.k
    if args.eval_questions:
        data.setdefault("pool", {})["eval_questions"] = args.eval_questions
    if args.rft_rounds:
        data["rft_rounds"] = args.rft_rounds
    if args.no_dpo:
        data["run_dpo"] = False
    cfg = CycleConfig.model_validate(data)

    base = load_settings()
    args.state.mkdir(parents=True, exist_ok=True)
    db_path = bench_database(args.state, resume=args.resume)
    if db_path is None:
        parser.error(f"--resume: no bench database in {args.state}")
    settings = load_settings(
        state_dir=args.state,
        database=DatabaseSettings(url=f"sqlite:///{db_path}"),
        training=TrainingSettings(workdir=args.state / "runs",
                                  auto_promote=args.auto_promote or base.training.auto_promote),
        model=base.model.model_copy(update={"checkpoints_dir": args.state / "checkpoints"}),  # keeps MATHCHAT_MODEL__DTYPE
        vllm=base.vllm, critique=base.critique,
    )
    started = time.monotonic()
    result = run_cycle(settings, cfg)
    wall = time.monotonic() - started

    out = summarise_cycle(result, wall)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
