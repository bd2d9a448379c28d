"""Where the dataset cards that ship with the harness live: in a checkout and when installed.

In a checkout the cards are ``<repo>/datasets/*.yaml``. That folder must never become an
importable package (it would shadow Hugging Face ``datasets``), so setup.cfg ships its YAML
inside our own package as ``benchmarks/dataset_cards/`` (a ``package_dir`` mapping). A
non-editable install has only that copy: its "repository root" is site-packages, where
``datasets/`` is somebody else's package. Suites need no such care: they already sit inside the
package (``benchmarks/suites/``), and retrievers' data files beside their modules.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks import datapath

INSTALLED_CARDS = Path(__file__).resolve().parent / "dataset_cards"


def cards_dir() -> Path:
    """The installed copy when there is one (it exists only in an install), else ``<repo>/datasets``."""
    return INSTALLED_CARDS if INSTALLED_CARDS.is_dir() else datapath.REPO_ROOT / "datasets"
