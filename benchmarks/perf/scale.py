"""Time every phase of a harness run on the arcee stand-in at N rows, and its peak memory.

    nice -n 10 python -m benchmarks.perf.scale --rows 200000 --challenge plain-all
    nice -n 10 python -m benchmarks.perf.scale --rows 200000 --challenge holdout
    nice -n 10 python -m benchmarks.perf.scale --rows 2000 --encoder minilm     # MiniLM's encode rate

Writes the stand-in (benchmarks/perf/standin.py) under ``--work`` (default /tmp/scale-<rows>),
a suite beside it, and runs it in this process through ``benchmarks.cli.main`` exactly as
``harness.py`` does, with a timer wrapped around the functions each phase is made of (exclusive
times: the dedupe inside load is counted as dedupe, the paired tests inside the leaderboard as
paired tests). Then ``harness.py leaderboard`` runs in a fresh process over the records (the
"regenerates in < 30 s" target), and the sizes of the records and sidecars are listed.

Challenges (docs/scale.md):
  plain-all  DALM's open PR: the plain row over all N queries against all N passages, plus a second
             encoder row so there is a paired test.
  holdout    the rows DALM ran, on the card's held-out test split: plain and ``fit`` (a row that
             goes through the training path: train split load, holdout, leakage check; it trains
             nothing, since MiniLM fine-tuning on 180k rows is hours on this CPU: see --encoder).
Encoders: ``scale-hash`` (default; benchmarks/perf/scale_encoder.py, seconds for 400k texts) or
``minilm`` (the real all-MiniLM-L6-v2: use it at small --rows to measure its rate, then project).
Peak RSS is the kernel's high-water mark (VmHWM) of this process; per phase, how far the mark
rose during one call of it (the most over its calls), so the phase that raised it is visible.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.datapath import REPO_ROOT  # noqa: E402
from benchmarks.perf.exact_search import GiB, peak_rss_bytes, reset_peak  # noqa: E402

PHASES = ("load", "dedupe", "holdout", "fingerprint", "encode", "train", "leakage", "search", "metrics",
          "cis", "records", "paired_tests", "leaderboard")
ENCODERS = {"scale-hash": "{use: scale-hash, params: {dim: %d}}", "minilm": "{use: bge, params: {model: minilm-l6}}"}
# The suites the scale scripts run (this one and gpu_scale.py): DALM's metrics at top 10, `plain` as
# the baseline; each script says what it is in {description} and appends its rows.
SUITE_HEAD = """schema: suite/v1
name: {name}
description: {description}
datasets:
  - {dataset}
metrics: [recall@10, hit_rate@10, mrr@10, precision@10]
main_metric: recall@10
top_k: 10
seed: 0
baseline: plain
retrievers:
"""
SUITE = SUITE_HEAD.replace("{description}", "benchmarks/perf/scale.py at {rows} rows (scale data, not a quality "
                           "result)") + "  - {{name: plain, {plain}}}\n  - {{name: {second}}}\n"


class PhaseTimer:
    """Exclusive wall time per phase: time spent in a wrapped call inside another wrapped call
    counts for the inner phase only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)  # user + system of this process (BLAS threads too)
        self.calls: dict[str, int] = defaultdict(int)
        self.hwm: dict[str, int] = {}
        self._stack: list[tuple[float, float]] = []
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0, hwm0 = time.perf_counter(), time.process_time(), peak_rss_bytes()
            self._stack.append((0.0, 0.0))
            try:
                return fn(*args, **kwargs)
            finally:
                dt, dc = time.perf_counter() - t0, time.process_time() - c0
                inner, inner_cpu = self._stack.pop()
                self.seconds[phase] += dt - inner
                self.cpu[phase] += dc - inner_cpu
                self.calls[phase] += 1
                if self._stack:
                    wall, cpu = self._stack[-1]
                    self._stack[-1] = (wall + dt, cpu + dc)
                # How far the high-water mark rose while this phase ran (nested phases included).
                self.hwm[phase] = max(self.hwm.get(phase, 0), peak_rss_bytes() - hwm0)
        return timed

    def patch(self, owner: Any, attr: str, phase: str) -> None:
        if isinstance(owner, dict):  # a registry such as loaders.LOADERS
            original = owner[attr]
        else:
            original = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        self._undo.append((owner, attr, original))
        self._set(owner, attr, self.wrap(phase, original))

    @staticmethod
    def _set(owner: Any, attr: str, value: Any) -> None:
        if isinstance(owner, dict):
            owner[attr] = value
        else:
            setattr(owner, attr, value)

    def restore(self) -> None:
        for owner, attr, original in reversed(self._undo):
            self._set(owner, attr, original)
        self._undo.clear()


