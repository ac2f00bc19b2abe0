"""sample_questions: order, n per question, batching for in-process engines, error handling."""

import pytest

from serving.engine import EngineError, Sample
from mathchat.sampling import SamplingSettings
from tests.fakes import FakeEngine
from training.sampler import sample_questions

T = SamplingSettings(temperature=0.8)


class BatchEngine(FakeEngine):
    backend = "transformers"

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def sample_many(self, conversations, sampling, n=1, logprobs=False):
        self.batches.append(len(conversations))
        return [[Sample(text=f"{c[-1]['content']}#{j}") for j in range(n)] for c in conversations]


def test_server_engines_get_n_samples_per_question_in_order():
    engine = FakeEngine([lambda m, s: "re: " + m[-1]["content"]])
    got = sample_questions(engine, [f"q{i}" for i in range(7)], T, system="S", n=3, concurrency=4)
    assert [[x.text for x in g] for g in got] == [[f"re: q{i}"] * 3 for i in range(7)]
    assert all(call[1][0] == {"role": "system", "content": "S"} for call in engine.calls)


def test_transformers_engines_get_batches_of_about_concurrency_sequences():
    engine = BatchEngine()
    got = sample_questions(engine, [f"q{i}" for i in range(10)], T, system=None, n=4, concurrency=16)
    assert engine.batches == [4, 4, 2]
    assert got[9][3].text == "q9#3"


def test_failed_questions_are_skipped_only_when_asked():
    class Flaky(FakeEngine):
        def sample(self, messages, sampling, n=1, logprobs=False):
            if messages[-1]["content"] == "bad":
                raise EngineError("down")
            return super().sample(messages, sampling, n, logprobs)

    got = sample_questions(Flaky(["ok"]), ["a", "bad", "c"], T, system=None, skip_errors=True)
    assert [len(g) for g in got] == [1, 0, 1]
    with pytest.raises(EngineError):
        sample_questions(Flaky(["ok"]), ["a", "bad"], T, system=None)



def test_on_question_sees_each_question_as_it_arrives():
    seen = []
    got = sample_questions(FakeEngine(["x"]), ["a", "b", "c"], T, system=None, n=2, concurrency=4,
                           on_question=lambda i, samples: seen.append((i, len(samples))) and False)
    assert sorted(seen) == [(0, 2), (1, 2), (2, 2)] and [len(g) for g in got] == [2, 2, 2]


def test_on_question_returning_true_sends_no_further_question():
    engine = FakeEngine(["x"])
    got = sample_questions(engine, [f"q{i}" for i in range(10)], T, system=None, n=2, concurrency=2,
                           on_question=lambda i, samples: i >= 2)  # one request in flight at a time
    assert [len(g) for g in got] == [2, 2, 2] + [0] * 7 and len(engine.calls) == 3


def test_stopping_lets_the_requests_in_flight_finish():
    got = sample_questions(FakeEngine(["x"]), [f"q{i}" for i in range(20)], T, system=None, n=1, concurrency=4,
                           on_question=lambda i, samples: True)
    sampled = [len(g) for g in got]
    assert 1 <= sum(sampled) <= 4 and sum(sampled[4:]) == 0


def test_transformers_engines_stop_after_the_batch_that_reached_the_target():
    engine = BatchEngine()
    got = sample_questions(engine, [f"q{i}" for i in range(10)], T, system=None, n=4, concurrency=16,
                           on_question=lambda i, samples: i == 5)
    assert engine.batches == [4, 4] and [len(g) for g in got] == [4] * 8 + [0, 0]
