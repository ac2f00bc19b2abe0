"""The one JSONL reader and writer: every data file the project writes or reads (datasets, samples, labelled sets).

Rows are written as canonical JSON (sorted keys, compact separators, UTF-8, one row per line), so the same rows
always make the same bytes, and so the same hash, whatever the dict order or machine.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def canonical_json(obj: Any) -> str:
    """One canonical JSON text for hashing.

    >>> canonical_json({"b": 1, "a": "é"})
    '{"a":"é","b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def canonical_jsonl(rows: Iterable[Any]) -> str:
    """Rows as canonical JSONL (each line newline-terminated).

    >>> canonical_jsonl([{"b": 2, "a": 1}, [3]])
    '{"a":1,"b":2}\\n[3]\\n'
    """
    return "".join(canonical_json(r) + "\n" for r in rows)


def write_jsonl(rows: Iterable[Any], path: Path) -> str:
    """Write rows as canonical JSONL (creating the folder); returns the file's sha256 hex."""
    text = canonical_jsonl(rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_jsonl(path: Path) -> list[Any]:
    """The rows of a JSONL file, gzipped when its name ends in ``.gz`` (blank lines skipped)."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
