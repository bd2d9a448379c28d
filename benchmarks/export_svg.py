"""Inline SVG for the HTML leaderboard: a CI whisker per cell and the hit_rate@k curves per table.

Plain strings, no plotting library: the page must be one self-contained file, and the same records
must give the same bytes (coordinates are rounded to 0.1 px).
"""
from __future__ import annotations

from html import escape

# Colour-blind-safe (Okabe-Ito), in row order; rows beyond eight reuse them dashed.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
WHISKER_W, WHISKER_H = 96, 12


def _f(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def whisker(mean: float, low: float | None, high: float | None, scale: tuple[float, float],
            reference: float | None = None) -> str:
    """The CI as a horizontal bar with end ticks and the mean as a dot, on the column's shared scale;
    a grey line marks the baseline's mean, so overlap with it is visible at a glance."""
    lo_s, hi_s = scale
    span = (hi_s - lo_s) or 1.0

    def x(v: float) -> float:
        return 2 + (WHISKER_W - 4) * (min(max(v, lo_s), hi_s) - lo_s) / span

    mid = WHISKER_H / 2
    parts = [f'<svg class="whisker" width="{WHISKER_W}" height="{WHISKER_H}" '
             f'viewBox="0 0 {WHISKER_W} {WHISKER_H}" role="img" aria-label="CI">']
    if reference is not None:
        at = _f(x(reference))
        parts.append(f'<line class="ref" x1="{at}" y1="0" x2="{at}" y2="{WHISKER_H}"/>')
    if low is not None and high is not None:
        a, b = _f(x(low)), _f(x(high))
        parts.append(f'<line class="ci" x1="{a}" y1="{_f(mid)}" x2="{b}" y2="{_f(mid)}"/>'
                     f'<line class="ci" x1="{a}" y1="2" x2="{a}" y2="{WHISKER_H - 2}"/>'
                     f'<line class="ci" x1="{b}" y1="2" x2="{b}" y2="{WHISKER_H - 2}"/>')
    parts.append(f'<circle cx="{_f(x(mean))}" cy="{_f(mid)}" r="2.5"/></svg>')
    return "".join(parts)


def curves_chart(curves: dict[str, list[float]], title: str, width: int = 640, height: int = 300) -> str:
    """hit_rate@k against k for each row: axes with ticks, one polyline per row, a legend."""
    if not curves:
        return ""
    left, right, top, bottom = 44, 170, 24, 34
    kmax = max(len(c) for c in curves.values())
    pw, ph = width - left - right, height - top - bottom

    def px(k: int) -> float:
        return left + (pw * (k - 1) / (kmax - 1) if kmax > 1 else pw / 2)

    def py(v: float) -> float:
        return top + ph * (1 - v)

    out = [f'<svg class="curves" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
           f'<rect class="frame" x="{left}" y="{top}" width="{pw}" height="{ph}"/>']
    for i in range(6):
        v = i / 5
        out.append(f'<line class="grid" x1="{left}" y1="{_f(py(v))}" x2="{left + pw}" y2="{_f(py(v))}"/>'
                   f'<text class="tick" x="{left - 6}" y="{_f(py(v) + 4)}" text-anchor="end">{v:.1f}</text>')
    step = max(1, round(kmax / 10))
    for k in [*range(1, kmax + 1, step)] + ([kmax] if (kmax - 1) % step else []):
        out.append(f'<text class="tick" x="{_f(px(k))}" y="{top + ph + 16}" text-anchor="middle">{k}</text>')
    out.append(f'<text class="axis" x="{left + pw / 2:.0f}" y="{height - 4}" text-anchor="middle">k</text>'
               f'<text class="axis" x="12" y="{top + ph / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 12 {top + ph / 2:.0f})">hit_rate@k</text>')
    for i, (row, curve) in enumerate(curves.items()):
        colour, dash = PALETTE[i % len(PALETTE)], ' stroke-dasharray="5 3"' if i >= len(PALETTE) else ""
        points = " ".join(f"{_f(px(k))},{_f(py(v))}" for k, v in enumerate(curve, start=1))
        ly = top + 12 + 16 * i
        out.append(f'<polyline class="curve" points="{points}" stroke="{colour}"{dash}>'
                   f'<title>{escape(row)}</title></polyline>'
                   f'<line x1="{left + pw + 12}" y1="{ly - 4}" x2="{left + pw + 30}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>'
                   f'<text class="legend" x="{left + pw + 36}" y="{ly}">{escape(row)}</text>')
    out.append("</svg>")
    return "".join(out)
