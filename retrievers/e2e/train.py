"""Joint training of the retriever and the generator (DALM RAG-e2e), see ``e2e_loss`` for the maths.

The retriever half is ``contrastive``'s: one shared sentence-transformers encoder, masked mean
pooling (or CLS) + L2, ``#query# ``/``#passage# `` prefixes, optional false-negative masking,
LoRA on query/key/value or full fine-tuning. One Adam over both models' trainable parameters
with one learning rate and a linear schedule with warmup, as DALM's train_rage2e.py. Gradient
accumulation sums micro-batches, each its own in-batch set (DALM's accelerate does the same).
Mixed precision: autocast bf16 (fp16 with loss scaling where bf16 is missing) on GPU, fp32 on CPU.

Saved: ``retriever/`` (LoRA merged, a plain sentence-transformers folder evaluated like any
model) and ``generator/`` (the LoRA adapter, or the full model, plus tokenizer).
"""
from __future__ import annotations

import json

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.errors import ConfigError
from benchmarks.llm.models import ResolvedGenerator
from benchmarks.training import batches, deterministic, duplicate_mask, linear_warmup
from retrievers.contrastive.train import PASSAGE_PREFIX, QUERY_PREFIX, add_lora, pool
from retrievers.e2e.data import TextOptions, collate, encode_row
from retrievers.e2e.loss import LossParts, e2e_loss, score_matrix, token_log_probs
from retrievers.e2e.generator import add_generator_lora, load_generator

PARTS = ("total", "retriever", "generator", "lm_nll")


@dataclass(frozen=True)
class Row:
    query: str  # as the retriever sees it (instruction included, no prefix)
    passage: str
    answer: str
    group: int  # same passage text, same group (false-negative masking)


def precision_for(choice: str, device: str) -> str:
    import torch

    if choice == "fp16" and not device.startswith("cuda"):
        raise ConfigError("train_precision fp16 needs a GPU (loss scaling is CUDA-only); use fp32 or bf16")
    if choice != "auto":
        return choice
    if device.startswith("cuda"):
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"  # CPU autocast is slow and lossy for training; DALM's CPU path is fp32 too


def text_options(params: Any) -> TextOptions:
    return TextOptions(params.generator_max_len, params.faithful_double_prefix, params.faithful_answer_start,
                       params.generator_truncation, params.answer_max_tokens)


@dataclass
class Models:
    retriever: Any
    rtok: Any
    generator: Any
    gtok: Any


