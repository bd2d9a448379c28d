"""Artifact cache (keys, atomic publish, reuse, --retrain), training pairs and the shared loop."""
import json

import pytest

from benchmarks.artifacts import ArtifactCache, artifact_key, content_hash, file_hashes, make_spec
from benchmarks.training import batches, linear_warmup, pairs_hash, same_passage_groups, training_pairs
from benchmarks.types import Split
from tiny_training import TOPICS, tiny_split

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread

SPEC = make_spec("test", {"model": "m", "weights": "abc"}, "d" * 64, {"lr": 0.1, "epochs": 2}, 0, "1")


def write_files(folder, payload=b"weights"):
    (folder / "model.bin").write_bytes(payload)
    (folder / "sub").mkdir()
    (folder / "sub" / "config.json").write_text("{}")
    return {"steps": 3, "final_loss": 0.5}


def test_key_is_canonical_and_changes_with_every_field():
    reordered = {"seed": 0, "impl_version": "1", "hyper": {"epochs": 2, "lr": 0.1}, "kind": "test",
                 "data_sha256": "d" * 64, "base": {"weights": "abc", "model": "m"}}
    assert artifact_key(SPEC) == artifact_key(reordered)
    changed = [dict(SPEC, seed=1), dict(SPEC, impl_version="2"), dict(SPEC, data_sha256="e" * 64),
               dict(SPEC, hyper={"lr": 0.2, "epochs": 2}), dict(SPEC, base={"model": "m", "weights": "abd"})]
    keys = {artifact_key(s) for s in changed}
    assert len(keys) == len(changed) and artifact_key(SPEC) not in keys


def test_build_once_then_reuse_then_retrain(tmp_path):
    cache = ArtifactCache(tmp_path)
    calls = []

    def build(folder):
        calls.append(folder)
        return write_files(folder)

    first = cache.get_or_build(SPEC, build)
    assert not first.reused and len(calls) == 1
    assert first.path == tmp_path / artifact_key(SPEC)
    assert first.files == file_hashes(first.path) and first.content_sha256 == content_hash(first.files)
    assert set(first.files) == {"model.bin", "sub/config.json"}  # manifest itself excluded
    again = cache.get_or_build(SPEC, build)
    assert again.reused and len(calls) == 1 and again.info == {"steps": 3, "final_loss": 0.5}
    assert again.content_sha256 == first.content_sha256
    forced = cache.get_or_build(SPEC, build, retrain=True)
    assert not forced.reused and len(calls) == 2 and forced.path == first.path
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.key]  # no temp or old folders left
    record = forced.record()
    assert record["artifact_sha256"] == forced.content_sha256 and record["reused"] is False
    assert record["steps"] == 3


def test_tampered_artifact_is_rebuilt(tmp_path):
    cache = ArtifactCache(tmp_path)
    art = cache.publish(SPEC, write_files)
    (art.path / "model.bin").write_bytes(b"changed by hand")
    assert cache.lookup(SPEC) is None
    rebuilt = cache.get_or_build(SPEC, write_files)
    assert not rebuilt.reused and (rebuilt.path / "model.bin").read_bytes() == b"weights"


def test_failed_training_publishes_nothing(tmp_path):
    cache = ArtifactCache(tmp_path)

    def broken(folder):
        (folder / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed mid-training")

    with pytest.raises(RuntimeError):
        cache.get_or_build(SPEC, broken)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match="wrote no files"):
        cache.publish(SPEC, lambda folder: {})


def test_manifest_records_spec_and_info(tmp_path):
    art = ArtifactCache(tmp_path).publish(SPEC, write_files)
    meta = json.loads((art.path / "artifact.json").read_text())
    assert meta["spec"] == SPEC and meta["key"] == art.key and meta["info"]["final_loss"] == 0.5


def test_training_pairs_first_relevant_in_dict_order_and_skip_unjudged():
    split = tiny_split()
    split.qrels["p1-q0"] = {"p3": 0, "p2": 1, "p1": 1}  # grade 0 is not relevant; p2 comes first
    split.queries["lonely"] = "a query without judgments"
    pairs = training_pairs(split)
    assert len(pairs) == 12 and pairs[0].doc_id == "p2" and pairs[0].passage == TOPICS["p2"]
    assert [p.qid for p in pairs][:3] == ["p1-q0", "p1-q1", "p2-q0"]
    with pytest.raises(ValueError):
        training_pairs(Split(corpus={}, queries={"q": "x"}, qrels={}))


def test_pairs_hash_follows_texts_not_ids():
    split = tiny_split()
    base = pairs_hash(training_pairs(split))
    renamed = Split(corpus={f"x{d}": doc for d, doc in split.corpus.items()}, queries=split.queries,
                    qrels={q: {f"x{d}": g for d, g in r.items()} for q, r in split.qrels.items()})
    assert pairs_hash(training_pairs(renamed)) == base
    split.queries["p1-q0"] = "Where did the dog sit?"
    assert pairs_hash(training_pairs(split)) != base


def test_same_passage_groups_and_batches():
    assert same_passage_groups(["a", "b", "a", "c", "b"]) == [0, 1, 0, 2, 1]
    assert batches(7, 3, None) == [[0, 1, 2], [3, 4, 5], [6]]  # last batch short, as drop_last=False


def test_linear_warmup_matches_transformers_formula():
    f = linear_warmup(2, 6)
    # warmup 0 -> 1 over 2 steps, then (6 - s) / (6 - 2) down to 0
    assert [f(s) for s in range(8)] == [0.0, 0.5, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    g = linear_warmup(0, 4)
    assert [g(s) for s in range(5)] == [1.0, 0.75, 0.5, 0.25, 0.0]



