"""One canonical JSON for every hash (benchmarks.artifacts.canonical_json), with the two older key
forms kept byte-identical: checked against json.dumps written out by hand, and against the
fingerprints in the committed records."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from benchmarks.artifacts import canonical_json, canonical_sha256
from benchmarks.encoding.cache import fingerprint_key
from benchmarks.fingerprint import fingerprint_sha256
from benchmarks.llm.prompts import Prompt
from retrievers import RETRIEVERS

ANSWERS_PROMPT_SHA = "a2fcfe7587cbd7840a76aff0622dabb77e49ab14c176a5b3bb8b2a9a4be0e14d"
RESULTS = Path(__file__).resolve().parents[2] / "results"
SAMPLES = [{"b": [1, 2.5, None], "a": "plain"}, {"model": "Zürich – €", "n": {"z": 1, "y": True}},
           ["x", {"k": "ß"}]]


def _records() -> list[tuple[Path, dict]]:
    files = sorted(p for p in RESULTS.rglob("*.json") if p.name.count(".") == 1)
    assert len(files) >= 10, "the committed records are missing"
    return [(p, json.loads(p.read_text(encoding="utf-8"))) for p in files]


@pytest.mark.parametrize("obj", SAMPLES)
def test_each_form_is_the_json_dumps_it_replaced(obj):
    def sha(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
    compact = (",", ":")
    assert canonical_sha256(obj) == sha(json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=compact))
    assert fingerprint_key(obj) == sha(json.dumps(obj, sort_keys=True, separators=compact))  # old cache.py
    assert canonical_sha256(obj, ascii=True, spaced=True) == sha(json.dumps(obj, sort_keys=True))  # old prompts


def test_ascii_matters_only_for_non_ascii_values():
    plain, accented = SAMPLES[0], SAMPLES[1]
    assert canonical_json(plain, ascii=True) == canonical_json(plain)
    assert canonical_json(accented, ascii=True) != canonical_json(accented)
    assert "\\u00fc" in canonical_json(accented, ascii=True) and "ü" in canonical_json(accented)


def test_nan_is_refused():
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_the_builtin_prompt_hashes_are_the_recorded_ones():
    # The answers hash names the generation cache job that e2e's committed row was trained from.
    from benchmarks.llm.prompts import load_prompt
    assert load_prompt("answers", None).sha256 == ANSWERS_PROMPT_SHA
    legacy = json.dumps({"kind": "questions", "system": None, "template": "Q {context} {n}"}, sort_keys=True)
    assert Prompt("questions", "Q {context} {n}", system=None).sha256 == hashlib.sha256(legacy.encode()).hexdigest()


def test_every_committed_evaluation_fingerprint_hashes_to_its_recorded_sha():
    checked = 0
    for path, record in _records():
        fp = record.get("fingerprint")
        if fp:
            assert fingerprint_sha256(fp) == fp["sha256"], path
            checked += 1
    assert checked >= 10


def test_committed_untrained_rows_find_their_embedding_cache_folder():
    """fingerprint_key of a row's encoder fingerprint is the recorded embedding.fingerprint_sha256."""
    checked = 0
    for path, record in _records():
        want = (record.get("embedding") or {}).get("fingerprint_sha256")
        r = record.get("retriever") or {}
        if not want or r.get("use") != "bge":  # trained rows' fingerprints need their artifacts
            continue
        cls = RETRIEVERS.get(r["use"])
        retriever = cls(r["name"], {k: v for k, v in r["params"].items() if k in cls.Params.model_fields})
        assert fingerprint_key(retriever.fingerprint()) == want, path
        checked += 1
    assert checked >= 5
