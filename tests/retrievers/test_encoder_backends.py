"""The ``backend`` param of bge rows (retrievers/encoder_backends.py): exported bodies give the
torch vectors to float noise, keys separate backends and leave torch's alone, and a wrong or
uninstalled backend says what to do."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from benchmarks.context import RunContext
from benchmarks.errors import ConfigError
from retrievers import encoder_backends as eb
from retrievers.base import ParamsError
from retrievers.sentence_transformer import SentenceTransformerRetriever

TEXTS = ["The cat sat on the mat.", "Protein folding is driven by hydrophobic collapse.",
         "What was Uber's revenue in 2021?", "a", "A much longer passage about the immune system, " * 12]
# The fingerprint keys of a plain (torch) row, listed by hand: committed rows' cache keys depend on them.
TORCH_KEYS = {"encoder", "model_id", "revision", "weights_sha256", "pooling", "max_seq_length", "normalize",
              "dtype", "query_prefix", "impl"}


def row(backend: str | None = None, **extra):
    params = {"model": "minilm-l6", **({"backend": backend} if backend else {}), **extra}
    return SentenceTransformerRetriever("r", params)


def test_torch_keeps_its_fingerprint_and_card_and_every_backend_gets_its_own():
    plain, torch_row = row(), row("torch")
    assert set(plain.fingerprint()) == TORCH_KEYS and torch_row.fingerprint() == plain.fingerprint()
    assert "backend" not in plain.card().params  # existing records' cards are unchanged
    prints = {b: row(b).fingerprint() for b in eb.BACKENDS}
    assert len({tuple(sorted(p.items())) for p in prints.values()}) == len(eb.BACKENDS)
    for b in eb.BACKENDS[1:]:
        assert prints[b] == {**prints["torch"], "backend": b, "backend_impl": eb.EXPORT_VERSION}
        assert row(b).card().params["backend"] == b


def test_unknown_backend_and_impossible_combinations_are_params_errors():
    with pytest.raises(ParamsError, match="backend: Input should be 'torch', 'onnx'") as exc:
        row("onxx")
    assert "backend" in exc.value.valid
    with pytest.raises(ConfigError, match=r"unknown encoder backend 'onxx'.*did you mean 'onnx'\?"):
        eb.check_backend("onxx")
    for bad in ({"device": "cuda"}, {"dtype": "float16"}):
        with pytest.raises(ParamsError, match="runs on the CPU in float32"):
            row("openvino", **bad)
    row("onnx", device="cpu")  # cpu is what it runs on: allowed


def test_a_missing_package_stops_the_plan_with_the_pip_command(monkeypatch):
    real = importlib.util.find_spec
    missing = {"onnxruntime", "nncf"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n in missing else real(n, *a))
    problems = row("onnx-int8").plan_problems(None)
    assert len(problems) == 1
    assert "needs onnxruntime, not installed here: pip install 'retrieval-harness[onnx]'" in problems[0]
    assert "needs nncf, not installed here: pip install 'retrieval-harness[openvino]'" in (
        row("openvino-int8").plan_problems(None)[0])
    with pytest.raises(eb.BackendUnavailable, match=r"or: pip install onnx onnxruntime\)"):
        eb.check_backend("onnx")
    assert row().plan_problems(None) == []  # torch needs nothing extra


def test_export_folders_are_keyed_by_model_and_backend_and_live_in_the_cache(tmp_path):
    ident = {"model_id": "org/m", "revision": "abc", "weights_sha256": "00"}
    folders = {eb.export_dir(tmp_path, ident, b) for b in eb.BACKENDS[1:]}
    assert len(folders) == 4 and all(f.parent == tmp_path / "encoders" for f in folders)
    other = eb.export_dir(tmp_path, {**ident, "weights_sha256": "01"}, "onnx")
    assert other != eb.export_dir(tmp_path, ident, "onnx")


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def boom(*_a):
        raise RuntimeError("disk full")

    monkeypatch.setattr(eb, "_build", boom)
    monkeypatch.setattr(eb, "_input_names", lambda _m: ["input_ids"])
    with pytest.raises(RuntimeError, match="disk full"):
        eb.ensure_export(object(), "onnx", tmp_path / "encoders" / "m-onnx")
    assert list((tmp_path / "encoders").iterdir()) == []


def test_trainer_params_do_not_take_a_backend():
    from retrievers.contrastive.retriever import ContrastiveParams

    assert "backend" not in ContrastiveParams.model_fields  # training keys unchanged


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_vectors_match_torch(backend, tmp_path):
    pytest.importorskip("onnxruntime" if backend == "onnx" else "openvino")
    ctx = RunContext(cache_dir=tmp_path, device="cpu", progress=False)
    ref = row().encode_passages(TEXTS, ctx)
    fast_row = row(backend)
    package = Path(fast_row.resolved.load_path)
    before = sorted(p.name for p in package.rglob("*"))
    fast = fast_row.encode_passages(TEXTS, ctx)
    assert fast.shape == ref.shape and fast.dtype == np.float32
    cos = np.sum(ref * fast, axis=1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(fast, axis=1)
    assert cos.min() > 0.999, cos
    assert not np.array_equal(ref, fast)  # it really ran the export, not torch
    q = fast_row.encode_queries(TEXTS[:2], ctx)
    assert np.allclose(q, fast[:2], atol=0)  # no prefix: queries and passages encode alike
    assert sorted(p.name for p in package.rglob("*")) == before  # nothing written into the package
    (folder,) = (tmp_path / "encoders").iterdir()
    assert backend in folder.name and (folder / "done").exists()
