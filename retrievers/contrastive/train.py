"""DALM retriever-only training (shared/docs/retrievers.md section 4), on a sentence-transformers model.

One shared encoder for queries and passages; masked mean pooling (or CLS) and L2 normalisation
as DALM's ``AutoModelForSentenceEmbedding``; logits S = scale * Q P^T (scale 100 = 1 / 0.01);
loss = (CE(S, diag) + CE(S^T, diag)) / 2; Adam (no weight decay), linear schedule without
warmup, shuffled batches, no clipping; LoRA (r 8, alpha 16, dropout 0.05 on query/key/value)
or full fine-tuning. The result is merged and saved as a plain sentence-transformers folder,
which the bge encoding path loads like any model.

Differences that do not change the maths: batches are padded to their longest text rather than
to max_length (masked mean ignores padding), and fp32 on CPU instead of 4-bit on GPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from benchmarks.training import LossLog, deterministic, duplicate_mask, train_loop

QUERY_PREFIX = "#query# "  # DALM's preprocess_dataset: f"#query# {q}", f"#passage# {p}"
PASSAGE_PREFIX = "#passage# "


def symmetric_infonce(q: Any, p: Any, scale: float = 100.0, mask: Any = None,
                      negatives: Any = None, negatives_mask: Any = None) -> Any:
    """DALM's loss: S = scale * q p^T; (CE(S, i) + CE(S^T, i)) / 2, q and p already unit-norm.

    ``mask`` [B, B] (True = drop) removes false negatives; it is symmetric for same-passage rows,
    so the same mask serves S and S^T.

    ``negatives`` [B, N, D] (unit-norm): query i's own mined hard negatives, appended to its row of
    S as N more candidates (``negatives_mask`` [B, N], True = padding, drops them). They have no
    query of their own, so the passage-to-query direction S^T is unchanged (as in
    sentence-transformers' MultipleNegativesSymmetricRankingLoss).
    """
    import torch
    import torch.nn.functional as F

    scores = scale * q @ p.T
    if mask is not None:
        scores = scores.masked_fill(mask, float("-inf"))
    target = torch.arange(len(scores), device=scores.device)
    backward = F.cross_entropy(scores.T, target)
    if negatives is not None:
        extra = scale * torch.einsum("bd,bnd->bn", q, negatives)
        if negatives_mask is not None:
            extra = extra.masked_fill(negatives_mask, float("-inf"))
        scores = torch.cat([scores, extra], dim=1)
    return (F.cross_entropy(scores, target) + backward) / 2


def pool(hidden: Any, attention_mask: Any, mode: str) -> Any:
    """Masked mean (DALM) or first token (CLS), then L2 normalisation."""
    import torch
    import torch.nn.functional as F

    if mode == "cls":
        pooled = hidden[:, 0]
    else:
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    return F.normalize(pooled, p=2, dim=-1)


def add_lora(model: Any, r: int, alpha: int, dropout: float, targets: Sequence[str]) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                        target_modules=list(targets), task_type=TaskType.FEATURE_EXTRACTION)
    return get_peft_model(model, config)


def train_contrastive(load_path: str, queries: list[str], passages: list[str], groups: list[int],
                      params: Any, seed: int, device: str, progress: bool, out: Path,
                      negatives: list[list[str]] | None = None) -> LossLog:
    """Fine-tune the encoder at ``load_path`` on pairs (queries[i], passages[i]); save it to ``out``.

    ``groups[i]`` identifies row i's passage (equal text, equal group) for false-negative masking.
    ``negatives[i]``: row i's mined hard-negative passages (may be fewer than the others' or none),
    encoded by the model being trained, as the passages are.
    ``params`` carries the ContrastiveParams fields used below.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    with deterministic(seed, threads=params.train_threads) as gen:
        st = SentenceTransformer(load_path, device=device)  # a private copy: the cached one stays frozen
        transformer = st[0]
        tokenizer = transformer.tokenizer
        model = transformer.auto_model
        if params.lora:
            model = add_lora(model, params.lora_r, params.lora_alpha, params.lora_dropout, params.lora_targets)
        model.to(device)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=params.lr, weight_decay=params.weight_decay)
        group_t = torch.tensor(groups, device=device)
        q_prefix = QUERY_PREFIX if params.train_prefixes else ""
        p_prefix = PASSAGE_PREFIX if params.train_prefixes else ""

        def encode(texts: list[str], max_len: int) -> Any:
            batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
            batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
            hidden = model(**batch)[0]  # last hidden state, as DALM's forward
            return pool(hidden, batch["attention_mask"], params.pooling)

        def loss_fn(rows: list[int]) -> Any:
            q = encode([q_prefix + queries[i] for i in rows], params.query_max_len)
            p = encode([p_prefix + passages[i] for i in rows], params.passage_max_len)
            mask = duplicate_mask(group_t[rows]) if params.mask_same_passage else None
            neg, neg_mask = None, None
            if negatives is not None:
                neg, neg_mask = encode_negatives([negatives[i] for i in rows])
            return symmetric_infonce(q, p, params.logit_scale, mask, neg, neg_mask)

        def encode_negatives(per_row: list[list[str]]) -> tuple[Any, Any]:
            """[B, N, D] vectors (each distinct text encoded once) and the [B, N] padding mask."""
            texts = list(dict.fromkeys(t for row in per_row for t in row))
            width = max(1, max(len(row) for row in per_row))
            index = torch.zeros(len(per_row), width, dtype=torch.long, device=device)
            pad = torch.ones(len(per_row), width, dtype=torch.bool, device=device)
            where = {t: j for j, t in enumerate(texts)}
            for r, row in enumerate(per_row):
                index[r, :len(row)] = torch.tensor([where[t] for t in row], dtype=torch.long)
                pad[r, :len(row)] = False
            if not texts:
                return None, None
            vecs = encode([p_prefix + t for t in texts], params.passage_max_len)
            return vecs[index], pad

        log = train_loop(trainable, loss_fn, n_rows=len(queries), batch_size=params.train_batch_size,
                         epochs=params.epochs, optimizer=optimizer, warmup_steps=params.warmup_steps,
                         max_grad_norm=params.max_grad_norm, shuffle_generator=gen if params.shuffle else None,
                         progress=progress, desc="train contrastive")
        if params.lora:
            model = model.merge_and_unload()  # a plain model: loads without peft, evaluates as any ST folder
        model.eval()
        transformer.model = model
        st.save(str(out))
    return log
