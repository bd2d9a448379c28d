"""Acceptance run for ``generate``: both 10-K PDFs through the offline generator, killed and resumed.

    nohup python benchmarks/perf/generate_10k.py > /tmp/generate_10k.log 2>&1 &

1. starts ``python -m benchmarks.generate --from-pdf ../shared/data/10k-pdfs ...`` (the same code
   as ``harness.py generate``) with the local SmolLM2 backend;
2. kills it with SIGKILL (no cleanup at all, like an OOM kill or a pulled plug) once
   ``--kill-after`` new replies are in the cache;
3. runs the identical command again and checks it only generated what the first run had not;
4. prints a JSON summary: replies per run, wall times, chunk and question counts.

It uses the real harness cache (``HARNESS_CACHE_DIR`` or the user cache dir), so the converted
SmolLM2 folder and the page texts are reused by later runs. Pass --fresh-cache DIR to start cold.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from benchmarks.context import cache_root  # noqa: E402


def cached_replies() -> int:
    folder = cache_root() / "generate" / "outputs"
    return sum(f.read_bytes().count(b"\n") for f in folder.glob("*.jsonl")) if folder.is_dir() else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdfs", default=str(REPO.parent / "shared" / "data" / "10k-pdfs"))
    ap.add_argument("--out", default="tenk-smollm2")
    ap.add_argument("--sample", type=int, default=100,
                    help="chunks sent to the generator (default: %(default)s)")
    ap.add_argument("--kill-after", type=int, default=30, help="new cached replies before the kill")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fresh-cache", type=Path, help="use this (new) HARNESS_CACHE_DIR")
    ap.add_argument("extra", nargs="*", help="more generate options, after --")
    opts = ap.parse_args()
    env = dict(os.environ)
    if opts.fresh_cache:
        env["HARNESS_CACHE_DIR"] = os.environ["HARNESS_CACHE_DIR"] = str(opts.fresh_cache)
    command = [sys.executable, "-m", "benchmarks.generate", "--from-pdf", opts.pdfs, "--out", opts.out,
               "--sample", str(opts.sample), "--threads", str(opts.threads), "--overwrite", *opts.extra]
    print("command:", " ".join(command), flush=True)

    before = cached_replies()
    start = time.monotonic()
    first = subprocess.Popen(command, cwd=REPO, env=env)
    while first.poll() is None and cached_replies() - before < opts.kill_after:
        time.sleep(2)
    killed = first.poll() is None
    if killed:
        first.send_signal(signal.SIGKILL)
        first.wait()
    run1 = {"killed": killed, "new_replies": cached_replies() - before,
            "wall_s": round(time.monotonic() - start, 1)}
    print("run 1:", run1, flush=True)

    mid = cached_replies()
    start = time.monotonic()
    second = subprocess.run(command, cwd=REPO, env=env)  # output goes to this script's log
    run2 = {"rc": second.returncode, "new_replies": cached_replies() - mid,
            "wall_s": round(time.monotonic() - start, 1)}
    print("run 2:", run2, flush=True)
    if second.returncode != 0:
        return second.returncode

    from benchmarks.datapath import search_path

    record = json.loads((search_path()[0] / opts.out / "generation.json").read_text())
    stats = record["generator"]["stats"]["questions"]
    summary = {"run1": run1, "run2": run2, "splits": record["splits"], "questions_stats": stats,
               "extract_s": record["extract_s"], "generator": record["generator"]["identity"]}
    # The resumed run must reuse every reply the killed one finished, and generate the rest.
    summary["resume_ok"] = (stats["from_cache"] >= run1["new_replies"]
                            and stats["from_cache"] + stats["generated"] + stats["failed"] == opts.sample)
    print(json.dumps(summary, indent=2), flush=True)
    return 0 if summary["resume_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
