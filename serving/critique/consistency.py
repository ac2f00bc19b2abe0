"""Self-consistency without a reference: does the answer's final result agree with fresh policy samples?

Right answers tend to be reproduced; wrong ones scatter. The samples come from ONE ``engine.sample(...,
n=k)`` request (vLLM batches it), so the part costs about one extra answer's latency, not k.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from serving.critique.answers import answers_equivalent, extract_answer
from serving.critique.types import PartScore
from serving.engine import ChatMessage, PolicyEngine
from mathchat.sampling import SamplingSettings


class SamplesLate(Exception):
    """The samples were not ready within the time the caller may wait (the app's ``samples_deadline_s``): the
    critique decides without them and says why (``late_part``)."""


def late_part(reason: str) -> PartScore:
    """The consistency part of a critique whose samples came too late: unscored, with the reason.

    >>> part = late_part("the samples were not ready within 2 s"); part.score, part.data["late"]
    (None, True)
    """
    return PartScore("consistency", None, f"self-consistency not checked: {reason}", {"late": True})


def draw_samples(engine: PolicyEngine, question: str, *, k: int, sampling: SamplingSettings,
                 messages: Sequence[ChatMessage] | None = None, cancel: threading.Event | None = None) -> list[str]:
    """k policy answers to the question, drawn in one request (stopped, on the server too, once ``cancel`` is set)."""
    if k <= 0:
        return []
    conversation = list(messages) if messages else [{"role": "user", "content": question}]
    return [s.text for s in engine.sample(conversation, sampling, n=k, cancel=cancel)]


def cluster_answers(finals: Sequence[str | None]) -> list[list[int]]:
    """Group indices of equivalent final answers (None answers stay alone), largest group first.

    >>> cluster_answers(["12", "12.0", "13", None, "1,2"])
    [[0, 1], [2], [4], [3]]
    """
    groups: list[list[int]] = []
    for i, final in enumerate(finals):
        if final is not None:
            for group in groups:
                head = finals[group[0]]
                if head is not None and answers_equivalent(final, head):
                    group.append(i)
                    break
            else:
                groups.append([i])
        else:
            groups.append([i])
    return sorted(groups, key=lambda g: (-len(g), finals[g[0]] is None))


def consistency_part(answer: str, samples: Sequence[str]) -> PartScore:
    """Fraction of samples whose final answer equals the answer's, as a 1-10 score (1 + 9 * fraction).

    >>> part = consistency_part("So 3 + 4 = 7. The answer is 7.", ["7", "The answer is 7", "8", "no idea"])
    >>> part.score, part.data["agree"], part.data["answer_is_majority"]
    (5.5, 2, True)
    >>> consistency_part("The answer is 7.", []).score is None
    True
    """
    final = extract_answer(answer)
    if not samples or final is None:
        reason = "no samples" if not samples else "the answer states no final result"
        return PartScore("consistency", None, f"self-consistency not checked: {reason}")
    sample_finals = [extract_answer(s) for s in samples]
    agree = sum(1 for f in sample_finals if f is not None and answers_equivalent(f, final))
    fraction = agree / len(samples)
    groups = cluster_answers(sample_finals)
    top = groups[0] if groups and sample_finals[groups[0][0]] is not None else []
    majority = sample_finals[top[0]] if top else None
    answer_is_majority = agree > 0 and agree >= len(top)
    detail = f"{agree} of {len(samples)} independent samples reach the same final answer ({final})"
    return PartScore("consistency", round(1 + 9 * fraction, 2), detail,
                     {"k": len(samples), "agree": agree, "fraction": fraction, "final": final,
                      "majority": majority, "majority_fraction": len(top) / len(samples) if top else 0.0,
                      "answer_is_majority": answer_is_majority})
