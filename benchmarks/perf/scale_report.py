"""The growth table and log-log plot of docs/scale.md, from the JSON files benchmarks/perf/scale.py wrote.

    python -m benchmarks.perf.scale_report /tmp/scale-out/plain-all-*.json --plot docs/scale.png

Prints a Markdown table (CPU seconds per phase, which the other jobs on a shared machine do not
inflate, then wall seconds and peak RSS) and draws seconds per phase against rows on log-log
axes, with a dotted line of slope 1 (linear growth) and one of slope 2 (quadratic) for reference.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.perf.scale import PHASES  # noqa: E402


def read(paths: list[Path]) -> list[dict[str, Any]]:
    return sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["rows"])


def table(runs: list[dict[str, Any]], key: str = "phases_cpu_s") -> str:
    shown = [p for p in PHASES if any(r[key].get(p, 0) for r in runs)]
    head = ["rows", *shown, "total CPU s", "total wall s", "peak RSS GiB", "sidecars MB", "regen s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        side = (r["bytes"].get("per_query", 0) + r["bytes"].get("run", 0)) / 1e6
        cells = [f"{r['rows']:,}", *(f"{r[key].get(p, 0):.2f}" for p in shown), f"{r['total_cpu_s']:.1f}",
                 f"{r['total_s']:.1f}", f"{r['peak_rss_gib']:.2f}", f"{side:.1f}",
                 f"{r['leaderboard_regen']['wall_s']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path, title: str, key: str = "phases_cpu_s") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r["rows"] for r in runs]
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for phase in PHASES:
        ys = [r[key].get(phase, 0) for r in runs]
        if any(y > 0.005 for y in ys):
            ax.plot(rows, [max(y, 1e-3) for y in ys], marker="o", label=phase)
    x0, y0 = rows[0], max(max(r[key].values()) for r in runs[:1])
    for slope, style in ((1, ":"), (2, "--")):
        ax.plot([x0, rows[-1]], [y0, y0 * (rows[-1] / x0) ** slope], "k" + style, lw=0.8,
                label=f"slope {slope} ({'linear' if slope == 1 else 'quadratic'})")
    ax.set(xscale="log", yscale="log", xlabel="rows (queries) of the stand-in", ylabel="CPU seconds",
           title=title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf.scale_report", description=__doc__.split("\n\n")[0])
    ap.add_argument("json", nargs="+", type=Path, help="figures written by benchmarks.perf.scale --json")
    ap.add_argument("--plot", type=Path, help="write the log-log plot here (PNG)")
    ap.add_argument("--title", default="harness phases against rows (CPU seconds)")
    args = ap.parse_args(argv)
    runs = read(args.json)
    print(table(runs))
    if args.plot:
        plot(runs, args.plot, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
