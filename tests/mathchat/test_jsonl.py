"""mathchat/jsonl.py: the one JSONL reader and writer."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from mathchat.jsonl import canonical_jsonl, read_jsonl, write_jsonl


def test_write_then_read_round_trips_and_returns_the_file_hash(tmp_path: Path) -> None:
    rows = [{"b": 1, "a": "é"}, {"prompt": [{"role": "user", "content": "2+3?"}]}]
    path = tmp_path / "deep" / "rows.jsonl"
    digest = write_jsonl(rows, path)
    assert read_jsonl(path) == rows
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_text(encoding="utf-8").splitlines()[0] == '{"a":"é","b":1}'


def test_read_skips_blank_lines_and_opens_gzip_by_name(tmp_path: Path) -> None:
    text = canonical_jsonl([{"x": 1}, {"x": 2}]) + "\n\n"
    with gzip.open(tmp_path / "rows.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    (tmp_path / "rows.jsonl").write_text(text, encoding="utf-8")
    assert read_jsonl(tmp_path / "rows.jsonl.gz") == read_jsonl(tmp_path / "rows.jsonl") == [{"x": 1}, {"x": 2}]
