"""Manifests: stable content hashes, counts and versions."""

import json

from training.formats import FORMAT_VERSION
from mathchat.jsonl import read_jsonl
from training.manifest import BuildResult, build_manifest, config_hash, sha256_rows, write_dataset
from training.config import RFTDataSettings


def test_row_hash_ignores_key_order():
    assert sha256_rows([{"a": 1, "b": "é"}]) == sha256_rows([{"b": "é", "a": 1}])


def test_row_hash_depends_on_content_and_order():
    assert sha256_rows([{"a": 1}]) != sha256_rows([{"a": 2}])
    assert sha256_rows([{"a": 1}, {"a": 2}]) != sha256_rows([{"a": 2}, {"a": 1}])


def test_row_hash_is_a_known_constant():
    # canonical JSONL of [{"a": 1}] is '{"a":1}\n'
    import hashlib

    assert sha256_rows([{"a": 1}]) == hashlib.sha256(b'{"a":1}\n').hexdigest()


def test_config_hash_changes_with_config():
    assert config_hash(RFTDataSettings()) == config_hash(RFTDataSettings())
    assert config_hash(RFTDataSettings()) != config_hash(RFTDataSettings(min_score=8))


def test_manifest_records_counts_filters_hashes_and_version():
    result = BuildResult(rows=[{"x": 1}], counts={"in": 3, "out": 1}, filters={"min_score": 7})
    m = build_manifest("rft", result, config=RFTDataSettings(), inputs={"samples": "abc"})
    assert m["format_version"] == FORMAT_VERSION
    assert m["counts"] == {"in": 3, "out": 1} and m["filters"] == {"min_score": 7}
    assert m["sha256"] == sha256_rows([{"x": 1}]) and m["rows"] == 1
    assert m["config_hash"] == config_hash(RFTDataSettings()) and m["inputs"] == {"samples": "abc"}


def test_written_file_hash_matches_manifest(tmp_path):
    import hashlib

    result = BuildResult(rows=[{"b": 2, "a": [1, 2]}, {"c": "中文"}])
    m = write_dataset("dpo", result, tmp_path)
    data = (tmp_path / "dpo.jsonl").read_bytes()
    assert hashlib.sha256(data).hexdigest() == m["sha256"]
    assert read_jsonl(tmp_path / "dpo.jsonl") == result.rows
    assert json.loads((tmp_path / "dpo.manifest.json").read_text())["sha256"] == m["sha256"]
