"""Fusion rows: one run from other rows' runs of the same suite, in the same invocation.

    - {name: bm25-minilm-l6-rrf, use: fusion, params: {of: [bm25, minilm-l6], method: rrf, k: 60}}

The runner runs the rows named in ``of`` first (also when ``--retriever`` picks only the fusion
row) and hands their finished runs over in ``RunContext.runs``; nothing is encoded or searched
again. The formulas are ``benchmarks.fusion.fuse`` (checked against ``ranx.fuse``); the fused run
is cut to the suite's top_k. The record's ``fusion`` field names each input row with the sha256
of its run file and its evaluation fingerprint, so the leaderboard can tell when an input's
record no longer is the run this row was fused from (``benchmarks.fusion_rows``).
"""
from __future__ import annotations

from typing import Any, Literal, Mapping

from pydantic import Field, model_validator

from benchmarks.context import RunContext
from benchmarks.fusion import fuse
from benchmarks.types import Doc, Run
from retrievers import register
from retrievers.base import Params, Retriever


class FusionParams(Params):
    of: list[str] = Field(min_length=2)  # row names of the same suite
    method: Literal["rrf", "combsum", "combmnz"] = "rrf"
    k: float = Field(default=60, gt=0)  # rrf: 1 / (k + rank)
    norm: Literal["min-max", "z", "none"] = "min-max"  # combsum / combmnz; rrf uses ranks only
    weights: list[float] | None = None  # one per row of ``of``; default all 1

    @model_validator(mode="after")
    def _consistent(self) -> "FusionParams":
        if len(set(self.of)) != len(self.of):
            raise ValueError(f"of names a row twice: {self.of}")
        if self.weights is not None and len(self.weights) != len(self.of):
            raise ValueError(f"{len(self.weights)} weights for {len(self.of)} rows in of")
        return self


@register("fusion")
class FusionRetriever(Retriever):
    """Fuses other rows' runs (rrf, combsum, combmnz); encodes nothing."""

    kind = "fusion"
    impl_version = "1"
    Params = FusionParams

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self._inputs: dict[str, Any] = {}

    def input_rows(self) -> list[str]:
        """The rows whose runs this row consumes: the runner runs them first."""
        return list(self.params.of)

    def retrieve(self, corpus: Mapping[str, Doc], queries: Mapping[str, str], k: int, ctx: RunContext) -> Run:
        p = self.params
        missing = [row for row in p.of if row not in ctx.runs]
        if missing:
            raise RuntimeError(f"input row(s) {', '.join(missing)} produced no run in this invocation "
                               "(failed, not run or data not available); fix them and run again")
        self._inputs = {row: {key: value for key, value in ctx.runs[row].items() if key != "run"}
                        for row in p.of}
        fused = fuse([ctx.runs[row]["run"] for row in p.of], p.method, k=p.k, norm=p.norm,
                     weights=p.weights, depth=k)
        return {qid: fused.get(qid, {}) for qid in queries}  # a query no input ranked stays, empty

    def record_fields(self) -> dict[str, Any]:
        p = self.params
        return {"fusion": {"of": list(p.of), "method": p.method, "k": p.k,
                           "norm": p.norm if p.method != "rrf" else None, "weights": p.weights,
                           "inputs": self._inputs}}
