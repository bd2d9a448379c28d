"""The trainable encoder of contrastive, e2e and e2e-equivalent: load, LoRA, encode-and-pool, save.

One shared sentence-transformers encoder for queries and passages, as DALM's
``AutoModelForSentenceEmbedding``: the last hidden state, masked mean (or the first token),
L2-normalised. Batches are padded to their longest text rather than to max_length (masked
mean ignores padding). The trained model is saved as a plain sentence-transformers folder
(LoRA merged), which the evaluation path loads like any model.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

QUERY_PREFIX = "#query# "  # DALM's preprocess_dataset: f"#query# {q}", f"#passage# {p}"
PASSAGE_PREFIX = "#passage# "


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


def encode(model: Any, tokenizer: Any, texts: list[str], max_len: int, pooling: str, device: str) -> Any:
    """Unit embeddings [len(texts), d] with gradients: tokenize, forward, pool."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_len, return_tensors="pt")
    batch = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    hidden = model(**batch)[0]  # last hidden state, as DALM's forward
    return pool(hidden, batch["attention_mask"], pooling)


def add_lora(model: Any, r: int, alpha: int, dropout: float, targets: Sequence[str]) -> Any:
    from peft import LoraConfig, TaskType, get_peft_model

    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none",
                        target_modules=list(targets), task_type=TaskType.FEATURE_EXTRACTION)
    return get_peft_model(model, config)


def load_trainable(load_path: str, params: Any, device: str) -> tuple[Any, Any, Any]:
    """(SentenceTransformer, the model to train (LoRA-wrapped if ``params.lora``), its tokenizer).

    ``params`` carries lora, lora_r, lora_alpha, lora_dropout and lora_targets. The folder is
    loaded afresh: the cached evaluation copy stays frozen.
    """
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(load_path, device=device)
    model = st[0].auto_model
    if params.lora:
        model = add_lora(model, params.lora_r, params.lora_alpha, params.lora_dropout, params.lora_targets)
    return st, model.to(device), st[0].tokenizer


def save_trained(st: Any, model: Any, lora: bool, out: Path | str) -> None:
    """Merge LoRA (a plain model: loads without peft) and save ``st`` with it to ``out``."""
    if lora:
        model = model.merge_and_unload()
    model.eval()
    st[0].model = model
    st.save(str(out))


def prefixes(train_prefixes: bool) -> tuple[str, str]:
    """(query, passage) prefixes while training: DALM's, or none."""
    return (QUERY_PREFIX, PASSAGE_PREFIX) if train_prefixes else ("", "")
