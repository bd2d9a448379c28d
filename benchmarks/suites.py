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
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from benchmarks.errors import ConfigError
from benchmarks.metrics import parse_metric
from benchmarks.yaml_models import load_model_file

SUITES_DIR = Path(__file__).parent / "suites"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class DatasetEntry(Strict):
    name: str  # dataset card name
    split: str  # evaluated split
    train_split: str | None = None  # what retrievers that train are trained on
    id: str | None = None  # results folder name; defaults to the card name
    limit_queries: int | None = Field(default=None, ge=1)  # first N queries (as DALM evaluated)

    @property
    def key(self) -> str:
        return self.id or self.name


class RetrieverEntry(Strict):
    name: str  # row name in the leaderboard and the record file name
    use: str  # registry name
    params: dict[str, Any] = Field(default_factory=dict)


class BootstrapSettings(Strict):
    n_resamples: int = Field(default=1000, ge=100)
    confidence: float = Field(default=0.95, gt=0, lt=1)


class SignificanceSettings(Strict):
    test: Literal["randomization"] = "randomization"
    n_resamples: int = Field(default=10000, ge=100)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    correction: Literal["holm", "none"] = "holm"


class AnnSettings(Strict):
    M: int = 32
    ef_construction: int = 200
    ef_search: int = 128


class Suite(Strict):
    schema_: Literal["suite/v1"] = Field(alias="schema")
    name: str
    description: str = ""
    datasets: list[DatasetEntry]
    metrics: list[str]
    main_metric: str | None = None
    top_k: int | None = Field(default=None, ge=1)  # ranking depth; default: the largest metric cutoff
    seed: int = 0
    baseline: str | None = None
    retrievers: list[RetrieverEntry]
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    significance: SignificanceSettings = Field(default_factory=SignificanceSettings)
    ann: AnnSettings | None = None  # set to use faiss HNSW instead of exact search

    @field_validator("metrics")
    @classmethod
    def _canonical_metrics(cls, value: list[str]) -> list[str]:
        try:
            return [str(parse_metric(m)) for m in value]
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> "Suite":
        names = [r.name for r in self.retrievers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"retriever names must be unique, repeated: {', '.join(dupes)}")
        keys = [d.key for d in self.datasets]
        if len(set(keys)) != len(keys):
            raise ValueError("dataset entries must be unique: give repeated datasets distinct 'id's")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the retrievers: {', '.join(names)}")
        if self.main_metric is not None:
            self.main_metric = str(parse_metric(self.main_metric))
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


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if not (path.suffix in {".yaml", ".yml"} and path.is_file()):
        found = [d / f"{name_or_path}.yaml" for d in suite_dirs() if (d / f"{name_or_path}.yaml").is_file()]
        if not found:
            import difflib

            close = difflib.get_close_matches(name_or_path, list_suites(), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else f" Known: {', '.join(list_suites())}."
            raise ConfigError(f"unknown suite {name_or_path!r}.{hint}")
        path = found[0]
    suite = load_model_file(path, Suite, "suite")
    if suite.name != path.stem:
        raise ConfigError(f"{path}: name {suite.name!r} must match the file name {path.stem!r}")
    return suite
