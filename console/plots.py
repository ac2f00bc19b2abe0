"""The console's plots: matplotlib figures from the console views' plain values.

Figures are built with ``matplotlib.figure.Figure`` directly (Agg canvas, no pyplot state), so handlers in
several threads can draw at once and nothing needs closing. Every function returns a figure, with a
"no data yet" note when there is nothing to draw.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from console.confidence import ReliabilityBin
from console.evaluation import LineagePoint
from feedback.reads import AgreementDay, CheckpointThumbs, VolumeDay
from mathchat.settings import PASS_THRESHOLD
from training.stats import wilson_interval

SCORES = list(range(1, 11))


def new_figure(width: float = 8.0, height: float = 3.6) -> tuple[Figure, object]:
    """A figure with one axes on an Agg canvas."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _empty(ax: object, title: str) -> None:
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def plot_score_histogram(groups: Mapping[str, Sequence[float]], title: str = "critique scores",
                         pass_mark: int = PASS_THRESHOLD) -> Figure:
    """Counts of each critique score 1-10, one bar colour per group; the pass mark (the settings'
    ``critique.pass_threshold``) is marked.

    Scores are rounded to the nearest integer and clipped to 1-10. Empty groups are left out.
    """
    fig, ax = new_figure()
    groups = {k: v for k, v in groups.items() if len(v)}
    if not groups:
        _empty(ax, title)
        return fig
    width = 0.8 / len(groups)
    for i, (label, scores) in enumerate(groups.items()):
        counts = [0] * len(SCORES)
        for s in scores:
            counts[min(10, max(1, round(s))) - 1] += 1
        ax.bar([x + (i - (len(groups) - 1) / 2) * width for x in SCORES], counts, width,
               label=f"{label} (n={len(scores)})")
    ax.axvline(pass_mark - 0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(SCORES)
    ax.set_xlabel(f"critique score (pass >= {pass_mark})")
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_category_bars(values: Mapping[str, Mapping[str, float]], ylabel: str = "strict accuracy",
                       title: str = "per category") -> Figure:
    """Grouped bars: one group per category, one bar per checkpoint (missing categories draw no bar)."""
    fig, ax = new_figure()
    cats = sorted({c for per in values.values() for c in per})
    if not cats:
        _empty(ax, title)
        return fig
    width = 0.8 / max(len(values), 1)
    for i, (label, per) in enumerate(values.items()):
        xs = [x for x, c in enumerate(cats) if c in per]
        ax.bar([x + (i - (len(values) - 1) / 2) * width for x in xs], [per[cats[x]] for x in xs], width, label=label)
    ax.set_xticks(range(len(cats)), cats, rotation=20, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_lineage(points: Sequence[LineagePoint], title: str = "strict accuracy along the lineage (Wilson 95% CI)"
                 ) -> Figure:
    """Accuracy with 95% CIs for each evaluated checkpoint, oldest to newest, the live one highlighted."""
    fig, ax = new_figure()
    if not points:
        _empty(ax, title)
        return fig
    xs = list(range(len(points)))
    rates = [p.rate for p in points]
    ax.errorbar(xs, rates, yerr=[[p.rate - p.low for p in points], [p.high - p.rate for p in points]],
                fmt="o-", capsize=5)
    for x, p in zip(xs, points):
        if p.status == "live":
            ax.annotate("live", (x, p.rate), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_xticks(xs, [f"{p.checkpoint_id}\n({p.kind}, n={p.n})" for p in points], fontsize=7)
    ax.set_ylim(0, max(1e-3, max(p.high for p in points)) * 1.15)
    ax.set_ylabel("strict accuracy")
    ax.set_title(title)
    return fig


def plot_volume(days: Sequence[VolumeDay], title: str = "chat volume per day (UTC)") -> Figure:
    """Answers and ratings per day as grouped bars."""
    fig, ax = new_figure()
    if not days:
        _empty(ax, title)
        return fig
    xs = list(range(len(days)))
    ax.bar([x - 0.2 for x in xs], [d.answers for d in days], 0.4, label="answers")
    ax.bar([x + 0.2 for x in xs], [d.ratings for d in days], 0.4, label="ratings")
    ax.set_xticks(xs, [d.day.isoformat() for d in days], rotation=30, fontsize=7)
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_thumbs_by_checkpoint(rows: Sequence[CheckpointThumbs],
                              title: str = "thumbs-up rate per checkpoint (Wilson 95% CI)") -> Figure:
    """One bar per checkpoint with its thumbs-up rate and CI; n under each bar."""
    fig, ax = new_figure()
    if not rows:
        _empty(ax, title)
        return fig
    xs = list(range(len(rows)))
    rates = [r.rate for r in rows]
    cis = [wilson_interval(r.thumbs_up, r.ratings) for r in rows]
    errors = [[r - lo for r, (lo, _) in zip(rates, cis)], [hi - r for r, (_, hi) in zip(rates, cis)]]
    ax.bar(xs, rates, 0.6, yerr=errors, capsize=5)
    ax.set_xticks(xs, [f"{r.checkpoint_id or '?'}\n(n={r.ratings})" for r in rows], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("thumbs up / ratings")
    ax.set_title(title)
    return fig


def plot_agreement(days: Sequence[AgreementDay],
                   title: str = "judge–human agreement per day (critic pass == thumbs up)") -> Figure:
    """Daily agreement rate with a Wilson 95% band."""
    fig, ax = new_figure()
    if not days:
        _empty(ax, title)
        return fig
    xs = list(range(len(days)))
    cis = [wilson_interval(d.agree, d.n) for d in days]
    ax.fill_between(xs, [lo for lo, _ in cis], [hi for _, hi in cis], alpha=0.2, label="95% CI")
    ax.plot(xs, [d.rate for d in days], "o-", label="agreement")
    ax.set_xticks(xs, [f"{d.day.isoformat()}\n(n={d.n})" for d in days], rotation=30, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("agreement")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig


def plot_stage_timings(timings: Sequence[tuple[str, float, str]], title: str = "stage timings") -> Figure:
    """Horizontal bars of seconds per stage (running/failed stages coloured differently)."""
    fig, ax = new_figure(height=max(2.0, 0.45 * len(timings) + 1.2))
    if not timings:
        _empty(ax, title)
        return fig
    colours = {"done": "tab:green", "running": "tab:blue", "failed": "tab:red"}
    ys = list(range(len(timings)))[::-1]
    ax.barh(ys, [s for _, s, _ in timings], color=[colours.get(st, "tab:grey") for _, _, st in timings])
    ax.set_yticks(ys, [f"{name} ({st})" if st else name for name, _, st in timings], fontsize=8)
    ax.set_xlabel("seconds")
    ax.set_title(title)
    return fig


def plot_reliability(series: Mapping[str, Sequence[ReliabilityBin]],
                     title: str = "reliability (held-out, out of sample)") -> Figure:
    """A reliability diagram: observed right-rate against mean confidence per bin (Wilson 95% CI bars; the
    diagonal is perfect calibration), one line per series, and below it the answers per bin as grouped bars.

    Empty bins draw no point; every bin draws a bar (0 for an empty one).
    """
    series = {k: v for k, v in series.items() if any(b.n for b in v)}
    if not series:
        fig, ax = new_figure()
        _empty(ax, title)
        return fig
    fig = Figure(figsize=(8.0, 5.4), layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    width = 0.8 / len(series)
    for i, (label, bins) in enumerate(series.items()):
        filled = [b for b in bins if b.n and b.confidence is not None and b.rate is not None]
        errors = [[b.rate - (b.low if b.low is not None else b.rate) for b in filled],
                  [(b.high if b.high is not None else b.rate) - b.rate for b in filled]]
        top.errorbar([b.confidence for b in filled], [b.rate for b in filled], yerr=errors, fmt="o-", capsize=4,
                     label=label)
        step = [(b.hi - b.lo) for b in bins]
        bottom.bar([b.lo + s * (0.5 + (i - (len(series) - 1) / 2) * width) for b, s in zip(bins, step)],
                   [b.n for b in bins], [s * width for s in step], label=label)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("observed right-rate")
    top.set_title(title)
    top.legend(fontsize=8, loc="upper left")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("answers")
    return fig
