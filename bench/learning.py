"""The whole story on a fresh state: simulated students use the app, a cycle learns from the logs, its
candidate is promoted automatically, students come back to the new model, ... for ``--cycles`` cycles.

One app (supervised vLLM, its own SQLite database and checkpoints under ``--state``) runs throughout;
``TrainingSettings.auto_promote`` is on, so a candidate that passes its gate goes live and the app switches
to it without a restart. Students (bench/students.py) ask questions of the seed generator's kind that are
never in the held-out split, in their own words, and rate what they get; they know the true answers, which
the app and the cycle never see. The cycle draws its training questions as ``--train-from`` says.

Reported per cycle: held-out strict accuracy of live and candidate (Wilson CIs), general-text perplexity
ratio, gate, whether it was promoted, RFT rows by source (logs, seed pool, thumbs), the critic's precision on
the RFT answers it selected and on the DPO pairs it built for logged questions (measured with the students' true
answers), the students' thumbs-up rate and their accuracy on the model they used, and the wall time per stage. ``--ablation`` runs
one cycle per source (logged, seed, mixed) from the same fresh start instead of a chain. The last line printed
is one JSON object.

    python bench/learning.py [--state DIR] [--cycles 3] [--students 20] [--questions-per-student 8]
                             [--careless 0.0] [--train-from mixed|logged|seed] [--ablation] [--config cycle.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from bench.cycle import summarise_cycle  # noqa: E402
from bench.students import StudentLog, StudentQuestion, class_of, run_student, student_questions  # noqa: E402
from feedback.reads import normalise_question  # noqa: E402
from mathchat.jsonl import read_jsonl  # noqa: E402
from serving.critique.answers import answers_equivalent, extract_answer  # noqa: E402
from training.config import CycleConfig  # noqa: E402
from training.replay import row_question  # noqa: E402


def _logged_rows(run_dir: Path, pattern: str, truths: dict[str, str]) -> Iterator[tuple[dict, str]]:
    """The rows of ``run_dir``'s files matching ``pattern`` whose question a student typed, with its true answer.

    ``truths`` maps a typed question (normalised) to its true answer; rows on other questions are skipped.
    """
    for path in sorted(run_dir.glob(pattern)):
        for row in read_jsonl(path):
            truth = truths.get(normalise_question(row_question(row)))
            if truth is not None:
                yield row, truth


def _is_right(message: list[dict], truth: str) -> bool:
    """Whether a one-message answer states the true final answer."""
    return answers_equivalent(extract_answer(message[0]["content"]), truth)


def selected_precision(run_dir: Path, truths: dict[str, str]) -> dict[str, int | float | None]:
    """How many RFT answers the cycle selected for logged questions, and how many of them are right."""
    selected = right = 0
    for row, truth in _logged_rows(run_dir, "rft*.jsonl", truths):
        selected += 1
        right += _is_right(row["completion"], truth)
    return {"selected": selected, "right": right, "precision": round(right / selected, 4) if selected else None}


def pairs_precision(run_dir: Path, truths: dict[str, str]) -> dict[str, int | float | None]:
    """The DPO pairs the cycle built on logged questions: how many chosen answers are right and how many rejected
    ones wrong (where careless thumbs would show first: a thumbs stands in for the critic only in DPO and RFT)."""
    pairs = chosen_right = rejected_wrong = 0
    for row, truth in _logged_rows(run_dir, "dpo*.jsonl", truths):
        pairs += 1
        chosen_right += _is_right(row["chosen"], truth)
        rejected_wrong += not _is_right(row["rejected"], truth)
    return {"pairs": pairs, "chosen_right": chosen_right, "rejected_wrong": rejected_wrong,
            "chosen_precision": round(chosen_right / pairs, 4) if pairs else None}


def rows_by_source(result: dict) -> dict[str, int]:
    """RFT rows over all rounds, by where their question came from (training/rft_data.py's counts)."""
    totals = {"rows_from_logs": 0, "rows_from_seed": 0, "rows_with_thumbs": 0}
    for key, counts in result.items():
        if key.startswith("rft") and key.endswith("_data") and isinstance(counts, dict):
            for name in totals:
                totals[name] += counts.get(name, 0)
    return totals


def students_phase(url: str, questions: list[StudentQuestion], students: int, careless: float, seed: int,
                   max_tokens: int) -> list[StudentLog]:
    """Every student asks its share of ``questions`` at once (a class in session)."""
    profiles = class_of(students, careless=careless)
    shares = [questions[i::students] for i in range(students)]
    with ThreadPoolExecutor(students) as pool:
        return list(pool.map(lambda i: run_student(url, profiles[i], shares[i], seed=seed, max_tokens=max_tokens),
                             range(students)))


def wait_serving(url: str, checkpoint_id: str | None, timeout_s: float = 1800) -> float:
    """Seconds until the app's model answers: any model (None: the first start, when /healthz names no
    checkpoint until the server is up) or ``checkpoint_id`` (the switch after a promotion)."""
    t0 = time.monotonic()
    while True:
        try:
            health = httpx.get(f"{url}/healthz", timeout=30).json()
            if health.get("ok") and checkpoint_id in (None, health.get("checkpoint_id")):
                return time.monotonic() - t0
        except (httpx.HTTPError, ValueError):
            pass
        if time.monotonic() - t0 > timeout_s:
            raise SystemExit(f"the app did not switch to {checkpoint_id} within {timeout_s:.0f}s")
        time.sleep(2)


def start_app(state: Path, vllm_url: str | None, backend: str = "vllm"):  # noqa: ANN201
    """The app on a fresh state with auto_promote on, its scheduler off (the bench runs the cycles)."""
    import app as web
    from mathchat.settings import (RateLimitSettings, ServerSettings, TrainingSettings, VLLMSettings,
                                   load_settings)
    from serving.local_app import ServedApp, free_port, isolated_settings

    base = load_settings()
    many = "100000/minute"
    settings = isolated_settings(
        state,
        limits=RateLimitSettings(storage_url="memory://", ask_per_user=many, ask_per_ip=many, critique_per_user=many,
                                 critique_per_ip=many, rate_per_user=many, rate_per_ip=many, signup_per_ip=many,
                                 login_per_ip=many, login_per_account=many),  # one student signs in every phase
        server=ServerSettings(backend=backend),
        training=TrainingSettings(workdir=state / "runs", auto_promote=True, scheduler_in_app=False),
        model=base.model.model_copy(update={"checkpoints_dir": state / "checkpoints"}),  # keeps MATHCHAT_MODEL__DTYPE
        vllm=VLLMSettings(url=vllm_url, port=free_port(), logs_dir=state / "logs", enforce_eager=base.vllm.enforce_eager,
                          bridge="off"),  # students wait for vLLM: the phases time it, not the startup bridge
    )
    served = ServedApp(web.create_app(settings), free_port(), settings)
    return served, settings


def run_chain(args: argparse.Namespace, state: Path, train_from: str, cycles: int, log=print) -> list[dict]:  # noqa: ANN001
    """Students -> cycle -> (auto-)promote, ``cycles`` times on one fresh app; one report per cycle."""
    from training.cycle import run_cycle

    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    data = json.loads(args.config.read_text()) if args.config else {}
    cfg = CycleConfig.model_validate(data)
    cfg = cfg.model_copy(update={"pool": cfg.pool.model_copy(update={
        "train_from": train_from, "logged_questions": max(cfg.pool.logged_questions, args.students * args.questions_per_student)})})
    per_phase = args.students * args.questions_per_student
    pool = student_questions(per_phase * cycles, seed=args.seed + 1000, held_out_fraction=cfg.pool.held_out_fraction)
    truths_all: dict[str, str] = {}
    served, settings = start_app(state, args.vllm_url, args.app_backend)
    reports = []
    try:
        wait_serving(served.url, None, timeout_s=900)  # students before the model is up would all get errors
        for n in range(cycles):
            phase = pool[n * per_phase:(n + 1) * per_phase]
            t0 = time.monotonic()
            logs = students_phase(served.url, phase, args.students, args.careless, args.seed + n, args.max_tokens)
            students_s = time.monotonic() - t0
            asked = [a for lg in logs for a in lg.asked]
            errors = [e for lg in logs for e in lg.errors]
            error_examples = sorted(set(errors))[:3]
            if errors and not asked:
                raise SystemExit(f"no student got an answer ({len(errors)} errors), e.g. {error_examples}")
            truths_all.update({normalise_question(a.typed): a.truth for a in asked})
            t0 = time.monotonic()
            result = run_cycle(settings, cfg)
            wall = time.monotonic() - t0
            report = summarise_cycle(result, wall)
            promoted = result.get("auto_promoted") or {}
            switch_s = None
            if promoted.get("promoted"):
                switch_s = round(wait_serving(served.url, promoted["candidate_id"]), 1)
            run_dir = Path(result["run_dir"]) if result.get("run_dir") else None
            report.update({
                "cycle": n + 1, "train_from": train_from,
                "students": {"asked": len(asked), "errors": len(errors), "error_examples": error_examples,
                             "thumbs_up_rate": round(sum(a.rating.liked for a in asked) / len(asked), 4) if asked else None,
                             "right_rate": round(sum(a.right for a in asked) / len(asked), 4) if asked else None,
                             "corrections": sum(a.rating.correction is not None for a in asked),
                             "wall_s": round(students_s, 1)},
                "rows_by_source": rows_by_source(result),
                "selected_on_logs": selected_precision(run_dir, truths_all) if run_dir else None,
                "pairs_on_logs": pairs_precision(run_dir, truths_all) if run_dir else None,
                "auto_promoted": promoted, "switch_s": switch_s,
            })
            reports.append(report)
            if n == cycles - 1 and switch_s is not None:  # the promoted model answers the next student
                after = students_phase(served.url, pool[:1], 1, 0.0, args.seed + 99, 32)
                report["next_chat_checkpoint"] = after[0].asked[0].checkpoint_id if after[0].asked else None
            log(json.dumps(report, default=str))
    finally:
        served.stop()
        served.app.state.runtime.close()
    return reports


def final_figures(reports: list[dict]) -> dict:
    """The chain's headline: first live and last candidate accuracy, and the accuracy of the model serving at the
    end (the last candidate if it was promoted, else the live one it was gated against)."""
    if not reports or "live" not in reports[0]:
        return {}
    first = reports[0]["live"]
    last = reports[-1]
    best = last.get(last.get("candidate_stage") or "", {})
    promoted = bool((last.get("auto_promoted") or {}).get("promoted"))
    serving = best if promoted else last.get("live", {})
    return {"base_acc": first["strict_acc"], "base_ci95": first["ci95"], "final_acc": best.get("strict_acc"),
            "final_ci95": best.get("ci95"), "promotions": sum(bool((r.get("auto_promoted") or {}).get("promoted"))
                                                              for r in reports),
            "live_acc": serving.get("strict_acc"), "live_ci95": serving.get("ci95"),
            "started_from": [r.get("started_from") for r in reports]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state", type=Path, default=Path("/tmp/mathchat-bench-learning"))
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--questions-per-student", type=int, default=8)
    parser.add_argument("--careless", type=float, default=0.0, help="share of each student's ratings flipped")
    parser.add_argument("--train-from", choices=("mixed", "logged", "seed"), default="mixed")
    parser.add_argument("--ablation", action="store_true", help="one cycle per source instead of a chain")
    parser.add_argument("--config", type=Path, default=None, help="JSON file of CycleConfig fields")
    parser.add_argument("--max-tokens", type=int, default=200, help="answer budget of the students' questions")
    parser.add_argument("--vllm-url", default=None, help="the app uses this running vLLM server (no promotion switch)")
    parser.add_argument("--app-backend", choices=("vllm", "transformers"), default="vllm",
                        help="the app's policy engine (transformers: in process, switches by loading the weights)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    if args.ablation:
        chains = {src: run_chain(args, args.state / src, src, 1) for src in ("logged", "seed", "mixed")}
    else:
        chains = {args.train_from: run_chain(args, args.state / args.train_from, args.train_from, args.cycles)}
    print(json.dumps({"careless": args.careless, "students": args.students,
                      "questions_per_student": args.questions_per_student,
                      "chains": {src: {"final": final_figures(reports), "cycles": len(reports)}
                                 for src, reports in chains.items()},
                      "wall_s": round(time.monotonic() - t0, 1)}, default=str))


if __name__ == "__main__":
    main()
