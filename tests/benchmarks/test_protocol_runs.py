"""A suite holding one tiny CSV under both protocols, run end to end with MiniLM: the dalm entry's
numbers equal a transcription of DALM's evaluation (its encoder: transformers AutoModel, masked
mean pooling, L2 norm, 128 tokens padded to max length; its hnswlib index and filter), it gets its
own embedding cache key and its own table, and the leaderboard never compares it with exact rows."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks import protocol
from benchmarks.cli import main
from benchmarks.datapath import sha256_file
from benchmarks.suites import DatasetEntry
from md_tables import table_row

pytest.importorskip("hnswlib")
from dalm_reference import dalm_evaluate  # noqa: E402

ROWS = [  # (question, passage); rows 1 and 2 share a passage text, as DALM's CSVs often do
    ("What colour is the sky on a clear day?", "The sky is blue on a clear day as air scatters blue light."),
    ("Why does the sky look blue?", "The sky is blue on a clear day as air scatters blue light."),
    ("What do cats like to eat?", "Cats are carnivores and eat fish, birds and mice."),
    ("How tall is Mount Everest?", "Mount Everest is 8,849 metres above sea level."),
    ("What is the capital of France?", "Paris is the capital and largest city of France."),
    ("Where do emperor penguins live?", "Emperor penguins breed on the sea ice around Antarctica."),
    ("Which city is the capital of France?", "France's government sits in Paris, its capital."),
]
SUITE = """schema: suite/v1
name: proto
datasets:
  - {name: qa, split: test}
  - {name: qa, split: test, id: qa-dalm, protocol: dalm}