def instrument(timer: PhaseTimer) -> None:
    """Wrap the functions each phase is made of, where the harness calls them from."""
    import benchmarks.compress as compress
    import benchmarks.holdout as holdout
    import benchmarks.leaderboard_tables as tables
    import benchmarks.loaders as loaders
    import benchmarks.loaders.csv_qa as csv_qa
    import benchmarks.loaders.dedupe as dedupe
    import benchmarks.report as report
    import benchmarks.runner as runner
    import benchmarks.encoding as encoding

    for owner, attr, phase in (
        (loaders.LOADERS, "csv-qa", "load"),
        (dedupe, "apply", "dedupe"), (csv_qa, "_rename_to_content_ids", "dedupe"), (holdout, "carve", "holdout"),
        (runner, "evaluation_fingerprint", "fingerprint"), (encoding, "embed", "encode"),
        (runner.SuiteRunner, "train", "train"), (runner, "cached_check", "leakage"),
        (compress, "compressed_search", "search"), (runner, "evaluate", "metrics"), (runner, "bootstrap_ci", "cis"),
        (runner, "write_record", "records"), (tables, "paired_tests", "paired_tests"),
        (report, "write_leaderboard", "leaderboard"),
    ):
        timer.patch(owner, attr, phase)


def write_data(rows: int, work: Path, seed: int) -> float:
    """The stand-in under work/data, reused when already there for these rows and seed; seconds taken."""
    from benchmarks.perf import standin

    stamp = work / "data" / f"{standin.NAME}.stamp"
    t0 = time.perf_counter()
    if not stamp.is_file() or stamp.read_text() != f"{rows} {seed}":
        standin.write(rows, work / "data", work / "cards", seed)
        stamp.write_text(f"{rows} {seed}")
    return time.perf_counter() - t0


def challenge_suite(rows: int, challenge: str, encoder: str) -> tuple[str, str]:
    """(suite name, YAML) of a challenge: see the module doc."""
    name = f"scale-{challenge}"
    dataset = ("{name: arcee-standin, split: all}" if challenge == "plain-all"
               else "{name: arcee-standin, split: test, train_split: train}")
    plain = ENCODERS[encoder].replace("%d", "384")[1:-1]
    # The second row is there for the paired test; 64 dims keep its search a sixth of plain's.
    second = ("hash-64, use: scale-hash, params: {dim: 64}" if challenge == "plain-all"
              else "fit, use: scale-hash-fit, params: {dim: 384}")
    return name, SUITE.format(name=name, rows=rows, dataset=dataset, plain=plain, second=second)


def sizes(results: Path) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for f in results.rglob("*"):
        if f.is_file():
            kind = ("per_query" if f.name.endswith(".per_query.json") else "run" if f.name.endswith(".run.gz")
                    else "record" if f.suffix == ".json" else "other")
            out[kind] += f.stat().st_size
    return dict(out)


_REGEN = """import sys
from benchmarks.cli import main
from benchmarks.perf.exact_search import peak_rss_bytes
rc = main(sys.argv[1:])
print("peak_rss_bytes", peak_rss_bytes())
sys.exit(rc)
"""


