"""What the cycle left on disk for a run, read for the console: log tails, JSONL heads, sample scores.

Every helper is read-only and never raises on a missing or unreadable file: the console shows what is there.
The files are found through the run's ``Dataset`` rows (the cycle keeps its logs and samples beside them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime  # noqa: F401  (doctests)
from pathlib import Path
from typing import Any

from feedback.reads import DatasetInfo, RunInfo


def tail_lines(text: str, lines: int = 200) -> str:
    """The last ``lines`` lines of a text.

    >>> tail_lines("a\\nb\\nc\\n", 2)
    'b\\nc'
    """
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def read_text_tail(path: str | Path | None, chars: int = 50_000) -> str:
    """The end of a text file ('' when it is missing or unreadable); reads only the last ``chars`` bytes."""
    if not path:
        return ""
    try:
        with Path(path).open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - chars))
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def run_log_files(run: RunInfo) -> list[Path]:
    """The run's log file and the ``*.log`` files (training subprocesses) in its datasets' folders, oldest first."""
    files = [Path(run.log_path)] if run.log_path else []
    for folder in run_folders(run.datasets):
        try:
            files += sorted(Path(folder).glob("*.log"), key=lambda p: p.stat().st_mtime)
        except OSError:
            continue
    return list(dict.fromkeys(files))


def run_log_tail(run: RunInfo, lines: int = 200) -> str:
    """The end of a run's log (the database column), then the end of each of its log files."""
    parts = [tail_lines(run.log, lines)] if run.log else []
    for path in run_log_files(run):
        text = read_text_tail(path)
        if text:
            parts.append(f"--- {path} ---\n" + tail_lines(text, lines))
    return "\n".join(parts) if parts else "(no log yet)"


def run_folders(datasets: Iterable[DatasetInfo]) -> list[str]:
    """The folders a run's datasets live in (where the cycle also keeps its reports, samples and logs).

    >>> from datetime import UTC
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> run_folders([DatasetInfo(1, 1, "rft", "/w/run-1/rft.jsonl", 3, "", None, t),
    ...              DatasetInfo(2, 1, "dpo", "/w/run-1/dpo.jsonl", 3, "", None, t)])
    ['/w/run-1']
    """
    out: list[str] = []
    for d in datasets:
        folder = str(Path(d.path).parent)
        if folder not in out:
            out.append(folder)
    return out


def read_jsonl_head(path: str | Path, n: int = 5) -> list[dict[str, Any]]:
    """The first ``n`` rows of a JSONL file (reads no further; [] if missing; bad lines skipped)."""
    rows: list[dict[str, Any]] = []
    try:
        with Path(path).open(encoding="utf-8") as f:
            for line in f:
                if len(rows) >= n:
                    break
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
    except OSError:
        return []
    return rows


SCORE_KEYS = ("score", "chosen_score", "rejected_score")


def scores_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Critique scores found in rows, by field (``score``, ``chosen_score``, ``rejected_score``).

    >>> scores_from_rows([{"score": 9}, {"score": None}, {"chosen_score": 8, "rejected_score": 2}])
    {'score': [9.0], 'chosen_score': [8.0], 'rejected_score': [2.0]}
    """
    out: dict[str, list[float]] = {}
    for row in rows:
        for key in SCORE_KEYS:
            value = row.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out.setdefault(key, []).append(float(value))
    return out


def scores_from_histogram(histogram: Mapping[str, Any]) -> list[float]:
    """Expand a ``{score: count}`` histogram (as manifests store it) into a list of scores.

    >>> scores_from_histogram({"9": 2, "3": 1, "none": 4})
    [9.0, 9.0, 3.0]
    """
    out: list[float] = []
    for key, count in histogram.items():
        try:
            out += [float(key)] * int(count)
        except (TypeError, ValueError):
            continue
    return out


def dataset_scores(dataset: DatasetInfo, max_rows: int = 100_000) -> dict[str, list[float]]:
    """Critique scores of the samples a dataset was built from.

    TRL-format RFT/DPO rows carry no scores, so, in order: score fields in the rows themselves; a
    ``score_histogram`` in the manifest; the sample files named in the manifest's ``inputs`` (the cycle
    writes ``<input name>.jsonl``, e.g. ``samples_live.jsonl``, beside the dataset), one group per file.
    """
    rows_scores = scores_from_rows(read_jsonl_head(dataset.path, max_rows))
    if rows_scores:
        return rows_scores
    manifest = dataset.manifest or {}
    out: dict[str, list[float]] = {}
    histogram = manifest.get("score_histogram")
    if isinstance(histogram, Mapping):
        out["score"] = scores_from_histogram(histogram)
    if not out:
        for name in (manifest.get("inputs") or {}):
            path = Path(dataset.path).parent / f"{name}.jsonl"
            found = scores_from_rows(read_jsonl_head(path, max_rows)).get("score")
            if found:
                out[str(name)] = found
    return {k: v for k, v in out.items() if v}
