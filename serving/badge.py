"""The confidence badge shown under each answer: pure HTML from a critique view (everything escaped)."""

from __future__ import annotations

import html

from serving.chat_service import CritiqueView
from serving.critique.bands import band_label


def render_badge(view: CritiqueView | None, pending: bool = False) -> str:
    """Badge HTML: confidence, score and band, with the explanation in a collapsible panel.

    >>> "unscored" in render_badge(CritiqueView(None, None, None, None, "judge gave no score"))
    True
    """
    if pending:
        return '<div class="mc-badge mc-pending" data-state="pending">Checking this answer…</div>'
    if view is None:
        return ""
    if view.score is None:
        head = "Confidence: unscored (the checker could not judge this answer)"
        cls, score = "mc-unscored", ""
    else:
        conf = f"{round(100 * view.confidence)}%" if view.confidence is not None else "n/a"
        verdict = "likely right" if view.passed else "likely wrong"
        head = f"Confidence {conf} · {verdict} · score {view.score}/10 ({band_label(view.score)})"
        cls, score = ("mc-pass" if view.passed else "mc-fail"), str(view.score)
    explanation = html.escape(view.explanation or "No explanation.").replace("\n", "<br>")
    return (f'<div class="mc-badge {cls}" data-state="scored" data-score="{score}">'
            f'<details><summary>{html.escape(head)}</summary><div class="mc-why">{explanation}</div></details></div>')


BADGE_CSS = """
.mc-badge{border-radius:8px;padding:.45em .8em;margin:.2em 0;font-size:.95em;border:1px solid #ccc}
.mc-pass{background:#e8f5e9;border-color:#66bb6a}.mc-fail{background:#fff3e0;border-color:#ffa726}
.mc-unscored,.mc-pending{background:#f5f5f5;color:#555}
.mc-badge summary{cursor:pointer;font-weight:600}.mc-why{margin-top:.4em;font-weight:normal}
"""
