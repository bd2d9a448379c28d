"""The 200k stand-in end to end on one GPU, with MiniLM: one prepared command.

    python -m benchmarks.perf.gpu_scale --rows 200000 --device cuda     # target: < 8 min on an H200
    python -m benchmarks.perf.gpu_scale --rows 300 --device cpu --train-batch-size 32   # a smoke run

Two suites, run through the harness exactly as ``harness.py`` runs them (benchmarks/perf/scale.py
times each phase):

1. ``gpu-all``: the plain row (all-MiniLM-L6-v2; float16 on a GPU) over all N queries against all
   N passages: DALM's open PR. Phases: encode (fp16), exact search of every query, metrics, CIs.
2. ``gpu-holdout``: the held-out test split (10% of the queries, grouped by passage), with plain,
   one epoch of DALM's contrastive retriever-only training (LoRA, batch 150) on the train split,
   and one epoch of ``e2e-equivalent`` under DALM's e2e recipe (batch 20, 100 warm-up steps, LoRA)
   on every train row, weighted by the lengths of the stand-in's own answers in SmolLM2's tokens.

The e2e row itself (MiniLM + SmolLM2 trained jointly) is not included: it gives the retriever the
same weights as e2e-equivalent (tests/retrievers/test_e2e_equivalent.py) at the cost of a 135M-
parameter generator's forward and backward per row, not an 8-minute job over 180k rows.
Prints the figures as JSON (``--json FILE`` also writes them). Scale data: the scores mean nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.perf.scale import SUITE_HEAD, measure, report  # noqa: E402

HEAD = (SUITE_HEAD.replace("{description}", "benchmarks/perf/gpu_scale.py (scale data, not a quality result)")
        + "  - {{name: plain, use: bge, params: {{model: minilm-l6, dtype: {dtype}, batch_size: {batch}}}}}\n")
CONTRASTIVE = ("  - {{name: contrastive, use: contrastive, params: {{model: minilm-l6, lora: true, epochs: 1, "
               "train_batch_size: {train_batch}, dtype: {dtype}, batch_size: {batch}}}}}\n")
E2E_EQUIVALENT = ("  - {{name: e2e-equivalent, use: e2e-equivalent, params: {{model: minilm-l6, generator: smollm2-135m, "
                  "recipe: dalm-e2e, answers: split, max_train_examples: null, dtype: {dtype}, batch_size: {batch}}}}}\n")


def suites(dtype: str, batch: int, train_batch: int) -> list[tuple[str, str]]:
    fill = {"dtype": dtype, "batch": batch, "train_batch": train_batch}
    return [
        ("gpu-all", HEAD.format(name="gpu-all", dataset="{name: arcee-standin, split: all}", **fill)),
        ("gpu-holdout", HEAD.format(name="gpu-holdout", **fill,
                                    dataset="{name: arcee-standin, split: test, train_split: train}")
         + CONTRASTIVE.format(**fill) + E2E_EQUIVALENT.format(**fill)),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf.gpu_scale", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rows", type=int, default=200_000, help="stand-in rows (default 200000)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--work", type=Path, help="working folder (default /tmp/gpu-scale-<rows>)")
    ap.add_argument("--batch-size", type=int, default=None, help="encode batch (default 512 on cuda, 32 on cpu)")
    ap.add_argument("--train-batch-size", type=int, default=150, help="contrastive batch (DALM's 10-K run: 150)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.rows < 20:
        ap.error("--rows must be at least 20 (the held-out split needs a few queries on each side)")
    dtype = "float16" if args.device == "cuda" else "float32"  # half precision on CPU is slower, not faster
    batch = args.batch_size or (512 if args.device == "cuda" else 32)
    work = args.work or Path(f"/tmp/gpu-scale-{args.rows}")
    out = measure(args.rows, work, suites(dtype, batch, args.train_batch_size),
                  extra_args=("--device", args.device))
    out.update(device=args.device, dtype=dtype, encode_batch=batch, train_batch=args.train_batch_size)
    return report(out, args.json)


if __name__ == "__main__":
    sys.exit(main())
