"""GPU search dispatch (benchmarks/gpu_search.py), tested on the CPU: a fake faiss GPU index
with numpy arithmetic stands in for the CUDA build, so no GPU is ever needed."""
import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import gpu_search
from benchmarks.context import RunContext, SearchSettings
from benchmarks.search import exact_topk, search_run
from conftest import ROOT


class FakeFaiss:
    """faiss's GPU API surface that gpu_search uses; scores by float32 matmul like cuBLAS."""

    def __init__(self, gpus: int = 1) -> None:
        self.gpus, self.devices = gpus, []

    def get_num_gpus(self) -> int:
        return self.gpus

    class StandardGpuResources:
        pass

    class GpuIndexFlatConfig:
        device = -1

    def GpuIndexFlatIP(self, res, dim, config):  # noqa: N802 (faiss's name)
        self.devices.append(config.device)
        fake = self

        class Index:
            def add(self, d):
                self.d = d

            def search(self, q, n):
                fake.fetched = n
                s = q @ self.d.T
                idx = np.argsort(-s, axis=1, kind="stable")[:, :n]
                return np.take_along_axis(s, idx, axis=1), idx

        return Index()


def data(seed=0, nq=40, nd=300, dim=16, dups=0):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((nq, dim), dtype=np.float32)
    d = rng.standard_normal((nd, dim), dtype=np.float32)
    if dups:  # exact copies of one passage: tied canonical scores across the fetch boundary
        d[-dups:] = d[0]
    return q, d


@pytest.mark.parametrize("dups", [0, 30])
def test_faiss_gpu_path_gives_the_exact_cpu_result(dups):
    q, d = data(dups=dups)
    calls = []

    def fallback(qs):
        calls.append(len(qs))
        return exact_topk(qs, d, 5)

    fake = FakeFaiss()
    got = gpu_search.faiss_flat_topk(q, d, 5, fake, slack=4, device_index=1, fallback=fallback)
    want = exact_topk(q, d, 5)
    assert np.array_equal(got[1], want[1]) and np.array_equal(got[0], want[0])
    assert fake.devices == [1] and fake.fetched == 9
    # Only uncertified queries are searched again: with 31 tied copies of passage 0 some must be
    # (the copies straddle the 9-candidate boundary); on random data most are certified.
    assert (calls and 0 < calls[0] < len(q)) if dups else (calls == [] or calls[0] < len(q) // 4)


def test_the_fallback_and_small_corpora_stay_exact():
    q, d = data(nd=7)
    got = gpu_search.faiss_flat_topk(q, d, 10, FakeFaiss(), slack=16, fallback=lambda _q: pytest.fail("no"))
    want = exact_topk(q, d, 10)  # k > corpus: everything fetched, nothing to certify
    assert np.array_equal(got[1], want[1]) and got[1].shape == (len(q), 7)


def test_a_k_beyond_faiss_gpu_limit_goes_to_the_exact_engine():
    q, d = data(nq=3, nd=2100, dim=4)
    fake = FakeFaiss()
    got = gpu_search.faiss_flat_topk(q, d, 2040, fake, fallback=lambda qs: exact_topk(qs, d, 2040))
    assert fake.devices == [] and np.array_equal(got[1], exact_topk(q, d, 2040)[1])


def test_dispatch_prefers_faiss_then_torch_and_else_says_what_to_install(monkeypatch):
    q, d = data()
    seen = []
    monkeypatch.setattr(gpu_search, "exact_topk", lambda *a, **kw: seen.append(kw["device"]) or exact_topk(*a[:3]))
    fake = FakeFaiss()
    gpu_search.gpu_exact_topk(q, d, 3, "cuda:2", faiss=fake, cuda=True)
    assert fake.devices == [2] and seen == []  # faiss GPU when it sees a GPU
    for no_gpu in (FakeFaiss(gpus=0), object()):  # faiss-cpu has no StandardGpuResources
        gpu_search.gpu_exact_topk(q, d, 3, "cuda", faiss=no_gpu, cuda=True)
    assert seen == ["cuda", "cuda"]  # torch on the CUDA device
    with pytest.raises(gpu_search.GpuUnavailable, match=r"pip install 'retrieval-harness\[gpu\]'"):
        gpu_search.gpu_exact_topk(q, d, 3, "cuda", faiss=object(), cuda=False)


def test_search_run_on_cuda_goes_through_the_gpu_module(monkeypatch):
    q, d = data()
    qids, ids = [f"q{i}" for i in range(len(q))], [f"d{i:03}" for i in range(len(d))]
    devices = []

    def fake_gpu(qv, docs, k, device, **_kw):
        devices.append(device)
        return exact_topk(qv, docs, k)

    monkeypatch.setattr(gpu_search, "gpu_exact_topk", fake_gpu)
    cpu = search_run(q, d, qids, ids, 5, RunContext(device="cpu", progress=False))
    cuda = search_run(q, d, qids, ids, 5, RunContext(device="cuda", progress=False))
    assert cuda == cpu and devices == ["cuda"]


PROBE = """import json, sys
import numpy as np
from benchmarks.context import RunContext, SearchSettings
from benchmarks.search import search_run
rng = np.random.default_rng(0)
q, d = rng.standard_normal((20, 8), dtype=np.float32), rng.standard_normal((200, 8), dtype=np.float32)
ids = [f"d{i}" for i in range(200)]
for ann in (None, {"M": 8}):
    search_run(q, d, [f"q{i}" for i in range(20)], ids, 5,
               RunContext(device="cpu", progress=False, search=SearchSettings(ann=ann)))
print(json.dumps(sorted(m for m in sys.modules if m.startswith(("torch", "benchmarks.gpu_search")))))
"""


def test_the_cpu_path_never_imports_the_gpu_module_or_torch():
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
    assert SearchSettings().ann is None  # the probe's first pass is the default (exact) search
