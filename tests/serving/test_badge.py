from serving.badge import render_badge
from serving.chat_service import CritiqueView


def view(verdict, passed=True, confidence=0.86, score=9):
    return CritiqueView(score, "all_right", passed, confidence, "why", verdict=verdict)


def test_unverified_badge_says_so_in_plain_words_without_a_number():
    html = render_badge(view("unverified"))
    assert "Not verified — check this answer yourself" in html
    assert "86%" not in html and "likely right" not in html
    assert 'data-state="scored"' in html and 'data-verdict="unverified"' in html


def test_right_and_wrong_badges_follow_the_verdict_not_the_score():
    assert "likely right" in render_badge(view("right"))
    assert "likely wrong" in render_badge(view("wrong", passed=True, confidence=0.0))


def test_badge_of_a_critique_stored_before_verdicts_uses_passed():
    assert "likely right" in render_badge(view(None, passed=True))
    assert "likely wrong" in render_badge(view(None, passed=False))