def regenerate(work: Path) -> dict[str, float]:
    """``harness.py leaderboard`` in a fresh process: wall seconds and its own peak RSS (read inside
    it: a child's ru_maxrss would count the pages it shared with this process before exec)."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _REGEN, "leaderboard", "--results-dir", str(work / "results"),
                           "--leaderboard", str(work / "leaderboard-regen.md")],
                          check=True, env=os.environ.copy(), capture_output=True, text=True, cwd=REPO_ROOT)
    wall = time.perf_counter() - t0
    peak = int(done.stdout.rsplit("peak_rss_bytes", 1)[1].split()[0])
    return {"wall_s": round(wall, 2), "peak_rss_gib": round(peak / GiB, 3)}


def measure(rows: int, work: Path, suites: list[tuple[str, str]], seed: int = 0, cold: bool = True,
            progress: bool = False, extra_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """Run ``suites`` [(name, YAML)] on an N-row stand-in under ``work``; the figures."""
    from benchmarks.cli import main
    from benchmarks.perf.scale_encoder import register_scale_encoder

    work.mkdir(parents=True, exist_ok=True)
    generate_s = write_data(rows, work, seed)
    (work / "suites").mkdir(exist_ok=True)
    for name, text in suites:
        (work / "suites" / f"{name}.yaml").write_text(text)
    for folder in ("results",) + (("cache",) if cold else ()):
        shutil.rmtree(work / folder, ignore_errors=True)
    os.environ.update(HARNESS_DATA_PATH=str(work / "data"), HARNESS_DATASETS_DIR=str(work / "cards"),
                      HARNESS_SUITES_DIR=str(work / "suites"), HARNESS_CACHE_DIR=str(work / "cache"))
    register_scale_encoder()
    timer = PhaseTimer()
    instrument(timer)
    reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    rc = 0
    try:
        for name, _ in suites:
            rc = max(rc, main(["--suite", name, "--results-dir", str(work / "results"), "--leaderboard",
                               str(work / "leaderboard.md"), *extra_args, *([] if progress else ["-q"])]))
    finally:
        timer.restore()
    total, total_cpu = time.perf_counter() - t0, time.process_time() - c0
    phases = {p: round(timer.seconds.get(p, 0.0), 3) for p in PHASES}
    return {
        "rows": rows, "suites": [n for n, _ in suites], "exit_status": rc, "generate_s": round(generate_s, 2),
        "phases_s": phases, "phases_cpu_s": {p: round(timer.cpu.get(p, 0.0), 3) for p in PHASES},
        "load_average": os.getloadavg(), "calls": dict(timer.calls), "total_s": round(total, 2), "total_cpu_s": round(total_cpu, 2),
        "other_s": round(total - sum(phases.values()), 2),
        "not_encode_train_s": round(total - phases["encode"] - phases["train"], 2),
        "peak_rss_gib": round(peak_rss_bytes() / GiB, 3),
        "peak_rise_gib": {p: round(v / GiB, 3) for p, v in timer.hwm.items()},
        "bytes": sizes(work / "results"), "leaderboard_regen": regenerate(work),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf.scale", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--rows", type=int, required=True, help="stand-in rows (queries), e.g. 200000")
    ap.add_argument("--challenge", choices=("plain-all", "holdout"), default="plain-all")
    ap.add_argument("--encoder", choices=sorted(ENCODERS), default="scale-hash")
    ap.add_argument("--work", type=Path, help="working folder (default /tmp/scale-<rows>); never the repo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warm", action="store_true", help="keep the embedding cache (default: start cold)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--progress", action="store_true", help="progress bars")
    args = ap.parse_args(argv)
    if args.rows < 1:
        ap.error("--rows must be at least 1")
    work = args.work or Path(f"/tmp/scale-{args.rows}")
    suite = challenge_suite(args.rows, args.challenge, args.encoder)
    out = measure(args.rows, work, [suite], args.seed, cold=not args.warm, progress=args.progress)
    out.update(challenge=args.challenge, encoder=args.encoder)
    return report(out, args.json)


def report(out: dict, json_path: Path | None) -> int:
    """Print a measurement (and write it to ``json_path``); the exit status says whether the run passed."""
    text = json.dumps(out, indent=1)
    print(text)
    if json_path:
        json_path.write_text(text + "\n")
    return 0 if out["exit_status"] == 0 else 1

if __name__ == "__main__":
    sys.exit(main())
