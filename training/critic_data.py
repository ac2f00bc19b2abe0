"""Critique SFT data (ChatGLM-Math's Math-Critique training): labelled answers -> judge prompt/completion rows.

Pure. Each labelled item becomes ``{"prompt": [{"role": "user", "content": <critique prompt>}],
"completion": [{"role": "assistant", "content": "<explanation> [[n]]"}]}`` (``training.formats.SFTRow``),
the explanation written from the symbolic parts so it names the wrong steps. Which items are trusted:

- ``source="reference"``: the answer checked against its reference (the score comes from the symbolic critic);
- ``source="operator"``: an operator's label (``human_score``, else ``is_correct``) wins, even over the reference;
- ``source="student"``: a student's rating (``is_correct``) is kept only when a reference check agrees with it.

An item whose label contradicts its reference check, or that nothing can score, is dropped (counted).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mathchat.settings import PASS_THRESHOLD, CritiqueSettings
from serving.critique.bands import band_of
from serving.critique.critic import MathCritic
from serving.critique.prompt import build_critique_prompt, detect_language
from serving.critique.types import CritiqueResult
from training.formats import SFTRow

SOURCES = ("reference", "operator", "student")


@dataclass
class CriticDataResult:
    """The rows and why the others were dropped."""

    rows: list[SFTRow]
    dropped: Counter = field(default_factory=Counter)
    bands: Counter = field(default_factory=Counter)


def _symbolic_critic() -> MathCritic:
    return MathCritic(CritiqueSettings(use_judge=False, self_consistency_k=0))


def target_score(item: dict[str, Any], result: CritiqueResult | None,
                 pass_mark: int = PASS_THRESHOLD) -> tuple[int | None, str]:
    """(score to teach, reason) for one labelled item; None when it must be dropped (a score passes at
    ``pass_mark``).

    >>> target_score({"source": "operator", "human_score": 4}, None)
    (4, 'operator score')
    >>> target_score({"source": "student", "is_correct": True}, None)
    (None, 'student rating without a reference check')
    """
    source = item.get("source", "reference")
    verified = None
    if result is not None and result.has_reference and "answer_match" in result.parts:
        match = result.parts["answer_match"].score
        verified = None if match is None else match >= 5.5
    label = item.get("is_correct")
    if source == "operator":
        if item.get("human_score") is not None:
            return int(item["human_score"]), "operator score"
        if label is None:
            return None, "operator item without a label"
        if result is not None and result.score is not None and (result.score >= pass_mark) == bool(label):
            return result.score, "operator label, symbolic score"
        return (9 if label else 2), "operator label"
    if verified is None:
        return None, f"{source} rating without a reference check" if source == "student" else "no reference check"
    if label is not None and bool(label) != verified:
        return None, f"{source} label contradicts the reference check"
    if result is None or result.score is None:
        return None, "unscored"
    return result.score, "reference check"


def explanation_for(result: CritiqueResult, score: int, language: str) -> str:
    """A short grader's explanation from the symbolic parts: final verdict, then each wrong step.

    >>> from serving.critique.types import PartScore
    >>> parts = {"answer_match": PartScore("answer_match", 1.0, data={"final": "104", "reference_answer": "85"}),
    ...          "steps": PartScore("steps", 2.0, data={"wrong": [{"text": "37 + 48 = 104", "expected": "85",
    ...          "stated": "104", "early": True}], "n_equations": 1})}
    >>> r = CritiqueResult(1, "wrong_early", False, 0.0, "", parts, "v", "c", True)
    >>> explanation_for(r, 1, "en")
    'The final answer 104 is wrong; the correct answer is 85. Step 1 `37 + 48 = 104` is wrong: it should be 85, not 104.'
    """
    zh = language == "zh"
    sentences: list[str] = []
    match = result.parts.get("answer_match")
    right = score >= 6
    if match is not None and match.score is not None:
        final, ref = match.data.get("final"), match.data.get("reference_answer")
        if zh:
            sentences.append(f"最终答案 {final} 正确。" if match.score >= 5.5 else f"最终答案 {final} 错误，正确答案是 {ref}。")
        else:
            sentences.append(f"The final answer {final} is correct." if match.score >= 5.5
                             else f"The final answer {final} is wrong; the correct answer is {ref}.")
    elif zh:
        sentences.append("最终答案正确。" if right else "最终答案错误。")
    else:
        sentences.append("The final answer is correct." if right else "The final answer is wrong.")
    steps = result.parts.get("steps")
    wrong = (steps.data.get("wrong") or []) if steps else []
    for w in wrong:
        n = w.get("index", 0) + 1
        if zh:
            sentences.append(f"第 {n} 步 `{w['text']}` 错误：应为 {w['expected']}，而不是 {w['stated']}。")
        else:
            sentences.append(f"Step {n} `{w['text']}` is wrong: it should be {w['expected']}, not {w['stated']}.")
    if steps is not None and steps.score is not None and not wrong:
        sentences.append("每一步计算都正确。" if zh else "Every calculation step is correct.")
    if not wrong and not right and match is not None and match.score is not None:
        sentences.append("计算本身无误，但题意理解有误。" if zh else "The arithmetic is consistent, so the question was misread.")
    return ("" if zh else " ").join(sentences)


def build_critic_rows(items: Iterable[dict[str, Any]], *, with_and_without_reference: bool = True,
                      critic: MathCritic | None = None, pass_mark: int = PASS_THRESHOLD) -> CriticDataResult:
    """Critique SFT rows from labelled items ``{question, answer, reference?, is_correct?, human_score?, source?}``."""
    critic = critic or _symbolic_critic()
    out = CriticDataResult(rows=[])
    for item in items:
        reference = item.get("reference")
        result = critic.critique(item["question"], item["answer"], reference) if reference else None
        if result is None and item.get("source") == "operator":
            result = critic.critique(item["question"], item["answer"], None)
        score, reason = target_score(item, result, pass_mark)
        if score is None or result is None:
            out.dropped[reason] += 1
            continue
        band = band_of(score)
        out.bands[band.name if band else "?"] += 1
        completion = f"{explanation_for(result, score, detect_language(item['question']))} [[{score}]]"
        references = [reference, None] if (reference and with_and_without_reference) else [reference]
        for ref in references:
            prompt = build_critique_prompt(item["question"], ref, item["answer"])
            out.rows.append({"prompt": [{"role": "user", "content": prompt[0]["content"]}],
                             "completion": [{"role": "assistant", "content": completion}]})
    return out


def balance_by_band(rows: Sequence[SFTRow], per_band: int, seed: int) -> list[SFTRow]:
    """At most ``per_band`` rows of each target band (read from the ``[[n]]`` tag), shuffled with the seed."""
    from serving.critique.parse import parse_score

    rng = random.Random(seed)
    by_band: dict[str, list[SFTRow]] = {}
    for row in rows:
        band = band_of(parse_score(row["completion"][0]["content"]))
        by_band.setdefault(band.name if band else "?", []).append(row)
    kept: list[SFTRow] = []
    for name in sorted(by_band):
        group = list(by_band[name])
        rng.shuffle(group)
        kept.extend(group[:per_band])
    rng.shuffle(kept)
    return kept
