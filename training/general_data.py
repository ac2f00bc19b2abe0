"""General (non-math) chat data mixed into RFT's SFT so the loop does not trade language ability for math.

The prompts ship in the repo (``general_prompts.json``, English and Chinese); the answers are the base
model's own (self-distillation), sampled through the engine once per build. Only ``answer_general_prompts``
touches an engine; building and mixing rows is pure.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from serving.engine import PolicyEngine
from mathchat.sampling import SamplingSettings
from training.formats import SFTRow
from training.manifest import BuildResult
from training.sampler import sample_questions

GENERAL_PROMPTS_PATH = Path(__file__).with_name("general_prompts.json")


def load_general_prompts(path: Path = GENERAL_PROMPTS_PATH) -> list[str]:
    """The shipped general prompts (a JSON list of {id, lang, prompt})."""
    return [item["prompt"] for item in json.loads(Path(path).read_text(encoding="utf-8"))]


def answer_general_prompts(engine: PolicyEngine, prompts: Sequence[str], sampling: SamplingSettings,
                           concurrency: int = 8, n: int = 1) -> list[tuple[str, str, str | None]]:
    """(prompt, answer, finish_reason) for each of ``n`` samples per prompt (batched/concurrent; failures skipped)."""
    drawn = sample_questions(engine, prompts, sampling, system=None, n=n, concurrency=concurrency,
                             skip_errors=True, desc="general")
    return [(p, s.text, s.finish_reason) for p, got in zip(prompts, drawn) for s in got]


def build_general_rows(answered: Sequence[tuple[str, str, str | None]], *, min_chars: int = 20) -> BuildResult:
    """SFT rows from answered prompts, dropping truncated and near-empty answers.

    >>> build_general_rows([("Hi?", "Hello! How can I help you today?", "stop"), ("Q", "x", "stop")]).counts
    {'answered': 2, 'after_not_truncated': 2, 'after_min_chars': 1}
    """
    counts = {"answered": len(answered)}
    kept = [(p, a) for p, a, fr in answered if fr != "length"]
    counts["after_not_truncated"] = len(kept)
    kept = [(p, a) for p, a in kept if len(a.strip()) >= min_chars]
    counts["after_min_chars"] = len(kept)
    rows: list[SFTRow] = [{"prompt": [{"role": "user", "content": p}],
                           "completion": [{"role": "assistant", "content": a.strip()}]} for p, a in kept]
    return BuildResult(rows=rows, counts=counts, filters={"min_chars": min_chars})


def mix_rows(math_rows: Sequence[SFTRow], general_rows: Sequence[SFTRow], ratio: float, seed: int) -> BuildResult:
    """Math rows plus ``round(ratio * len(math_rows))`` general rows (sampled with replacement if short), shuffled.

    >>> m = [{"prompt": [], "completion": [{"role": "assistant", "content": str(i)}]} for i in range(4)]
    >>> g = [{"prompt": [], "completion": [{"role": "assistant", "content": "g"}]}]
    >>> r = mix_rows(m, g, 0.5, seed=0); len(r.rows), r.counts["general_rows"]
    (6, 2)
    """
    rng = random.Random(seed)
    want = round(ratio * len(math_rows)) if general_rows else 0
    if want <= len(general_rows):
        extra = rng.sample(list(general_rows), want)
    else:
        extra = list(general_rows) + rng.choices(list(general_rows), k=want - len(general_rows))
    rows = list(math_rows) + extra
    rng.shuffle(rows)
    return BuildResult(rows=rows, counts={"math_rows": len(math_rows), "general_rows": len(extra)},
                       filters={"general_ratio": ratio, "seed": seed})
