"""Contrastive fine-tuning of the encoder itself, as DALM's retriever-only training.

Trained inside the suite on the train split (see ``retrievers.contrastive.train`` for the maths), cached
as a sentence-transformers folder under the artifact cache, then evaluated through the same
encoding path as the ``bge`` retriever. DALM trains with ``#query# ``/``#passage# `` prefixes
and evaluates without them: ``train_prefixes`` / ``eval_prefixes`` offer both.

Fixed quirk (option): in-batch rows that share a passage are false negatives; by default their
off-diagonal logits are masked (``mask_same_passage: false`` is DALM's behaviour).

Option (not DALM): ``hard_negatives: N`` mines N passages per query from the train corpus with the
base model's cached vectors (``retrievers.contrastive.hard_negatives``, sentence-transformers'
``mine_hard_negatives`` semantics, margin against false negatives) and adds them to that query's
candidates in the InfoNCE.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from benchmarks.artifacts import eval_only, training_hyper
from benchmarks.context import RunContext
from benchmarks.training import TrainingPair, pairs_hash, same_passage_groups, training_pairs
from benchmarks.training.encode import PASSAGE_PREFIX, QUERY_PREFIX
from benchmarks.training.fit import cached_training, encoder_base
from benchmarks.training.recipes import recipes_for
from benchmarks.types import Split
from retrievers import register
from retrievers.base import RetrieverCard
from retrievers.sentence_transformer import INSTRUCTIONS, EncoderParams, SentenceTransformerRetriever
from retrievers.model_resolution import ResolvedModel, weights_hash

class ContrastiveParams(EncoderParams):
    pooling: Literal["mean", "cls"] = "mean"  # DALM: masked mean; used in training and evaluation
    epochs: int = Field(default=3, ge=1)  # DALM's CLI default (its Python function says 1)
    train_batch_size: int = Field(default=32, ge=2)  # DALM 32; its 10-K experiment used 150
    lr: float = Field(default=1e-4, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)  # DALM builds Adam without it
    warmup_steps: int = Field(default=0, ge=0)
    logit_scale: float = Field(default=100.0, gt=0)  # 1 / temperature 0.01
    query_max_len: int = Field(default=50, ge=4)
    passage_max_len: int = Field(default=128, ge=4)
    lora: bool = True  # DALM --use-peft (its 10-K run); false = full fine-tuning
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_targets: list[str] = Field(default_factory=lambda: ["query", "key", "value"])
    train_prefixes: bool = True  # "#query# " / "#passage# " while training, as DALM
    eval_prefixes: bool = eval_only(False)  # DALM evaluates without them
    mask_same_passage: bool = True  # false = DALM (copies of the positive count as negatives)
    shuffle: bool = True
    max_grad_norm: float | None = None  # DALM does not clip
    # Intra-op threads while training. Float sums depend on the thread count, so it is part of the
    # artifact key; 1 gives the same weights on any machine and was also the faster choice on a
    # busy 2-core box (measured: 3 MiniLM steps of 32 pairs, 53 s with 1 thread, 105 s with 2).
    train_threads: int | None = Field(default=1, ge=1)
    # Hard negatives per query, mined with the base model; 0 = off (DALM). The hard_negative_*
    # fields enter the artifact key only when this is on, so rows without them keep their keys.
    hard_negatives: int = Field(default=0, ge=0)
    # Margin against false negatives, from the positive's score (ST's absolute_margin /
    # relative_margin). Default 0.05 relative: NV-Retriever's best "TopK-PercPos 95%" mining.
    hard_negative_margin: float | None = Field(default=None, ge=0)
    hard_negative_relative_margin: float | None = Field(default=0.05, ge=0)
    hard_negative_max_score: float | None = None
    hard_negative_range: tuple[int, int] | None = None  # ST's [range_min, range_max); None = its default
    hard_negative_sampling: Literal["top", "random"] = "top"

    @model_validator(mode="after")
    def _hard_negative_fields_need_hard_negatives(self) -> "ContrastiveParams":
        if not self.hard_negatives:
            defaults = type(self).model_fields
            changed = [k for k in HARD_NEGATIVE_FIELDS if getattr(self, k) != defaults[k].default]
            if changed:
                raise ValueError(f"{', '.join(changed)} set but hard_negatives is 0: "
                                 "set hard_negatives: N to mine")
        return self


HARD_NEGATIVE_FIELDS = ("hard_negative_margin", "hard_negative_relative_margin", "hard_negative_max_score",
                        "hard_negative_range", "hard_negative_sampling")


@register("contrastive")
class ContrastiveRetriever(SentenceTransformerRetriever):
    """Encoder fine-tuned with symmetric in-batch InfoNCE (DALM retriever-only), LoRA or full."""

    impl_version = "1"
    needs_training = True
    Params = ContrastiveParams
    recipes = recipes_for("dalm-retriever-only", "full-fine-tune")

    def __init__(self, name: str, params: dict[str, Any] | None = None) -> None:
        super().__init__(name, params)
        self.base = self.resolved
        self.artifact_sha256: str | None = None

    def _instruction(self) -> str:
        return INSTRUCTIONS.get(self.params.instruction, self.params.instruction)

    @property
    def passage_prefix(self) -> str:
        return PASSAGE_PREFIX if self.params.eval_prefixes else ""

    @property
    def query_prefix(self) -> str:
        return (QUERY_PREFIX if self.params.eval_prefixes else "") + self._instruction()

    def fingerprint(self) -> dict[str, Any]:
        return {**super().fingerprint(), "passage_prefix": self.passage_prefix}

    def hyper(self) -> dict[str, Any]:
        hyper = training_hyper(self.params)
        if not self.params.hard_negatives:  # off: the key of every row from before the option
            for k in ("hard_negatives", *HARD_NEGATIVE_FIELDS):
                hyper.pop(k)
        return hyper

    def fit(self, train: Split, ctx: RunContext) -> dict[str, Any]:
        self.resolved = self.base  # the spec must describe the base model, also on a second fit
        pairs = training_pairs(train, self.passage_text)
        # Only what changes training: eval-time settings (prefixes, max_seq_length, dtype) are not in it.
        artifact, record = cached_training(
            ctx, kind="contrastive", base=encoder_base(self.base, instruction=self._instruction()),
            data_sha256=pairs_hash(pairs), hyper=self.hyper(), impl_version=self.impl_version,
            build=lambda folder: self._train(pairs, ctx, folder, train), recipe=self.recipe, pairs=len(pairs))
        self.resolved = ResolvedModel(
            name=self.params.model, load_path=str(artifact.path),
            model_id=f"{self.base.model_id} + contrastive", revision=self.base.revision,
            weights_sha256=weights_hash(str(artifact.path)),
        )
        self.artifact_sha256 = artifact.content_sha256
        return {**record, "base_model": self.base.model_id, "base_weights_sha256": self.base.weights_sha256}

    def _train(self, pairs: list[TrainingPair], ctx: RunContext, folder: Path,
               train: Split) -> dict[str, Any]:
        from retrievers.contrastive.train import train_contrastive

        negatives, mined = None, {}
        if self.params.hard_negatives:
            from retrievers.contrastive.mining import mine_for_pairs

            negatives, mined = mine_for_pairs(self, pairs, train, ctx)
        instruction = self._instruction()  # the instruction, if any, is part of the query text
        log = train_contrastive(
            self.base.load_path, [instruction + p.query for p in pairs], [p.passage for p in pairs],
            same_passage_groups([p.passage for p in pairs]), self.params, ctx.seed, self._device(ctx),
            ctx.progress, folder, negatives=negatives,
        )
        return {**log.summary(), **mined}  # the kit adds train_s (mining included)

    def encode_passages(self, texts: list[str], ctx: RunContext) -> np.ndarray:
        return self._encode(texts, ctx, self.passage_prefix)

    def card(self) -> RetrieverCard:
        card = super().card()
        if self.artifact_sha256:
            card.artifacts["checkpoint"] = self.artifact_sha256
        card.params["passage_prefix"] = self.passage_prefix
        if self.recipe:
            card.params["recipe"] = self.recipe["name"]
        return card
