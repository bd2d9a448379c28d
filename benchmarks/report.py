"""leaderboard.md and its hit_rate@k plots, generated from result records alone.

Same records in, same bytes out: rows follow the suite's order, numbers are rounded, the
significance test is seeded, and the plots carry no timestamp.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from benchmarks.fsutil import atomic_write_bytes
from benchmarks.records import LoadedRecord, load_records
from benchmarks.stats import holm, paired_randomization_test

PLOTS_DIR = "plots"  # next to the leaderboard file; links are relative to it
UP, DOWN = "▲", "▼"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_line(text: str, limit: int = 140) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


@dataclass(frozen=True)
class PairedTest:
    row: str
    metric: str
    diff: float  # mean over the paired queries of row minus baseline
    p: float  # two-sided paired randomization test
    p_adjusted: float  # after the suite's correction across the rows tested on this metric


def paired_tests(records: list[LoadedRecord], baseline: str, metrics: list[str]) -> list[PairedTest]:
    """Each ok row against the baseline, per metric, on the same queries (else no test)."""
    by_row = {r.row: r for r in records if r.status == "ok"}
    if baseline not in by_row:
        return []
    settings = by_row[baseline].data["settings"]
    sig = settings.get("significance", {})
    n_resamples = sig.get("n_resamples", 10000)
    base_pq = by_row[baseline].per_query()
    others = [r for r in by_row if r != baseline]
    out: list[PairedTest] = []
    for metric in metrics:
        tests = []
        for row in others:
            pq = by_row[row].per_query().get(metric, {})
            base = base_pq.get(metric, {})
            qids = sorted(set(pq) & set(base))
            if not qids or len(qids) != len(base):
                continue  # not the same query set: no paired test
            a, b = [pq[q] for q in qids], [base[q] for q in qids]
            p = paired_randomization_test(a, b, n_resamples=n_resamples, seed=settings.get("seed", 0))
            tests.append((row, p, (sum(a) - sum(b)) / len(qids)))
        ps = [p for _, p, _ in tests]
        adjusted = holm(ps) if sig.get("correction", "holm") == "holm" else ps
        out += [PairedTest(row, metric, diff, p, p_adj) for (row, p, diff), p_adj in zip(tests, adjusted)]
    return out


def significance(tests: list[PairedTest], alpha: float) -> dict[tuple[str, str], str]:
    """(row, metric) -> mark, for rows significantly above or below the baseline."""
    return {(t.row, t.metric): UP if t.diff > 0 else DOWN for t in tests if t.p_adjusted < alpha and t.diff != 0}


def p_value_table(tests: list[PairedTest], baseline: str) -> list[str]:
    """The p-values behind the marks, folded away under the table."""
    if not tests:
        return []
    lines = [f"<details><summary>Paired tests against <code>{baseline}</code></summary>", "",
             "| retriever | metric | Δ mean | p | p adjusted |", "|---|---|---|---|---|"]
    for t in tests:  # the suite's metric order, then its row order
        lines.append(f"| {_cell(t.row)} | {t.metric} | {t.diff:+.4f} | {t.p:.4f} | {t.p_adjusted:.4f} |")
    return lines + ["", "</details>", ""]


def plot_hit_rate(records: list[LoadedRecord], title: str, path: Path) -> bool:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = [(r.row, r.data.get("hit_rate_curve") or []) for r in records if r.status == "ok"]
    curves = [(row, c) for row, c in curves if c]
    if not curves:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for row, curve in curves:
        ax.plot(range(1, len(curve) + 1), curve, label=row, linewidth=1.6)
    ax.set_xlabel("k")
    ax.set_ylabel("hit_rate@k")
    ax.set_title(title)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})  # no version/time stamp
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return True


def dataset_section(suite: str, dataset: str, records: list[LoadedRecord], out_dir: Path) -> list[str]:
    records = sorted(records, key=lambda r: (r.data.get("row_index", 0), r.row))
    ref = next((r for r in records if r.status == "ok"), records[0])
    settings = ref.data["settings"]
    metrics: list[str] = settings["metrics"]
    baseline = settings.get("baseline")
    info = ref.data["dataset"]
    counts = ref.data.get("counts", {})
    head = f"### {dataset} (split `{info['split']}`"
    if "queries_evaluated" in counts:
        head += f", {counts['queries_evaluated']:,} queries, {counts['docs']:,} docs"
    lines = [head + ")", ""]
    tests = paired_tests(records, baseline, metrics) if baseline else []
    marks = significance(tests, settings.get("significance", {}).get("alpha", 0.05))
    lines.append("| retriever | " + " | ".join(metrics) + " |")
    lines.append("|---|" + "---|" * len(metrics))
    for rec in records:
        name = f"{rec.row} (baseline)" if rec.row == baseline else rec.row
        if rec.status != "ok":
            label = {"not_run": "not run", "not_available": "data not available", "failed": "FAILED"}
            prefix = label.get(rec.status, rec.status)
            # Reasons may already say "not run: ..."; don't print the label twice.
            reason = _first_line(rec.data.get("reason", "")).removeprefix(f"{prefix}: ")
            cells = [f"{prefix}: {reason}"] + [""] * (len(metrics) - 1)
        else:
            cells = []
            for m in metrics:
                value, ci = rec.data["metrics"][m], rec.data.get("ci", {}).get(m)
                text = f"{value:.4f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
                cells.append(text + (f" {marks[(rec.row, m)]}" if (rec.row, m) in marks else ""))
        lines.append(f"| {_cell(name)} | " + " | ".join(_cell(c) for c in cells) + " |")
    boot, sig = settings.get("bootstrap", {}), settings.get("significance", {})
    note = (
        f"Mean over queries with [{boot.get('confidence', 0.95):.0%} bootstrap CI, "
        f"{boot.get('n_resamples', 1000):,} resamples, seed {settings.get('seed', 0)}]; "
        f"top_k {settings['top_k']}, {'exact' if settings.get('search') == 'exact' else 'ANN'} search, "
        f"ties by {settings.get('tie_break', 'score')}."
    )
    if baseline:
        note += (
            f" {UP}/{DOWN}: significantly above/below `{baseline}` (paired randomization test, "
            f"{sig.get('n_resamples', 10000):,} resamples, {sig.get('correction', 'holm')}-corrected "
            f"across rows, α = {sig.get('alpha', 0.05)})."
        )
    commits = sorted({
        f"{(r.data['env'].get('git_commit') or 'unknown')[:10]}{' (dirty)' if r.data['env'].get('git_dirty') else ''}"
        for r in records
    })
    note += f" Produced by `python harness.py --suite {suite}` at commit {', '.join(commits)}."
    lines += ["", note, "", *p_value_table(tests, baseline)]
    rel = f"{PLOTS_DIR}/{suite}/{dataset}.png"
    if plot_hit_rate(records, f"{suite} · {dataset}: hit_rate@k", out_dir / rel):
        lines += [f"![hit_rate@k for {suite} / {dataset}]({rel})", ""]
    return lines


def render(results_dir: Path, out_dir: Path) -> str:
    groups: dict[str, dict[str, list[LoadedRecord]]] = defaultdict(lambda: defaultdict(list))
    records = load_records(results_dir)
    for rec in records:
        groups[rec.suite][rec.dataset_key].append(rec)
    lines = [
        "# Leaderboard",
        "",
        f"Generated by `python harness.py leaderboard` from the {len(records)} records under "
        "`results/`; do not edit by hand. Each suite's command re-runs it.",
        "",
    ]
    for suite in sorted(groups):
        lines += [f"## Suite `{suite}`", ""]
        for dataset in sorted(groups[suite]):
            lines += dataset_section(suite, dataset, groups[suite][dataset], out_dir)
    return "\n".join(lines).rstrip() + "\n"


def write_leaderboard(results_dir: Path, leaderboard: Path) -> str:
    text = render(Path(results_dir), Path(leaderboard).resolve().parent)
    atomic_write_bytes(leaderboard, text.encode("utf-8"))
    return text
