"""MathCritic: the Critic the app and the training loop call. Runs the parts, merges them, calibrates.

Cost on the no-reference path: one forward pass of the trained verifier when there is one (in process,
``serving/critique/verifier.py``), one n=k sampling request (self-consistency; ``draw_samples`` lets the app
draw it while the answer streams; skipped only when the other parts already back a verdict) plus at
most one judge call. The judge is skipped when the symbolic
parts already decide (``judge_skip_when_decisive``) and when the calibration gives its score no weight
(the shipped default: the 135M policy cannot judge), unless ``judge_when_uncalibrated``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from mathchat.settings import CritiqueSettings, Settings
from serving.critique.answers import answer_match_part
from serving.critique.bands import band_label, band_of, is_pass
from serving.critique.bounded import configure as configure_symbolic
from serving.critique.calibration import UNCALIBRATED, Calibration, load_calibration
from serving.critique.combine import explain, combine_score
from serving.critique.consistency import SamplesLate, consistency_part, draw_samples, late_part
from serving.critique.judge import judge_part
from serving.critique.prompt import PROMPTS_DIR
from serving.critique.steps import steps_part
from serving.critique.question_solver import solve_question
from serving.critique.types import CritiqueResult, PartScore
from serving.critique.verdict import UNVERIFIED, decide_verdict
from serving.critique.verifier import Verifier, open_verifier, verifier_part
from serving.engine import EngineError, PolicyEngine
from mathchat.sampling import SamplingSettings

log = logging.getLogger(__name__)
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
CRITIC_FORMAT = 2
"""Bump when the parts or the merge rules change meaning."""


_MIN_SAMPLE_TOKENS = 96
_SAMPLE_LENGTH_FACTOR = 1.5


def estimate_tokens(text: str) -> int:
    """Rough token count without a tokenizer: a CJK character ~ 1 token, other text ~ 4 characters a token.

    >>> estimate_tokens("The answer is 85."), estimate_tokens("答案是八十五")
    (4, 6)
    """
    cjk = len(_CJK_RE.findall(text))
    return cjk + (len(text) - cjk) // 4


def critic_version() -> str:
    """``mc<format>-<hash of the prompt files>``: changes whenever the rubric wording changes."""
    digest = hashlib.sha256()
    for path in sorted(PROMPTS_DIR.glob("*.txt")):
        digest.update(path.read_bytes())
    return f"mc{CRITIC_FORMAT}-{digest.hexdigest()[:8]}"


def live_verifier_checkpoint(db) -> tuple[str, str] | None:  # noqa: ANN001
    """(path, id) of the live ``verifier`` checkpoint in ``db`` (a SQLAlchemy engine), or None.
    Raises what the store raises: callers decide whether a missing store matters."""
    from feedback.db import session_scope
    from feedback.registry import get_live_checkpoint

    with session_scope(db) as session:
        live = get_live_checkpoint(session=session, family="verifier")
        return (live.path, live.id) if live is not None else None


def resolve_verifier(settings: CritiqueSettings, db=None) -> Verifier | None:  # noqa: ANN001
    """The verifier the critic should use: ``settings.verifier_path``, else the live ``verifier`` checkpoint of the
    database (``db``, a SQLAlchemy engine), else None. Loaded lazily: no weights are read until the first answer."""
    if not settings.use_verifier:
        return None
    if settings.verifier_path is not None:
        return open_verifier(settings.verifier_path, dtype=settings.verifier_dtype,
                             num_threads=settings.verifier_threads)
    if db is None:
        return None
    try:
        found = live_verifier_checkpoint(db)
    except Exception as error:  # the critic must come up without the store
        log.warning("could not look up the live verifier: %s", error)
        return None
    if found is None:
        return None
    try:
        return open_verifier(found[0], checkpoint_id=found[1], dtype=settings.verifier_dtype,
                             num_threads=settings.verifier_threads)
    except (OSError, ValueError, KeyError) as error:
        log.warning("live verifier %s unusable (%s); critiquing without it", found[1], error)
        return None


def shipped_verifier(settings: Settings, critique: CritiqueSettings) -> Verifier | None:
    """The shipped default verifier, where it applies: verifiers on, the shipped one allowed, no configured
    verifier and the embedded default policy (converted already: nothing is converted here)."""
    if not (critique.use_verifier and critique.use_default_verifier) or critique.verifier_path is not None \
            or settings.model.path:
        return None
    from serving.critique.default_verifier import load_default_verifier
    from serving.model_cache import default_model_dir

    return load_default_verifier(default_model_dir(settings), dtype=critique.verifier_dtype,
                                 num_threads=critique.verifier_threads)


def verifier_in_use(settings: Settings, critique: CritiqueSettings, db=None) -> Verifier | None:  # noqa: ANN001
    """The one order in which a critic finds its verifier: configured, else live in ``db``, else the shipped one."""
    return resolve_verifier(critique, db) or shipped_verifier(settings, critique)


def load_calibration_or_fallback(path: Path | None) -> Calibration:
    try:
        return load_calibration(path)
    except (OSError, ValueError, KeyError) as error:
        log.warning("calibration unavailable (%s); using the uncalibrated fallback", error)
        return UNCALIBRATED


class MathCritic:
    """Math-Critique over symbolic parts (reference match, step check, self-consistency), a trained verifier and
    a judge LLM.

    ``policy`` draws self-consistency samples; ``judge`` (any PolicyEngine) writes the judged
    explanation; ``verifier`` gives P(correct) without a reference. Any may be None, and that part is then
    skipped. With a verifier and no ``calibration_path`` the calibration is the verifier's own (fitted with
    its probability as a feature).
    """

    def __init__(self, settings: CritiqueSettings | None = None, *, policy: PolicyEngine | None = None,
                 judge: PolicyEngine | None = None, calibration: Calibration | None = None,
                 sampling: SamplingSettings | None = None, verifier: Verifier | None = None,
                 db=None) -> None:  # noqa: ANN001
        self.settings = settings or CritiqueSettings()
        configure_symbolic(self.settings)  # sympy/math-verify run in killable worker processes
        self.policy = policy
        self.judge = judge if self.settings.use_judge else None
        verifier = verifier if self.settings.use_verifier else None
        self._fixed_calibration = calibration
        self._models: tuple[Verifier | None, Calibration] = (
            verifier, calibration or load_calibration_or_fallback(self._calibration_path(verifier)))
        base = sampling or SamplingSettings()
        self.sample_settings = base.with_(temperature=self.settings.self_consistency_temperature,
                                          top_k=self.settings.self_consistency_top_k,
                                          top_p=self.settings.self_consistency_top_p,
                                          max_tokens=self.settings.self_consistency_max_tokens)
        self.version = critic_version()
        self._db = db if self.settings.use_verifier and self.settings.verifier_path is None else None
        self._refresh_lock = threading.Lock()
        self._refreshed_at = time.monotonic()

    @property
    def verifier(self) -> Verifier | None:
        """The trained verifier in use (None: the part is skipped)."""
        return self._models[0]

    @property
    def calibration(self) -> Calibration:
        """The calibration in use: fitted with the verifier in use, when it came with one."""
        return self._models[1]

    def _calibration_path(self, verifier: Verifier | None) -> Path | None:
        return self.settings.calibration_path or (verifier.calibration_path if verifier else None)

    def refresh_verifier(self, *, force: bool = False) -> bool:
        """Follow the live verifier of the database: when the cycle's gate has made a new one live, switch to it
        and to the calibration fitted with it, without a restart. Looks at most every ``verifier_refresh_s``
        seconds (one indexed query); a critique already running keeps the verifier it started with. Returns
        whether the verifier changed. A store that cannot be read leaves the current verifier in place."""
        if self._db is None:
            return False
        now = time.monotonic()
        if not force and now - self._refreshed_at < self.settings.verifier_refresh_s:
            return False
        if not self._refresh_lock.acquire(blocking=False):
            return False  # another thread is looking already
        try:
            self._refreshed_at = now
            try:
                found = live_verifier_checkpoint(self._db)
            except Exception as error:  # noqa: BLE001 - the critic must keep working without the store
                log.warning("could not look up the live verifier: %s", error)
                return False
            current = self.verifier.checkpoint_id if self.verifier is not None else None
            if (found[1] if found else None) == current:
                return False
            if found is None:
                return False  # no live verifier any more (e.g. rolled back by hand): keep the one in use
            try:
                verifier = open_verifier(found[0], checkpoint_id=found[1], dtype=self.settings.verifier_dtype,
                                         num_threads=self.settings.verifier_threads)
            except (OSError, ValueError, KeyError) as error:
                log.warning("live verifier %s unusable (%s); keeping %s", found[1], error, current)
                return False
            calibration = self._fixed_calibration or load_calibration_or_fallback(self._calibration_path(verifier))
            self._models = (verifier, calibration)  # one assignment: a critique sees both or neither
            log.info("critic now uses verifier %s (calibration %s; was %s)", found[1], calibration.version, current)
            return True
        finally:
            self._refresh_lock.release()

    def _decisive(self, parts: dict[str, PartScore]) -> bool:
        """Whether the symbolic parts settle right/wrong without a judge."""
        match = parts.get("answer_match")
        if match is not None and match.score is not None:
            return True
        steps = parts.get("steps")
        if steps is not None and steps.data.get("final_tainted"):
            return True
        cons = parts.get("consistency")
        return cons is not None and cons.score is not None and cons.data.get("k", 0) >= 3 \
            and cons.data.get("fraction") == 1.0 and steps is not None and steps.score == 10.0

    def _confident_without_samples(self, parts: dict[str, PartScore], calibration: Calibration) -> bool:
        """Whether drawing samples is not worth its cost: a wrong step feeds the final answer, the answer
        states no value, or the parts so far are already far from undecided AND back a verdict (a
        confident "right" that nothing corroborates still needs the samples)."""
        steps = parts["steps"].data
        if steps.get("final_tainted") or steps.get("final_placeholder") is not None:
            return True
        if all(p.score is None for p in parts.values()):
            return False
        p = calibration.predict(parts)
        bound = self.settings.self_consistency_skip_confidence
        if bound >= 1.0 or 1.0 - bound < p < bound:
            return False
        verdict = decide_verdict(parts, p, p >= 0.5, self.settings.verdict)
        return verdict is not None and verdict.name != UNVERIFIED

    def _should_judge(self, parts: dict[str, PartScore], calibration: Calibration) -> bool:
        """Call the judge only where its answer can matter: not decided yet, and a calibrated weight."""
        if self.judge is None:
            return False
        if self.settings.judge_skip_when_decisive and self._decisive(parts):
            return False
        return calibration.trusts_judge or self.settings.judge_when_uncalibrated

    def without_computed_reference(self) -> "MathCritic":
        """The same critic, but judging questions without any reference at all (for measuring that path)."""
        clone = copy.copy(self)
        clone.settings = self.settings.model_copy(update={"compute_reference": False})
        return clone

    def wants_samples(self, question: str) -> bool:
        """Whether self-consistency samples may be needed for this question: not when there is no policy or
        k is 0, nor when the question computes itself (arithmetic, one linear equation: its own reference)."""
        if self.policy is None or self.settings.self_consistency_k <= 0:
            return False
        return not (self.settings.compute_reference and solve_question(question) is not None)

    def draw_samples(self, question: str, answer: str | None = None, *,
                     cancel: threading.Event | None = None) -> list[str]:
        """The self-consistency samples for a question (one n=k request). They depend on the question only,
        so the app may draw them while the answer streams and pass them to ``critique(samples=...)``.
        Given the answer, their budget is capped near its length (a sample need not be much longer).
        Setting ``cancel`` stops the request on the server too (``SampleCancelled``)."""
        if self.policy is None or self.settings.self_consistency_k <= 0:
            return []
        sampling = self.sample_settings
        if answer is not None:
            budget = max(_MIN_SAMPLE_TOKENS, int(_SAMPLE_LENGTH_FACTOR * estimate_tokens(answer)))
            sampling = sampling.with_(max_tokens=min(sampling.max_tokens, budget))
        return draw_samples(self.policy, question, k=self.settings.self_consistency_k, sampling=sampling,
                            cancel=cancel)

    def critique(self, question: str, answer: str, reference: str | None = None, *,
                 samples: list[str] | Callable[[], list[str] | None] | None = None) -> CritiqueResult:
        """Judge one answer (see ``Critic``); never raises on an engine failure, the part is just missing.

        ``samples`` may also be a callable (samples drawn beside the stream, ``serving/sample_prefetch.py``):
        it is called, and waited for, only when the other parts leave the samples worth having; when it gives
        None the samples are drawn here; when it raises ``SamplesLate`` the critique goes on without them."""
        source = samples if callable(samples) else None
        samples = None if callable(samples) else samples
        self.refresh_verifier()
        verifier, calibration = self._models  # fixed for this critique, whatever a refresh does meanwhile
        parts: dict[str, PartScore] = {}
        has_reference = bool(reference and reference.strip())
        computed = None if has_reference or not self.settings.compute_reference \
            else solve_question(question)
        if computed is not None:  # a question that computes itself is its own reference
            reference, has_reference = computed, True
        if has_reference:
            parts["answer_match"] = answer_match_part(answer, reference)
        parts["steps"] = steps_part(answer, question)
        reference_checked = parts.get("answer_match") is not None and parts["answer_match"].score is not None
        if verifier is not None and not reference_checked:
            parts["verifier"] = verifier_part(verifier, question, answer)
        if samples is None and not reference_checked and self.policy is not None \
                and self.settings.self_consistency_k > 0 and not self._confident_without_samples(parts, calibration):
            try:
                samples = source() if source is not None else None
            except SamplesLate as late:
                parts["consistency"] = late_part(str(late))
            if samples is None and "consistency" not in parts:
                try:
                    samples = self.draw_samples(question, answer)
                except EngineError as error:
                    log.warning("self-consistency samples failed: %s", error)
        if samples is not None and not reference_checked:
            parts["consistency"] = consistency_part(answer, samples)
        if self._should_judge(parts, calibration):
            parts["judge"] = judge_part(self.judge, question, reference if has_reference else None, answer,
                                        max_tokens=self.settings.judge_max_tokens,
                                        retries=self.settings.judge_retries)
        confidence = None if all(p.score is None for p in parts.values()) else calibration.predict(parts)
        if parts["steps"].data.get("final_placeholder") is not None:
            confidence = 0.0  # "The answer is N" states no value: it cannot equal any right answer
        score = combine_score(parts, confidence)
        band = band_of(score)
        passed = is_pass(score, self.settings.pass_threshold)
        verdict = decide_verdict(parts, confidence, passed, self.settings.verdict)
        return CritiqueResult(
            score=score,
            band=band.name if band else None,
            passed=passed,
            confidence=None if confidence is None else round(confidence, 4),
            explanation=(f"Reference computed from the question: {computed}.\n" if computed else "")
            + explain(parts, score, band_label(score), verdict),
            parts=parts,
            critic_version=self.version,
            calibration_version=calibration.version,
            has_reference=has_reference,
            verdict=verdict.name if verdict else None,
            verdict_reasons=list(verdict.reasons) if verdict else [],
        )


AUTO: Literal["auto"] = "auto"
"""``build_critic``'s default for a judge or verifier: choose it from the settings."""


