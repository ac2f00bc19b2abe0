"""CLI commands for the training area: `mathchat cycle`, `mathchat eval`, `mathchat scheduler`, `mathchat pool`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def _cycle_config(config: Path | None, overrides: dict):
    """CycleConfig from (in order) defaults, settings.training.cycle_config, --config FILE, then flags."""
    from mathchat.settings import load_settings
    from training.config import CycleConfig

    data: dict = {}
    for path in (load_settings().training.cycle_config, config):
        if path:
            data = _deep_merge(data, json.loads(Path(path).read_text(encoding="utf-8")))
    data = _deep_merge(data, {k: v for k, v in overrides.items() if v is not None and v != {}})
    return CycleConfig.model_validate(data)


def _deep_merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def cycle(
    questions: Annotated[int | None, typer.Option(help="Training questions sampled from the live model.")] = None,
    k: Annotated[int | None, typer.Option(help="Samples per question (RFT).")] = None,
    dpo_questions: Annotated[int | None, typer.Option(help="Questions sampled from the RFT model for DPO.")] = None,
    dpo_k: Annotated[int | None, typer.Option(help="Samples per question (DPO).")] = None,
    sft_steps: Annotated[int | None, typer.Option(help="Cap on SFT optimizer steps (-1: epochs).")] = None,
    sft_epochs: Annotated[float | None, typer.Option(help="SFT epochs.")] = None,
    dpo_steps: Annotated[int | None, typer.Option(help="Cap on DPO optimizer steps (-1: epochs).")] = None,
    eval_questions: Annotated[int | None, typer.Option(help="Held-out questions evaluated per checkpoint.")] = None,
    no_dpo: Annotated[bool, typer.Option("--no-dpo", help="Skip the DPO stage.")] = False,
    rft_rounds: Annotated[int | None, typer.Option(help="RFT rounds (1-4): each later round fine-tunes the last RFT model on its own samples.")] = None,
    backend: Annotated[str | None, typer.Option(help="auto, vllm or transformers (how checkpoints are run).")] = None,
    live_url: Annotated[str | None, typer.Option(help="URL of a server already serving the live checkpoint.")] = None,
    config: Annotated[Path | None, typer.Option(help="JSON file of CycleConfig fields.")] = None,
    trigger: Annotated[str, typer.Option(help="manual or schedule (recorded on the run).")] = "manual",
) -> None:
    """Run one self-critique cycle now (sample, critique, RFT, DPO, evaluate, register a candidate; with
    training.auto_promote, promote it when it passes its gate)."""
    from mathchat.settings import load_settings
    from training.cycle import run_cycle
    from training.run_record import CycleBusy

    overrides = {
        "questions": questions, "k": k, "dpo_questions": dpo_questions, "dpo_k": dpo_k,
        "run_dpo": False if no_dpo else None, "rft_rounds": rft_rounds, "engine_backend": backend, "live_url": live_url,
        "sft": {key: v for key, v in {"max_steps": sft_steps, "epochs": sft_epochs}.items() if v is not None},
        "dpo": {"max_steps": dpo_steps} if dpo_steps is not None else {},
        "pool": {"eval_questions": eval_questions} if eval_questions is not None else {},
    }
    cfg = _cycle_config(config, overrides)
    try:
        result = run_cycle(load_settings(), cfg, trigger=trigger)
    except CycleBusy as busy:
        typer.echo(f"not started: {busy}", err=True)
        raise typer.Exit(code=3) from None
    summary = {key: value for key, value in result.items()
               if key in ("run_id", "run_dir", "adaptation", "live", "pool", "live_samples", "rounds", "dpo_data",
                          "candidate", "auto_promoted", "stages", "total_seconds", "skipped") or (key.startswith("rft") and key.endswith("_data"))}
    summary["eval"] = {name: {"strict_accuracy": rep["summary"]["overall"]["strict_accuracy"],
                              "mean_score": rep["summary"]["overall"]["mean_score"],
                              "perplexity": rep.get("perplexity")} for name, rep in (result.get("eval") or {}).items()}
    typer.echo(json.dumps(summary, indent=2, ensure_ascii=False, default=str))


def eval_command(
    checkpoint: Annotated[str, typer.Option(help="Checkpoint folder, registered id, 'live' or 'base'.")],
    data: Annotated[Path, typer.Option(help="MathUserEval JSONL or GSM8K-style JSONL.")],
    baseline: Annotated[str | None, typer.Option(help="Baseline checkpoint (folder, id, 'live' or 'base').")] = None,
    out: Annotated[Path | None, typer.Option(help="Output prefix for .json/.md/.png.")] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N questions.")] = None,
    backend: Annotated[str, typer.Option(help="auto, vllm or transformers.")] = "auto",
    url: Annotated[str | None, typer.Option(help="URL already serving the checkpoint (skips starting one).")] = None,
    no_critic: Annotated[bool, typer.Option("--no-critic", help="Exact accuracy only.")] = False,
    best_of: Annotated[int | None, typer.Option("--best-of", help="Instead: accuracy when the verifier picks one of N "
                                                                   "samples, vs greedy and majority vote.")] = None,
    verifier: Annotated[Path | None, typer.Option(help="Verifier checkpoint for --best-of (default: the live one).")] = None,
    with_greedy: Annotated[bool, typer.Option("--with-greedy", help="With --best-of N: the greedy answer is one of "
                                                                    "the N candidates (with N - 1 samples).")] = False,
) -> None:
    """Evaluate a checkpoint: critique mean/pass rate, exact accuracy (Wilson CIs), McNemar and gate vs baseline;
    with --best-of N, the verifier's pick of N samples against greedy and majority vote."""
    from mathchat.settings import load_settings
    from training.config import EvalSettings
    from training.eval_job import run_best_of_n, run_eval

    if best_of:
        report = run_best_of_n(load_settings(), checkpoint, data, best_of, verifier_path=verifier, out_prefix=out,
                               limit=limit, backend=backend, url=url, with_greedy=with_greedy)
        summary = report["best_of_n"]
        for name in ("greedy", "verifier", "critic", "weighted_vote", "majority", "oracle"):
            m = summary.get(name)
            if m is None:
                continue
            typer.echo(f"{name:<9} strict accuracy {m['rate']:.3f} [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}] "
                       f"({m['k']}/{m['n']})")
        for name in ("verifier", "critic", "weighted_vote"):
            if f"{name}_vs_greedy" in summary:
                typer.echo(f"{name} vs greedy: McNemar p = {summary[f'{name}_vs_greedy']['mcnemar_p']:.4g}")
        typer.echo(json.dumps({"best_of_n": summary, "path": report["path"]}, default=str))
        return

    result = run_eval(load_settings(), checkpoint, data, baseline=baseline, out_prefix=out, limit=limit,
                      backend=backend, url=url, cfg=EvalSettings(use_critic=not no_critic))
    for rep in result["reports"]:
        o = rep["summary"]["overall"]
        lo, hi = o["strict_accuracy"]["ci95"]
        typer.echo(f"{rep['checkpoint_id']}: strict accuracy {o['strict_accuracy']['rate']:.3f} "
                   f"[{lo:.3f}, {hi:.3f}], mean critique {o['mean_score']}, pass rate {o['pass_rate']}, "
                   f"perplexity {rep['perplexity']:.3f}")
    if "gate" in result["reports"][-1]:
        g = result["reports"][-1]["gate"]
        typer.echo(f"gate: {'promotable' if g['promotable'] else 'not promotable'}: {'; '.join(g['reasons'])}")
    typer.echo(json.dumps(result["paths"]))