metrics: [recall@5, hit_rate@1, hit_rate@5, precision@5]
top_k: 5
baseline: plain
retrievers:
  - {name: plain, use: bge, params: {model: minilm-l6}}
  - {name: bm25, use: bm25}
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("proto")
    (tmp / "data" / "qa").mkdir(parents=True)
    with open(tmp / "data" / "qa" / "test.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Question", "Abstract", "Answer"])
        w.writerows([(q, p, "") for q, p in ROWS])
    (tmp / "cards").mkdir()
    sha = sha256_file(tmp / "data" / "qa" / "test.csv")
    (tmp / "cards" / "qa.yaml").write_text(
        "schema: dataset/v1\nname: qa\nversion: 1\ndescription: protocol test\nformat: csv-qa\n"
        f"splits:\n  test:\n    data: {{path: qa/test.csv, sha256: {sha}}}\n"
        "options: {dedupe: false, columns: {query: Question, passage: Abstract, answer: Answer}}\n")
    (tmp / "suites").mkdir()
    (tmp / "suites" / "proto.yaml").write_text(SUITE)
    env = {"HARNESS_DATA_PATH": str(tmp / "data"), "HARNESS_DATASETS_DIR": str(tmp / "cards"),
           "HARNESS_SUITES_DIR": str(tmp / "suites"), "HARNESS_CACHE_DIR": str(tmp / "cache")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        results = tmp / "results"
        assert main(["--suite", "proto", "--results-dir", str(results), "--leaderboard", str(tmp / "lb.md"),
                     "--device", "cpu", "-qq"]) == 0
        yield tmp, results, mp


def record(results: Path, dataset: str, row: str) -> dict:
    return json.loads((results / "proto" / dataset / f"{row}.json").read_text())


def dalm_encode(texts: list[str]) -> dict[str, np.ndarray]:
    """DALM's AutoModelForSentenceEmbedding.forward after preprocess_function (max_length 128)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from retrievers.model_resolution import resolve_model

    path = resolve_model("minilm-l6").load_path
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    batch = tok(texts, padding="max_length", max_length=128, truncation=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(batch["input_ids"], batch["attention_mask"])[0]
    mask = batch["attention_mask"].unsqueeze(-1).expand(hidden.size()).float()
    mean = torch.sum(hidden * mask, 1) / torch.clamp(mask.sum(1), min=1e-9)
    vecs = torch.nn.functional.normalize(mean, p=2, dim=1).numpy()
    return dict(zip(texts, vecs))


def test_dalm_row_matches_a_transcription_of_dalms_evaluation(ran, one_thread):
    _, results, _ = ran
    rec = record(results, "qa-dalm", "plain")
    assert rec["status"] == "ok"
    passages = [p for _, p in ROWS]
    pvec, qvec = dalm_encode(sorted(set(passages))), dalm_encode([q for q, _ in ROWS])
    want = dalm_evaluate(ROWS, qvec, pvec, 5)
    own = rec["protocol"]["dalm_metrics"]
    assert {k: own[k] for k in want} == pytest.approx(want, abs=1e-6)
    assert rec["metrics"]["recall@5"] == pytest.approx(want["recall"], abs=1e-6)
    assert rec["metrics"]["hit_rate@5"] == pytest.approx(want["hit_rate"], abs=1e-6)
    at_1 = dalm_evaluate(ROWS, qvec, pvec, 1)
    assert rec["metrics"]["hit_rate@1"] == pytest.approx(at_1["hit_rate"], abs=1e-6)
    assert rec["counts"]["docs"] == len(set(passages)) == 6  # the unique passage texts, nothing else
    assert rec["stats"]["ann_recall@k"] == 1.0
    # MiniLM gives some unrelated passages a negative similarity: DALM drops them, so its precision
    # (over the hits kept) is above the harness's precision@5 (over 5).
    assert rec["stats"]["dalm_hits_below_min_similarity"] > 0
    assert own["precision"] > rec["metrics"]["precision@5"]
    # Rows 1 and 2 share a passage text: by id, the exact row misses one of them at rank 1.
    assert rec["metrics"]["hit_rate@1"] > record(results, "qa", "plain")["metrics"]["hit_rate@1"]


def test_dalm_row_records_its_protocol_search_and_encoder(ran):
    _, results, _ = ran
    rec = record(results, "qa-dalm", "plain")
    fp = rec["fingerprint"]
    assert fp["protocol"]["name"] == "dalm" and fp["protocol"]["relevance"] == "passage text equality"
    assert fp["search"] == {"ann": {"library": "hnswlib", "space": "ip", "M": 100, "ef_construction": 200,
                                    "ef_search": 100}}
    assert fp["data"]["corpus"]["n"] == 6 and fp["data"]["queries"]["n"] == 7
    params = rec["retriever"]["params"]
    assert (params["pooling"], params["normalize"], params["max_seq_length"]) == ("mean", True, 128)
    assert rec["protocol"]["encoder_applied"] == {"pooling": "mean", "normalize": True, "max_seq_length": 128}
    assert rec["dataset"]["notes"]["dalm_duplicate_texts_merged"] == 1


def test_exact_row_is_as_before_and_has_its_own_vectors(ran):
    from benchmarks.encoding.cache import fingerprint_key
    from retrievers import RETRIEVERS

    _, results, _ = ran
    exact, dalm = record(results, "qa", "plain"), record(results, "qa-dalm", "plain")
    assert "protocol" not in exact["fingerprint"] and "protocol" not in exact
    assert exact["fingerprint"]["search"] == "exact" and exact["counts"]["docs"] == 7
    plain = RETRIEVERS.get("bge")("plain", {"model": "minilm-l6"})
    assert exact["embedding"]["fingerprint_sha256"] == fingerprint_key(plain.fingerprint())  # key unchanged
    assert dalm["embedding"]["fingerprint_sha256"] != exact["embedding"]["fingerprint_sha256"]


def test_a_row_without_embeddings_is_not_run_under_dalm(ran):
    _, results, _ = ran
    rec = record(results, "qa-dalm", "bm25")
    assert rec["status"] == "not_run" and "protocol dalm indexes embeddings" in rec["reason"]
    assert record(results, "qa", "bm25")["status"] == "ok"


def test_leaderboard_shows_the_dalm_table_apart_with_ann_recall(ran):
    tmp, _, _ = ran
    text = (tmp / "lb.md").read_text()
    exact_part, dalm_part = text.split("### qa-dalm")
    assert "Protocol `dalm` v1" in dalm_part and "Protocol `dalm`" not in exact_part
    assert "ANN recall@k" in dalm_part.splitlines()[2] and "ANN recall@k" not in exact_part
    assert table_row(dalm_part, "plain (baseline)")[-1] == "1.0000"
    assert "- `plain`: recall " in dalm_part and "stale" not in text


def test_switching_an_entry_to_dalm_makes_its_exact_rows_stale(ran):
    tmp, results, mp = ran
    out = tmp / "switched"
    out.mkdir(exist_ok=True)
    (out / "proto.yaml").write_text(SUITE.replace("- {name: qa, split: test}\n",
                                                  "- {name: qa, split: test, protocol: dalm}\n"))
    mp.setenv("HARNESS_SUITES_DIR", str(out))
    assert main(["leaderboard", "--results-dir", str(results), "--leaderboard", str(tmp / "lb2.md")]) == 0
    exact_part = (tmp / "lb2.md").read_text().split("### qa-dalm")[0]
    assert "plain (baseline, stale)" in exact_part
    assert ("the suite changed since this ran: exact search; the suite now: ANN search (M=100, "
            "ef_construction=200, ef_search=100, library=hnswlib, space=ip)") in exact_part


def test_a_dalm_record_is_never_compared_with_an_exact_one(ran):
    from benchmarks.records import load_records
    from benchmarks.staleness import classify

    _, results, _ = ran
    recs = {(r.dataset_key, r.row): r for r in load_records(results)}
    exact, dalm = recs[("qa", "plain")], recs[("qa-dalm", "plain")]
    dalm.data = {**dalm.data, "row": "plain-dalm"}  # as if both lay in one table
    section = classify("proto", "qa", [exact, dalm], None)
    assert section.reference is exact and [r.row for r in section.comparable()] == ["plain"]
    assert "protocol dalm v1, baseline harness" in section.stale["plain-dalm"]


def test_dalm_encoder_settings_give_dalms_vectors(one_thread):
    from benchmarks.context import RunContext
    from retrievers import RETRIEVERS

    long = " ".join(f"Revenue in quarter {i} rose as riders took more trips in cities." for i in range(30))
    texts = [long, ROWS[0][1]]  # about 450 tokens: DALM's 128-token cut matters; and a short one
    row = RETRIEVERS.get("bge")("plain", {"model": "minilm-l6"})
    dalm = protocol.evaluated(DatasetEntry(name="qa", split="test", protocol="dalm"), row)
    c = RunContext(device="cpu", progress=False)
    ref = dalm_encode(texts)
    ours = dalm.encode_passages(texts, c)
    np.testing.assert_allclose(ours, np.stack([ref[t] for t in texts]), atol=1e-6)
    assert float(row.encode_passages([long], c)[0] @ ref[long]) < 0.99  # MiniLM's own 256 tokens differ
    assert row.params.max_seq_length is None  # the row itself is left as it was
