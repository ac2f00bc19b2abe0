"""Held-out evaluation of one checkpoint: greedy answers, critique, exact accuracy, perplexity.

Reports the paper's MathUserEval figures (critique mean 1-10 and pass rate >= 7, overall and per
category, question-weighted) plus exact-answer accuracy with Wilson 95% CIs ("strict": the reply states
its answer explicitly, e.g. "The answer is N"; "flexible": the last number counts too), an exact paired
McNemar test against a baseline report, and the perplexity of a small general-English text (language
ability must not regress). ``summarize`` and ``compare`` are pure; ``evaluate`` does the I/O.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from serving.critique.answers import answers_equivalent, extract_answer
from serving.critique.types import Critic
from serving.engine import PolicyEngine
from mathchat.sampling import SamplingSettings
from mathchat.settings import PASS_THRESHOLD
from training.pool import PoolQuestion
from training.sampler import sample_questions
from training.stats import mcnemar_exact, wilson_interval

GENERAL_TEXT_PATH = Path(__file__).with_name("general_text.txt")
REPORT_VERSION = 1


def grade_answer(answer: str, reference: str | None) -> dict[str, Any]:
    """Exact-answer grading of one reply against a reference.

    >>> g = grade_answer("3 + 4 = 7. The answer is 7.", "7"); g["strict_correct"], g["format_ok"]
    (True, True)
    >>> grade_answer("3 + 4 = 7", "7")["strict_correct"], grade_answer("3 + 4 = 7", "7")["correct"]
    (False, True)
    """
    strict = extract_answer(answer, fallback=False)
    flexible = strict if strict is not None else extract_answer(answer, fallback=True)
    has_ref = reference is not None and reference.strip() != ""
    return {
        "extracted": flexible,
        "format_ok": strict is not None,
        "strict_correct": bool(has_ref and strict is not None and answers_equivalent(strict, reference)),
        "correct": bool(has_ref and flexible is not None and answers_equivalent(flexible, reference)),
    }


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": k / n if n else None, "ci95": [lo, hi]}


def _critique_stats(items: Sequence[dict[str, Any]], pass_mark: int) -> dict[str, Any]:
    scores = [it["score"] for it in items if it.get("score") is not None]
    return {"scored": len(scores), "mean_score": sum(scores) / len(scores) if scores else None,
            "pass_rate": sum(1 for s in scores if s >= pass_mark) / len(scores) if scores else None}


def summarize(items: Sequence[dict[str, Any]], pass_mark: int = PASS_THRESHOLD) -> dict[str, Any]:
    """Overall and per-category figures from graded items (each question weighs the same; a critique score
    passes at ``pass_mark``).

    >>> s = summarize([{"category": "a", "strict_correct": True, "correct": True, "format_ok": True, "score": 9},
    ...                {"category": "b", "strict_correct": False, "correct": False, "format_ok": False, "score": 2}])
    >>> s["overall"]["strict_accuracy"]["rate"], s["overall"]["mean_score"], s["per_category"]["a"]["pass_rate"]
    (0.5, 5.5, 1.0)
    """

    def block(group: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(group)
        return {
            "n": n,
            "strict_accuracy": _rate(sum(1 for it in group if it["strict_correct"]), n),
            "accuracy": _rate(sum(1 for it in group if it["correct"]), n),
            "format_rate": (sum(1 for it in group if it["format_ok"]) / n) if n else None,
            **_critique_stats(group, pass_mark),
        }

    by_cat: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for it in items:
        by_cat[it["category"]].append(it)
    return {"overall": block(items), "per_category": {c: block(g) for c, g in sorted(by_cat.items())}}


def compare(candidate: dict[str, Any], baseline: dict[str, Any], key: str = "strict_correct") -> dict[str, Any]:
    """Paired comparison of two reports on their shared questions (matched by source + question_id)."""
    base = {(it["source"], it["question_id"]): it for it in baseline["items"]}
    pairs = [(base[(it["source"], it["question_id"])][key], it[key]) for it in candidate["items"]
             if (it["source"], it["question_id"]) in base]
    test = mcnemar_exact([b for b, _ in pairs], [c for _, c in pairs])
    n = len(pairs)
    return {"paired_questions": n, "metric": key,
            "baseline_rate": sum(b for b, _ in pairs) / n if n else None,
            "candidate_rate": sum(c for _, c in pairs) / n if n else None,
            "only_baseline": test.only_a, "only_candidate": test.only_b, "mcnemar_p": test.p_value}


def text_perplexity(model_path: str | Path, text: str, max_length: int = 1024) -> float:
    """Perplexity of ``text`` under a checkpoint folder (transformers, in process; one forward pass per window)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    model.eval()
    ids = tokenizer(text, return_tensors="pt").input_ids[0]
    total_nll, total_tokens = 0.0, 0
    with torch.inference_mode():
        for start in range(0, len(ids) - 1, max_length):
            window = ids[start:start + max_length + 1].unsqueeze(0)
            if window.shape[1] < 2:
                break
            out = model(window, labels=window)
            count = window.shape[1] - 1
            total_nll += float(out.loss) * count
            total_tokens += count
    return math.exp(total_nll / max(total_tokens, 1))


