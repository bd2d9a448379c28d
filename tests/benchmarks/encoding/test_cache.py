"""The on-disk embedding cache: counting, resuming after a kill, and not trusting damaged files."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from benchmarks.encoding import shards as cache_mod
from benchmarks.encoding.cache import EmbeddingCache, fingerprint_key

FP = {"model": "toy", "revision": "abc", "side": "passage"}


class Encoder:
    """Deterministic fake model: text -> [len(text), first char code, 1.0]; records calls."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt("killed")  # a kill, not an ordinary error
        return np.array([[len(t), ord(t[0]), 1.0] for t in texts], dtype=np.float32)


def never(texts: list[str]) -> np.ndarray:
    raise AssertionError(f"encode must not be called (got {texts})")


def shard_files(root, suffix):
    return sorted(p.name for p in root.rglob(f"*{suffix}"))


def test_fingerprint_key_is_sha256_of_canonical_json():
    expected = hashlib.sha256(b'{"a":1,"b":[1,2]}').hexdigest()
    assert fingerprint_key({"b": [1, 2], "a": 1}) == expected
    assert fingerprint_key({"a": 1, "b": [1, 2]}) == expected  # key order is irrelevant


def test_embed_rows_duplicates_hits_and_misses(tmp_path):
    c = EmbeddingCache(tmp_path)
    enc = Encoder()
    out = c.embed(FP, ["bb", "a", "bb", "ccc"], enc, batch_size=2)
    # hand-worked rows from the fake model; the duplicate "bb" encoded once
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[2, 98, 1], [1, 97, 1], [2, 98, 1], [3, 99, 1]])
    assert enc.calls == [["bb", "a"], ["ccc"]]
    assert (c.hits, c.misses) == (0, 3)
    assert len(shard_files(tmp_path, ".keys")) == 2  # one shard per batch
    fp_json = tmp_path / fingerprint_key(FP) / "fingerprint.json"
    assert json.loads(fp_json.read_text()) == FP

    warm = EmbeddingCache(tmp_path)
    again = warm.embed(FP, ["ccc", "bb", "ccc"], never)
    np.testing.assert_array_equal(again, [[3, 99, 1], [2, 98, 1], [3, 99, 1]])
    assert (warm.hits, warm.misses) == (2, 0)

    mixed = EmbeddingCache(tmp_path)
    enc2 = Encoder()
    mixed.embed(FP, ["a", "dd"], enc2)
    assert enc2.calls == [["dd"]]
    assert (mixed.hits, mixed.misses) == (1, 1)


def test_fingerprint_change_is_a_miss(tmp_path):
    EmbeddingCache(tmp_path).embed(FP, ["x"], Encoder())
    c = EmbeddingCache(tmp_path)
    enc = Encoder()
    c.embed({**FP, "revision": "def"}, ["x"], enc)
    assert enc.calls == [["x"]]
    assert (c.hits, c.misses) == (0, 1)


def test_kill_mid_run_keeps_finished_batches_and_resumes(tmp_path):
    texts = [f"t{i}" for i in range(10)]
    killed = Encoder(fail_on_call=3)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path).embed(FP, texts, killed, batch_size=3)
    assert len(shard_files(tmp_path, ".keys")) == 2  # batches 1 and 2 were persisted

    c = EmbeddingCache(tmp_path)
    enc = Encoder()
    out = c.embed(FP, texts, enc, batch_size=3)
    assert enc.calls == [["t6", "t7", "t8"], ["t9"]]  # only the rest is encoded
    assert (c.hits, c.misses) == (6, 4)
    np.testing.assert_array_equal(out[:, 0], [2] * 10)
    np.testing.assert_array_equal(out[:, 1], [ord("t")] * 10)


@pytest.mark.parametrize("bad", [
    lambda texts: np.ones((len(texts) - 1, 3), np.float32),  # a row short
    lambda texts: np.ones((len(texts), 4), np.float32),  # dim differs from the first batch
    lambda texts: np.ones(len(texts), np.float32),  # not a matrix
])
def test_bad_encoder_output_raises_and_caches_nothing_from_that_batch(tmp_path, bad):
    calls = []

    def encode(texts):
        calls.append(texts)
        return np.ones((len(texts), 3), np.float32) if len(calls) == 1 else bad(texts)

    with pytest.raises(ValueError):
        EmbeddingCache(tmp_path).embed(FP, ["a", "b", "c", "d"], encode, batch_size=2)
    assert len(shard_files(tmp_path, ".keys")) == 1  # the first, good batch only
    assert shard_files(tmp_path, ".tmp") == []
    c = EmbeddingCache(tmp_path)
    assert set(c.lookup(FP, ["a", "b", "c", "d"])) == {hashlib.sha256(t.encode()).hexdigest() for t in "ab"}


