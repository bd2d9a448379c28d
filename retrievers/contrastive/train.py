"""DALM retriever-only training (shared/docs/retrievers.md section 4), on a sentence-transformers model.

One shared encoder for queries and passages; masked mean pooling (or CLS) and L2 normalisation
as DALM's ``AutoModelForSentenceEmbedding``; logits S = scale * Q P^T (scale 100 = 1 / 0.01);
loss = (CE(S, diag) + CE(S^T, diag)) / 2; Adam (no weight decay), linear schedule without
warmup, shuffled batches, no clipping; LoRA (r 8, alpha 16, dropout 0.05 on query/key/value)
or full fine-tuning. The result is merged and saved as a plain sentence-transformers folder,
which the bge encoding path loads like any model. Every piece (encoder, loss, loop) is the
training kit's (``benchmarks.training``); this file only says how they fit together.

Differences that do not change the maths: batches are padded to their longest text rather than
to max_length (masked mean ignores padding), and fp32 on CPU instead of 4-bit on GPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.training import LossLog, deterministic, duplicate_mask, train_loop


def train_contrastive(load_path: str, queries: list[str], passages: list[str], groups: list[int],
                      params: Any, seed: int, device: str, progress: bool, out: Path,
                      negatives: list[list[str]] | None = None) -> LossLog:
    """Fine-tune the encoder at ``load_path`` on pairs (queries[i], passages[i]); save it to ``out``.

    ``groups[i]`` identifies row i's passage (equal text, equal group) for false-negative masking.
    ``params`` carries the ContrastiveParams fields used below. ``negatives[i]`` are row i's mined
    hard negatives (retrievers/contrastive/mining.py): extra candidates for query i alone.
    """
    import torch

    from benchmarks.training.encode import encode, load_trainable, prefixes, save_trained
    from benchmarks.training.losses import own_negatives, symmetric_infonce

    with deterministic(seed, threads=params.train_threads) as gen:
        st, model, tokenizer = load_trainable(load_path, params, device)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=params.lr, weight_decay=params.weight_decay)
        group_t = torch.tensor(groups, device=device)
        q_prefix, p_prefix = prefixes(params.train_prefixes)

        def loss_fn(rows: list[int]) -> Any:
            q = encode(model, tokenizer, [q_prefix + queries[i] for i in rows], params.query_max_len,
                       params.pooling, device)
            p = encode(model, tokenizer, [p_prefix + passages[i] for i in rows], params.passage_max_len,
                       params.pooling, device)
            mask = duplicate_mask(group_t[rows]) if params.mask_same_passage else None
            extra = encode_negatives([negatives[i] for i in rows]) if negatives is not None else (None, None)
            return symmetric_infonce(q, p, params.logit_scale, mask, *extra)

        def encode_negatives(per_row: list[list[str]]) -> tuple[Any, Any]:
            """Each row's own negatives as extra candidates (each distinct text encoded once)."""
            texts = list(dict.fromkeys(t for row in per_row for t in row))
            if not texts:
                return None, None
            width = max(len(row) for row in per_row)
            index = torch.zeros(len(per_row), width, dtype=torch.long, device=device)
            pad = torch.ones(len(per_row), width, dtype=torch.bool, device=device)
            where = {t: j for j, t in enumerate(texts)}
            for r, row in enumerate(per_row):
                index[r, :len(row)] = torch.tensor([where[t] for t in row], dtype=torch.long)
                pad[r, :len(row)] = False
            vecs = encode(model, tokenizer, [p_prefix + t for t in texts], params.passage_max_len,
                          params.pooling, device)
            return own_negatives(vecs[index], pad)

        log = train_loop(trainable, loss_fn, n_rows=len(queries), batch_size=params.train_batch_size,
                         epochs=params.epochs, optimizer=optimizer, warmup_steps=params.warmup_steps,
                         max_grad_norm=params.max_grad_norm, shuffle_generator=gen if params.shuffle else None,
                         progress=progress, desc="train contrastive", device=device)
        save_trained(st, model, params.lora, out)
    return log
