"""General-chat data: shipped prompts, answering through an engine, filtering, mixing."""

from tests.fakes import FakeEngine
from training.general_data import answer_general_prompts, build_general_rows, load_general_prompts, mix_rows
from mathchat.sampling import SamplingSettings


def test_shipped_prompts_are_many_and_bilingual():
    prompts = load_general_prompts()
    assert len(prompts) >= 60 and len(set(prompts)) == len(prompts)
    assert any(any("\u4e00" <= ch <= "\u9fff" for ch in p) for p in prompts)
    assert sum(p.isascii() for p in prompts) >= 30


def test_answers_come_from_the_engine_in_prompt_order():
    engine = FakeEngine([lambda m, s: "Answer to: " + m[-1]["content"]])
    got = answer_general_prompts(engine, ["a?", "b?", "c?"], SamplingSettings(temperature=0.3), concurrency=2)
    assert [a for _, a, _ in got] == ["Answer to: a?", "Answer to: b?", "Answer to: c?"]


def test_several_answers_per_prompt_each_become_a_row():
    engine = FakeEngine([lambda m, s: "Answer to: " + m[-1]["content"]])
    got = answer_general_prompts(engine, ["a?", "b?"], SamplingSettings(temperature=1.0), concurrency=2, n=2)
    assert [p for p, _, _ in got] == ["a?", "a?", "b?", "b?"] and all(a.startswith("Answer to") for _, a, _ in got)


def test_truncated_and_short_answers_are_dropped():
    result = build_general_rows([("p1", "A full and helpful answer here.", "stop"),
                                 ("p2", "A full answer that was cut off in the mid", "length"), ("p3", "ok", "stop")])
    assert [r["prompt"][0]["content"] for r in result.rows] == ["p1"]


def test_mix_ratio_controls_the_number_of_general_rows():
    math = [{"prompt": [], "completion": [{"role": "assistant", "content": f"m{i}"}]} for i in range(8)]
    general = [{"prompt": [], "completion": [{"role": "assistant", "content": f"g{i}"}]} for i in range(3)]
    assert mix_rows(math, general, 0.25, seed=0).counts == {"math_rows": 8, "general_rows": 2}
    assert mix_rows(math, general, 1.0, seed=0).counts["general_rows"] == 8  # resampled when short
    assert mix_rows(math, [], 0.5, seed=0).counts["general_rows"] == 0
    assert mix_rows(math, general, 0.5, seed=1).rows == mix_rows(math, general, 0.5, seed=1).rows
