"""CLI commands for the critique area: `mathchat critique-eval` (and `train-critic` when training exposes SFT)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from mathchat.settings import REPO_ROOT

DEFAULT_MATHUSEREVAL = Path("/work/shared/datasets/mathusereval")
if not DEFAULT_MATHUSEREVAL.exists():
    DEFAULT_MATHUSEREVAL = REPO_ROOT.parent / "shared" / "datasets" / "mathusereval"


def _build_critic(no_judge: bool, judge_url: str | None, judge_model: str | None, engine_url: str | None,
                  verifier: Path | None = None):  # noqa: ANN202
    """The critic for evaluation: judge from --judge-url, else the policy (--engine-url or in-process); the
    verifier from --verifier or MATHCHAT_CRITIQUE__VERIFIER_PATH."""
    from mathchat.settings import load_settings
    from serving.critique.critic import build_critic
    from serving.vllm_engine import OpenAIEngine

    settings = load_settings()
    policy = OpenAIEngine.for_url(engine_url) if engine_url else None
    judge = None
    if not no_judge:
        if judge_url:
            judge = OpenAIEngine.for_url(judge_url, judge_model)
        elif policy is not None:
            judge = policy
        else:
            from serving.factory import build_engine

            judge = build_engine(settings)
    # evaluation measures the judge whenever one is given, even where the calibration gives it no weight yet
    return build_critic(settings, policy=policy, judge=judge, judge_when_uncalibrated=judge is not None,
                        verifier_path=verifier or settings.critique.verifier_path), settings


def critique_eval(
    file: Optional[Path] = typer.Argument(None, help="JSONL rows {question, reference?, answer, is_correct?, human_score?, samples?}."),
    as_json: bool = typer.Option(False, "--json", help="End with one JSON line of the figures."),
    no_judge: bool = typer.Option(False, "--no-judge", help="Symbolic parts only (no judge LLM)."),
    judge_url: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL of the judge model."),
    judge_model: Optional[str] = typer.Option(None, help="Model name at --judge-url."),
    engine_url: Optional[str] = typer.Option(None, help="Policy server for self-consistency samples (and the judge if no --judge-url)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N rows."),
    make_set: Optional[Path] = typer.Option(None, help="Write the generated labelled set to this JSONL and exit."),
    n: int = typer.Option(400, help="Rows for --make-set."),
    seed: int = typer.Option(0, help="Seed for --make-set."),
    samples_k: int = typer.Option(0, help="With --make-set: attach k SIMULATED policy samples per row."),
    policy_answers: bool = typer.Option(False, "--policy-answers", help="With --make-set: answers from the policy (--engine-url or in-process), labelled by the reference."),
    fit_calibration: Optional[Path] = typer.Option(None, help="Fit the confidence calibration on FILE and write it here."),
    mathusereval: bool = typer.Option(False, "--mathusereval", help="Score the GPT-4-1106 answers of MathUserEval."),
    mathusereval_dir: Path = typer.Option(DEFAULT_MATHUSEREVAL, help="Folder of the released MathUserEval files."),
    verifier: Optional[Path] = typer.Option(None, help="Trained verifier checkpoint folder (its calibration too)."),
) -> None:
    """Measure the critic (per part and combined, with and without reference), or make/fit its data."""
    from serving.critique import evaluate as ev
    from mathchat.jsonl import read_jsonl, write_jsonl
    from serving.critique.labelled_set import make_labelled_set

    if make_set is not None:
        rows = make_labelled_set(n, seed, samples_k=samples_k)
        if policy_answers:  # replace the scripted answers by the policy's own, labelled by the exact checker
            from mathchat.settings import load_settings

            settings = load_settings()
            if engine_url:
                from serving.vllm_engine import OpenAIEngine

                engine = OpenAIEngine.for_url(engine_url)
            else:
                from serving.factory import build_engine

                engine = build_engine(settings)
            rows = ev.policy_answer_rows(engine, rows, settings.sampling, progress=True)
        write_jsonl(rows, make_set)
        typer.echo(f"wrote {len(rows)} rows to {make_set}")
        return
    critic, settings = _build_critic(no_judge, judge_url, judge_model, engine_url, verifier)
    threshold = settings.critique.pass_threshold
    if mathusereval:
        if not (mathusereval_dir / "math-user-eval.jsonl").exists():
            raise typer.BadParameter(f"no MathUserEval files in {mathusereval_dir}")
        rows = ev.load_mathusereval(mathusereval_dir)[:limit]
        results = [critic.critique(r["question"], r["answer"], r.get("reference")) for r in rows]
        summary = ev.summarize_by_category(rows, results, threshold)
        for key, m in summary.items():
            typer.echo(f"{key:<10} n={m['n_scored']:<4} unscored={m['unscored']:<4} mean={m['mean_score']} pass={m['pass_rate']}")
        if as_json:
            typer.echo(json.dumps({"n": len(rows), "model": "gpt-4-1106-preview", "by_category": summary},
                                  ensure_ascii=False))
        return
    if file is None:
        raise typer.BadParameter("give a FILE, --make-set OUT or --mathusereval")
    rows = list(read_jsonl(file))[:limit]
    results = ev.critique_rows(critic, rows, progress=not as_json)
    if fit_calibration is not None:
        from serving.critique.calibration import save_calibration

        no_samples = [{k: v for k, v in r.items() if k != "samples"} for r in rows]
        extra = ev.critique_rows(critic, no_samples) if any("samples" in r for r in rows) else []
        calibration = ev.fit_from_results(rows + no_samples[: len(extra)], results + extra,
                                          {"source": str(file), "judge": critic.judge is not None})
        save_calibration(calibration, fit_calibration)
        typer.echo(f"wrote calibration {calibration.version} to {fit_calibration}")
    report = ev.summarize(rows, results, threshold, settings.critique.verdict.confident_at)
    report["calibration_version"] = critic.calibration.version
    typer.echo(ev.format_report(report))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))


def train_critic(
    data: Optional[Path] = typer.Option(None, help="Labelled JSONL {question, answer, reference?, is_correct?, human_score?, source?}; default: a generated set."),
    n: int = typer.Option(400, help="Generated items when no --data."),
    seed: int = typer.Option(0, help="Seed for generation and band balancing."),
    per_band: Optional[int] = typer.Option(None, help="Cap rows per score band (balances the bands)."),
    out: Path = typer.Option(..., help="Checkpoint folder to write."),
    base: Optional[str] = typer.Option(None, help="Model to fine-tune; default: the configured policy model."),
    max_steps: int = typer.Option(-1, help="Stop after this many optimizer steps (-1: run the epochs)."),
    rows_out: Optional[Path] = typer.Option(None, help="Also write the SFT rows here (JSONL)."),
    max_length: int = typer.Option(1024, help="Longest tokenised row (tokens)."),
) -> None:
    """Fine-tune a critic (judge) model on critique SFT rows built from labelled answers."""
    from mathchat.settings import load_settings
    from mathchat.jsonl import read_jsonl, write_jsonl
    from serving.critique.labelled_set import make_labelled_set
    from training.config import SFTTrainSettings
    from training.critic_data import balance_by_band, build_critic_rows
    from training.sft import train_sft

    items = list(read_jsonl(data)) if data else make_labelled_set(n, seed)
    built = build_critic_rows(items, pass_mark=load_settings().critique.pass_threshold)
    rows = balance_by_band(built.rows, per_band, seed) if per_band else built.rows
    typer.echo(f"{len(rows)} critique rows; bands {dict(built.bands)}; dropped {dict(built.dropped)}")
    if rows_out:
        write_jsonl(list(rows), rows_out)  # type: ignore[arg-type]
    if base is None:
        from serving.model_cache import resolve_model_path

        base = resolve_model_path(load_settings())
    # critique prompts run ~350-600 tokens: the policy's 256-token default would cut off the completion
    cfg = SFTTrainSettings(max_steps=max_steps, max_length=max_length)
    path = train_sft(rows, base, out, cfg, metadata={"purpose": "critic", "critic_rows": len(rows)})
    typer.echo(f"critic checkpoint: {path}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `mathchat` CLI."""
    app.command("critique-eval")(critique_eval)
    app.command("train-critic")(train_critic)
