"""Encoder backends side by side: texts/s against torch fp32, and what each costs in nDCG@10.

    nice -n 10 python -m benchmarks.perf.encoder_backends [--model minilm-l6] \\
        [--backends onnx,onnx-int8,openvino,openvino-int8] [--speed-texts 1000] [--quality] [--json out]

In one process, for torch fp32 and each backend (``backend`` param of ``bge`` rows,
retrievers/encoder_backends.py):

1. speed: texts/s encoding a fixed subset (the first ``--speed-texts`` by id) of SciFact
   test passages (long: ~250 tokens, truncated at the model's limit) and of llamaindex-10k's
   uber queries (short questions), batch 32; backends are timed in turns, ``--repeats`` rounds,
   the fastest round counts (load from other processes hits every backend alike). Export and
   load time are reported apart; they are paid once per model and cached.
2. quality (``--quality``): the full SciFact test split (300 queries, 5,183 passages) through
   the embedding cache like a ``bge`` row (torch's vectors are usually warm), nDCG@10 per query,
   the change against torch with a paired randomization test, and the minimum cosine of each
   passage vector to torch's.

Goal (issue 14): >= 2.5x passages/s at a loss of at most 0.005 nDCG@10.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as adapter_vs_llamaindex.py: no spin-waits

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402

from benchmarks.encoding import embed  # noqa: E402

DEFAULT_BACKENDS = "onnx,onnx-int8,openvino,openvino-int8"


def load_split(suite: str):
    from benchmarks.runner import load_dataset
    from benchmarks.suites import load_suite

    return load_dataset(load_suite(suite).datasets[0], None).split


def speed(retrievers: dict, passages: list[str], queries: list[str], repeats: int, ctx) -> dict:
    """{backend: {"passages_per_s", "queries_per_s"}}, fastest of ``repeats`` interleaved rounds."""
    best: dict[str, dict[str, float]] = {b: {"passages_per_s": 0.0, "queries_per_s": 0.0} for b in retrievers}
    for _ in range(repeats):
        for backend, r in retrievers.items():
            for key, texts, encode in (("passages_per_s", passages, r.encode_passages),
                                       ("queries_per_s", queries, r.encode_queries)):
                t0 = time.perf_counter()
                encode(texts, ctx)
                best[backend][key] = max(best[backend][key], len(texts) / (time.perf_counter() - t0))
    return best


def sub_corpus(split, n_others: int | None):
    """The split with its corpus cut to every judged passage plus the first ``n_others`` unjudged
    ones by id (None: the whole corpus). Fewer distractors make nDCG@10 higher than the full
    split's, but the same for every backend, so the paired deltas stay comparable."""
    if n_others is None:
        return split
    judged = {d for rel in split.qrels.values() for d in rel}
    others = [d for d in sorted(split.corpus) if d not in judged][:n_others]
    keep = judged.intersection(split.corpus) | set(others)
    return dataclasses.replace(split, corpus={d: split.corpus[d] for d in sorted(keep)})


def quality(retrievers: dict, split, ctx) -> dict:
    """nDCG@10 per backend, its change against torch, paired test, min cosine to torch."""
    from benchmarks.metrics import evaluate
    from benchmarks.search import search_run
    from benchmarks.stats import paired_randomization_test

    doc_ids, qids = sorted(split.corpus), sorted(split.queries)
    out, ref = {}, None
    for backend, r in retrievers.items():
        d = embed(r, "passage", [r.passage_text(split.corpus[i]) for i in doc_ids], ctx)
        q = embed(r, "query", [split.queries[i] for i in qids], ctx)
        ev = evaluate(split.qrels, search_run(q, d, qids, doc_ids, 10, ctx), ["ndcg@10"])
        per = ev.per_query["ndcg@10"]
        row = {"ndcg@10": ev.metrics["ndcg@10"], "n_queries": ev.n_queries}
        if ref is None:
            ref = (per, d, row["ndcg@10"])
        else:
            keys = sorted(per)
            row["delta"] = row["ndcg@10"] - ref[2]
            row["p_value"] = paired_randomization_test([per[k] for k in keys], [ref[0][k] for k in keys])
            row["min_cosine_to_torch"] = float(np.min(np.sum(d * ref[1], axis=1)))
        out[backend] = row
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--backends", default=DEFAULT_BACKENDS, help="comma-separated; torch is always the reference")
    ap.add_argument("--speed-texts", type=int, default=1000, help="passages and queries timed (first N by id)")
    ap.add_argument("--repeats", type=int, default=1, help="interleaved timing rounds; the fastest counts")
    ap.add_argument("--quality", action=argparse.BooleanOptionalAction, default=True,
                    help="nDCG@10 on the full SciFact test split (encodes 5,183 passages per uncached backend)")
    ap.add_argument("--quality-distractors", type=int, default=None,
                    help="cut the corpus to the judged passages plus this many others (default: all)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    from benchmarks.context import RunContext
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    backends = ["torch"] + [b for b in args.backends.split(",") if b and b != "torch"]
    ctx = RunContext(device="cpu", progress=False)
    scifact, uber = load_split("beir-scifact"), load_split("llamaindex-10k")
    retrievers, load_s = {}, {}
    for b in backends:
        r = SentenceTransformerRetriever(b, {"model": args.model, "backend": b})
        t0 = time.perf_counter()
        r._model(ctx)  # load, and export on first use (cached under <cache>/encoders)
        load_s[b] = time.perf_counter() - t0
        r.encode_queries(["warm-up: first call pays one-off allocations"] * 8, ctx)
        retrievers[b] = r
    passages = [scifact.corpus[d].full_text() for d in sorted(scifact.corpus)[:args.speed_texts]]
    queries = [uber.queries[q] for q in sorted(uber.queries)[:args.speed_texts]]
    rates = speed(retrievers, passages, queries, args.repeats, ctx)
    out = {"model": args.model, "speed_texts": {"passages": len(passages), "queries": len(queries)},
           "repeats": args.repeats, "load_s": load_s, "rates": rates}
    base = rates["torch"]
    print(f"{args.model}: {len(passages)} SciFact passages, {len(queries)} uber queries, batch 32, "
          f"fastest of {args.repeats}")
    print(f"{'backend':14} {'passages/s':>11} {'ratio':>6} {'queries/s':>10} {'ratio':>6} {'load s':>7}")
    for b, r in rates.items():
        print(f"{b:14} {r['passages_per_s']:11.1f} {r['passages_per_s'] / base['passages_per_s']:5.2f}x "
              f"{r['queries_per_s']:10.1f} {r['queries_per_s'] / base['queries_per_s']:5.2f}x {load_s[b]:7.1f}")
    if args.quality:
        split = sub_corpus(scifact, args.quality_distractors)
        out["quality"] = qual = quality(retrievers, split, ctx)
        out["quality_corpus"] = len(split.corpus)
        what = "full" if args.quality_distractors is None else f"judged + {args.quality_distractors} other passages"
        print(f"SciFact test, {what} ({qual['torch']['n_queries']} queries, {len(split.corpus)} passages):")
        for b, q in qual.items():
            extra = (f"  delta {q['delta']:+.4f}  p={q['p_value']:.3f}  min cos {q['min_cosine_to_torch']:.5f}"
                     if "delta" in q else "")
            print(f"  {b:14} nDCG@10 {q['ndcg@10']:.5f}{extra}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