def test_non_finite_embeddings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="NaN"):
        EmbeddingCache(tmp_path).embed(FP, ["a"], lambda t: np.full((1, 2), np.nan, np.float32))
    assert shard_files(tmp_path, ".npy") == []


def test_shards_are_plain_npy_and_keys_without_pickle(tmp_path):
    c = EmbeddingCache(tmp_path)
    c.embed(FP, ["hello", "world"], Encoder())
    (npy,) = (tmp_path / fingerprint_key(FP)).glob("*.npy")
    arr = np.load(npy, allow_pickle=False)  # would raise on an object array
    assert arr.dtype == np.float32 and arr.shape == (2, 3)
    *keys, trailer = npy.with_suffix(".keys").read_text().splitlines()
    assert keys == [hashlib.sha256(t.encode()).hexdigest() for t in ["hello", "world"]]
    # the trailer is the sha256 of the .npy bytes followed by the key lines
    body = "".join(k + "\n" for k in keys).encode()
    assert trailer == "# sha256 " + hashlib.sha256(npy.read_bytes() + body).hexdigest()


def test_leftovers_and_damaged_files_are_never_loaded(tmp_path):
    c = EmbeddingCache(tmp_path)
    c.embed(FP, ["good"], Encoder())
    d = tmp_path / fingerprint_key(FP)
    sha = hashlib.sha256(b"poison").hexdigest()
    poison = np.full((1, 3), 666, np.float32)
    # 1) a killed writer's temp files; 2) a .npy whose .keys was never committed;
    # 3) a truncated .npy with keys; 4) a row-count mismatch; 5) a pickled object array
    with open(d / ".x.npy.1.tmp", "wb") as f:  # a path would get ".npy" appended
        np.save(f, poison)
    (d / ".x.keys.1.tmp").write_text(sha + "\n")
    np.save(d / "orphan.npy", poison)
    np.save(d / "trunc.npy", np.full((50, 3), 666, np.float32))
    with open(d / "trunc.npy", "r+b") as f:
        f.truncate(200)
    (d / "trunc.keys").write_text(sha + "\n")
    np.save(d / "count.npy", np.full((2, 3), 666, np.float32))
    (d / "count.keys").write_text(sha + "\n")
    np.save(d / "pickled.npy", np.array([None], dtype=object), allow_pickle=True)
    (d / "pickled.keys").write_text(sha + "\n")

    fresh = EmbeddingCache(tmp_path)
    with pytest.warns(UserWarning, match="ignoring"):
        found = fresh.lookup(FP, ["poison", "good"])
    assert set(found) == {hashlib.sha256(b"good").hexdigest()}
    enc = Encoder()
    out = fresh.embed(FP, ["poison"], enc)
    assert enc.calls == [["poison"]]
    np.testing.assert_array_equal(out, [[6, ord("p"), 1]])
    # young leftovers may belong to a live writer, so they stay; old ones are removed
    assert (d / "orphan.npy").exists() and (d / ".x.npy.1.tmp").exists()
    old = time.time() - 2 * cache_mod.STALE_S
    for name in ("orphan.npy", ".x.npy.1.tmp", ".x.keys.1.tmp"):
        os.utime(d / name, (old, old))
    with pytest.warns(UserWarning, match="ignoring"):  # the damaged shards are reported again
        EmbeddingCache(tmp_path).lookup(FP, ["good"])
    assert not (d / "orphan.npy").exists() and not (d / ".x.npy.1.tmp").exists()
    assert not (d / ".x.keys.1.tmp").exists()


def test_lookup_and_store_for_self_batching_plugins(tmp_path):
    c = EmbeddingCache(tmp_path)
    c.store(FP, ["a", "b"], np.array([[1, 2], [3, 4]], np.float32))
    with pytest.raises(ValueError, match="dim"):
        c.store(FP, ["c"], np.ones((1, 3), np.float32))
    other = EmbeddingCache(tmp_path)  # e.g. a second process sharing the directory
    found = other.lookup(FP, ["b", "zzz"])
    assert list(found) == [hashlib.sha256(b"b").hexdigest()]
    np.testing.assert_array_equal(found[hashlib.sha256(b"b").hexdigest()], [3, 4])
    assert (c.misses, other.hits) == (2, 1)
    # a shard written by another instance after this one indexed the directory is picked up
    other.store(FP, ["c"], np.array([[5, 6]], np.float32))
    assert set(c.lookup(FP, ["c"])) == {hashlib.sha256(b"c").hexdigest()}


