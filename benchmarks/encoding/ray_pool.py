"""Encoding on Ray actors (``run --ray``): a local Ray, or the cluster at ``$RAY_ADDRESS``.

The engine's missing cache batches become a Ray Data dataset of one row per batch, mapped by a
fixed pool of actors (``map_batches`` with a callable class, ``batch_size=1``). A row is a whole
cache batch, never a slice or a merge of batches, so each batch is encoded exactly as one process
would encode it (the same texts together, the same padding) and the vectors are those of the
single-process path. Each actor unpickles its own copy of the retriever once (its model loads once
per actor, as in benchmarks/encoding/workers.py). Results stream back to the driver in completion
order and the driver stores each batch in the cache on arrival, so a killed or failed job keeps
every batch it received and a re-run encodes only the rest.

The pool: one actor per GPU when the cluster has GPUs (``num_gpus=1`` each; ``--workers`` may ask
for fewer), else ``ctx.workers`` actors on CPUs, each reserving its share of the cluster's cores
and using that many torch threads, so N actors do not oversubscribe the cores they share.
"""
from __future__ import annotations

import json
import logging
import os
import pickle
import sys
import traceback
from typing import Any, Callable

import numpy as np

from benchmarks.context import RunContext
from benchmarks.encoding.cache import Dispatch
from benchmarks.encoding.engine import encoder_of
from benchmarks.encoding.workers import worker_context

INSTALL_HINT = "pip install -e '.[ray]'"


def import_ray() -> Any:
    """Ray with Ray Data, or an error that says how to install it."""
    if "ray" not in sys.modules and not os.environ.get("RAY_ADDRESS"):
        # Token auth, Ray's default for a new local cluster, said explicitly so that Ray does not
        # warn of it on every run. Only before ray is first imported: the driver reads it then,
        # the cluster's processes when they start, and the two must agree.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        import ray
        import ray.data  # noqa: F401  (the extra is ray[data]; plain ray lacks pyarrow)
    except ImportError as exc:
        raise RuntimeError(f"--ray needs Ray Data, which is not installed: {INSTALL_HINT}") from exc
    return ray


def connect(ray: Any) -> None:
    """Join the cluster at $RAY_ADDRESS, else start a local Ray; once per process, and only when
    there is something to encode (a warm run never pays for ray.init). Ray Data's own bars and
    execution chatter are off: the engine's bar already counts the texts as batches arrive."""
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage-stats prompt or upload
        address = os.environ.get("RAY_ADDRESS") or None
        if address is None:
            # (no RAY_AUTH_MODE here: after the import it reached the cluster but not the driver,
            # and ray.init failed with "Authentication token is missing"; see import_ray)
            ray.init(include_dashboard=False, logging_level=logging.WARNING)
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    data = ray.data.DataContext.get_current()
    data.enable_progress_bars = False
    data.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # "bars disabled"


def pool_shape(ray: Any, ctx: RunContext, n_batches: int) -> tuple[int, dict[str, float], int, str | None]:
    """(actors, resources of each, torch threads of each, device override) for this cluster."""
    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    if gpus and ctx.device != "cpu":
        n = gpus if ctx.workers == 1 else min(ctx.workers, gpus)  # an actor needs a whole GPU
        # Ray gives each actor its GPU as the only visible one, hence plain "cuda"
        return max(1, min(n, n_batches)), {"num_gpus": 1}, 1, "cuda"
    if ctx.device == "cuda":
        raise RuntimeError("--device cuda, but the Ray cluster has no GPUs")
    cpus = max(1, int(resources.get("CPU", 1)))
    n = max(1, min(ctx.workers, cpus, n_batches))  # more actors than cores would never all start
    largest = max((int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node.get("Alive")), default=1)
    share = max(1, min(cpus // n, largest))  # an actor's reservation must fit on one node
    return n, {"num_cpus": share}, share, None


class BatchEncoder:
    """The callable class Ray Data runs in each actor: one retriever, loaded once, encoding one
    cache batch per row. A failing batch comes back as a row carrying the exception rather than
    as a Ray error, so the driver re-raises the encoder's own exception (type and message), and
    Ray does not retry a batch whose failure is the encoder's, not the cluster's."""

    def __init__(self, payload: bytes, threads: int, device: str | None) -> None:
        retriever, side, ctx = pickle.loads(payload)
        if device is not None:
            ctx.device = device
        import torch

        torch.set_num_threads(threads)
        self.encode = encoder_of(retriever, side)
        self.ctx = ctx

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [self.encode_one(json.loads(texts)) for texts in rows["texts"]]
        return {"index": rows["index"], "result": np.array(results, dtype=object)}

    def encode_one(self, batch: list[str]) -> bytes:
        try:
            vectors = np.asarray(self.encode(batch, self.ctx), dtype=np.float32)
            return pickle.dumps(("ok", vectors))
        except Exception as exc:  # noqa: BLE001  (handed to the driver, which raises it)
            where = traceback.format_exc()
            try:
                return pickle.dumps(("error", exc, where))
            except Exception:  # noqa: BLE001  an exception that cannot be pickled: its text
                return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}"), where))


class RemoteTraceback(Exception):
    """The cause attached to a re-raised actor exception: where it happened on the actor."""


def ray_dispatch(retriever: Any, side: str, ctx: RunContext) -> Dispatch:
    ray = import_ray()  # fail at once, before any row runs, if the extra is missing

    def dispatch(batches: list[list[str]], done: Callable[[list[str], np.ndarray], None]) -> None:
        connect(ray)
        n, resources, threads, device = pool_shape(ray, ctx, len(batches))
        payload = pickle.dumps((retriever, side, worker_context(ctx)))
        # json with ASCII escapes: any Python str (lone surrogates too) survives Arrow's UTF-8 column
        rows = [{"index": i, "texts": json.dumps(batch)} for i, batch in enumerate(batches)]
        encoded = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            BatchEncoder, batch_size=1, fn_constructor_args=(payload, threads, device),
            # in flight one batch per actor: a free actor takes the next batch, none queues
            # behind a slow one
            compute=ray.data.ActorPoolStrategy(size=n, max_tasks_in_flight_per_actor=1),
            udf_modifying_row_count=False, **resources,
        )
        stream = iter(encoded.iter_rows())
        try:
            for row in stream:
                status, *result = pickle.loads(row["result"])
                if status != "ok":  # the first failure stops the job; stored batches stay stored
                    exc, where = result
                    raise exc from RemoteTraceback(f"on a Ray actor:\n{where}")
                done(batches[int(row["index"])], result[0])
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops the streaming execution and its actors now, not at garbage collection

    return dispatch
