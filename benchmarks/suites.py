"""Suite YAML files (``benchmarks/suites/*.yaml``): datasets x retrievers x metrics.

Example::

    schema: suite/v1
    name: beir-scifact
    datasets:
      - {name: scifact, split: test, train_split: train}
    metrics: [ndcg@10, recall@100, mrr@10, hit_rate@10]
    baseline: bm25
    retrievers:
      - {name: bm25, use: bm25}
      - {name: minilm-l6, use: bge, params: {model: minilm-l6}}
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, PrivateAttr, model_validator

from benchmarks.cards import display_path
from benchmarks.errors import ConfigError
from benchmarks.messages import clip, did_you_mean, quote
from benchmarks.metrics import MAX_CUTOFF, parse_metric
from benchmarks.yaml_models import Strict, is_file, load_model_file

SUITES_DIR = Path(__file__).parent / "suites"
# Suite names, dataset ids and row names become folder and file names under the results dir:
# "name: ../../x" or "/tmp/x" wrote records anywhere on disk, and a 300-character name failed
# with ENAMETOOLONG only after the other rows had run.
MAX_NAME = 100
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SAFE_RULE = f"1 to {MAX_NAME} characters from A-Z a-z 0-9 . _ -, starting with a letter or digit"


def safe_name(value: str) -> str:
    """A name that is one plain file name on every file system (see SAFE_RULE)."""
    if len(value) > MAX_NAME or not _SAFE.fullmatch(value):
        raise ValueError(f"{quote(value)} cannot name a results file: use {SAFE_RULE}")
    return value


def _metric(value: str) -> str:
    try:
        return str(parse_metric(value))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


SafeName = Annotated[str, AfterValidator(safe_name)]
MetricName = Annotated[str, AfterValidator(_metric)]  # one error per bad metric, each with its line


class DatasetEntry(Strict):
    name: str  # dataset card name (or path to a card file, with an id)
    split: str  # evaluated split
    train_split: str | None = None  # what retrievers that train are trained on
    id: SafeName | None = None  # results folder name; defaults to the card name
    limit_queries: int | None = Field(default=None, ge=1)  # first N queries (as DALM evaluated)
    # harness | dalm (DALM's evaluation: benchmarks/protocol.py); None: the suite's protocol
    protocol: Literal["harness", "dalm"] | None = None

    @model_validator(mode="after")
    def _key_is_safe(self) -> "DatasetEntry":
        if self.id is None:
            try:
                safe_name(self.name)
            except ValueError:
                raise ValueError(f"dataset {quote(self.name)} cannot name a results folder; give the "
                                 f"entry an 'id' ({SAFE_RULE})") from None
        return self

    @property
    def key(self) -> str:
        return self.id or self.name


class RetrieverEntry(Strict):
    name: SafeName  # row name in the leaderboard and the record file name
    use: str  # registry name
    params: dict[str, Any] = Field(default_factory=dict)


# Upper bounds: resampling holds n_resamples x queries values in memory.
MAX_RESAMPLES = 1_000_000


class BootstrapSettings(Strict):
    n_resamples: int = Field(default=1000, ge=100, le=MAX_RESAMPLES)
    confidence: float = Field(default=0.95, gt=0, lt=1)


class SignificanceSettings(Strict):
    test: Literal["randomization"] = "randomization"
    n_resamples: int = Field(default=10000, ge=100, le=MAX_RESAMPLES)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "none"] = "holm"


class AnnSettings(Strict):
    M: int = Field(default=32, ge=2, le=1024)
    ef_construction: int = Field(default=200, ge=1, le=100_000)
    ef_search: int = Field(default=128, ge=1, le=100_000)


class Suite(Strict):
    schema_: Literal["suite/v1"] = Field(alias="schema")
    name: SafeName
    description: str = ""
    datasets: list[DatasetEntry] = Field(min_length=1)
    metrics: list[MetricName] = Field(min_length=1)
    main_metric: MetricName | None = None
    # ranking depth; default: the largest metric cutoff
    top_k: int | None = Field(default=None, ge=1, le=MAX_CUTOFF)
    # numpy refuses negative seeds (in the bootstrap, after a row ran); training folds seeds modulo
    # 2**32, so a larger one would silently collide with a small one.
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    baseline: str | None = None
    retrievers: list[RetrieverEntry] = Field(min_length=1)
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    significance: SignificanceSettings = Field(default_factory=SignificanceSettings)
    ann: AnnSettings | None = None  # set to use faiss HNSW instead of exact search
    protocol: Literal["harness", "dalm"] = "harness"  # the default of its dataset entries

    # Where it was read from, so later checks (retriever params) can name the line.
    _yaml_node: Any = PrivateAttr(default=None)
    _yaml_label: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> "Suite":
        for entry in self.datasets:  # an entry that names no protocol is evaluated under the suite's
            entry.protocol = entry.protocol or self.protocol
        names = [r.name for r in self.retrievers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"retriever names must be unique, repeated: {', '.join(dupes)}")
        keys = [d.key for d in self.datasets]
        if len(set(keys)) != len(keys):
            raise ValueError("dataset entries must be unique: give repeated datasets distinct 'id's")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline {quote(self.baseline)} is not one of the retrievers: "
                             f"{', '.join(names)}")
        max_k = max(parse_metric(m).k for m in self.metrics)
        if self.top_k is None:
            self.top_k = max_k
        elif self.top_k < max_k:
            raise ValueError(f"top_k {self.top_k} is smaller than the largest metric cutoff {max_k}")
        return self


def suite_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("HARNESS_SUITES_DIR", "").split(os.pathsep) if p]
    return [SUITES_DIR, *extra]


def list_suites() -> list[str]:
    return sorted({p.stem for d in suite_dirs() if d.is_dir() for p in d.glob("*.yaml")})


def load_suite(name_or_path: str | Path) -> Suite:
    text = str(name_or_path)
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} and is_file(path, "suite")):
        found = [d / f"{text}.yaml" for d in suite_dirs() if is_file(d / f"{text}.yaml", "suite")]
        if not found:
            hint = did_you_mean(text, list_suites())
            raise ConfigError(f"unknown suite {quote(text)}. {hint[:1].upper()}{hint[1:]}")
        if len(set(p.resolve() for p in found)) > 1:
            # As for dataset cards: which copy wins must not depend on $HARNESS_SUITES_DIR's order.
            raise ConfigError(f"suite {quote(text)} is defined twice: {found[0]} and {found[1]}; rename one "
                              "(the name must equal the file stem)")
        path = found[0]
    suite = load_model_file(path, Suite, "suite", label=display_path(path))
    if suite.name != path.stem:
        raise ConfigError(f"{path}: name {quote(suite.name)} must match the file name "
                          f"{quote(clip(path.stem))}")
    return suite
