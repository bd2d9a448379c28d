"""The contrastive retriever's hard_negatives option: artifact keys (unchanged without it, also
for the committed rows), parameter checks, deterministic training, and what the record says."""
import hashlib
import json
from pathlib import Path

import pytest

from benchmarks.artifacts import artifact_key
from benchmarks.context import RunContext
from benchmarks.training import same_passage_groups, training_pairs
from retrievers.contrastive.retriever import ContrastiveParams, ContrastiveRetriever
from retrievers.contrastive.train import train_contrastive
from tiny_training import run_suite, spec_capture, tiny_split, tiny_st_model, write_tiny_suite  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spec_of(monkeypatch, tmp_path):
    """spec_of(params, split) -> the spec fit() hands the artifact cache (nothing is trained)."""


    def run(params, split=None, seed=0):
        ctx = RunContext(cache_dir=tmp_path, progress=False, device="cpu", seed=seed)
        return spec_capture(monkeypatch, lambda: ContrastiveRetriever("row", params).fit(split or tiny_split(), ctx))

    return run


def test_hard_negative_settings_are_in_the_key_only_when_mining(spec_of):
    plain = spec_of({})
    assert not [k for k in plain["hyper"] if k.startswith("hard_negative")]
    on = spec_of({"hard_negatives": 1})
    assert on["hyper"]["hard_negatives"] == 1 and on["hyper"]["hard_negative_relative_margin"] == 0.05
    assert artifact_key(on) != artifact_key(plain)
    margin = spec_of({"hard_negatives": 1, "hard_negative_margin": 0.1})
    ranged = spec_of({"hard_negatives": 1, "hard_negative_range": [2, 30]})
    assert len({artifact_key(s) for s in (plain, on, margin, ranged)}) == 4
    assert ranged["hyper"]["hard_negative_range"] == [2, 30]


def test_mining_settings_without_hard_negatives_are_rejected():
    with pytest.raises(ValueError, match="hard_negative_margin set but hard_negatives is 0"):
        ContrastiveParams(hard_negative_margin=0.1)
    with pytest.raises(ValueError):
        ContrastiveParams(hard_negatives=-1)
    with pytest.raises(ValueError):
        ContrastiveParams(hard_negatives=1, hard_negative_sampling="hardest")


def committed_contrastive_rows():
    rows = []
    for path in sorted((ROOT / "results").rglob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except ValueError:
            continue
        trained = isinstance(rec, dict) and rec.get("training")
        if trained and rec.get("retriever", {}).get("use") == "contrastive":
            rows.append(pytest.param(rec, id=path.relative_to(ROOT / "results").as_posix()))
    return rows


@pytest.mark.parametrize("record", committed_contrastive_rows())
def test_committed_contrastive_rows_keep_their_artifact_keys(spec_of, record):
    """The key fit() asks for today is the one the committed record was trained under."""
    from benchmarks.loaders import load
    from benchmarks.suites import load_suite

    suite = load_suite(record["suite"])
    row = next(r for r in suite.retrievers if r.name == record["row"])
    entry = next(d for d in suite.datasets if d.key == record["dataset"]["id"])
    spec = spec_of(row.params, load(entry.name, entry.train_split), seed=suite.seed)
    assert artifact_key(spec) == record["training"]["artifact_key"]


def test_committed_rows_include_the_llamaindex_contrastive_row():
    ids = [p.id for p in committed_contrastive_rows()]
    assert "llamaindex-10k/llamaindex-10k/minilm-l6-contrastive.json" in ids  # the check above is not empty


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_st_model(tmp_path_factory.mktemp("tinybert"))


def digest(folder):
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_training_with_negatives_is_deterministic_and_the_negatives_count(tiny_model, tmp_path):
    pairs = training_pairs(tiny_split())
    queries, passages = [p.query for p in pairs], [p.passage for p in pairs]
    others = sorted(set(passages))
    # each row's next passage in topic order, the last row with none (a short list)
    negatives = [[others[(others.index(p) + 1) % len(others)]] for p in passages[:-1]] + [[]]
    params = ContrastiveParams(model=tiny_model, epochs=1, train_batch_size=6, lora=False, lr=1e-3)
    for run, negs in (("a", negatives), ("b", negatives), ("plain", None)):
        (tmp_path / run).mkdir()
        train_contrastive(tiny_model, queries, passages, same_passage_groups(passages), params, seed=3,
                          device="cpu", progress=False, out=tmp_path / run, negatives=negs)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "plain")  # the negatives entered the loss


def test_the_record_holds_the_mining_settings_and_counts(tiny_model, tmp_path, monkeypatch):
    rows = [f"{{name: hn, use: contrastive, params: {{model: '{tiny_model}', epochs: 1, train_batch_size: 6, "
            "hard_negatives: 2, hard_negative_relative_margin: null, hard_negative_range: [0, 5]}}"]
    name = write_tiny_suite(tmp_path, monkeypatch, rows)
    code, rec = run_suite(tmp_path, name, "r1")
    assert code == 0, {k: v.get("reason") for k, v in rec.items()}
    mined = rec["hn"]["training"]["hard_negatives"]
    assert mined["settings"] == {"num_negatives": 2, "absolute_margin": None, "relative_margin": None,
                                 "max_score": None, "range_min": 0, "range_max": 5, "sampling": "top"}
    # 12 questions over 6 passages, no margin: range_max 5 + 1 positive = the whole corpus is
    # scored, so every question's own passage is met and skipped, and 2 of the other 5 are kept
    assert (mined["queries"], mined["corpus"], mined["range_max"]) == (12, 6, 5)
    assert (mined["negatives"], mined["short_queries"]) == (24, 0)
    assert mined["skipped"] == {"positive": 12, "absolute_margin": 0, "relative_margin": 0, "max_score": 0,
                                "min_score": 0}
    assert rec["hn"]["training"]["optimizer_steps"] == 2
    code, again = run_suite(tmp_path, name, "r2")
    assert again["hn"]["training"]["reused"] is True and again["hn"]["training"]["hard_negatives"] == mined
