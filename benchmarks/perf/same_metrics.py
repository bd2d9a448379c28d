"""Do two results dirs hold the same numbers? Every ok record in OLD against the same row in NEW.

    python -m benchmarks.perf.same_metrics OLD_RESULTS_DIR NEW_RESULTS_DIR

Metrics and CIs must be equal exactly (a re-run, a refactor or a cache move must reproduce them
bit for bit). Prints each record that differs or is missing; exit 1 if any does.
"""
import json, sys
from pathlib import Path
old, new = Path(sys.argv[1]), Path(sys.argv[2])
same = differ = missing = skipped = 0
for path in sorted(old.glob("*/*/*.json")):
    if path.name.endswith(".per_query.json") or path.name.endswith(".failed.json"):
        continue
    a = json.loads(path.read_text())
    if a.get("status") != "ok":
        skipped += 1
        continue
    other = new / path.relative_to(old)
    if not other.exists():
        missing += 1; print("missing", other); continue
    b = json.loads(other.read_text())
    if b.get("metrics") == a["metrics"] and b.get("ci") == a.get("ci"):
        same += 1
    else:
        differ += 1
        print("DIFFERS", path.relative_to(old), {m: (a["metrics"][m], b.get("metrics", {}).get(m)) for m in a["metrics"] if a["metrics"][m] != b.get("metrics", {}).get(m)})
print(f"{same} ok records with identical metrics and CIs, {differ} differ, {missing} missing, {skipped} not ok (not compared)")
sys.exit(1 if differ or missing else 0)
