"""Best-of-N at answer time: the verifier picks one of N samples (no reference), against greedy and majority vote.

Four ways to choose, none with a reference:

- ``verifier``: the sample whose verifier P(correct) is highest (``pick_by_verifier``);
- ``majority``: a sample of the largest group of equal final answers (``majority_pick``);
- ``critic``: the sample the whole critic trusts most: its calibrated confidence from the step check, the
  verifier and how many of the other N - 1 samples reach its final answer (free self-consistency: the samples are
  already there), ``critic_confidences``;
- ``weighted_vote``: the final answer whose samples carry the most critic confidence in total, then its most
  trusted sample (``pick_by_weighted_vote``); a vote that one confident sample can outweigh.

``best_of_n_summary`` (pure) turns per-question items into accuracies with Wilson 95% CIs and exact McNemar tests
against greedy; ``evaluate_best_of_n`` draws the samples and the greedy answers through any PolicyEngine and
scores them with a ``Verifier`` and the critic's parts.
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


def pick_by_weighted_vote(answers: Sequence[str], weights: Sequence[float]) -> int:
    """The most trusted sample of the final answer with the largest total weight (answers with no final answer
    vote alone).

    >>> pick_by_weighted_vote(["The answer is 7.", "The answer is 8.", "So 8.", "The answer is 7.0"],
    ...                       [0.9, 0.3, 0.4, 0.1])
    0
    >>> pick_by_weighted_vote(["The answer is 7.", "The answer is 8.", "So 8."], [0.5, 0.3, 0.4])
    2
    """
    groups = cluster_answers([extract_answer(a) for a in answers])
    best = max(groups, key=lambda g: (sum(weights[i] for i in g), -min(g)))
    return max(best, key=lambda i: (weights[i], -i))


def critic_confidences(question: str, answers: Sequence[str], verifier_p: Sequence[float] | None,
                       calibration: Any) -> list[float]:
    """Each sample's calibrated P(correct) as the critic would give it without a reference: the step check, the
    verifier's probability (when given) and the agreement of the other samples (``consistency_part``), merged by
    ``calibration`` (a ``serving.critique.calibration.Calibration``)."""
    from serving.critique.consistency import consistency_part
    from serving.critique.steps import steps_part
    from serving.critique.types import PartScore

    out = []
    for i, answer in enumerate(answers):
        parts = {"steps": steps_part(answer, question),
                 "consistency": consistency_part(answer, [a for j, a in enumerate(answers) if j != i])}
        if verifier_p is not None:
            parts["verifier"] = PartScore("verifier", 1 + 9 * verifier_p[i], "", {"p": verifier_p[i]})
        p = calibration.predict(parts)
        out.append(0.0 if parts["steps"].data.get("final_placeholder") is not None else p)
    return out


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
    right), with CIs; McNemar of each pick against greedy. Each item:
    ``{"greedy_correct": bool, "samples_correct": [bool, ...], "verifier_p": [float, ...], "answers": [str, ...]}``,
    with ``"critic_p": [float, ...]`` for the critic's pick and the weighted vote (absent: those rows are left out).

    >>> s = best_of_n_summary([{"greedy_correct": False, "samples_correct": [False, True], "verifier_p": [0.1, 0.9],
    ...                         "answers": ["The answer is 3.", "The answer is 4."]}])
    >>> s["greedy"]["rate"], s["verifier"]["rate"], s["oracle"]["rate"], s["random"]["rate"]
    (0.0, 1.0, 1.0, 0.5)
    """
    greedy = [bool(it["greedy_correct"]) for it in items]
    verifier = [bool(it["samples_correct"][pick_by_verifier(it["verifier_p"])]) for it in items]
    majority = [bool(it["samples_correct"][majority_pick(it["answers"])]) for it in items]
    oracle = [any(it["samples_correct"]) for it in items]
    picks = {"verifier": verifier, "majority": majority}
    if items and all("critic_p" in it for it in items):
        picks["critic"] = [bool(it["samples_correct"][pick_by_verifier(it["critic_p"])]) for it in items]
        picks["weighted_vote"] = [bool(it["samples_correct"][pick_by_weighted_vote(it["answers"], it["critic_p"])])
                                  for it in items]
    expected = sum(sum(it["samples_correct"]) / len(it["samples_correct"]) for it in items)
    n = len(items)
    out = {"questions": n, "n": len(items[0]["samples_correct"]) if items else 0,
           "greedy": _rate(greedy), **{name: _rate(hits) for name, hits in picks.items()}, "oracle": _rate(oracle),
           "random": {"rate": round(expected / n, 4) if n else None}}
    for name, hits in picks.items():
        test = mcnemar_exact(greedy, hits)
        out[f"{name}_vs_greedy"] = {"only_greedy": test.only_a, f"only_{name}": test.only_b, "mcnemar_p": test.p_value}
    return out


def evaluate_best_of_n(engine: Any, verifier: Any, questions: Sequence[Any], *, n: int, sampling: Any,
                       system: str | None, max_tokens: int = 256, concurrency: int = 16,
                       calibration: Any = None, with_greedy: bool = False) -> dict[str, Any]:
    """Greedy answers and ``n`` samples per question from ``engine``; the verifier scores every sample without
    the reference, and the critic (``calibration``: default the one fitted with the verifier) merges it with the
    step check and the other samples' agreement; returns ``best_of_n_summary`` plus the items.

    ``with_greedy``: the greedy answer is one of the n candidates (with n - 1 samples), as at answer time, where
    the streamed answer is greedy and the critique's self-consistency samples are the other candidates."""
    from mathchat.sampling import SamplingSettings
    from serving.critique.critic import load_calibration_or_fallback
    from training.sampler import sample_questions

    calibration = calibration or load_calibration_or_fallback(getattr(verifier, "calibration_path", None))
    texts = [q.question for q in questions]
    greedy = sample_questions(engine, texts, SamplingSettings(temperature=0.0, top_p=1.0, max_tokens=max_tokens,
                                                              seed=0), system=system, n=1, concurrency=concurrency,
                              desc="greedy")
    drawn = sample_questions(engine, texts, sampling, system=system, n=n - 1 if with_greedy else n,
                             concurrency=concurrency, desc=f"best-of-{n}")
    items = []
    for q, g, samples in zip(questions, greedy, drawn):
        answers = ([g[0].text] if with_greedy and g else []) + [s.text for s in samples]
        if not answers:
            continue
        probs = verifier.probabilities([(q.question, a) for a in answers])
        items.append({"question_id": q.question_id, "source": q.source, "question": q.question,
                      "reference": q.reference, "greedy": g[0].text if g else "",
                      "greedy_correct": bool(g) and is_correct(g[0].text, q.reference), "answers": answers,
                      "samples_correct": [is_correct(a, q.reference) for a in answers],
                      "verifier_p": [round(p, 4) for p in probs],
                      "critic_p": [round(p, 4) for p in critic_confidences(q.question, answers, probs, calibration)]})
    return {"best_of_n": best_of_n_summary(items), "verifier": getattr(verifier, "checkpoint_id", None),
            "calibration": calibration.version, "with_greedy": with_greedy,
            "sampling": sampling.model_dump(mode="json") if hasattr(sampling, "model_dump") else None, "items": items}
