"""The in-process transformers backend on the embedded default model."""

from __future__ import annotations

import threading

import pytest

from serving.engine import collect_stream
from mathchat.sampling import SamplingSettings

QUESTION = [{"role": "user", "content": "What is 3 + 4?"}]


@pytest.fixture(scope="module")
def hf_engine(default_model_path: str):
    from serving.hf_engine import HFEngine

    return HFEngine(default_model_path, checkpoint_id="base")


def test_stream_matches_greedy_sample(hf_engine) -> None:
    greedy = SamplingSettings(temperature=0.0, max_tokens=16)
    text, final = collect_stream(hf_engine.stream_chat(QUESTION, greedy))
    [sample] = hf_engine.sample(QUESTION, greedy)
    assert text.strip() and text.strip() == sample.text.strip()
    assert final.done and final.completion_tokens > 0 and final.checkpoint_id == "base"


def test_sample_many_n_with_logprobs(hf_engine) -> None:
    out = hf_engine.sample_many([QUESTION, [{"role": "user", "content": "Name a prime."}]],
                                SamplingSettings(temperature=0.9, max_tokens=8, seed=0), n=3, logprobs=True)
    assert [len(g) for g in out] == [3, 3]
    for group in out:
        for s in group:
            assert s.token_logprobs is not None and len(s.token_logprobs) == s.num_tokens
            assert all(lp <= 0 for lp in s.token_logprobs)


def test_health_names_checkpoint(hf_engine) -> None:
    h = hf_engine.health()
    assert h.ok and h.backend == "transformers" and h.checkpoint_id == "base"


def test_a_cancelled_sample_stops_generating_at_the_next_token(hf_engine) -> None:
    from serving.engine import SampleCancelled
    from tests.fakes import CancelAfter

    cancel = CancelAfter(4)  # looked at once before generating, then once per generated token
    with pytest.raises(SampleCancelled):
        hf_engine.sample(QUESTION, SamplingSettings(temperature=0.9, max_tokens=200, seed=0), n=2, cancel=cancel)
    assert cancel.looks <= 6, f"generation went on after the cancel ({cancel.looks} looks for 200 tokens)"
    [sample] = hf_engine.sample(QUESTION, SamplingSettings(temperature=0.0, max_tokens=16), cancel=threading.Event())
    assert sample.text.strip(), "an event never set changes nothing"
