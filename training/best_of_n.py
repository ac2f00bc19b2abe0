"""Best-of-N at answer time: the verifier picks one of N samples (no reference), against greedy and majority vote.

``pick_by_verifier`` and ``majority_pick`` choose a sample; ``best_of_n_summary`` (pure) turns per-question items
into accuracies with Wilson 95% CIs and exact McNemar tests against greedy; ``evaluate_best_of_n`` draws the
samples and the greedy answers through any PolicyEngine and scores them with a ``Verifier``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from serving.critique.answers import extract_answer
from serving.critique.consistency import cluster_answers
from training.stats import mcnemar_exact, wilson_interval


def pick_by_verifier(probabilities: Sequence[float]) -> int:
    """The sample the verifier trusts most (the first of equals).

    >>> pick_by_verifier([0.2, 0.7, 0.7, 0.1])
    1
    """
    return max(range(len(probabilities)), key=lambda i: (probabilities[i], -i))


def majority_pick(answers: Sequence[str]) -> int:
    """A sample whose final answer the most samples share (the first of the largest group; answers with no
    final answer only win when nothing else has one).

    >>> majority_pick(["The answer is 7.", "The answer is 8.", "So 8.", "The answer is 7.0"])
    0
    """
    groups = cluster_answers([extract_answer(a) for a in answers])
    return min(groups[0]) if groups else 0


def is_correct(answer: str, reference: str | None) -> bool:
    """Strict exact-answer grading, as ``training.evaluate`` reports it (the answer must state its final answer).

    >>> is_correct("3 + 4 = 7. The answer is 7.", "7"), is_correct("3 + 4 = 7", "7")
    (True, False)
    """
    from training.evaluate import grade_answer

    return grade_answer(answer, reference)["strict_correct"]


def _rate(hits: Sequence[bool]) -> dict[str, Any]:
    k, n = sum(1 for h in hits if h), len(hits)
    lo, hi = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": round(k / n, 4) if n else None, "ci95": [round(lo, 4), round(hi, 4)]}


def best_of_n_summary(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy of greedy, the verifier's pick, the majority vote, a random sample and the oracle (any sample
    right), with CIs; McNemar of the verifier's pick and of the majority against greedy. Each item:
    ``{"greedy_correct": bool, "samples_correct": [bool, ...], "verifier_p": [float, ...], "answers": [str, ...]}``.

    >>> s = best_of_n_summary([{"greedy_correct": False, "samples_correct": [False, True], "verifier_p": [0.1, 0.9],
    ...                         "answers": ["The answer is 3.", "The answer is 4."]}])
    >>> s["greedy"]["rate"], s["verifier"]["rate"], s["oracle"]["rate"], s["random"]["rate"]
    (0.0, 1.0, 1.0, 0.5)
    """
    greedy = [bool(it["greedy_correct"]) for it in items]
    verifier = [bool(it["samples_correct"][pick_by_verifier(it["verifier_p"])]) for it in items]
    majority = [bool(it["samples_correct"][majority_pick(it["answers"])]) for it in items]
    oracle = [any(it["samples_correct"]) for it in items]
    expected = sum(sum(it["samples_correct"]) / len(it["samples_correct"]) for it in items)
    n = len(items)
    out = {"questions": n, "n": len(items[0]["samples_correct"]) if items else 0,
           "greedy": _rate(greedy), "verifier": _rate(verifier), "majority": _rate(majority), "oracle": _rate(oracle),
           "random": {"rate": round(expected / n, 4) if n else None}}
    for name, hits in (("verifier", verifier), ("majority", majority)):
        test = mcnemar_exact(greedy, hits)
        out[f"{name}_vs_greedy"] = {"only_greedy": test.only_a, f"only_{name}": test.only_b, "mcnemar_p": test.p_value}
    return out


def evaluate_best_of_n(engine: Any, verifier: Any, questions: Sequence[Any], *, n: int, sampling: Any,
                       system: str | None, max_tokens: int = 256, concurrency: int = 16) -> dict[str, Any]:
    """Greedy answers and ``n`` samples per question from ``engine``; the verifier scores every sample without
    the reference; returns ``best_of_n_summary`` plus the items."""
    from mathchat.sampling import SamplingSettings
    from training.sampler import sample_questions

    texts = [q.question for q in questions]
    greedy = sample_questions(engine, texts, SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=max_tokens,
                                                              seed=0), system=system, n=1, concurrency=concurrency,
                              desc="greedy")
    drawn = sample_questions(engine, texts, sampling, system=system, n=n, concurrency=concurrency,
                             desc=f"best-of-{n}")
    items = []
    for q, g, samples in zip(questions, greedy, drawn):
        answers = [s.text for s in samples]
        if not answers:
            continue
        probs = verifier.probabilities([(q.question, a) for a in answers])
        items.append({"question_id": q.question_id, "source": q.source, "question": q.question,
                      "reference": q.reference, "greedy": g[0].text if g else "",
                      "greedy_correct": bool(g) and is_correct(g[0].text, q.reference), "answers": answers,
                      "samples_correct": [is_correct(a, q.reference) for a in answers],
                      "verifier_p": [round(p, 4) for p in probs]})
    return {"best_of_n": best_of_n_summary(items), "verifier": getattr(verifier, "checkpoint_id", None),
            "sampling": sampling.model_dump(mode="json") if hasattr(sampling, "model_dump") else None, "items": items}
