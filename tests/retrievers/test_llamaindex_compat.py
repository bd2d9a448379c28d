"""Our adapter against LlamaIndex's own code: folders load both ways, and training matches.

Skipped when llama-index is not installed (``pip install -e '.[llamaindex]'``).
"""
import hashlib
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("llama_index.core", reason="llama-index not installed: pip install -e '.[llamaindex]'")
pytest.importorskip("llama_index.finetuning", reason="llama-index-finetuning not installed (or broken)")

from llama_index.core.base.embeddings.base import BaseEmbedding  # noqa: E402
from llama_index.embeddings.adapter import LinearAdapterEmbeddingModel  # noqa: E402
from llama_index.embeddings.adapter.utils import TwoLayerNN as LlamaTwoLayerNN  # noqa: E402
from llama_index.finetuning import EmbeddingAdapterFinetuneEngine  # noqa: E402
from llama_index.finetuning.embeddings.common import EmbeddingQAFinetuneDataset  # noqa: E402

from benchmarks.training import training_pairs  # noqa: E402
from retrievers.adapter.models import TwoLayerNN, apply_adapter, load_adapter, save_adapter  # noqa: E402
from retrievers.adapter.retriever import AdapterParams, train_adapter  # noqa: E402
from retrievers.llamaindex import LlamaIndexRetriever, recorded_losses  # noqa: E402
from tiny_training import run_suite, suite_records, tiny_split  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread

DIM = 8


