"""The encoding engine: one cache per run, plugins supply encode_* only, hooks after the cache,
chunked encoders, and worker processes that give the vectors of one process."""
import numpy as np
import pytest

from benchmarks.context import RunContext
from benchmarks.encoding import embed
from benchmarks.encoding.cache import EmbeddingCache


def test_no_plugin_embeds_by_itself():
    """The seam runs one way: plugins supply encode_* (and hooks); only the engine embeds."""
    from retrievers import RETRIEVERS
    from retrievers.base import DenseRetriever

    dense = [RETRIEVERS.get(n) for n in RETRIEVERS.names() if issubclass(RETRIEVERS.get(n), DenseRetriever)]
    assert len(dense) >= 5
    assert [c.__name__ for c in dense if hasattr(c, "embed")] == []


class Toy:
    """A dense plugin in miniature: counts what it is asked to encode."""

    parallel_encode = False
    encode_batch_size = 2

    def __init__(self):
        self.calls: list[list[str]] = []

    def cache_fingerprint(self, side):
        return {"toy": 1, "side": side}

    def prepare_texts(self, side, texts, ctx):
        return [t.strip() for t in texts]

    def after_cache(self, side, vectors, ctx):
        return vectors * 10 if side == "query" else vectors

    def _enc(self, texts):
        self.calls.append(list(texts))
        return np.array([[len(t), ord(t[0])] for t in texts], np.float32)

    def encode_queries(self, texts, ctx):
        return self._enc(texts)

    def encode_passages(self, texts, ctx):
        return self._enc(texts)


def test_prepared_texts_key_the_cache_and_the_hook_runs_after_it(tmp_path):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    toy = Toy()
    out = embed(toy, "query", [" ab", "c ", "ab"], ctx)
    assert out.tolist() == [[20, 970], [10, 990], [20, 970]]  # (len, ord(first)) * 10 after the cache
    assert toy.calls == [["ab", "c"]]  # stripped, each distinct text once
    again = embed(toy, "query", ["ab"], ctx, hook=False)  # cached, hook skipped
    assert again.tolist() == [[2, 97]] and len(toy.calls) == 1
    assert ctx.stats["encoded_texts"] == 2 and ctx.stats["cached_texts"] == 1
    with pytest.raises(ValueError, match="side"):
        embed(toy, "doc", ["x"], ctx)


def test_one_cache_per_context_reads_its_index_once(tmp_path, monkeypatch):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    embed(Toy(), "passage", ["a", "b", "c"], ctx)
    listings = []
    real = EmbeddingCache._refresh

    def counting(self, d):
        listings.append(d)
        return real(self, d)

    monkeypatch.setattr(EmbeddingCache, "_refresh", counting)
    made = []
    monkeypatch.setattr(EmbeddingCache, "__init__", lambda self, root, _i=EmbeddingCache.__init__: (
        made.append(root), _i(self, root))[1])
    for _ in range(3):
        embed(Toy(), "passage", ["a", "b"], ctx)
    assert made == []  # the context's one cache serves every call
    assert ctx.embedding_cache() is ctx.embeddings


def test_a_run_builds_one_cache(tmp_path, monkeypatch):
    from tiny_training import suite_records

    made = []
    init = EmbeddingCache.__init__
    monkeypatch.setattr(EmbeddingCache, "__init__", lambda self, root: (made.append(root), init(self, root))[1])
    rows = [{"name": "bm25", "use": "bm25"}, {"name": "plain", "use": "bge", "params": {"model": "minilm-l6"}},
            {"name": "again", "use": "bge", "params": {"model": "minilm-l6", "batch_size": 8}}]
    _, records = suite_records(tmp_path, monkeypatch, rows)
    assert records["plain"]["stats"]["encoded_texts"] > 0
    assert records["again"]["stats"].get("encoded_texts", 0) == 0  # same fingerprint: all cached
    assert records["again"]["stats"]["cached_texts"] == records["plain"]["stats"]["encoded_texts"]
    assert len(made) == 1


def test_chunked_encoders_are_stored_as_each_chunk_arrives(tmp_path):
    """An encoder may yield (texts, vectors) chunks in any order (API requests as they finish)."""
    cache = EmbeddingCache(tmp_path)
    stored = []

    def encode(batch):
        for chunk in (batch[2:], batch[:2]):  # out of order
            stored.append(len(list(tmp_path.glob("*/*.keys"))))
            yield chunk, np.array([[len(t), 1] for t in chunk], np.float32)

    out = cache.embed({"m": 1}, ["a", "bb", "ccc", "dddd", "bb"], encode, batch_size=10)
    assert out[:, 0].tolist() == [1, 2, 3, 4, 2]
    assert stored == [0, 1]  # the first chunk was on disk before the second was asked for

    def short(batch):
        yield batch[:1], np.ones((1, 2), np.float32)

    with pytest.raises(RuntimeError, match="no vectors for 1 texts"):
        cache.embed({"m": 2}, ["x", "y"], short)


def uber_passages(n):
    from benchmarks.cards import load_card
    from benchmarks.loaders import load_split

    split = load_split(load_card("llamaindex-10k"), "uber")
    return [split.corpus[d].full_text() for d in list(split.corpus)[:n]]


def test_workers_give_the_vectors_of_one_process(tmp_path):
    """Real MiniLM on real 10-K passages: 2 spawned workers, whole cache batches each, equal bits."""
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    texts = uber_passages(40)
    r = SentenceTransformerRetriever("plain", {"model": "minilm-l6", "batch_size": 4})
    r.encode_batch_size = 8  # five batches over two workers
    one = embed(r, "passage", texts, RunContext(cache_dir=tmp_path / "one", progress=False, device="cpu"))
    ctx = RunContext(cache_dir=tmp_path / "two", progress=False, device="cpu", workers=2)
    two = embed(r, "passage", texts, ctx)
    assert ctx.stats["encoded_texts"] == 40
    assert np.array_equal(one, two)
    # and what the workers stored is what a warm run reads back
    warm = embed(r, "passage", texts, RunContext(cache_dir=tmp_path / "two", progress=False))
    assert np.array_equal(warm, one)


def test_a_failing_worker_keeps_the_finished_batches(tmp_path):
    ctx = RunContext(cache_dir=tmp_path, progress=False, device="cpu", workers=2)
    r = Failing()
    with pytest.raises(ValueError, match="poison"):
        embed(r, "passage", ["a", "b", "poison", "c", "d", "e"], ctx)
    fresh = RunContext(cache_dir=tmp_path, progress=False)
    found = fresh.embedding_cache().lookup(r.cache_fingerprint("passage"), ["a", "b", "poison"])
    assert len(found) == 2  # the batch before the poisoned one was stored


class Failing(Toy):
    parallel_encode = True
    encode_batch_size = 2

    def _enc(self, texts):
        if "poison" in texts:
            raise ValueError("poison")
        return np.array([[len(t), ord(t[0])] for t in texts], np.float32)


def test_workers_are_a_run_option():
    from benchmarks.cli import build_parser

    args = build_parser().parse_args(["run", "--suite", "x", "--workers", "3"])
    assert args.workers == 3 and not args.ray
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--suite", "x", "--workers", "0"])
