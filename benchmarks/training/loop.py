"""The one training loop every in-suite trainer runs (adapter, contrastive, e2e, e2e-equivalent).

- ``deterministic``: seeds torch/numpy/random and turns on deterministic kernels for the
  duration of one training, then puts the global state back.
- ``linear_warmup``: the learning-rate factor of ``transformers.get_linear_schedule_with_warmup``.
- ``precision_for``: what ``train_precision: auto`` means on a device.
- ``train_loop``: micro-batches, gradient accumulation, autocast (bf16, or fp16 with loss
  scaling), backward, clipping, optimizer and schedule steps, progress, and the ``LossLog``.
- ``LossLog``: one shape of loss log for every trainer's record: per named part ("total" first),
  the first and final step value, per-epoch means and a curve of at most ~50 window means.

Per optimizer step, as LlamaIndex's ``train_model`` and DALM's loops: forward and backward of
each micro-batch (its loss divided by the number of micro-batches, so gradients are the mean),
unscale, clip (if any), optimizer step, scheduler step, zero grad.
"""
from __future__ import annotations

import math
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Sequence

from benchmarks.errors import ConfigError
from benchmarks.training.data import batches

if TYPE_CHECKING:
    import torch


@contextmanager
def deterministic(seed: int, threads: int | None = None) -> Iterator["torch.Generator"]:
    """Seed everything and use deterministic kernels; yields a generator for shuffling.

    Global state (deterministic-algorithms flag, thread count) is restored afterwards so a
    training does not change how the rest of the run behaves. ``threads`` pins the intra-op
    thread count; None keeps the current one (measured: CPU training with 2 threads gives
    bit-identical weights run to run, see tests/test_contrastive.py and test_adapter.py).
    """
    import numpy as np
    import torch

    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.Generator().manual_seed(seed)
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def linear_warmup(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """LR factor: 0 -> 1 linearly over warmup, then linearly down to 0 at ``total_steps``.

    Same arithmetic as transformers' ``get_linear_schedule_with_warmup`` (used by LlamaIndex
    and DALM), written out so the adapter needs no transformers import.
    """
    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def precision_for(choice: str, device: str) -> str:
    """``auto``: bf16 on a GPU that has it, else fp16 (with loss scaling); fp32 on CPU."""
    import torch

    if choice == "fp16" and not device.startswith("cuda"):
        raise ConfigError("train_precision fp16 needs a GPU (loss scaling is CUDA-only); use fp32 or bf16")
    if choice != "auto":
        return choice
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"  # CPU autocast is slow and lossy for training; DALM's CPU path is fp32 too


def total_steps(n_rows: int, batch_size: int, epochs: int, grad_accum_steps: int = 1,
                max_steps: int | None = None) -> int:
    """Optimizer steps of a training: ceil(ceil(rows / batch) / accumulation) per epoch, capped."""
    total = -(-(-(-n_rows // batch_size)) // grad_accum_steps) * epochs  # integer ceilings
    return min(total, max_steps) if max_steps is not None else total


@dataclass
class LossLog:
    """Per optimizer step, the mean over its micro-batches of each named loss part."""

    steps: int = 0
    parts: dict[str, list[float]] = field(default_factory=dict)  # part -> value per step
    epochs: dict[str, list[float]] = field(default_factory=dict)  # part -> mean per epoch
    settings: dict[str, Any] = field(default_factory=dict)  # micro-batch, accumulation, warmup, precision

    def summary(self) -> dict[str, Any]:
        """What the record's "training" says about the run, the same keys for every trainer."""
        return {"optimizer_steps": self.steps, **self.settings,
                "losses": {name: _series(values, self.epochs.get(name, [])) for name, values in self.parts.items()}}


def _series(values: list[float], epoch_means: list[float]) -> dict[str, Any]:
    window = max(1, math.ceil(len(values) / 50))
    curve = [sum(values[i:i + window]) / len(values[i:i + window]) for i in range(0, len(values), window)]
    return {"first": values[0] if values else None, "final": values[-1] if values else None,
            "epoch_means": epoch_means, "curve_window_steps": window, "curve": [round(v, 5) for v in curve]}


def loss_log(step_losses: Sequence[float], steps_per_epoch: int, **settings: Any) -> LossLog:
    """A LossLog from a flat list of step losses (a trainer that is not ours reports only those)."""
    values = [float(v) for v in step_losses]
    chunks = [values[i:i + steps_per_epoch] for i in range(0, len(values), max(1, steps_per_epoch))]
    return LossLog(len(values), {"total": values}, {"total": [sum(c) / len(c) for c in chunks if c]}, settings)


LossFn = Callable[[list[int]], "torch.Tensor | Mapping[str, torch.Tensor]"]


def train_loop(
    params: Sequence["torch.nn.Parameter"],
    loss_fn: LossFn,
    *,
    n_rows: int,
    batch_size: int,
    epochs: int,
    optimizer: "torch.optim.Optimizer",
    warmup_steps: int,
    max_grad_norm: float | None,
    shuffle_generator: "torch.Generator | None",
    progress: bool,
    desc: str,
    grad_accum_steps: int = 1,
    max_steps: int | None = None,
    precision: str = "fp32",
    device: str = "cpu",
) -> LossLog:
    """Run ``epochs`` passes of ``loss_fn(micro_batch_row_indices)``; returns the loss log.

    ``loss_fn`` returns the loss, or a mapping of named parts whose "total" is the loss (the
    others are logged only). One optimizer step takes ``grad_accum_steps`` micro-batches, each
    its own in-batch set (as DALM's accelerate); ``max_steps`` caps the optimizer steps.
    """
    import torch
    from tqdm import tqdm

    total = total_steps(n_rows, batch_size, epochs, grad_accum_steps, max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup(warmup_steps, total))
    use_amp = precision in ("bf16", "fp16")
    amp_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    log = LossLog(settings={"micro_batch_size": batch_size, "grad_accum_steps": grad_accum_steps,
                            "warmup_steps": warmup_steps, "precision": precision})
    optimizer.zero_grad()
    with tqdm(total=total, desc=desc, disable=not progress, unit="step") as bar:
        for epoch in range(epochs):
            micro = batches(n_rows, batch_size, shuffle_generator)
            sums: dict[str, float] = {}
            n = 0
            for k in range(0, len(micro), grad_accum_steps):
                if log.steps >= total:
                    break
                group = micro[k:k + grad_accum_steps]
                step: dict[str, float] = {}
                for rows in group:
                    with torch.autocast(device_type=device.split(":")[0], dtype=amp_dtype, enabled=use_amp):
                        out = loss_fn(rows)
                    parts = dict(out) if isinstance(out, Mapping) else {"total": out}
                    scaler.scale(parts["total"] / len(group)).backward()  # mean over micro-batches
                    for name, value in parts.items():
                        step[name] = step.get(name, 0.0) + float(value.detach()) / len(group)
                scaler.unscale_(optimizer)
                if max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                optimizer.zero_grad()
                log.steps += 1
                n += 1
                for name, value in step.items():
                    log.parts.setdefault(name, []).append(value)
                    sums[name] = sums.get(name, 0.0) + value
                bar.set_postfix(epoch=epoch + 1, **{name: f"{value:.4f}" for name, value in step.items()})
                bar.update(1)
            for name in log.parts:
                log.epochs.setdefault(name, []).append(sums.get(name, 0.0) / max(1, n))
    return log