def vector(text: str) -> list[float]:
    """A fixed pseudo-random unit vector per text (float32 values, as a real encoder returns)."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


class HashEmbedding(BaseEmbedding):
    """Stands in for the frozen base model: LlamaIndex calls it one text at a time."""

    def _get_query_embedding(self, query: str) -> list[float]:
        return vector("q:" + query)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return vector("q:" + query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return vector(text)


def llama_dataset() -> Any:
    split = tiny_split()
    return EmbeddingQAFinetuneDataset(queries=split.queries, corpus={d: doc.text for d, doc in split.corpus.items()},
                                      relevant_docs={q: list(r) for q, r in split.qrels.items()})


def base_tensors():
    pairs = training_pairs(tiny_split())
    q = torch.tensor([vector("q:" + p.query) for p in pairs])
    p = torch.tensor([vector(p.passage) for p in pairs])
    return q, p, [x.passage for x in pairs]


def train_with_llamaindex(folder, **kwargs: Any) -> list[float]:
    torch.manual_seed(0)
    with recorded_losses() as losses:
        engine = EmbeddingAdapterFinetuneEngine(llama_dataset(), HashEmbedding(), model_output_path=str(folder),
                                                device="cpu", show_progress_bar=False, **kwargs)
        engine.finetune()
    return losses


def test_same_training_as_the_engine(tmp_path):
    # Same base vectors, pairs, batches (4, unshuffled), AdamW, warmup and clipping: same weights.
    losses = train_with_llamaindex(tmp_path, epochs=2, batch_size=4, bias=True)
    theirs = load_adapter(tmp_path)
    q, p, passages = base_tensors()
    ours, log = train_adapter(q, p, passages, AdapterParams(epochs=2, train_batch_size=4, bias=True), seed=0)
    assert log.steps == len(losses) == 6
    assert log.parts["total"] == pytest.approx(losses, abs=1e-6)
    assert torch.allclose(ours.linear.weight, theirs.linear.weight, atol=1e-6)
    assert torch.allclose(ours.linear.bias, theirs.linear.bias, atol=1e-6)
    assert not torch.allclose(theirs.linear.weight, torch.eye(DIM))  # it did train


def test_engine_adapter_loads_into_ours_with_the_same_query_embeddings(tmp_path):
    train_with_llamaindex(tmp_path, epochs=1, batch_size=4)
    theirs = LinearAdapterEmbeddingModel(HashEmbedding(), str(tmp_path), device="cpu")
    ours = load_adapter(tmp_path)
    query = "Where did the cat sit?"
    expected = np.array(theirs.get_query_embedding(query), np.float32)
    got = apply_adapter(ours, np.array([vector("q:" + query)], np.float32), normalize=False)[0]
    assert np.allclose(got, expected, atol=1e-7)
    # passages untouched on both sides
    assert theirs.get_text_embedding("some passage") == vector("some passage")


@pytest.mark.parametrize("two_layer", [False, True])
def test_our_adapter_loads_into_llamaindex(tmp_path, two_layer):
    q, p, passages = base_tensors()
    params = AdapterParams(epochs=1, train_batch_size=4, bias=True, lr=1e-2)
    if two_layer:
        params = AdapterParams(adapter="two_layer", hidden_features=16, add_residual=True, epochs=1, lr=1e-2)
    ours, _ = train_adapter(q, p, passages, params, seed=0)
    save_adapter(ours, tmp_path)
    cls = LlamaTwoLayerNN if two_layer else None
    theirs = LinearAdapterEmbeddingModel(HashEmbedding(), str(tmp_path), adapter_cls=cls, device="cpu")
    query = "How do penguins survive winter?"
    got = apply_adapter(ours, np.array([vector("q:" + query)], np.float32), normalize=False)[0]
    assert np.allclose(theirs.get_query_embedding(query), got, atol=1e-7)
    assert isinstance(ours, TwoLayerNN) == two_layer


def test_unavailable_reason_names_the_extra(monkeypatch):
    import retrievers.llamaindex as mod

    monkeypatch.setattr(mod, "_has", lambda name: name != "llama_index.finetuning")
    assert LlamaIndexRetriever("li", {"adapter": False}).unavailable_reason() is None
    assert LlamaIndexRetriever("li", {"adapter": True}).unavailable_reason() == \
        "not run: pip install -e '.[llamaindex]'"


def test_llamaindex_rows_in_a_suite(tmp_path, monkeypatch):
    rows = ["{name: ours, use: bge, params: {model: minilm-l6}}",
            "{name: li, use: llamaindex, params: {model: minilm-l6}}",
            "{name: li-adapter, use: llamaindex, params: {model: minilm-l6, adapter: true, epochs: 1}}"]
    name, rec = suite_records(tmp_path, monkeypatch, rows)
    # same model, same exact search: LlamaIndex's base path ranks as ours does
    assert rec["li"]["metrics"] == pytest.approx(rec["ours"]["metrics"], abs=1e-9)
    train = rec["li-adapter"]["training"]
    assert train["optimizer_steps"] == 2 and train["reused"] is False
    assert len(train["losses"]["total"]["epoch_means"]) == 1
    assert rec["li-adapter"]["retriever"]["artifacts"]["adapter"] == train["artifact_sha256"]
    code, again = run_suite(tmp_path, name, "r2", "--retriever", "li-adapter")
    assert again["li-adapter"]["training"]["reused"] is True
    assert again["li-adapter"]["metrics"] == rec["li-adapter"]["metrics"]


def test_a_warm_row_reuses_llamaindexs_rankings_and_only_for_the_same_inputs(tmp_path, monkeypatch):
    from benchmarks.context import RunContext

    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    split = tiny_split()
    queries = dict(split.queries)

    def row(fail: bool = False) -> LlamaIndexRetriever:
        r = LlamaIndexRetriever("li", {"model": "minilm-l6"})
        r._base = HashEmbedding()  # deterministic stand-in for the model, one text at a time

        def refuse(*args: Any) -> Any:
            raise AssertionError("LlamaIndex ran again")
        if fail:
            r._retrieve = refuse  # type: ignore[method-assign]
        return r

    cold, warm = RunContext(progress=False), RunContext(progress=False)
    first = row().retrieve(split.corpus, queries, 2, cold)
    assert "llamaindex_run_remembered" not in cold.stats
    assert all(len(hits) == 2 for hits in first.values()) and len(first) == len(queries)
    again = row(fail=True).retrieve(split.corpus, queries, 2, warm)
    assert again == first and warm.stats["llamaindex_run_remembered"] == 1.0
    assert warm.stats["index_s"] == cold.stats["index_s"]  # the cold run's cost, kept
    with pytest.raises(AssertionError, match="ran again"):  # another k, another query text: computed
        row(fail=True).retrieve(split.corpus, queries, 1, RunContext(progress=False))
    with pytest.raises(AssertionError, match="ran again"):
        row(fail=True).retrieve(split.corpus, {**queries, next(iter(queries)): "changed"}, 2, RunContext(progress=False))
