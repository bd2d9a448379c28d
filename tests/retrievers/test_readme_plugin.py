"""The README's "Adding a retriever" example, run verbatim the way the README says: as a file
dropped in retrievers/ of a checkout (a copy, so this checkout is untouched).

Before: the example hashed words with Python's salted ``hash()``. A second process (another
PYTHONHASHSEED) that found the passages in the shared embedding cache encoded its queries with
different buckets, so its metrics matched neither run (seen: hit_rate@5 0.2105 vs 0.7895).
"""
import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, TINY
from install_check import copy_source


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.M | re.S)
    assert match, f"README.md has no section {title!r}"
    return match.group(1)


def plugin_snippet() -> tuple[str, str]:
    """(python code of the first ```python block, the suite row the text says to use)."""
    section = readme_section("Adding a retriever")
    code = re.search(r"^```python\n(.*?)^```$", section, re.M | re.S)
    row = re.search(r"use it in a suite: `(- \{[^`]*\})`", section)
    assert code and row, "the section lost its python example or its suite row"
    return code.group(1), row.group(1)


@pytest.fixture(scope="module")
def checkout(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("readme-plugin")
    src = copy_source(tmp / "src")
    code, row = plugin_snippet()
    name = re.search(r"name: ([\w.-]+)", row).group(1)
    (src / "retrievers" / f"{name}.py").write_text(code, encoding="utf-8")
    suites = tmp / "suites"
    suites.mkdir()
    (suites / "readme-plugin.yaml").write_text(
        "schema: suite/v1\nname: readme-plugin\ndatasets:\n  - {name: tiny, split: test}\n"
        f"metrics: [hit_rate@1, hit_rate@5, mrr@5]\ntop_k: 5\nbaseline: {name}\nretrievers:\n  {row}\n")
    return tmp, src, name, code


def run(checkout, tag, seed, cache, *extra):
    tmp, src, name, _ = checkout
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HARNESS_DATA_PATH=str(TINY / "data"), HARNESS_DATASETS_DIR=str(TINY / "cards"),
               HARNESS_SUITES_DIR=str(tmp / "suites"), HARNESS_CACHE_DIR=str(tmp / cache),
               PYTHONHASHSEED=str(seed), HF_HUB_OFFLINE="1")
    results = tmp / f"results-{tag}"
    proc = subprocess.run(
        [sys.executable, "harness.py", "--suite", "readme-plugin", "--results-dir", str(results),
         "--leaderboard", str(tmp / f"lb-{tag}.md"), "--quiet", *extra],
        cwd=src, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads((results / "readme-plugin" / "tiny" / f"{name}.json").read_text())


def test_readme_plugin_gives_the_same_metrics_in_every_process_over_one_cache(checkout):
    # Process 1 fills the shared cache with every passage and the first query; process 2 (other
    # hash seed) takes those from the cache and encodes the other queries itself; process 3 runs
    # alone on an empty cache. With a deterministic encoder, 2 and 3 agree to the last digit.
    run(checkout, "prime", 1, "shared-cache", "--limit-queries", "1")
    mixed = run(checkout, "mixed", 2, "shared-cache")
    alone = run(checkout, "alone", 3, "own-cache")
    assert mixed["status"] == alone["status"] == "ok"
    assert mixed["stats"]["cached_texts"] > 0  # process 2 really did read process 1's vectors
    assert mixed["metrics"] == alone["metrics"]
    assert alone["metrics"]["hit_rate@5"] == 1.0  # every judged query finds its document in 5


def test_the_run_used_the_readme_file_verbatim(checkout):
    _, _, name, code = checkout
    record = run(checkout, "verbatim", 4, "shared-cache")
    hashes = record["retriever"]["source_sha256"]
    assert hashes[f"retrievers/{name}.py"] == hashlib.sha256(code.encode("utf-8")).hexdigest()