WRITER = """
import sys, numpy as np
from benchmarks.encoding.cache import EmbeddingCache
lo, hi = int(sys.argv[2]), int(sys.argv[3])
enc = lambda texts: np.array([[len(t), ord(t[-1]), 1.0] for t in texts], dtype=np.float32)
EmbeddingCache(sys.argv[1]).embed({"model": "toy"}, [f"text {i}" for i in range(lo, hi)], enc, batch_size=7)
"""


def test_two_processes_filling_one_fingerprint_corrupt_nothing(tmp_path):
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), lo, hi], env=env, cwd=repo)
             for lo, hi in (("0", "300"), ("150", "450"))]  # overlapping halves, written at once
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    texts = [f"text {i}" for i in range(450)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no shard may look damaged
        out = EmbeddingCache(tmp_path).embed({"model": "toy"}, texts, never)
    want = np.array([[len(t), ord(t[-1]), 1.0] for t in texts], np.float32)
    np.testing.assert_array_equal(out, want)
    assert shard_files(tmp_path, ".tmp") == []


def test_shard_vanishing_after_indexing_is_re_encoded_once(tmp_path):
    c = EmbeddingCache(tmp_path)
    c.embed(FP, ["a", "b"], Encoder())
    for npy in (tmp_path / fingerprint_key(FP)).glob("*.npy"):
        npy.unlink()  # e.g. someone pruning the cache while this instance runs
    enc = Encoder()
    with pytest.warns(UserWarning, match="cannot read"):
        out = c.embed(FP, ["a", "b"], enc)
    assert enc.calls == [["a", "b"]]
    np.testing.assert_array_equal(out, [[1, 97, 1], [1, 98, 1]])
    c.embed(FP, ["a", "b"], never)  # the re-encoded shard is found again


def _one_shard(tmp_path, texts):
    EmbeddingCache(tmp_path).embed(FP, texts, Encoder())
    (npy,) = (tmp_path / fingerprint_key(FP)).glob("*.npy")
    return npy, npy.with_suffix(".keys")


def _tamper_negate_rows(npy, keys):
    arr = np.load(npy)
    arr[:2] *= -1
    np.save(npy, arr)


def _tamper_swap_keys(npy, keys):
    lines = keys.read_text().splitlines(keepends=True)
    lines[0], lines[1] = lines[1], lines[0]
    keys.write_text("".join(lines))


def _tamper_drop_trailer(npy, keys):  # a shard as written before checksums existed
    keys.write_text("".join(keys.read_text().splitlines(keepends=True)[:-1]))


def _tamper_nan_with_valid_checksum(npy, keys):
    arr = np.load(npy)
    arr[0, 0] = np.nan
    np.save(npy, arr)
    body = "".join(keys.read_text().splitlines(keepends=True)[:-1])
    keys.write_text(body + "# sha256 " + hashlib.sha256(npy.read_bytes() + body.encode()).hexdigest() + "\n")


@pytest.mark.parametrize("tamper, why", [
    (_tamper_negate_rows, "checksum mismatch"), (_tamper_swap_keys, "checksum mismatch"),
    (_tamper_drop_trailer, "no checksum"), (_tamper_nan_with_valid_checksum, "NaN"),
])
def test_tampered_shard_is_named_discarded_and_re_encoded(tmp_path, tamper, why):
    texts = ["alpha", "beta", "gamma"]
    npy, keys = _one_shard(tmp_path, texts)
    tamper(npy, keys)
    enc = Encoder()
    with pytest.warns(UserWarning, match=why) as caught:
        out = EmbeddingCache(tmp_path).embed(FP, texts, enc)
    assert any(npy.stem in str(w.message) for w in caught)  # the shard is named
    assert enc.calls == [texts]  # every text of the bad shard encoded again, the true vectors returned
    np.testing.assert_array_equal(out, [[len(t), ord(t[0]), 1] for t in texts])
    assert not npy.exists() and not keys.exists()  # discarded, so it is reported once, not on every run
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        EmbeddingCache(tmp_path).embed(FP, texts, never)