def retriever_embed(m: Models, texts: list[str], max_len: int, pooling: str, device: str) -> Any:
    batch = m.rtok(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    return pool(m.retriever(**batch)[0], batch["attention_mask"], pooling)


def batch_loss(m: Models, rows: list[Row], params: Any, device: str) -> LossParts:
    """Loss of one in-batch set. Generator rows: (i, i) for dalm/independent, all (i, j) for marginal."""
    import torch

    qp = QUERY_PREFIX if params.train_prefixes else ""
    pp = PASSAGE_PREFIX if params.train_prefixes else ""
    q = retriever_embed(m, [qp + r.query for r in rows], params.query_max_len, params.pooling, device)
    p = retriever_embed(m, [pp + r.passage for r in rows], params.passage_max_len, params.pooling, device)
    mask = None
    if params.mask_same_passage:
        mask = duplicate_mask(torch.tensor([r.group for r in rows], device=device))
    scores = score_matrix(q.float(), p.float(), params.logit_scale, mask)
    b = len(rows)
    pairs = [(i, j) for i in range(b) for j in range(b)] if params.loss == "marginal" else [(i, i) for i in range(b)]
    opts = text_options(params)
    enc = collate(m.gtok, [encode_row(m.gtok, rows[i].query, rows[j].passage, rows[i].answer, opts)
                           for i, j in pairs], device)
    logits = m.generator(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
    lp = token_log_probs(logits, enc["input_ids"])
    return e2e_loss(scores, lp, enc["attention_mask"], enc["answer_start"], params.loss, params.lm_loss_on_prompt)


def load_models(retriever_path: str, generator: ResolvedGenerator, params: Any, device: str) -> tuple[Any, Models]:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(retriever_path, device=device)  # a private copy: the cached one stays frozen
    rmodel = st[0].auto_model
    if params.lora:
        rmodel = add_lora(rmodel, params.lora_r, params.lora_alpha, params.lora_dropout, params.lora_targets)
    # With LoRA the base weights stay frozen, so they can sit in the autocast dtype (half the
    # memory for a 7B model); full fine-tuning keeps fp32 master weights under autocast.
    half = {"bf16": "bfloat16", "fp16": "float16"}.get(precision_for(params.train_precision, device))
    gmodel, gtok = load_generator(generator, device, half if half and params.generator_lora else "float32")
    if params.generator_lora:
        gmodel = add_generator_lora(gmodel, params.lora_r, params.lora_alpha, params.lora_dropout,
                                    params.generator_lora_targets)
    return st, Models(rmodel.to(device), st[0].tokenizer, gmodel, gtok)


def _summary(series: list[float], epochs: list[float]) -> dict[str, Any]:
    """First/final step value, per-epoch means and a curve of at most ~50 window means."""
    window = max(1, math.ceil(len(series) / 50))
    curve = [sum(series[i:i + window]) / len(series[i:i + window]) for i in range(0, len(series), window)]
    return {"first": series[0] if series else None, "final": series[-1] if series else None,
            "epoch_means": epochs, "curve_window_steps": window, "curve": [round(v, 5) for v in curve]}


def train_e2e(retriever_path: str, generator: ResolvedGenerator, rows: list[Row], params: Any, seed: int,
              device: str, progress: bool, out: Path) -> dict[str, Any]:
    """Train both models on ``rows``; save them under ``out``; return the training log."""
    import torch
    from tqdm import tqdm

    precision = precision_for(params.train_precision, device)
    with deterministic(seed, threads=params.train_threads) as gen:
        st, m = load_models(retriever_path, generator, params, device)
        m.retriever.train()
        m.generator.train()
        trainable = [p for model in (m.retriever, m.generator) for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=params.lr, weight_decay=params.weight_decay)
        micro_per_epoch = math.ceil(len(rows) / params.train_batch_size)
        steps_per_epoch = math.ceil(micro_per_epoch / params.grad_accum_steps)
        total = steps_per_epoch * params.epochs
        if params.max_steps is not None:
            total = min(total, params.max_steps)
        warmup = params.warmup_steps if params.warmup_steps is not None else min(100, math.ceil(0.1 * total))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup(warmup, total))
        use_amp = precision in ("bf16", "fp16")
        amp_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
        log: dict[str, list[float]] = {k: [] for k in PARTS}
        epoch_means: dict[str, list[float]] = {k: [] for k in PARTS}
        step = 0
        optimizer.zero_grad()
        with tqdm(total=total, desc="train e2e", disable=not progress, unit="step") as bar:
            for epoch in range(params.epochs):
                micro = batches(len(rows), params.train_batch_size, gen if params.shuffle else None)
                sums, n = dict.fromkeys(PARTS, 0.0), 0
                for k in range(0, len(micro), params.grad_accum_steps):
                    if step >= total:
                        break
                    group = micro[k:k + params.grad_accum_steps]
                    parts = dict.fromkeys(PARTS, 0.0)
                    for idx in group:
                        with torch.autocast(device_type=device.split(":")[0], dtype=amp_dtype, enabled=use_amp):
                            loss = batch_loss(m, [rows[i] for i in idx], params, device)
                        scaler.scale(loss.total / len(group)).backward()  # mean over micro-batches
                        for name, value in loss.floats().items():
                            parts[name] += value / len(group)
                    scaler.unscale_(optimizer)
                    if params.max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(trainable, params.max_grad_norm)
                    scaler.step(optimizer)
                    scaler.update()
                    scheduler.step()
                    optimizer.zero_grad()
                    step += 1
                    for name in PARTS:
                        log[name].append(parts[name])
                        sums[name] += parts[name]
                    n += 1
                    bar.set_postfix(ret=f"{parts['retriever']:.3f}", gen=f"{parts['generator']:.3f}")
                    bar.update(1)
                for name in PARTS:
                    epoch_means[name].append(sums[name] / max(1, n))
        counts = {"retriever": _count(m.retriever), "generator": _count(m.generator)}
        save(st, m, params, out, generator.model_id)
    return {"optimizer_steps": step, "micro_batch_size": params.train_batch_size,
            "grad_accum_steps": params.grad_accum_steps, "warmup_steps": warmup, "precision": precision,
            "trainable_params": counts,
            "losses": {name: _summary(log[name], epoch_means[name]) for name in PARTS}}


def _count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save(st: Any, m: Models, params: Any, out: Path, generator_id: str) -> None:
    retriever = m.retriever.merge_and_unload() if params.lora else m.retriever
    retriever.eval()
    st[0].model = retriever  # the merged plain model: the folder loads without peft
    st.save(str(out / "retriever"))
    if params.save_generator:
        # LoRA: only the adapter (MBs); full fine-tuning: the whole model.
        m.generator.save_pretrained(str(out / "generator"))
        m.gtok.save_pretrained(str(out / "generator"))
        portable_peft_files(out / "generator", generator_id)


def portable_peft_files(folder: Path, base_id: str) -> None:
    """Make peft's metadata the same on every machine, so equal weights give an equal artifact hash.

    peft writes the local load path of the base model (here a folder under the harness cache)
    into adapter_config.json and its generated README.md, and writes target_modules from a
    set, whose order changes between processes. The base model is recorded by id instead, and
    the modules are sorted; the README is peft's boilerplate and goes.
    """
    config = folder / "adapter_config.json"
    if not config.is_file():
        return  # full fine-tuning: a plain model folder, no peft files
    data = json.loads(config.read_text())
    data["base_model_name_or_path"] = base_id
    if isinstance(data.get("target_modules"), list):
        data["target_modules"] = sorted(data["target_modules"])
    config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (folder / "README.md").unlink(missing_ok=True)
