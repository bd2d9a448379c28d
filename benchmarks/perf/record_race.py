"""Race writers and readers on one result row; kill writers with SIGKILL; check every read.

    python -m benchmarks.perf.record_race --writes 400 --kills 20

Part 1: two writer processes each write the same row ``--writes`` times (every write has its
own per-query values and run, tagged ``w<writer>-<n>``) while this process reads the row as
fast as it can, each read through ``read_record`` with both sidecars, and checks that the
sidecars hold the very write the record describes. Target: 0 mismatches.

Part 2: ``--kills`` times, a writer is started on a fresh row and killed with SIGKILL at a
random point; then every record in the folder must load and be consistent, the row lock must
not be stuck (a new write succeeds), and after it no orphan file of the row is left.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.errors import DataError  # noqa: E402
from benchmarks.records import load_records, read_record, record_path, write_record  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
N_QUERIES = 30


def one_write(results: Path, writer: int, n: int) -> None:
    tag = f"w{writer}-{n}"
    values = {f"{tag}-q{j}": ((writer * 7919 + n * 31 + j) % 97) / 97 for j in range(N_QUERIES)}
    record = {"suite": "race", "row": "row", "dataset": {"id": "d", "split": "test"}, "status": "ok",
              "settings": {"metrics": ["m"], "top_k": 1}, "tag": tag,
              "metrics": {"m": sum(values.values()) / len(values)}}
    run = {q: {f"doc-{tag}": 1.0} for q in values}
    write_record(record_path(results, "race", "d", "row"), record, per_query={"m": values}, run=run)


def consistent(results: Path) -> tuple[bool, str]:
    """Read the row once with both sidecars; True when they hold the write the record names."""
    rec = read_record(record_path(results, "race", "d", "row"), sidecars=("per_query", "run"))
    tag = rec.data["tag"]
    values = rec.per_query()["m"]
    text = gzip.decompress(rec.run_bytes or b"").decode("utf-8")
    ok = (all(q.startswith(f"{tag}-q") for q in values) and len(values) == N_QUERIES
          and abs(sum(values.values()) / len(values) - rec.data["metrics"]["m"]) < 1e-12
          and text.count(f"doc-{tag}") == N_QUERIES)
    return ok, tag


def writer_cmd(results: Path, writer: int, writes: int) -> list[str]:
    return [sys.executable, "-m", "benchmarks.perf.record_race", "--writer", str(writer),
            "--writes", str(writes), "--dir", str(results)]


def race(results: Path, writes: int) -> dict[str, int]:
    one_write(results, 9, 0)  # something to read from the start
    procs = [subprocess.Popen(writer_cmd(results, w, writes), cwd=ROOT) for w in (1, 2)]
    reads = mismatches = errors = 0
    while any(p.poll() is None for p in procs):
        try:
            ok, _ = consistent(results)
        except (DataError, OSError, ValueError) as exc:
            errors += 1
            print(f"read error: {exc}", file=sys.stderr)
            continue
        reads += 1
        mismatches += not ok
    codes = [p.wait() for p in procs]
    return {"reads": reads, "mismatches": mismatches, "read_errors": errors,
            "writer_failures": sum(c != 0 for c in codes), "writes": 2 * writes}


def row_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name != ".row.lock"}


def kills(results: Path, runs: int, writes: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    t0 = time.perf_counter()
    subprocess.run(writer_cmd(results / "timing", 1, writes), cwd=ROOT, check=True)
    span = time.perf_counter() - t0  # a kill point is drawn uniformly over one full writer's life
    bad = 0
    for k in range(runs):
        folder = results / f"kill-{k}"
        proc = subprocess.Popen(writer_cmd(folder, 1, writes), cwd=ROOT)
        time.sleep(rng.uniform(0, span))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        try:
            for rec in load_records(folder):
                if rec.row == "row" and not consistent(folder)[0]:
                    raise DataError(f"{rec.path}: sidecars do not hold its write")
            one_write(folder, 5, k)  # the lock is free and writing works
            ok, tag = consistent(folder)
            rec = json.loads(record_path(folder, "race", "d", "row").read_text())
            left = row_files(record_path(folder, "race", "d", "row").parent)
            expected = {"row.json", rec["per_query"]["path"], rec["run"]["path"]}
            if not ok or tag != f"w5-{k}" or left != expected:
                raise DataError(f"after the kill and a new write: {sorted(left - expected)} left over")
        except (DataError, OSError, ValueError) as exc:
            bad += 1
            print(f"kill run {k}: {exc}", file=sys.stderr)
    return {"kill_runs": runs, "inconsistent_after_kill": bad}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=400, help="writes per writer process")
    ap.add_argument("--kills", type=int, default=20, help="writer processes killed at random points")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--writer", type=int, default=None, help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args(argv)
    if args.writer is not None:
        for n in range(args.writes):
            one_write(args.dir, args.writer, n)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        base = args.dir or Path(tmp)
        out = {**race(base / "race", args.writes), **kills(base / "kills", args.kills, args.writes, args.seed)}
    print(json.dumps(out, sort_keys=True))
    return 0 if out["mismatches"] == out["read_errors"] == out["inconsistent_after_kill"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
