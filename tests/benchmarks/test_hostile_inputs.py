"""Hostile or broken suite and card files: a short clear error (file, line), exit 2, nothing
written, and never a value blown up into a huge message or a file outside the data folder read."""
import os

import pytest

from benchmarks.errors import ConfigError
from benchmarks.metrics import parse_metric
from nothing_written import refused, write_suite

SUITE = """schema: suite/v1
name: s
datasets: [{name: tiny, split: test}]
metrics: [mrr@5]
retrievers: [{name: a, use: bm25}]
"""
SHORT = 2000  # a message longer than this is no message


def bomb(levels: int) -> str:
    """A billion-laughs alias chain: each level repeats the one before ten times."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines)


def test_an_alias_bomb_is_refused_without_expanding_it(tiny_copy, tmp_path, capsys):
    # A 461-byte suite with a bomb under seed: gave a 351 MB message. Six levels (10**6 values)
    # keep the old code's blow-up to a few MB.
    text = SUITE + bomb(6) + "\nseed: *l5\n"  # l0 .. l5 on lines 6 .. 11
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert len(err) < SHORT and "s.yaml:10: aliases expand this file past 100,000 values" in err


def test_a_small_alias_under_seed_is_quoted_briefly(tiny_copy, tmp_path, capsys):
    text = SUITE + bomb(4) + "\nseed: *l3\n"  # 10**4 values: allowed, but not a valid seed
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert len(err) < SHORT and "invalid value at seed in" in err and "s.yaml:10" in err


def test_a_huge_value_is_quoted_with_its_length(tiny_copy, tmp_path, capsys):
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE + f"seed: {'9x' * 50_000}\n"))
    assert len(err) < SHORT and "… (100000 chars)" in err


def test_a_huge_metric_name_is_quoted_briefly(tiny_copy, tmp_path, capsys):
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE.replace("mrr@5", "mrr@" + "9" * 100_000)))
    assert len(err) < SHORT and "s.yaml:4" in err


@pytest.mark.parametrize("syntax", ["yaml", "json"])
def test_deep_nesting_is_refused_with_its_line(tiny_copy, tmp_path, capsys, syntax):
    if syntax == "yaml":
        text = SUITE + "seed:\n" + "".join("  " * i + "- \n" for i in range(1, 3000))
    else:  # JSON is YAML too: a suite written as JSON, nested 5000 deep on line 2
        text = '{"schema": "suite/v1",\n "seed": ' + "[" * 5000 + "]" * 5000 + "}\n"
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "nested more than 64 levels deep" in err and "s.yaml:" in err


def test_a_non_utf8_suite_names_file_and_line(tiny_copy, tmp_path, capsys):
    text = SUITE.replace("retrievers:", "description: caf\xe9\nretrievers:").encode("latin-1")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "s.yaml:5: suite is not UTF-8 (byte b'\\xe9' at offset" in err


@pytest.mark.parametrize("text, needle", [
    (SUITE + "seed: 1\x00\n", "s.yaml:6: character #x0000 is not allowed"),  # was a ReaderError traceback
    (SUITE + "? [a, b]\n: 1\n", "s.yaml:6:3: a mapping key must be a plain value"),  # was a TypeError
])
def test_unreadable_yaml_is_a_clear_error(tiny_copy, tmp_path, capsys, text, needle):
    assert needle in refused(tmp_path, capsys, write_suite(tmp_path, text))


@pytest.mark.parametrize("suite", ["x" * 300, "x" * 300 + ".yaml"])
def test_a_suite_name_too_long_for_the_file_system(tiny_copy, tmp_path, capsys, suite):
    err = refused(tmp_path, capsys, suite)
    assert "File name too long" in err and len(err) < SHORT


def test_a_card_name_too_long_for_the_file_system(tiny_copy, tmp_path, capsys):
    text = SUITE.replace("{name: tiny, split: test}", "{name: " + "x" * 300 + ".yaml, split: test, id: d}")
    err = refused(tmp_path, capsys, write_suite(tmp_path, text))
    assert "s.yaml:3" in err and "File name too long" in err


def test_a_data_path_too_long_for_the_file_system(tiny_copy, tmp_path, capsys):
    _, card = tiny_copy
    card.write_text(card.read_text().replace("tiny/corpus.jsonl", "tiny/" + "c" * 300 + ".jsonl"))
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE))
    assert "File name too long" in err and "tiny.yaml" in err


def csv_card(card_dir, path):
    (card_dir / "evil.yaml").write_text(
        "schema: dataset/v1\nname: evil\nversion: 1\ndescription: d\nformat: csv-qa\npinned: false\n"
        f"splits:\n  test:\n    data: {{path: '{path}', sha256: null}}\n")


def test_a_card_cannot_climb_out_of_its_data_folder(tiny_copy, tmp_path, capsys):
    # Before: /etc/passwd was read and its first line quoted in the error.
    _, card = tiny_copy
    secret = tmp_path / "secret.csv"
    secret.write_text("TOP-SECRET-LINE\n")
    csv_card(card.parent, "../" * 12 + str(secret).lstrip("/"))
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE.replace("name: tiny", "name: evil")))
    assert "evil.yaml:9" in err and "must stay inside its data-path folder" in err
    assert "TOP-SECRET" not in err


def test_a_symlink_out_of_the_data_folder_is_refused(tiny_copy, tmp_path, capsys):
    data, card = tiny_copy
    secret = tmp_path / "secret.csv"
    secret.write_text("TOP-SECRET-LINE\n")
    os.symlink(secret, data / "link.csv")
    csv_card(card.parent, "tiny/link.csv")
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE.replace("name: tiny", "name: evil")))
    assert "outside its data folder" in err and "refused" in err and "TOP-SECRET" not in err


def test_a_symlinked_copy_of_a_pinned_file_is_refused_too(tiny_copy, tmp_path, capsys):
    # Same bytes, so the sha256 matches: only where the file lives is wrong.
    data, _ = tiny_copy
    outside = tmp_path / "corpus.jsonl"
    (data / "corpus.jsonl").rename(outside)
    os.symlink(outside, data / "corpus.jsonl")
    err = refused(tmp_path, capsys, write_suite(tmp_path, SUITE))
    assert "tiny/corpus.jsonl resolves to" in err and "outside its data folder" in err


def test_quote_bounds_any_value():
    from benchmarks.messages import quote

    shared = ["x"] * 10
    for _ in range(8):  # 10**9 items when walked, a few objects in memory
        shared = [shared] * 10
    assert len(quote(shared)) <= 250
    assert quote("y" * 500) == repr("y" * 200) + "… (500 chars)"
    assert quote("short") == "'short'"


def test_did_you_mean_lists_a_name_once():
    # "hitt" is close to hit_rate, hit and hitrate: one metric, not three suggestions.
    message = str(pytest.raises(ConfigError, parse_metric, "hitt@5").value)
    assert message.count("hit_rate@5") == 1, message
    from benchmarks.messages import close_matches, did_you_mean

    assert close_matches("ndgc", ["ndcg", "ndcg_cut"], canonical=lambda c: "ndcg") == ["ndcg"]
    assert did_you_mean("bm2", ["bm25", "bm25"]) == "did you mean bm25?"
