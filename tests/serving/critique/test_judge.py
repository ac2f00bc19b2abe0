from serving.critique.judge import judge_part
from serving.engine import EngineError
from tests.fakes import FakeEngine


def test_judge_part_parses_score_and_keeps_explanation():
    engine = FakeEngine(replies=["Step 1 (37 + 48 = 104) is wrong. [[2]]"])
    part = judge_part(engine, "What is 37 + 48?", "85", "37 + 48 = 104", max_tokens=50, retries=1)
    assert part.score == 2.0
    assert "Step 1" in part.detail and "[[2]]" not in part.detail


def test_judge_is_greedy_with_its_token_budget():
    engine = FakeEngine(replies=["fine [[9]]"])
    judge_part(engine, "q", None, "a", max_tokens=77)
    sampling = engine.calls[0][2]
    assert sampling.temperature == 0.0 and sampling.max_tokens == 77


def test_judge_retries_then_gives_up_without_inventing_a_score():
    engine = FakeEngine(replies=["I am not sure."])
    part = judge_part(engine, "q", None, "a", retries=2)
    assert part.score is None
    assert len(engine.calls) == 3


def test_judge_retry_can_succeed():
    engine = FakeEngine(replies=["hmm", "ok now [[8]]"])
    part = judge_part(engine, "q", None, "a", retries=1)
    assert part.score == 8.0 and part.data["attempts"] == 2


def test_judge_engine_failure_is_unscored():
    def boom(messages, sampling):
        raise EngineError("down")

    part = judge_part(FakeEngine(replies=[boom]), "q", None, "a")
    assert part.score is None and "unavailable" in part.detail
