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

from benchmarks.llm.models import ResolvedGenerator
from benchmarks.training import deterministic, duplicate_mask, train_loop
from benchmarks.training.encode import encode, load_trainable, prefixes, save_trained
from benchmarks.training.loop import precision_for, total_steps
from benchmarks.training.losses import in_batch_scores
from retrievers.e2e.data import TextOptions, collate, encode_row
from retrievers.e2e.loss import LossParts, e2e_loss, generator_token_log_probs, target_masks
from retrievers.e2e.generator import add_generator_lora, load_generator


@dataclass(frozen=True)
class Row:
    query: str  # as the retriever sees it (instruction included, no prefix)
    passage: str
    answer: str
    group: int  # same passage text, same group (false-negative masking)


def text_options(params: Any) -> TextOptions:
    return TextOptions(params.generator_max_len, params.faithful_double_prefix, params.faithful_answer_start,
                       params.generator_truncation, params.answer_max_tokens)


@dataclass
class Models:
    retriever: Any
    rtok: Any
    generator: Any
    gtok: Any


def retriever_scores(model: Any, tokenizer: Any, rows: list[Row], params: Any, device: str) -> Any:
    """S = scale * Q P^T of one in-batch set, same-passage entries masked (if asked), in fp32."""
    import torch

    qp, pp = prefixes(params.train_prefixes)
    q = encode(model, tokenizer, [qp + r.query for r in rows], params.query_max_len, params.pooling, device)
    p = encode(model, tokenizer, [pp + r.passage for r in rows], params.passage_max_len, params.pooling, device)
    mask = None
    if params.mask_same_passage:
        mask = duplicate_mask(torch.tensor([r.group for r in rows], device=device))
    return in_batch_scores(q.float(), p.float(), params.logit_scale, mask)


def generator_batch(tok: Any, rows: list[Row], pairs: list[tuple[int, int]], params: Any, device: str) -> dict:
    """Generator inputs for (query i, passage j) pairs: ids, attention mask, answer starts."""
    opts = text_options(params)
    return collate(tok, [encode_row(tok, rows[i].query, rows[j].passage, rows[i].answer, opts) for i, j in pairs],
                   device)


def batch_loss(m: Models, rows: list[Row], params: Any, device: str) -> LossParts:
    """Loss of one in-batch set. Generator rows: (i, i) for dalm/independent, all (i, j) for marginal."""
    scores = retriever_scores(m.retriever, m.rtok, rows, params, device)
    b = len(rows)
    pairs = [(i, j) for i in range(b) for j in range(b)] if params.loss == "marginal" else [(i, i) for i in range(b)]
    enc = generator_batch(m.gtok, rows, pairs, params, device)
    needed, _ = target_masks(enc["attention_mask"], enc["answer_start"], params.lm_loss_on_prompt)
    lp = generator_token_log_probs(m.generator, enc["input_ids"], enc["attention_mask"], needed.bool())
    return e2e_loss(scores, lp, enc["attention_mask"], enc["answer_start"], params.loss, params.lm_loss_on_prompt)


def load_models(retriever_path: str, generator: ResolvedGenerator, params: Any, device: str) -> tuple[Any, Models]:
    st, rmodel, rtok = load_trainable(retriever_path, params, device)
    # With LoRA the base weights stay frozen, so they can sit in the autocast dtype (half the
    # memory for a 7B model); full fine-tuning keeps fp32 master weights under autocast.
    half = {"bf16": "bfloat16", "fp16": "float16"}.get(precision_for(params.train_precision, device))
    gmodel, gtok = load_generator(generator, device, half if half and params.generator_lora else "float32")
    if params.generator_lora:
        gmodel = add_generator_lora(gmodel, params.lora_r, params.lora_alpha, params.lora_dropout,
                                    params.generator_lora_targets)
    if params.generator_checkpointing and getattr(gmodel, "supports_gradient_checkpointing", False):
        # non-reentrant: works with frozen inputs (LoRA), and restores the random state it recomputes under
        gmodel.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return st, Models(rmodel, rtok, gmodel, gtok)


def train_e2e(retriever_path: str, generator: ResolvedGenerator, rows: list[Row], params: Any, seed: int,
              device: str, progress: bool, out: Path) -> dict[str, Any]:
    """Train both models on ``rows``; save them under ``out``; return the training log."""
    import torch

    precision = precision_for(params.train_precision, device)
    with deterministic(seed, threads=params.train_threads) as gen:
        st, m = load_models(retriever_path, generator, params, device)
        m.retriever.train()
        m.generator.train()
        trainable = [p for model in (m.retriever, m.generator) for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=params.lr, weight_decay=params.weight_decay)
        log = train_loop(trainable, lambda idx: batch_loss(m, [rows[i] for i in idx], params, device).parts(),
                         optimizer=optimizer, device=device, precision=precision, desc="train e2e",
                         **loop_settings(params, len(rows), gen, progress))
        counts = {"retriever": _count(m.retriever), "generator": _count(m.generator)}
        save(st, m, params, out, generator.model_id)
    return {**log.summary(), "trainable_params": counts}


def loop_settings(params: Any, n_rows: int, gen: Any, progress: bool) -> dict[str, Any]:
    """The loop's arguments from e2e params (shared with e2e-equivalent, so both step alike)."""
    total = total_steps(n_rows, params.train_batch_size, params.epochs, params.grad_accum_steps, params.max_steps)
    # DALM's 100, at most a tenth of the steps when not given (float 0.1 as before: keys unchanged)
    warmup = params.warmup_steps if params.warmup_steps is not None else min(100, math.ceil(0.1 * total))
    return {"n_rows": n_rows, "batch_size": params.train_batch_size, "epochs": params.epochs,
            "grad_accum_steps": params.grad_accum_steps, "max_steps": params.max_steps, "warmup_steps": warmup,
            "max_grad_norm": params.max_grad_norm, "shuffle_generator": gen if params.shuffle else None,
            "progress": progress}


def _count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save(st: Any, m: Models, params: Any, out: Path, generator_id: str) -> None:
    save_trained(st, m.retriever, params.lora, out / "retriever")
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
