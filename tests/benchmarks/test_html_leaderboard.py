"""The HTML leaderboard in a real browser (Debian's headless Chromium, driven by Playwright): it loads from
disk with no console error or failed request, a click on a header sorts the rows, whiskers and curves
are drawn, and a screenshot is taken. Records: tests/export_records.py (bm25 ahead on hit_rate@1,
robertson ahead on mrr@5, a failed row)."""
import pytest

from benchmarks.cli import main
from export_records import make_results

playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (playwright)")
from html_browser import chromium_path, open_page  # noqa: E402

ORDER = "rows => rows.map(r => r.cells[0].textContent)"
BODY = "table.board tbody tr"


@pytest.fixture
def page_file(pair_suite, tmp_path):
    try:
        chromium_path()
    except RuntimeError as e:
        pytest.skip(str(e))  # a failure under CI=true (conftest): .ci/run installs chromium
    results = make_results(tmp_path)
    out = tmp_path / "leaderboard.html"
    assert main(["leaderboard", "--results-dir", str(results), "--format", "html", "--output", str(out),
                 "--quiet"]) == 0
    return out


def test_page_loads_sorts_and_is_screenshotted(page_file, tmp_path):
    with open_page(page_file) as (page, errors):
        header = {name: page.locator("table.board thead th", has_text=name) for name in ("hit_rate@1", "mrr@5")}
        assert page.eval_on_selector_all(BODY, ORDER) == ["bm25 (baseline)", "robertson", "broken (stale)"]
        header["mrr@5"].click()  # best first: robertson 0.9 > bm25 2/3; the failed row stays last
        assert page.eval_on_selector_all(BODY, ORDER) == ["robertson", "bm25 (baseline)", "broken (stale)"]
        assert header["mrr@5"].get_attribute("aria-sort") == "descending"
        header["mrr@5"].click()  # again: ascending, rows without a number still last
        assert page.eval_on_selector_all(BODY, ORDER) == ["bm25 (baseline)", "robertson", "broken (stale)"]
        assert header["mrr@5"].get_attribute("aria-sort") == "ascending"
        header["hit_rate@1"].click()  # bm25 1/3 > robertson 0.3
        assert page.eval_on_selector_all(BODY, ORDER) == ["bm25 (baseline)", "robertson", "broken (stale)"]
        assert header["mrr@5"].get_attribute("aria-sort") is None
        page.locator("table.board thead th", has_text="retriever").click()  # text: alphabetical
        assert page.eval_on_selector_all(BODY, ORDER) == ["bm25 (baseline)", "broken (stale)", "robertson"]
        # Drawn, not just present in the markup: the browser laid the SVGs out with a size.
        whiskers = page.locator("svg.whisker")
        assert whiskers.count() == 4 and whiskers.first.bounding_box()["width"] > 0
        assert page.locator("svg.curves polyline").count() == 2
        assert page.locator("svg.curves").bounding_box()["height"] > 100
        shot = tmp_path / "leaderboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert errors == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


def test_a_broken_script_would_be_caught(page_file):
    """The error collection works: a page whose script throws is reported, so an empty list means something."""
    page_file.write_text(page_file.read_text().replace("<script>", "<script>undefinedFunction();", 1))
    with open_page(page_file) as (_, errors):
        pass
    assert any("undefinedFunction" in e for e in errors), errors
