"""The CSS and JavaScript inlined into the HTML leaderboard (one file: no server, no network, no CDN)."""

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.3rem; margin-top: 2.4rem; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.08rem; margin-top: 1.8rem; }
code { font: 12px/1.3 ui-monospace, SFMono-Regular, Menlo, monospace; background: #f3f3f3; padding: 0 3px;
       border-radius: 3px; overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .6rem 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: middle; }
thead th { border-bottom: 2px solid #999; white-space: nowrap; }
table.sortable thead th { cursor: pointer; user-select: none; }
table.sortable thead th::after { content: " \\2195"; color: #aaa; font-size: 11px; }
table.sortable thead th[aria-sort="descending"]::after { content: " \\25BC"; color: #333; }
table.sortable thead th[aria-sort="ascending"]::after { content: " \\25B2"; color: #333; }
td .v { font-variant-numeric: tabular-nums; font-weight: 600; }
td .cit { color: #666; font-size: 12px; font-variant-numeric: tabular-nums; }
td .up { color: #107c10; } td .down { color: #b00020; }
td { white-space: nowrap; } td:first-child { white-space: normal; min-width: 9em; }
td .status { color: #8a4b00; font-size: 12px; display: block; max-width: 24em; white-space: normal; }
tr.stale td { background: #fafafa; color: #777; } tr.failed td { background: #fff5f5; }
svg.whisker { display: block; margin-top: 2px; }
svg.whisker line.ci { stroke: #333; stroke-width: 1.3; } svg.whisker circle { fill: #0072B2; }
svg.whisker line.ref { stroke: #bbb; stroke-width: 1; stroke-dasharray: 2 2; }
svg.curves { font: 11px system-ui, sans-serif; }
svg.curves .frame { fill: none; stroke: #999; } svg.curves .grid { stroke: #eee; }
svg.curves .curve { fill: none; stroke-width: 1.8; } svg.curves .tick { fill: #555; }
svg.curves .axis, svg.curves .legend { fill: #222; }
.note { color: #333; } ul.note { padding-left: 1.2rem; } details { margin: .4rem 0; }
details summary { cursor: pointer; color: #0b57d0; }
"""

# Click a header: numbers sort best-first (descending), a second click ascending; text columns
# alphabetically. Rows with no number (not run, failed, missing) always go last; ties keep the
# suite's order, so sorting is stable and reversible.
JS = """
(function () {
  function key(cell) {
    var v = cell && cell.querySelector('[data-v]');
    return v ? parseFloat(v.getAttribute('data-v')) : null;
  }
  function sortTable(table, col, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var numeric = rows.some(function (r) { return key(r.cells[col]) !== null; });
    var current = th.getAttribute('aria-sort');
    var descending = current ? current === 'ascending' : numeric;  // a sorted column flips
    rows.forEach(function (r, i) { if (!r.hasAttribute('data-order')) { r.setAttribute('data-order', i); } });
    rows.sort(function (a, b) {
      var d;
      if (numeric) {
        var x = key(a.cells[col]), y = key(b.cells[col]);
        if (x === null || y === null) { d = (x === null) - (y === null); }
        else { d = descending ? y - x : x - y; }
      } else {
        d = a.cells[col].textContent.localeCompare(b.cells[col].textContent);
        if (descending) { d = -d; }
      }
      return d || a.dataset.order - b.dataset.order;
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
    rows.forEach(function (r) { body.appendChild(r); });
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.setAttribute('title', 'sort by ' + th.textContent);
      th.addEventListener('click', function () { sortTable(table, col, th); });
    });
  });
})();
"""