def scheduler(
    run_now: Annotated[bool, typer.Option("--run-now", help="Also launch one cycle immediately.")] = False,
) -> None:
    """Run the blocking scheduler (one process): a cycle every training.schedule_minutes."""
    from mathchat.settings import load_settings
    import time

    from training.scheduler import LeaderLock, build_scheduler, launch_cycle

    settings = load_settings()
    lock = LeaderLock(settings.database.url)
    while not lock.try_acquire():  # another scheduler (or an app replica) leads: take over when it stops
        typer.echo("scheduler: another process leads the schedule; retrying in 30 s")
        time.sleep(30)
    sched = build_scheduler(settings, blocking=True)
    if run_now:
        launch_cycle(log_dir=str(settings.training.workdir))
    typer.echo(f"scheduler: a cycle every {settings.training.schedule_minutes} min (Ctrl-C stops)")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass


def pool(
    out: Annotated[Path, typer.Option(help="Output JSONL (MathUserEval format).")],
    split: Annotated[str, typer.Option(help="held-out, train or all.")] = "held-out",
    n: Annotated[int, typer.Option(help="Number of questions (for held-out: exactly this many).")] = 250,
    seed: Annotated[int, typer.Option(help="Generator seed.")] = 0,
) -> None:
    """Write the seed pool (or its held-out split) as MathUserEval JSONL."""
    from training.config import PoolSettings
    from training.pool import build_held_out_set, build_seed_pool, split_pool, write_mathusereval_jsonl

    frac = PoolSettings().held_out_fraction
    if split == "held-out":
        questions = build_held_out_set(n, seed, frac)
    elif split in ("train", "all"):
        questions = build_seed_pool(n, seed)
        if split == "train":
            questions = split_pool(questions, frac)[0]
    else:
        raise typer.BadParameter("split must be held-out, train or all")
    count = write_mathusereval_jsonl(questions, out)
    typer.echo(f"wrote {count} questions to {out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `mathchat` CLI."""
    app.command("cycle")(cycle)
    app.command("eval")(eval_command)
    app.command("scheduler")(scheduler)
    app.command("pool")(pool)