def build_critic(settings: Settings, *, policy: PolicyEngine | None,
                 judge: PolicyEngine | None | Literal["auto"] = AUTO,
                 verifier: Verifier | None | Literal["auto"] = AUTO, db=None,  # noqa: ANN001
                 **critique_changes: Any) -> MathCritic:
    """The one way to build a critic from settings: the app, the cycle, evaluation and the CLI all call it.

    ``judge`` ``"auto"``: the external judge (``critique.judge_url``) when configured, else the policy itself.
    ``verifier`` ``"auto"``: the configured one, else the live one in ``db`` (``resolve_verifier``); with ``db``
    the critic also follows later live verifiers (``MathCritic.refresh_verifier``).
    ``critique_changes`` override fields of ``settings.critique`` for this critic only (``use_judge=False``);
    the self-consistency samples start from ``settings.sampling``.
    """
    critique = settings.critique.model_copy(update=critique_changes) if critique_changes else settings.critique
    if judge == AUTO:
        judge = policy
        if critique.judge_url:
            from serving.vllm_engine import OpenAIEngine

            judge = OpenAIEngine.for_url(critique.judge_url, critique.judge_model)
    if verifier == AUTO:
        verifier = verifier_in_use(settings, critique, db)
    return MathCritic(critique, policy=policy, judge=judge, sampling=settings.sampling, verifier=verifier, db=db)
