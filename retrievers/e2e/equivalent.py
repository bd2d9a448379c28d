"""``e2e-equivalent``: DALM's e2e training of the retriever, without the generator.

DALM's e2e loss (``retrievers.e2e.loss``, variant ``dalm``) is L_ret + L_gen with
    L_gen = -sum_{i,t} m_{i,t} (lp_{i,t} + answer_{i,t} r_i) / sum m,   r_i = log softmax(S_i)[i].
The generator's token log-probs lp do not depend on the retriever, so the retriever's gradient
of L_gen is that of  -sum_i (A_i / sum m) r_i,  A_i = row i's answer tokens: the query-side
contrastive term weighted by answer length. This retriever trains on exactly
    L = L_ret - sum_i (A_i / sum m) r_i
with the same rows, generator text (its tokenizer counts A_i and sum m), loop, schedule and
optimizer settings as ``e2e``, and no generator model: minutes instead of hours on a CPU, so the
e2e question ("does the generator help the retriever?") can be asked on the whole train split.

What still couples e2e's retriever to its generator, and so can make the two differ
(tests/retrievers/test_e2e_equivalent.py pins each down): a gradient-norm clip taken over both models'
parameters (``max_grad_norm``; off by default, as DALM), and the global random stream, which
e2e's generator also draws from (LoRA init, generator dropout), so retriever dropout masks differ
between the two. Adam is per parameter and the schedule depends only on the step count, so
neither couples them. ``loss: marginal`` has no such equivalent (its retriever gradient depends
on the generator's predictions), so this retriever is the ``dalm`` variant only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.artifacts import Artifact
from benchmarks.context import RunContext
from benchmarks.training.recipes import GENERATOR_TRAINING, recipes_for
from retrievers import register
from retrievers.e2e.retriever import AnswerRowsParams, E2ERetriever, answer_rows

FORMULA = "L_ret - sum_i (A_i / sum m) r_i, r_i = log softmax(S_i)[i], A_i = answer tokens of row i"


def train_equivalent(retriever_path: str, generator: Any, rows: list[Any], params: Any, seed: int, device: str,
                     progress: bool, out: Path) -> dict[str, Any]:
    """Train the retriever alone on the answer-weighted loss; save it to ``out/retriever``."""
    import torch

    from benchmarks.training import deterministic, train_loop
    from benchmarks.training.encode import load_trainable, save_trained
    from benchmarks.training.loop import precision_for
    from benchmarks.training.losses import answer_weighted_term, info_nce
    from retrievers.e2e.generator import load_tokenizer
    from retrievers.e2e.loss import retrieval_log_probs, target_masks
    from retrievers.e2e.train import generator_batch, loop_settings, retriever_scores

    precision = precision_for(params.train_precision, device)
    with deterministic(seed, threads=params.train_threads) as gen:
        st, model, rtok = load_trainable(retriever_path, params, device)
        gtok = load_tokenizer(generator)
        model.train()
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=params.lr, weight_decay=params.weight_decay)

        def loss_fn(idx: list[int]) -> dict[str, Any]:
            batch = [rows[i] for i in idx]
            scores = retriever_scores(model, rtok, batch, params, device)
            enc = generator_batch(gtok, batch, [(i, i) for i in range(len(batch))], params, device)
            loss_mask, answer_mask = target_masks(enc["attention_mask"], enc["answer_start"], params.lm_loss_on_prompt)
            l_ret = info_nce(scores)
            l_ans = answer_weighted_term(retrieval_log_probs(scores).diagonal(), loss_mask, answer_mask)
            return {"total": l_ret + l_ans, "retriever": l_ret, "answer_weighted": l_ans}

        log = train_loop(trainable, loss_fn, optimizer=optimizer, device=device, precision=precision,
                         desc="train e2e-equivalent", **loop_settings(params, len(rows), gen, progress))
        count = sum(p.numel() for p in trainable)
        save_trained(st, model, params.lora, out / "retriever")
    return {**log.summary(), "trainable_params": {"retriever": count}}


@register("e2e-equivalent")
class E2EEquivalentRetriever(E2ERetriever):
    """Contrastive training with the retriever gradient of DALM's e2e loss (answer-length weighted), no generator."""

    impl_version = "1"
    Params = AnswerRowsParams
    recipes = recipes_for("dalm-e2e", drop=GENERATOR_TRAINING)
    artifact_kind = "e2e-equivalent"

    def _generator_record(self, generator: Any, artifact: Artifact) -> dict[str, Any]:
        return {"answer_tokens_counted_by": generator.fingerprint()}  # only the tokenizer is used

    def _train(self, triples: list[tuple[str, str, str]], generator: Any, ctx: RunContext,
               folder: Path) -> dict[str, Any]:
        log = train_equivalent(self.base.load_path, generator, answer_rows(triples), self.params, ctx.seed,
                               self._device(ctx), ctx.progress, folder)
        return {**log, "loss": {"formula": FORMULA, "L_ret": "(CE(S) + CE(S^T)) / 2, S = scale * Q P^T"}}
