"""The confidence badge shown under each answer: pure HTML from a critique view (everything escaped)."""

from __future__ import annotations

import html

from serving.chat_service import CritiqueView
from serving.critique.bands import band_label
from serving.critique.verdict import NOT_VERIFIED, RIGHT, UNVERIFIED


def badge_head(view: CritiqueView) -> tuple[str, str]:
    """(summary line, CSS class) of a scored or unscored critique. An unverified answer gets plain words and
    no number: a confident-looking figure is exactly what the evidence cannot back.

    >>> badge_head(CritiqueView(9, "all_right", True, 0.86, "", verdict="unverified"))
    ('Not verified — check this answer yourself', 'mc-unverified')
    >>> badge_head(CritiqueView(2, "wrong_early", False, 0.0, "", verdict="wrong"))[0]
    'Confidence 0% · likely wrong · score 2/10 (Wrong answer; the error comes early)'
    """
    if view.score is None:
        return "Confidence: unscored (the checker could not judge this answer)", "mc-unscored"
    if view.verdict == UNVERIFIED:
        return NOT_VERIFIED, "mc-unverified"
    right = view.verdict == RIGHT if view.verdict is not None else bool(view.passed)  # rows stored before verdicts
    conf = f"{round(100 * view.confidence)}%" if view.confidence is not None else "n/a"
    head = f"Confidence {conf} · {'likely right' if right else 'likely wrong'} · score {view.score}/10 " \
           f"({band_label(view.score)})"
    return head, "mc-pass" if right else "mc-fail"


def render_badge(view: CritiqueView | None, pending: bool = False) -> str:
    """Badge HTML: the verdict (confidence, score and band, or "not verified"), with the explanation in a
    collapsible panel.

    >>> "unscored" in render_badge(CritiqueView(None, None, None, None, "judge gave no score"))
    True
    """
    if pending:
        return '<div class="mc-badge mc-pending" data-state="pending">Checking this answer…</div>'
    if view is None:
        return ""
    head, cls = badge_head(view)
    score = "" if view.score is None else str(view.score)
    verdict = html.escape(view.verdict or "")
    explanation = html.escape(view.explanation or "No explanation.").replace("\n", "<br>")
    return (f'<div class="mc-badge {cls}" data-state="scored" data-score="{score}" data-verdict="{verdict}">'
            f'<details><summary>{html.escape(head)}</summary><div class="mc-why">{explanation}</div></details></div>')


BADGE_CSS = """
.mc-badge{border-radius:8px;padding:.45em .8em;margin:.2em 0;font-size:.95em;border:1px solid #ccc}
.mc-pass{background:#e8f5e9;border-color:#66bb6a}.mc-fail{background:#fff3e0;border-color:#ffa726}
.mc-unscored,.mc-pending{background:#f5f5f5;color:#555}
.mc-unverified{background:#fffde7;border-color:#fbc02d}
.mc-badge summary{cursor:pointer;font-weight:600}.mc-why{margin-top:.4em;font-weight:normal}
"""
