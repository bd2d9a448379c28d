"""A non-editable install works anywhere: cards, suites and retriever data ship with the package."""
import configparser

from setuptools import find_packages

from benchmarks import cards
from conftest import ROOT
from install_check import check


def test_non_editable_install_finds_cards_suites_and_data_from_another_directory(tmp_path):
    # Before: `retrieval-harness list` showed no datasets and `validate` exited 2 with
    # "unknown dataset 'llamaindex-10k'; known: none".
    out = check(tmp_path)
    assert "scifact" in out and "beir-scifact" in out and "ok: " in out


def test_packages_listed_in_setup_cfg_are_the_source_packages():
    # setup.cfg lists packages by hand (find: cannot map datasets/ into the package); a new
    # subpackage missing from the list would be missing from every install.
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    ours = ["benchmarks", "benchmarks.*", "retrievers", "retrievers.*"]
    found = set(find_packages(where=str(ROOT), include=ours))
    assert listed == found | {"benchmarks.dataset_cards"}
    mapping = dict(line.split("=") for line in cfg["options"]["package_dir"].strip().splitlines())
    assert {k.strip(): v.strip() for k, v in mapping.items()} == {"benchmarks.dataset_cards": "datasets"}
    # datasets/ must never become importable: it would shadow Hugging Face `datasets`.
    assert not (ROOT / "datasets" / "__init__.py").exists()


def test_card_dirs_use_the_installed_copy_when_there_is_one(tmp_path, monkeypatch):
    from benchmarks import shipped  # new module: imported here so the other tests run on old code

    monkeypatch.delenv("HARNESS_DATASETS_DIR", raising=False)
    assert cards.card_dirs() == [ROOT / "datasets"]  # a checkout: the repository's folder
    installed = tmp_path / "dataset_cards"
    installed.mkdir()
    (installed / "scifact.yaml").write_bytes((ROOT / "datasets" / "scifact.yaml").read_bytes())
    monkeypatch.setattr(shipped, "INSTALLED_CARDS", installed)
    assert cards.card_dirs() == [installed]
    assert cards.list_cards() == ["scifact"]
