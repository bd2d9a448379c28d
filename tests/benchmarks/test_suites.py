"""Suite YAML validation: every shipped suite loads; bad ones fail naming file and field."""
import pytest

from benchmarks.errors import ConfigError
from benchmarks.runner import build_retriever
from benchmarks.suites import list_suites, load_suite

GOOD = """schema: suite/v1
name: s
datasets: [{name: tiny, split: test}]
metrics: [ndcg@10, MRR@5]
retrievers: [{name: a, use: bm25}]
"""


def write(tmp_path, text, name="s"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["beir-scifact", "llamaindex-10k", "arcee", "arcee-standin"])
def test_shipped_suites_load_and_build(name):
    suite = load_suite(name)
    assert name in list_suites()
    for entry in suite.retrievers:
        build_retriever(entry)  # names and params valid


def test_defaults_and_canonical_metrics(tmp_path):
    suite = load_suite(str(write(tmp_path, GOOD)))
    assert suite.metrics == ["ndcg@10", "mrr@5"]
    assert suite.top_k == 10  # the largest cutoff


@pytest.mark.parametrize("mutation, message", [
    (GOOD + "colour: red\n", "unknown key 'colour'"),
    (GOOD.replace("use: bm25}", "use: bm25, parms: {}}"), "unknown key 'parms' in"),
    (GOOD.replace("ndcg@10", "ndcg@ten"), "ndcg@ten"),
    (GOOD + "baseline: zzz\n", "baseline 'zzz' is not one of the retrievers"),
    (GOOD + "top_k: 3\n", "smaller than the largest metric cutoff"),
    (GOOD.replace("[{name: a, use: bm25}]", "[{name: a, use: bm25}, {name: a, use: bm25}]"), "repeated: a"),
    (GOOD.replace("name: s", "name: t"), "must match the file name"),
    (GOOD + "  - oops: [\n", "YAML error in"),
])
def test_bad_suites_fail_loudly(tmp_path, mutation, message):
    path = write(tmp_path, mutation)
    with pytest.raises(ConfigError) as info:
        load_suite(str(path))
    assert str(path) in str(info.value)  # the message names the file
    assert message in str(info.value)


def test_unknown_suite_suggests():
    with pytest.raises(ConfigError, match="Did you mean beir-scifact"):
        load_suite("beir-scifac")


def test_bad_retriever_params_and_names(tmp_path):
    suite = load_suite(str(write(tmp_path, GOOD.replace("use: bm25}", "use: bm25, params: {k2: 1}}"))))
    with pytest.raises(ConfigError, match="k2"):
        build_retriever(suite.retrievers[0])
    suite = load_suite(str(write(tmp_path, GOOD.replace("use: bm25}", "use: bm2}"))))
    with pytest.raises(ConfigError, match="did you mean bm25"):
        build_retriever(suite.retrievers[0])


def test_a_suite_defined_twice_on_the_search_path_is_refused_like_a_card(tmp_path, monkeypatch):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        write(folder, GOOD)
    monkeypatch.setenv("HARNESS_SUITES_DIR", f"{one}:{two}")
    with pytest.raises(ConfigError, match="defined twice"):
        load_suite("s")
    monkeypatch.setenv("HARNESS_SUITES_DIR", f"{one}:{one}")  # the same folder twice is one suite
    assert load_suite("s").name == "s"
