"""--ray: encoding on a local Ray (2 CPUs) gives the single-process vectors, and stores them."""
import numpy as np
import pytest

from benchmarks.context import RunContext
from benchmarks.encoding import embed
from test_engine import uber_passages


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_ray_actors_give_the_vectors_of_one_process(local_ray, tmp_path):
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    texts = uber_passages(24)
    r = SentenceTransformerRetriever("plain", {"model": "minilm-l6", "batch_size": 4})
    r.encode_batch_size = 8  # three batches over two actors
    one = embed(r, "passage", texts, RunContext(cache_dir=tmp_path / "one", progress=False, device="cpu"))
    ctx = RunContext(cache_dir=tmp_path / "ray", progress=False, device="cpu", workers=2, ray=True)
    on_ray = embed(r, "passage", texts, ctx)
    assert ctx.stats["encoded_texts"] == 24 and np.array_equal(one, on_ray)
    warm = RunContext(cache_dir=tmp_path / "ray", progress=False, ray=True)
    assert np.array_equal(embed(r, "passage", texts, warm), one) and warm.stats["encoded_texts"] == 0


def test_missing_ray_says_how_to_install(monkeypatch):
    import builtins

    from benchmarks.encoding import ray_pool

    real = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name.startswith("ray") else real(name, *a, **k))
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[ray\]'"):
        ray_pool.import_ray()


def test_an_interrupted_ray_job_keeps_its_stored_batches_and_resumes(local_ray, tmp_path, monkeypatch):
    """The driver stops (Ctrl-C) after the first batch is stored: that batch stays in the cache,
    and the re-run encodes only the other two, with the single-process vectors."""
    from benchmarks.encoding.cache import EmbeddingCache
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    texts = uber_passages(24)
    r = SentenceTransformerRetriever("plain", {"model": "minilm-l6", "batch_size": 4})
    r.encode_batch_size = 8
    one = embed(r, "passage", texts, RunContext(cache_dir=tmp_path / "one", progress=False, device="cpu"))
    store, calls = EmbeddingCache.store, []

    def store_then_stop(self, fingerprint, batch, vectors):
        calls.append(len(batch))
        if len(calls) > 1:
            raise KeyboardInterrupt
        store(self, fingerprint, batch, vectors)

    monkeypatch.setattr(EmbeddingCache, "store", store_then_stop)
    with pytest.raises(KeyboardInterrupt):
        embed(r, "passage", texts, RunContext(cache_dir=tmp_path / "ray", progress=False, device="cpu",
                                              workers=2, ray=True))
    monkeypatch.setattr(EmbeddingCache, "store", store)
    kept = RunContext(cache_dir=tmp_path / "ray").embedding_cache().lookup(r.cache_fingerprint("passage"), texts)
    assert len(kept) == 8
    again = RunContext(cache_dir=tmp_path / "ray", progress=False, device="cpu", workers=2, ray=True)
    assert np.array_equal(embed(r, "passage", texts, again), one) and again.stats["encoded_texts"] == 16


def test_connect_starts_a_local_ray_in_a_fresh_process(tmp_path):
    """What `run --ray` does without RAY_ADDRESS, in a process that has not imported ray: the
    test fixture above starts Ray by itself, so it would not catch a connect() that cannot
    (RAY_AUTH_MODE set after ray's import once made ray.init fail on a missing token)."""
    import os
    import subprocess
    import sys

    probe = ("from benchmarks.encoding.ray_pool import connect, import_ray\n"
             "ray = import_ray(); connect(ray); print(int(ray.cluster_resources()['CPU'])); ray.shutdown()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    proc = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=240,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) >= 1 and "Token authentication is enabled" not in proc.stderr
