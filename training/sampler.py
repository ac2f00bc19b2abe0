"""Draw answers for many questions through any PolicyEngine (vLLM over HTTP, or transformers in process).

A server (vLLM) batches concurrent requests, so about ``concurrency`` sequences are kept in flight with
no barriers between them; the in-process transformers backend gets whole batches through ``sample_many``. Knows nothing about critique or training.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from tqdm.auto import tqdm

from serving.engine import ChatMessage, EngineError, PolicyEngine, Sample
from mathchat.sampling import SamplingSettings

log = logging.getLogger(__name__)


def build_messages(question: str, system: str | None) -> list[ChatMessage]:
    """System prompt (if any) then the question.

    >>> [m["role"] for m in build_messages("2+3?", "Be brief.")]
    ['system', 'user']
    """
    msgs: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": question}]


def sample_questions(
    engine: PolicyEngine,
    questions: Sequence[str],
    sampling: SamplingSettings,
    *,
    system: str | None,
    n: int = 1,
    concurrency: int = 16,
    skip_errors: bool = False,
    desc: str = "sampling",
    on_progress: Callable[[int, int], None] | None = None,
    on_question: Callable[[int, list[Sample]], bool] | None = None,
) -> list[list[Sample]]:
    """``n`` samples for each question, in question order.

    With ``skip_errors`` a question whose request fails twice gets an empty list; otherwise the
    EngineError propagates (evaluation must not silently shrink its denominator).

    ``on_question(i, samples)`` is called in this thread as each question's samples arrive (in completion
    order); once it returns True no further question is sent: the ones in flight finish (and are reported
    too), the ones never sent keep an empty list.
    """
    conversations = [build_messages(q, system) for q in questions]
    results: list[list[Sample]] = [[] for _ in questions]
    bar = tqdm(total=len(questions), desc=desc, unit="q")
    done = 0

    def tick(k: int) -> None:
        nonlocal done
        done += k
        bar.update(k)
        if on_progress:
            on_progress(done, len(questions))

    sample_many = getattr(engine, "sample_many", None)
    try:
        if callable(sample_many) and getattr(engine, "backend", "") == "transformers":
            step = max(1, concurrency // max(n, 1))  # one engine batch of about `concurrency` sequences
            for start in range(0, len(conversations), step):
                chunk = conversations[start:start + step]
                try:
                    got = sample_many(chunk, sampling, n=n)
                except EngineError:
                    if not skip_errors:
                        raise
                    got = [[] for _ in chunk]
                results[start:start + len(chunk)] = got
                tick(len(chunk))
                stop = False
                for j, samples in enumerate(got):
                    stop = bool(on_question and on_question(start + j, samples)) or stop
                if stop:
                    break
            return results

        def one(i: int) -> tuple[int, list[Sample]]:
            for attempt in range(2):
                try:
                    return i, engine.sample(conversations[i], sampling, n=n)
                except EngineError as exc:
                    if attempt == 1:
                        if not skip_errors:
                            raise
                        log.warning("question %d failed twice: %s", i, exc)
            return i, []

        # A server batches whatever is in flight: keep about `concurrency` sequences going, no barriers.
        workers = max(1, concurrency // max(n, 1))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            if on_question is None:
                for i, samples in pool.map(one, range(len(conversations))):
                    results[i] = samples
                    tick(1)
                return results
            # submit as slots free up, so stopping leaves nothing queued behind the requests in flight
            todo, pending, stopped = iter(range(len(conversations))), set(), False
            for i in todo:
                pending.add(pool.submit(one, i))
                if len(pending) >= workers:
                    break
            while pending:
                done_now, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done_now:
                    i, samples = fut.result()
                    results[i] = samples
                    tick(1)
                    stopped = bool(on_question(i, samples)) or stopped
                    if not stopped:
                        nxt = next(todo, None)
                        if nxt is not None:
                            pending.add(pool.submit(one, nxt))
        return results
    finally:
        bar.close()
