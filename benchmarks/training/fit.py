"""The ``fit()`` sequence every in-suite trainer shares: data hash -> spec -> artifact cache -> record.

A plugin builds its training data (pairs or triples) and its ``base`` (what it starts from),
then calls ``cached_training``: the spec has the one shape of ``benchmarks.artifacts.make_spec``,
the artifact is reused when the spec is unchanged (unless ``--retrain``), the build is timed,
and the returned record has the same keys for every trainer (the plugin adds its own fields).
"""
from __future__ import annotations

import time
from typing import Any, Callable

from benchmarks.artifacts import Artifact, ArtifactCache, make_spec
from benchmarks.context import RunContext


def encoder_base(resolved: Any, **extra: Any) -> dict[str, Any]:
    """The identity of a base encoder (a ResolvedModel) in a spec: id, revision, weights hash."""
    return {"model_id": resolved.model_id, "revision": resolved.revision,
            "weights_sha256": resolved.weights_sha256, **extra}


def cached_training(ctx: RunContext, *, kind: str, base: dict[str, Any], data_sha256: str, hyper: dict[str, Any],
                    impl_version: str, build: Callable[[Any], dict[str, Any]], recipe: dict[str, Any] | None = None,
                    **fields: Any) -> tuple[Artifact, dict[str, Any]]:
    """(the artifact, the record's "training" part) for a spec; ``build(folder)`` trains into
    ``folder`` and returns what the record should say (``train_s`` is added unless given).

    ``fields`` come first in the record (e.g. pairs), then the data hash, hyper-parameters,
    seed, the recipe the params came from (if any) and the artifact's own fields.
    """
    spec = make_spec(kind, base, data_sha256, hyper, ctx.seed, impl_version)

    def timed(folder: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        info = build(folder) or {}
        return {**info, "train_s": info.get("train_s", round(time.perf_counter() - t0, 3))}

    artifact = ArtifactCache(ctx.cache_dir / "artifacts").get_or_build(spec, timed, retrain=ctx.retrain)
    record = {**fields, "data_sha256": data_sha256, "hyper": hyper, "seed": ctx.seed,
              **({"recipe": recipe} if recipe else {}), **artifact.record()}
    return artifact, record
