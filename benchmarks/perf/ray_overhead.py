"""What ``--ray`` costs against one process, on the same texts, in one run.

    python -m benchmarks.perf.ray_overhead [--texts 40] [--batch 8] [--workers 2]

Encodes the first N llamaindex-10k uber passages with MiniLM-L6 three ways, each into its own
empty cache: in this process (model load + encode), then ``ray.init`` (a local Ray, or the
cluster at $RAY_ADDRESS), then the engine's Ray path (actor start, one model load per actor,
encode). Checks the vectors are bit-identical and prints the wall seconds of each step.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf.ray_overhead", description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=40, help="uber passages to encode (default 40)")
    ap.add_argument("--batch", type=int, default=8, help="cache batch: one Ray row each (default 8)")
    ap.add_argument("--workers", type=int, default=2, help="Ray actors on CPUs (default 2)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)

    import numpy as np

    from benchmarks.cards import load_card
    from benchmarks.context import RunContext
    from benchmarks.encoding import embed
    from benchmarks.encoding.ray_pool import connect, import_ray
    from benchmarks.loaders import load_split
    from retrievers.sentence_transformer import SentenceTransformerRetriever

    split = load_split(load_card("llamaindex-10k"), "uber")
    texts = [split.corpus[d].full_text() for d in list(split.corpus)[:args.texts]]
    row = SentenceTransformerRetriever("plain", {"model": "minilm-l6"})
    row.encode_batch_size = args.batch
    out: dict[str, object] = {"texts": len(texts), "batch": args.batch, "workers": args.workers}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        single = embed(row, "passage", texts, RunContext(cache_dir=Path(tmp) / "one", progress=False, device="cpu"))
        out["single_process_s"] = round(time.perf_counter() - t0, 2)
        ray = import_ray()
        t0 = time.perf_counter()
        connect(ray)
        out["ray_init_s"] = round(time.perf_counter() - t0, 2)
        ctx = RunContext(cache_dir=Path(tmp) / "ray", progress=False, device="cpu", workers=args.workers, ray=True)
        t0 = time.perf_counter()
        on_ray = embed(row, "passage", texts, ctx)
        out["ray_encode_s"] = round(time.perf_counter() - t0, 2)
        ray.shutdown()
    out["identical"] = bool(np.array_equal(single, on_ray))
    out["ray_total_over_single"] = round((out["ray_init_s"] + out["ray_encode_s"]) / out["single_process_s"], 2)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0 if out["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
