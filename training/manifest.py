"""Data manifests: every built dataset says how it was made (counts per filter, thresholds, hashes, version).

Hashes are sha256 over canonical JSONL (``mathchat.jsonl``: sorted keys, compact separators, UTF-8, one row
per line), so the same rows always hash the same regardless of dict order or machine. ``config_hash`` is the
project's one hash of a config (datasets, exports).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mathchat.jsonl import canonical_json, canonical_jsonl, write_jsonl
from training.formats import FORMAT_VERSION


@dataclass
class BuildResult:
    """What a pure builder returns: rows plus the counts at each filter and the filters applied."""

    rows: list[Any]
    counts: dict[str, int] = field(default_factory=dict)
    filters: dict[str, Any] = field(default_factory=dict)


def sha256_rows(rows: Iterable[Any]) -> str:
    """sha256 hex of the rows' canonical JSONL.

    >>> sha256_rows([{"a": 1}]) == sha256_rows([{"a": 1}])
    True
    """
    return hashlib.sha256(canonical_jsonl(rows).encode("utf-8")).hexdigest()


def config_hash(config: Any) -> str:
    """Short sha256 of a config (dataclass/pydantic dumped to plain data first)."""
    return hashlib.sha256(canonical_json(to_plain(config)).encode("utf-8")).hexdigest()[:16]


def to_plain(obj: Any) -> Any:
    """Plain JSON-able data from pydantic models, dataclasses and Paths."""
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if hasattr(obj, "__dataclass_fields__"):
        from dataclasses import asdict

        return to_plain(asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def build_manifest(kind: str, result: BuildResult, *, config: Any = None,
                   inputs: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of one built dataset (pure: no clock; the caller adds times if it wants them).

    ``inputs`` names the hashes of what the build read (e.g. the samples file), so a manifest chains.
    """
    return {
        "kind": kind,
        "format_version": FORMAT_VERSION,
        "rows": len(result.rows),
        "sha256": sha256_rows(result.rows),
        "counts": dict(result.counts),
        "filters": to_plain(dict(result.filters)),
        "config_hash": config_hash(config) if config is not None else None,
        "config": to_plain(config) if config is not None else None,
        "inputs": dict(inputs or {}),
        **dict(extra or {}),
    }






def write_dataset(kind: str, result: BuildResult, out_dir: Path, *, config: Any = None,
                  inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Write ``<kind>.jsonl`` and ``<kind>.manifest.json`` into out_dir; returns the manifest."""
    manifest = build_manifest(kind, result, config=config, inputs=inputs)
    manifest["path"] = str(out_dir / f"{kind}.jsonl")
    write_jsonl(result.rows, out_dir / f"{kind}.jsonl")
    (out_dir / f"{kind}.manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), "utf-8")
    return manifest