def general_text_perplexity(model_path: str | Path) -> float:
    """Perplexity of the shipped general-English text (``general_text.txt``) under a checkpoint folder."""
    return text_perplexity(model_path, GENERAL_TEXT_PATH.read_text(encoding="utf-8"))


def evaluate(
    engine: PolicyEngine,
    questions: Sequence[PoolQuestion],
    *,
    system: str | None,
    max_tokens: int = 256,
    concurrency: int = 16,
    critic: Critic | None = None,
    model_path: str | Path | None = None,
    perplexity: float | None = None,
    baseline: dict[str, Any] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    pass_mark: int = PASS_THRESHOLD,
) -> dict[str, Any]:
    """Evaluate the engine's checkpoint on ``questions``; returns the JSON-ready report.

    Greedy answers (temperature 0) so reports are reproducible. ``perplexity`` is the checkpoint's
    general-text perplexity (``general_text_perplexity(model_path)``), recorded for the gate. With
    ``baseline`` (an earlier report) the report gains a paired comparison.
    """
    started = time.monotonic()
    greedy = SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=max_tokens, seed=0)
    samples = sample_questions(engine, [q.question for q in questions], greedy, system=system, n=1,
                               concurrency=concurrency, desc="eval", on_progress=on_progress)
    gen_seconds = time.monotonic() - started
    items = []
    for q, got in zip(questions, samples):
        answer = got[0].text if got else ""
        item = {"question_id": q.question_id, "source": q.source, "category": q.category,
                "subcategory": q.subcategory, "level": q.level, "question": q.question, "reference": q.reference,
                "answer": answer, "finish_reason": got[0].finish_reason if got else None,
                **grade_answer(answer, q.reference), "score": None, "passed": None}
        if critic is not None:
            result = critic.critique(q.question, answer, q.reference, samples=[])
            item["score"], item["passed"] = result.score, result.passed
        items.append(item)
    data_hash = hashlib.sha256("\n".join(f"{q.source}/{q.question_id}" for q in questions).encode()).hexdigest()
    report: dict[str, Any] = {
        "report_version": REPORT_VERSION,
        "checkpoint_id": engine.checkpoint_id,
        "model_path": str(model_path) if model_path else None,
        "system_prompt": system,
        "questions": len(questions),
        "questions_sha256": data_hash,
        "summary": summarize(items, pass_mark),
        "perplexity": perplexity,
        "timings": {"generate_s": round(gen_seconds, 1), "total_s": round(time.monotonic() - started, 1)},
        "items": items,
    }
    if baseline is not None:
        report["vs_baseline"] = {"baseline_checkpoint_id": baseline.get("checkpoint_id"),
                                 **compare(report, baseline),
                                 "baseline_perplexity": baseline.get("perplexity")}
    return report
