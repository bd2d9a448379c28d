"""hit_rate@k plots are redrawn only when what they are drawn from changed, so rewriting the
leaderboard after a warm run does not import matplotlib."""
import json
import subprocess
import sys

from benchmarks.report import PLOT_KEY, _png_text, plot_hit_rate
from conftest import ROOT

CURVES = {"a": [0.5, 0.75, 1.0], "b": [0.25, 0.5, 0.5]}


def test_unchanged_plot_is_left_alone_and_a_change_redraws_it(tmp_path):
    path = tmp_path / "p.png"
    assert plot_hit_rate(CURVES, "t", path)
    first = path.read_bytes()
    assert first.startswith(b"\x89PNG") and len(_png_text(path, PLOT_KEY)) == 64
    seen = [_png_text(path, PLOT_KEY)]
    path.touch()
    mtime = path.stat().st_mtime_ns
    assert plot_hit_rate(dict(CURVES), "t", path)
    assert path.stat().st_mtime_ns == mtime and path.read_bytes() == first  # not rewritten
    for curves, title in [({**CURVES, "b": [0.25, 0.5, 0.75]}, "t"), (CURVES, "other title")]:
        assert plot_hit_rate(curves, title, path)
        key = _png_text(path, PLOT_KEY)
        assert path.read_bytes() != first and key != seen[-1]  # redrawn, and tagged with its new inputs
        first, seen = path.read_bytes(), seen + [key]
    assert not plot_hit_rate({}, "t", tmp_path / "none.png") and not (tmp_path / "none.png").exists()


def test_a_damaged_or_foreign_png_is_redrawn(tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert _png_text(path, PLOT_KEY) is None
    assert plot_hit_rate(CURVES, "t", path) and _png_text(path, PLOT_KEY) is not None


def test_rewriting_an_unchanged_plot_imports_no_matplotlib(tmp_path):
    path = tmp_path / "p.png"
    plot_hit_rate(CURVES, "t", path)
    probe = ("import json, sys; from benchmarks.report import plot_hit_rate; "
             f"plot_hit_rate({json.dumps(CURVES)}, 't', __import__('pathlib').Path({str(path)!r})); "
             "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr[-1000:]
