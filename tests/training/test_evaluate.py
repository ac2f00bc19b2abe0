"""Evaluation with a scripted engine: grading, per-category summary, baseline comparison, report files."""

from serving.critique.critic import MathCritic
from mathchat.settings import CritiqueSettings
from tests.fakes import FakeEngine
from training.eval_report import format_markdown, write_reports
from training.evaluate import evaluate, grade_answer, summarize
from training.pool import PoolQuestion

QUESTIONS = [PoolQuestion(f"q{i}", "t", f"What is {i} + {i}?", str(2 * i), "arith" if i % 2 else "words", "", 1)
             for i in range(10)]


def engine(right_every: int, cid: str) -> FakeEngine:
    def reply(messages, sampling):
        i = int(messages[-1]["content"].split()[2])
        assert sampling.temperature == 0.0  # evaluation is greedy
        return f"{i} + {i} = {2 * i}. The answer is {2 * i if i % right_every == 0 else 2 * i + 1}."

    return FakeEngine([reply], checkpoint_id=cid)


def test_grade_answer_distinguishes_strict_from_flexible():
    assert grade_answer("The answer is 4.", "4") == {"extracted": "4", "format_ok": True, "strict_correct": True,
                                                     "correct": True}
    g = grade_answer("2 + 2 = 4", "4")
    assert (g["format_ok"], g["strict_correct"], g["correct"]) == (False, False, True)
    assert grade_answer("The answer is 4.", None)["correct"] is False


def test_summary_is_question_weighted_per_category():
    items = [{"category": "a", "strict_correct": c, "correct": c, "format_ok": True, "score": s}
             for c, s in [(True, 10), (True, 9), (False, 1)]] + \
            [{"category": "b", "strict_correct": False, "correct": False, "format_ok": False, "score": None}]
    s = summarize(items)
    assert s["overall"]["strict_accuracy"]["k"] == 2 and s["overall"]["strict_accuracy"]["n"] == 4
    assert s["per_category"]["a"]["mean_score"] == 20 / 3 and s["per_category"]["b"]["mean_score"] is None
    assert s["overall"]["pass_rate"] == 2 / 3


def test_evaluate_reports_accuracy_critique_and_paired_comparison(tmp_path):
    critic = MathCritic(CritiqueSettings(use_judge=False))
    base = evaluate(engine(5, "live"), QUESTIONS, system="S", critic=critic, perplexity=10.0, concurrency=3)
    cand = evaluate(engine(1, "cand"), QUESTIONS, system="S", critic=critic, perplexity=10.1, baseline=base)
    assert base["summary"]["overall"]["strict_accuracy"]["k"] == 2  # i = 0 and 5
    assert cand["summary"]["overall"]["strict_accuracy"]["rate"] == 1.0
    assert cand["summary"]["overall"]["pass_rate"] == 1.0 and base["summary"]["overall"]["pass_rate"] == 0.2
    assert cand["vs_baseline"]["only_candidate"] == 8 and cand["vs_baseline"]["mcnemar_p"] < 0.01
    assert all(it["answer"] for it in cand["items"])
    paths = write_reports([base, cand], tmp_path / "eval")
    assert paths["png"].stat().st_size > 1000
    md = paths["md"].read_text()
    assert "| **overall** | 10 | 20.0% |" in md and "McNemar" in md


def test_markdown_lists_every_category():
    rep = evaluate(engine(2, "x"), QUESTIONS, system=None, perplexity=None)
    md = format_markdown([rep])
    assert "| arith |" in md and "| words |" in md
