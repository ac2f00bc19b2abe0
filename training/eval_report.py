"""Evaluation reports as files: JSON (everything), markdown (a table to read) and a PNG plot."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _num(x: float | None, fmt: str = "{:.2f}") -> str:
    return "-" if x is None else fmt.format(x)


def format_markdown(reports: Sequence[dict[str, Any]]) -> str:
    """One table per report plus the comparison lines (pure)."""
    lines = ["# Evaluation", ""]
    for rep in reports:
        s = rep["summary"]
        o = s["overall"]
        lines += [f"## {rep['checkpoint_id']}", "",
                  f"{rep['questions']} questions; perplexity (general text) {_num(rep.get('perplexity'))}", "",
                  "| category | n | strict acc | 95% CI | flexible acc | format | critique mean | pass rate |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, b in [("**overall**", o), *s["per_category"].items()]:
            lo, hi = b["strict_accuracy"]["ci95"]
            lines.append(f"| {name} | {b['n']} | {_pct(b['strict_accuracy']['rate'])} | {_pct(lo)}–{_pct(hi)} | "
                         f"{_pct(b['accuracy']['rate'])} | {_pct(b['format_rate'])} | {_num(b['mean_score'])} | "
                         f"{_pct(b['pass_rate'])} |")
        vs = rep.get("vs_baseline")
        if vs:
            lines += ["", f"vs {vs['baseline_checkpoint_id']}: strict accuracy {_pct(vs['baseline_rate'])} → "
                          f"{_pct(vs['candidate_rate'])} on {vs['paired_questions']} paired questions; "
                          f"only baseline right {vs['only_baseline']}, only candidate right {vs['only_candidate']}, "
                          f"exact McNemar p = {vs['mcnemar_p']:.3g}"]
        if rep.get("gate"):
            g = rep["gate"]
            lines += ["", f"gate: {'PROMOTABLE' if g['promotable'] else 'not promotable'} — {'; '.join(g['reasons'])}"]
        lines.append("")
    return "\n".join(lines)


def plot_reports(reports: Sequence[dict[str, Any]], path: Path) -> Path:
    """Per-category critique pass rate bars and overall strict accuracy with Wilson CIs, one colour per report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cats = sorted({c for r in reports for c in r["summary"]["per_category"]})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / max(len(reports), 1)
    for i, rep in enumerate(reports):
        per = rep["summary"]["per_category"]
        vals = [(per[c]["strict_accuracy"]["rate"] or 0.0) if c in per else 0.0 for c in cats]
        ax1.bar([x + i * width for x in range(len(cats))], vals, width, label=rep["checkpoint_id"])
        o = rep["summary"]["overall"]["strict_accuracy"]
        rate, (lo, hi) = o["rate"] or 0.0, o["ci95"]
        ax2.errorbar([i], [rate], yerr=[[max(0.0, rate - lo)], [max(0.0, hi - rate)]], fmt="o", capsize=6)
    ax1.set_xticks([x + width * (len(reports) - 1) / 2 for x in range(len(cats))], cats, rotation=20)
    ax1.set_ylabel("strict accuracy")
    ax1.set_title("per category")
    ax1.legend(fontsize=8)
    ax2.set_xticks(range(len(reports)), [r["checkpoint_id"] for r in reports], rotation=20, fontsize=8)
    ax2.set_xlim(-0.5, len(reports) - 0.5)
    ax2.set_title("overall, Wilson 95% CI")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(reports: Sequence[dict[str, Any]], out_prefix: Path) -> dict[str, Path]:
    """Write ``<prefix>.json``, ``.md`` and ``.png``; returns their paths."""
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_prefix.with_suffix(".json"), "md": out_prefix.with_suffix(".md"),
             "png": out_prefix.with_suffix(".png")}
    data = reports[0] if len(reports) == 1 else {"reports": list(reports)}
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    paths["md"].write_text(format_markdown(reports), encoding="utf-8")
    plot_reports(reports, paths["png"])
    return paths
