"""benchmarks/perf/dalm_gpu.py at tiny size on CPU: the three DALM recipe rows build, train and
evaluate (the full-size run needs a GPU and is never a test)."""
import csv
import json

import pytest

from tiny_training import QUESTIONS, TOPICS, tiny_e2e_models

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_three_recipe_rows_run_tiny(tmp_path, monkeypatch, capsys):
    import benchmarks.perf.dalm_gpu as script

    data = tmp_path / "data" / "qa"
    data.mkdir(parents=True)
    with (data / "qa.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Question", "Abstract", "Answer"])
        for pid, questions in QUESTIONS.items():
            for q in questions:
                w.writerow([q, TOPICS[pid], " ".join(TOPICS[pid].split()[:3])])
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "qa.yaml").write_text("schema: dataset/v1\nname: qa\nversion: 1\ndescription: x\nformat: csv-qa\n"
                                   "pinned: false\nsplits:\n  all:\n    data: {path: qa/qa.csv, sha256: null}\n")
    monkeypatch.setenv("HARNESS_DATA_PATH", str(tmp_path / "data"))
    monkeypatch.setenv("HARNESS_DATASETS_DIR", str(cards))
    st, llama = tiny_e2e_models(tmp_path / "models")
    code = script.main(["--device", "cpu", "--dataset", "qa", "--split", "all", "--train-split", "all",
                        "--tiny-model", st, "--tiny-generator", llama, "--results-dir", str(tmp_path / "results"),
                        *[f"--override={o}" for o in ("train_batch_size=4", "epochs=1", "query_max_len=16",
                                                        "passage_max_len=32", "lr=0.005")],
                        *[f"--e2e-override={o}" for o in ("generator_max_len=40", 'answers="split"', "warmup_steps=1")]])
    assert code == 0
    out = {r["row"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert set(out) == {"contrastive", "e2e", "e2e-equivalent"} and all(r["status"] == "ok" for r in out.values())
    assert {r["recipe"] for r in out.values()} == {"dalm-retriever-only", "dalm-e2e"}
    assert all(r["optimizer_steps"] == 3 for r in out.values())  # 12 rows / batch 4, 1 epoch
    assert all(0 <= r["recall@10"] <= 1 for r in out.values())
