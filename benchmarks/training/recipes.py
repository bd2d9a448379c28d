"""Training recipes: named presets of a trained retriever's params (``params: {recipe: dalm-e2e}``).

A recipe expands to explicit params before they are validated, so the artifact key is that of
the expanded values (a row written out by hand with the same values reuses the same model, and
the recipe name itself is never part of a key). Params given next to a recipe override its
values; the record says which (``training.recipe.overridden``), so "DALM's recipe, CPU-sized"
is one recipe plus, e.g., ``max_train_examples: 128``, and the record shows both.

Values come from arcee-ai/DALM at 8e79ac3 (``dalm/cli.py`` and the training scripts):
retriever-only: 3 epochs, batch 150 (README and its 10-K run; the CLI default is 32), Adam
lr 1e-4 without weight decay, no warm-up, logit scale 100 (temperature 0.01), query/passage
max length 50/128, LoRA r 8, alpha 16, dropout 0.05 on query/key/value, ``#query# ``/
``#passage# `` prefixes in training only, no clipping, copies of the positive count as
negatives. e2e: the same retriever half, 1 epoch, batch 20 (README), 100 warm-up steps,
generator length 256 right-truncated, the generator text and answer start as DALM builds them
(double prefixes, n_i with the EOS), LM loss over prompt tokens too, LoRA on both models (as in
Sep 2023, when its README numbers were produced; HEAD's CLI defaults to full fine-tuning),
every training row. Not reproduced: DALM's 4-bit base models and seed 42 (the suite's seed is used). ``full-fine-tune`` is this project's measured recommendation for the
retriever (see ``RECIPES``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from benchmarks.messages import did_you_mean, quote


@dataclass(frozen=True)
class Recipe:
    name: str
    summary: str
    params: Mapping[str, Any]


DALM_RETRIEVER = {
    "pooling": "mean", "lr": 1e-4, "weight_decay": 0.0, "logit_scale": 100.0, "query_max_len": 50,
    "passage_max_len": 128, "lora": True, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.05,
    "lora_targets": ["query", "key", "value"], "train_prefixes": True, "eval_prefixes": False,
    "mask_same_passage": False, "shuffle": True, "max_grad_norm": None,
}
# Fields of the e2e recipe that train the generator: e2e-equivalent has no generator to train.
GENERATOR_TRAINING = ("loss", "generator_lora")

RECIPES = {r.name: r for r in (
    Recipe("dalm-retriever-only", "DALM retriever-only: LoRA r8 q/k/v, 3 epochs of batch 150, Adam 1e-4, "
           "no warm-up, scale 100, lengths 50/128, prefixes in training",
           {**DALM_RETRIEVER, "epochs": 3, "train_batch_size": 150, "warmup_steps": 0}),
    Recipe("dalm-e2e", "DALM RAG-e2e: its retriever half, 1 epoch of batch 20, 100 warm-up steps, generator "
           "length 256, DALM's generator text and LM mask, LoRA on both models, every training row",
           {**DALM_RETRIEVER, "epochs": 1, "train_batch_size": 20, "grad_accum_steps": 1, "max_steps": None,
            "warmup_steps": 100, "generator_max_len": 256, "generator_truncation": "right",
            "faithful_double_prefix": True, "faithful_answer_start": True, "lm_loss_on_prompt": True,
            "max_train_examples": None, "loss": "dalm", "generator_lora": True}),
    # Measured on llamaindex-10k (train lyft, evaluate uber, minilm-l6): mrr@5 +0.028 over the
    # base model (paired p 0.006) vs +0.006 (p 0.08) for DALM's LoRA / prefixes / 128 tokens.
    Recipe("full-fine-tune", "recommended: full fine-tuning, training texts as evaluated (no prefixes), "
           "passages up to 256 tokens, in-batch copies of the positive masked; DALM's optimiser "
           "(3 epochs of batch 32, Adam 1e-4, no warm-up, scale 100)",
           {"pooling": "mean", "epochs": 3, "train_batch_size": 32, "lr": 1e-4, "weight_decay": 0.0,
            "warmup_steps": 0, "logit_scale": 100.0, "query_max_len": 50, "passage_max_len": 256, "lora": False,
            "train_prefixes": False, "eval_prefixes": False, "mask_same_passage": True, "shuffle": True,
            "max_grad_norm": None}),
)}


def recipes_for(*names: str, drop: tuple[str, ...] = ()) -> dict[str, Recipe]:
    """The recipes a retriever class offers, without the fields in ``drop`` (which it lacks)."""
    return {n: Recipe(n, RECIPES[n].summary, {k: v for k, v in RECIPES[n].params.items() if k not in drop})
            for n in names}


class UnknownRecipe(ValueError):
    pass


def expand_recipe(offered: Mapping[str, Recipe], given: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(params with the recipe's values filled in, what the record says about the recipe).

    Without a ``recipe`` key the params are returned as given and the recipe part is None.
    """
    params = dict(given)
    name = params.pop("recipe", None)
    if name is None:
        return params, None
    if not isinstance(name, str) or name not in offered:
        hint = did_you_mean(str(name), offered, show=quote)
        raise UnknownRecipe(f"unknown recipe {quote(name)}; {hint}")
    recipe = offered[name]
    overridden = {k: {"recipe": v, "row": params[k]} for k, v in recipe.params.items()
                  if k in params and params[k] != v}
    expanded = {**recipe.params, **params}
    info = {"name": name, "summary": recipe.summary,
            "params": {k: expanded[k] for k in recipe.params}, "overridden": overridden}
    return expanded, info
