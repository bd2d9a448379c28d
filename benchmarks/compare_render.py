"""Output of ``harness.py compare``: Markdown (``--format md``) or a terminal table, through tabulate."""
from __future__ import annotations

from benchmarks.compare import Comparison


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(c: Comparison, fmt: str = "table") -> str:
    """The comparison as text; ``fmt`` is ``md`` (GitHub Markdown) or ``table`` (plain, for a terminal)."""
    from tabulate import tabulate

    md = fmt == "md"
    cell = _md if md else (lambda text: text.replace("\n", " "))
    style = "github" if md else "simple"
    code = (lambda name: f"`{name}`") if md else (lambda name: name)
    a, b, m = code(c.row_a), code(c.row_b), c.metric
    head = f"Compare {a} with {b} · {c.suite} / {c.dataset} (split {code(c.split)})"
    n = c.wins + c.ties + c.losses
    lines = [f"## {head}", ""] if md else [head, "=" * len(head), ""]
    lines += [f"{m} over {n:,} queries: {a} wins {c.wins}, ties {c.ties}, loses {c.losses} against {b} "
              f"(mean {c.mean_a:.4f} vs {c.mean_b:.4f}, Δ {c.mean_a - c.mean_b:+.4f}); {c.mde}.", ""]
    if c.data_note:
        lines += [f"Note: {c.data_note}.", ""]
    if not c.queries:
        return "\n".join(lines + [f"The two rows score every query alike on {m}."]).rstrip() + "\n"
    count = len(c.queries)
    title = f"The {count} quer{'y' if count == 1 else 'ies'} where they differ most (by |Δ {m}|)"
    lines += [f"### {title}" if md else title, ""]
    rows = [[i, cell(q.qid), f"{q.a:.4f}", f"{q.b:.4f}", f"{q.a - q.b:+.4f}", q.rank_a, q.rank_b,
             cell(q.text if q.text is not None else "?")] for i, q in enumerate(c.queries, 1)]
    header = ["#", "query", f"{m} {c.row_a}", f"{m} {c.row_b}", "Δ", f"first relevant {c.row_a}",
              f"first relevant {c.row_b}", "text"]
    lines += [tabulate(rows, headers=[cell(h) for h in header], tablefmt=style, disable_numparse=True), ""]
    for i, q in enumerate(c.queries, 1):
        sub = f"{i}. {q.qid}" + (f": {q.text}" if q.text is not None else "")
        lines += [f"#### {cell(sub)}" if md else cell(sub), ""]
        depth = max(len(q.top_a), len(q.top_b))
        pad_a, pad_b = (side + [""] * (depth - len(side)) for side in (q.top_a, q.top_b))
        top = [[k + 1, cell(pad_a[k]), cell(pad_b[k])] for k in range(depth)]
        lines += [tabulate(top, headers=["rank", cell(c.row_a), cell(c.row_b)], tablefmt=style,
                           disable_numparse=True), ""]
    if not c.data_note:  # with the qrels at hand, relevant passages are marked
        lines.append("✓: judged relevant.")
    return "\n".join(lines).rstrip() + "\n"
