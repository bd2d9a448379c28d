"""contrastive (DALM retriever-only): loss, masking, pooling, determinism, saved model, suite row."""
import hashlib
import math

import pytest
import torch

from benchmarks.training import duplicate_mask, same_passage_groups, training_pairs
from retrievers.contrastive.retriever import ContrastiveParams, ContrastiveRetriever
from benchmarks.training.encode import pool
from benchmarks.training.losses import symmetric_infonce
from retrievers.contrastive.train import train_contrastive
from tiny_training import run_suite, suite_records, tiny_split, tiny_st_model, write_tiny_suite  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: torch on one thread


def ce(logits, target):
    """Cross-entropy of one row, by hand: log-sum-exp minus the target logit."""
    return math.log(sum(math.exp(x) for x in logits)) - logits[target]


def test_symmetric_infonce_hand_worked():
    # S = q p^T = [[1, 0], [0.6, 0.8]] at scale 1; rows are queries, columns passages.
    q = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    rows = (ce([1, 0], 0) + ce([0.6, 0.8], 1)) / 2
    cols = (ce([1, 0.6], 0) + ce([0, 0.8], 1)) / 2
    assert symmetric_infonce(q, p, scale=1.0).item() == pytest.approx((rows + cols) / 2, rel=1e-6)
    # scale 100 = temperature 0.01: cosines 1 and 0.99 become logits 100 and 99, so every row
    # and column is log(1 + e^-1)
    b = (1 - 0.99 ** 2) ** 0.5
    near = torch.tensor([[1.0, 0.0], [0.99, b]])
    assert symmetric_infonce(near, near).item() == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-4)


def test_false_negative_mask():
    groups = torch.tensor(same_passage_groups(["a", "a", "b"]))
    mask = duplicate_mask(groups)
    assert mask.tolist() == [[False, True, False], [True, False, False], [False, False, False]]
    # rows 0 and 1 are two questions about passage "a": S = q p^T at scale 1
    q = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    s = (q @ p.T).tolist()  # [[1, 1, 0], [.8, .8, .6], [0, 0, 1]]
    rows = (ce([s[0][0], s[0][2]], 0) + ce([s[1][1], s[1][2]], 0) + ce(s[2], 2)) / 3
    cols = (ce([s[0][0], s[2][0]], 0) + ce([s[1][1], s[2][1]], 0) + ce([s[0][2], s[1][2], s[2][2]], 2)) / 3
    got = symmetric_infonce(q, p, scale=1.0, mask=mask).item()
    assert got == pytest.approx((rows + cols) / 2, rel=1e-6)
    assert symmetric_infonce(q, p, scale=1.0).item() > got  # unmasked, the twin counts as a negative


def test_pooling_ignores_padding():
    hidden = torch.tensor([[[3.0, 0.0], [1.0, 4.0], [100.0, 100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    # mean of the two real tokens = (2, 2) -> unit (0.7071, 0.7071); CLS = first token (1, 0)
    assert pool(hidden, mask, "mean").tolist()[0] == pytest.approx([2 ** -0.5, 2 ** -0.5])
    assert pool(hidden, mask, "cls").tolist()[0] == pytest.approx([1.0, 0.0])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_st_model(tmp_path_factory.mktemp("tinybert"))


def digest(folder):
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def train_args():
    pairs = training_pairs(tiny_split())
    return [p.query for p in pairs], [p.passage for p in pairs], same_passage_groups([p.passage for p in pairs])


def test_full_fine_tuning_is_deterministic_and_saves_a_loadable_model(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    params = ContrastiveParams(model=tiny_model, epochs=2, train_batch_size=6, lora=False, lr=1e-3)
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        log = train_contrastive(tiny_model, *train_args(), params, seed=3, device="cpu", progress=False,
                                out=tmp_path / run)
        assert log.steps == 4 and len(log.epochs["total"]) == 2
    assert digest(tmp_path / "a") == digest(tmp_path / "b")  # same seed, same bytes
    model = SentenceTransformer(str(tmp_path / "a"), device="cpu")
    base = SentenceTransformer(tiny_model, device="cpu")
    changed = [n for n, w in model.state_dict().items() if not torch.equal(w, base.state_dict()[n])]
    assert any("intermediate" in n for n in changed)  # all layers train
    assert model.encode(["a question"]).shape == (1, 32)


def test_lora_is_merged_and_moves_only_query_key_value(tiny_model, tmp_path):
    from sentence_transformers import SentenceTransformer

    params = ContrastiveParams(model=tiny_model, epochs=1, train_batch_size=6, lora=True, lr=1e-2)
    train_contrastive(tiny_model, *train_args(), params, seed=3, device="cpu", progress=False, out=tmp_path)
    model = SentenceTransformer(str(tmp_path), device="cpu")  # merged: loads without peft
    assert not any("lora" in name for name in model.state_dict())
    base = SentenceTransformer(tiny_model, device="cpu")
    changed = [n for n, w in model.state_dict().items() if not torch.equal(w, base.state_dict()[n])]
    assert changed and all(n.split(".")[-2] in ("query", "key", "value") for n in changed)


def test_retriever_trains_once_and_evaluates_with_or_without_prefixes(tiny_model, tmp_path, monkeypatch):
    rows = [f"{{name: c, use: contrastive, params: {{model: '{tiny_model}', epochs: 1, train_batch_size: 6}}}}",
            f"{{name: cp, use: contrastive, params: {{model: '{tiny_model}', epochs: 1, train_batch_size: 6, "
            "eval_prefixes: true}}",
            f"{{name: c2, use: contrastive, params: {{model: '{tiny_model}', epochs: 1, train_batch_size: 4}}}}"]
    name, rec = suite_records(tmp_path, monkeypatch, rows)
    c, cp, c2 = rec["c"]["training"], rec["cp"]["training"], rec["c2"]["training"]
    assert c["reused"] is False and c["optimizer_steps"] == 2
    # eval-only settings do not retrain; a changed hyper-parameter does
    assert cp["reused"] is True and cp["artifact_key"] == c["artifact_key"]
    assert c2["reused"] is False and c2["artifact_key"] != c["artifact_key"]
    assert rec["cp"]["retriever"]["params"]["query_prefix"] == "#query# "
    assert rec["cp"]["retriever"]["params"]["passage_prefix"] == "#passage# "
    assert rec["c"]["retriever"]["artifacts"]["checkpoint"] == c["artifact_sha256"]
    code, again = run_suite(tmp_path, name, "r2", "--retriever", "c")
    assert again["c"]["training"]["reused"] is True and again["c"]["metrics"] == rec["c"]["metrics"]


def test_params_are_checked():
    with pytest.raises(Exception):
        ContrastiveRetriever("x", {"model": "minilm-l6", "pooling": "max"})
    with pytest.raises(Exception):
        ContrastiveRetriever("x", {"model": "minilm-l6", "temperature": 0.01})  # it is logit_scale
