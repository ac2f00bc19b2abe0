"""The cycle's samples: k answers per question from one checkpoint, each critiqued as soon as its siblings arrive.

The ``ScoredSample``s it returns are all the RFT and DPO builders read (``training/samples.py``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mathchat.jsonl import read_jsonl
from mathchat.settings import PASS_THRESHOLD
from serving.critique.types import Critic
from serving.engine import PolicyEngine
from training.config import CycleConfig
from training.manifest import to_plain
from training.pool import PoolQuestion, question_key
from training.sampler import sample_questions
from training.sampling_plan import MixedTally
from training.samples import PassRule, ScoredSample, scored_sample
from training.thumbs import ThumbsRule

log = logging.getLogger(__name__)


def sample_and_critique(engine: PolicyEngine, critic: Critic, questions: Sequence[PoolQuestion], cfg: CycleConfig,
                        *, k: int, seed: int, desc: str,
                        on_progress: Callable[[int, int], None] | None = None,
                        pass_mark: int = PASS_THRESHOLD) -> list[ScoredSample]:
    """k samples per question, each critiqued with its siblings as self-consistency evidence as soon as they
    arrive (while the next questions sample); with ``cfg.stop_at_mixed`` no further question is sent once that
    many are mixed by the rule RFT keeps rows by (``rft_pass_rule``; ``training/sampling_plan.py``). Returned in
    question order."""
    sampling = cfg.sampling.with_(seed=seed)
    tally = MixedTally(cfg.stop_at_mixed, rft_pass_rule(cfg))
    scored: dict[int, list[ScoredSample]] = {}

    def critique(i: int, samples: Sequence) -> bool:
        q, texts = questions[i], [s.text for s in samples]
        scored[i] = [scored_sample(q.question_id, q.question, s.text,
                                   critic.critique(q.question, s.text, q.reference, samples=texts[:j] + texts[j + 1:]),
                                   user_id=q.user_id, system=cfg.system_prompt, sample_id=f"{q.question_id}#{j}",
                                   finish_reason=s.finish_reason, pass_mark=pass_mark) for j, s in enumerate(samples)]
        tally.add(scored[i])
        return tally.reached

    sample_questions(engine, [q.question for q in questions], sampling, system=cfg.system_prompt, n=k,
                     concurrency=cfg.sample_concurrency, skip_errors=True, desc=desc, on_progress=on_progress,
                     on_question=critique)
    if tally.reached:
        log.info("%s: %d mixed questions after %d of %d; sampling stopped", desc, tally.mixed, tally.seen,
                 len(questions))
    return [s for i in sorted(scored) for s in scored[i]]


def critique_rated(critic: Critic, rated: Sequence[ScoredSample], questions: Sequence[PoolQuestion],
                   siblings: Sequence[ScoredSample], *, system: str | None, pass_mark: int = PASS_THRESHOLD
                   ) -> list[ScoredSample]:
    """Students' rated answers to the questions a round sampled, critiqued as that round's samples are (the
    question's reference where it has one, the round's samples of it as self-consistency evidence), their
    thumbs, askers and message ids kept. A student's answer may have no stored critique (the API critiques on
    request) or one from an older critic; answers to other questions are left out."""
    by_id = {q.question_id: q for q in questions}
    texts: dict[str, list[str]] = {}
    for s in siblings:
        texts.setdefault(s.question_id, []).append(s.answer)
    out = []
    for r in rated:
        q = by_id.get(r.question_id)
        if q is None:
            continue
        result = critic.critique(q.question, r.answer, q.reference, samples=texts.get(q.question_id, []))
        out.append(scored_sample(q.question_id, q.question, r.answer, result, user_id=r.user_id, rating=r.rating,
                                 system=system, sample_id=r.sample_id, pass_mark=pass_mark))
    return out


def with_critiques(stored: Sequence[ScoredSample], critiqued: Sequence[ScoredSample]) -> list[ScoredSample]:
    """Students' rated answers as the store gives them, each replaced by this cycle's critique of it where
    ``critique_rated`` made one (same ``sample_id``). The app stores a critique only where one was asked for,
    so without this DPO met most rated answers with no score and no confidence, and a thumbs stood in for the
    critic even where the critic, asked, would have shown the answer as likely wrong.

    >>> a = ScoredSample("q", "?", "The answer is 7.", None, rating=1, sample_id="message-3")
    >>> b = ScoredSample("q", "?", "The answer is 8.", None, rating=-1, sample_id="message-4")
    >>> seen = ScoredSample("q", "?", "The answer is 7.", 2, rating=1, sample_id="message-3", confidence=0.1)
    >>> [(s.score, s.confidence) for s in with_critiques([a, b], [seen])]
    [(2, 0.1), (None, None)]
    """
    by_id = {s.sample_id: s for s in critiqued if s.sample_id is not None}
    return [by_id.get(s.sample_id, s) if s.sample_id is not None else s for s in stored]


def rft_pass_rule(cfg: CycleConfig, thumbs: ThumbsRule = ThumbsRule()) -> PassRule:
    """The cycle's rule for a sample RFT may train on (``cfg.rft``): what the stop tally, the round plan and the
    per-level yields count, so a round on logged questions keeps sampling until it has questions whose passing
    answers the calibrated confidence backs.

    >>> rft_pass_rule(CycleConfig())
    PassRule(min_score=7, min_confidence_unchecked=0.8)
    """
    return PassRule(cfg.rft.min_score, cfg.rft.min_confidence_unchecked, thumbs)


def samples_to_rows(samples: Sequence[ScoredSample]) -> list[dict[str, Any]]:
    """Samples as JSON rows (kept with the run for audit and re-builds)."""
    return [to_plain(s) for s in samples]


SAMPLED_FILES = ("samples_live.jsonl", "samples_rft*.jsonl")
"""The samples a run keeps of the questions it sent (its students' rated answers, ``samples_rated``, are not)."""


def run_folder(workroot: Path, run_id: int) -> Path:
    """Where run ``run_id`` keeps its files (``run-00012``); ``questions_sampled_before`` reads them back.

    >>> run_folder(Path("/w"), 12).name, run_folder_id(Path("/w/run-00012")), run_folder_id(Path("/w/eval_cache"))
    ('run-00012', 12, None)
    """
    return Path(workroot) / f"run-{run_id:05d}"


def run_folder_id(folder: Path) -> int | None:
    """The run id of a ``run_folder`` (None: not one)."""
    m = re.fullmatch(r"run-(\d+)", folder.name)
    return int(m.group(1)) if m else None


def questions_sampled_before(workroot: Path, *, before_run: int, runs: int = 20) -> Counter[str]:
    """How many of the newest ``runs`` runs before ``before_run`` sampled each question (``question_key`` ->
    runs), read from the samples they kept in their folders (``run-NNNNN``); a missing or unreadable file
    counts as no samples, so a cleaned work folder only makes old questions look new."""
    dirs = sorted((run_id, d) for d in Path(workroot).glob("run-*")
                  if (run_id := run_folder_id(d)) is not None and run_id < before_run)
    counts: Counter[str] = Counter()
    for _, run_dir in dirs[-runs:] if runs > 0 else []:
        keys: set[str] = set()
        for pattern in SAMPLED_FILES:
            for path in run_dir.glob(pattern):
                try:
                    keys.update(question_key(row["question"]) for row in read_jsonl(path) if row.get("question"))
                except (OSError, ValueError, TypeError, KeyError):
                    log.warning("could not read the samples in %s; its questions count as new", path)
        counts.update(keys)
    return counts


def sample_pass_rate(samples: Sequence[ScoredSample], pass_mark: int = PASS_THRESHOLD) -> float | None:
    """Share of scored samples that pass (score >= ``pass_mark``)."""
    scored = [s for s in samples if s.score is not None]
    return sum(1 for s in scored if s.score >= pass_mark) / len(scored) if scored else None  # type: ignore[operator]
