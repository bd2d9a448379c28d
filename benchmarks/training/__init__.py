"""The training kit every in-suite trainer uses (adapter, contrastive, e2e, e2e-equivalent, and
LlamaIndex's adapter engine for its record):

- ``data``: the (query, first relevant passage) pairs, their hash, batches, same-passage groups;
- ``losses``: in-batch InfoNCE (symmetric or one-sided, optional extra negatives) and the
  answer-weighted retrieval term of DALM's e2e loss, each written once;
- ``loop``: one training loop (gradient accumulation, mixed precision, clipping, warm-up) and one
  loss-log shape; ``deterministic`` seeding;
- ``encode``: the trainable encoder (load, LoRA, encode-and-pool, save);
- ``fit``: the fit() sequence (spec, artifact cache, record);
- ``recipes``: named presets of training params (``recipe: dalm-e2e``).

Only ``data`` and ``loop`` are re-exported here; they import torch lazily, so importing this
package stays cheap.
"""
from benchmarks.training.data import (TrainingPair, batches, duplicate_mask, pairs_hash, same_passage_groups,
                                      training_pairs)
from benchmarks.training.loop import LossLog, deterministic, linear_warmup, train_loop

__all__ = ["LossLog", "TrainingPair", "batches", "deterministic", "duplicate_mask", "linear_warmup", "pairs_hash",
           "same_passage_groups", "train_loop", "training_pairs"]
