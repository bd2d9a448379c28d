"""The e2e (DALM RAG-e2e) loss, pure torch. Notation (shared/docs/retrievers.md section 5):

Retriever. Unit query/passage embeddings q_i, p_j of one in-batch set of B rows, each row i a
(query, gold passage, answer) triple. S = scale * Q P^T (scale 100 = 1/temperature 0.01), with
same-passage off-diagonal entries set to -inf when masking false negatives.
    L_ret = (CE(S, diag) + CE(S^T, diag)) / 2            (``benchmarks.training.losses``)
    log P(p_j | q_i) = log_softmax_j(S_i.)                (``retrieval_log_probs``)
    r_i = log P(p_i | q_i)                                (the gold passage's log-probability)

Generator. Row i is the token sequence x_i = "#query# q #passage# p #answer# a <eos>", right-
padded. lp_{i,t} = log P_theta(x_{i,t} | x_{i,<t}) for targets t = 1..L-1 (column t-1 here).
Masks over targets: valid_{i,t} (not padding); answer_{i,t} = valid and t >= n_i, where n_i is
the index of the first answer token; loss mask m = answer (default) or valid (DALM: prompt
tokens in the LM loss too, ``lm_loss_on_prompt``).

Variants of the generator term (total loss L = L_ret + L_gen):
  dalm        L_gen = -sum_{i,t} m_{i,t} (lp_{i,t} + answer_{i,t} r_i) / sum m
              (DALM's marginalize_log_probs: r_i is added to every answer token's log-prob).
              Note: dL_gen/dS does not depend on the generator's predictions at all: it equals
              -(sum_i A_i grad r_i) / sum m with A_i = row i's answer tokens. The generator
              "couples" to the retriever only through answer lengths.
  marginal    L_gen = [ sum_i -log sum_j P(p_j|q_i) P_theta(a_i | q_i, p_j)
                        + prompt NLL of the gold sequences if m includes prompt tokens ] / sum m
              over in-batch passages j (B^2 generator sequences), m counted on gold sequences.
              Here the retriever is pushed toward passages under which the answer is likely.
  independent L_gen = -sum m lp / sum m: no retriever term (an ablation; the retriever then
              gets no gradient from the generator).
With all retrieval mass on the gold passage (r_i = 0) the three coincide.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from benchmarks.training.losses import answer_weighted_term, info_nce

Variant = Literal["dalm", "marginal", "independent"]


def retrieval_log_probs(scores: torch.Tensor) -> torch.Tensor:
    """log P(p_j | q_i) over the in-batch passages: row-wise log-softmax of S."""
    return torch.log_softmax(scores, dim=1)


def token_log_probs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """[B, L-1]: column t-1 holds log P(x_t | x_<t). Via cross_entropy, so no [B, L, V]
    log-softmax is kept for backward beyond what cross_entropy itself needs."""
    b, length, vocab = logits.shape
    nll = F.cross_entropy(logits[:, :-1].reshape(-1, vocab).float(), input_ids[:, 1:].reshape(-1), reduction="none")
    return -nll.view(b, length - 1)


def generator_token_log_probs(generator: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                              needed: torch.Tensor) -> torch.Tensor:
    """``token_log_probs`` of the generator's logits, computed only where ``needed`` [B, L-1] (the
    loss mask) is true; 0 elsewhere, where every loss multiplies by 0 anyway.

    The full [B, L, V] logits are 1 GB in fp32 for a DALM batch (20 x 256 tokens x SmolLM2's
    49,152 words; more with the copy and log-softmax cross_entropy keeps), though DALM's loss
    reads only the answer tokens (the step's peak is the layers' activations, docs/dalm.md; for
    vocabularies of 128k words the logits matter more). So the model computes its
    logits for the last position only (``logits_to_keep=1``), its body's output (the final hidden
    state) is caught on the way, and the output layer runs on the needed rows alone. A model
    whose logits are not plain ``output_layer(final hidden state)`` (soft-capped or scaled
    logits), seen at that last position, goes the full way.
    """
    core = generator.get_base_model() if hasattr(generator, "get_base_model") else generator  # under peft
    body, head = core.base_model, core.get_output_embeddings()
    if body is core or head is None or _transformed_logits(core.config):
        return token_log_probs(generator(input_ids=input_ids, attention_mask=attention_mask).logits, input_ids)
    seen: list[torch.Tensor] = []
    hook = body.register_forward_hook(lambda module, args, output: seen.append(output[0]))
    try:
        last = generator(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=1).logits[:, -1]
    finally:
        hook.remove()
    hidden = seen.pop()
    if not torch.allclose(head(hidden[:, -1]).float(), last.float(), rtol=1e-3, atol=1e-4):
        del hidden, last  # not kept alive beside the full forward's graph
        return token_log_probs(generator(input_ids=input_ids, attention_mask=attention_mask).logits, input_ids)
    rows = needed.nonzero(as_tuple=True)  # (sequence, target position t-1)
    nll = F.cross_entropy(head(hidden[:, :-1][rows]).float(), input_ids[:, 1:][rows], reduction="none")
    return torch.zeros(needed.shape, dtype=nll.dtype, device=nll.device).index_put(rows, -nll)


def _transformed_logits(config: Any) -> bool:
    """Whether the model's logits are more than its output layer's (Gemma's soft-capping, Granite's
    and Cohere's scaling): those models take the full path at once, without a trial forward."""
    return bool(getattr(config, "final_logit_softcapping", None)) or \
        getattr(config, "logits_scaling", 1.0) not in (None, 1, 1.0) or \
        getattr(config, "logit_scale", 1.0) not in (None, 1, 1.0)


def target_masks(attention_mask: torch.Tensor, answer_start: torch.Tensor,
                 lm_loss_on_prompt: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss mask m, answer mask) over targets t = 1..L-1, as float [B, L-1].

    answer = valid & (t >= n_i): DALM slices log-probs at n_i - 1, i.e. targets from index n_i.
    """
    valid = attention_mask[:, 1:].bool()
    t = torch.arange(1, attention_mask.shape[1], device=attention_mask.device)
    answer = valid & (t[None, :] >= answer_start[:, None])
    loss = valid if lm_loss_on_prompt else answer
    return loss.float(), answer.float()


def marginal_generator_loss(log_p: torch.Tensor, answer_lp: torch.Tensor, n_tokens: torch.Tensor,
                            prompt_nll: torch.Tensor | float = 0.0) -> torch.Tensor:
    """[sum_i -logsumexp_j(log_p_ij + answer_lp_ij) + prompt_nll] / n_tokens.

    ``answer_lp[i, j]`` = log P_theta(a_i | q_i, p_j) (sum over answer tokens). Masked passages
    have log_p = -inf and drop out of the sum; the diagonal is never masked, so no row is empty.
    """
    per_query = -torch.logsumexp(log_p + answer_lp, dim=1)
    return (per_query.sum() + prompt_nll) / n_tokens.clamp(min=1)


@dataclass
class LossParts:
    total: torch.Tensor
    retriever: torch.Tensor  # L_ret
    generator: torch.Tensor  # L_gen (with the retriever term, per variant)
    lm_nll: torch.Tensor  # generator NLL on the gold sequences alone (diagnostic, no grad needed)

    def parts(self) -> dict[str, torch.Tensor]:
        """Named parts for the training loop's log ("total" is the one it backpropagates)."""
        return {k: getattr(self, k) for k in ("total", "retriever", "generator", "lm_nll")}


def e2e_loss(scores: torch.Tensor, token_lp: torch.Tensor, attention_mask: torch.Tensor,
             answer_start: torch.Tensor, variant: Variant = "dalm", lm_loss_on_prompt: bool = False) -> LossParts:
    """Total loss from S [B, B] and the generator's token log-probs.

    For ``dalm``/``independent`` the generator rows are the B gold sequences. For ``marginal``
    they are B*B sequences, row i*B + j pairing query i (and its answer) with passage j.
    """
    b = scores.shape[0]
    target = torch.arange(b, device=scores.device)
    l_ret = info_nce(scores)
    log_p = retrieval_log_probs(scores)
    loss_mask, answer_mask = target_masks(attention_mask, answer_start, lm_loss_on_prompt)
    if variant == "marginal":
        if token_lp.shape[0] != b * b:
            raise ValueError(f"marginal needs B*B = {b * b} generator rows, got {token_lp.shape[0]}")
        answer_lp = (answer_mask * token_lp).sum(1).view(b, b)
        gold = target * b + target  # rows (i, i)
        m_gold, a_gold, lp_gold = loss_mask[gold], answer_mask[gold], token_lp[gold]
        prompt_nll = -((m_gold - a_gold).clamp(min=0) * lp_gold).sum()
        l_gen = marginal_generator_loss(log_p, answer_lp, m_gold.sum(), prompt_nll)
        lm = answer_weighted_term(None, m_gold, a_gold, lp_gold)
    else:
        if token_lp.shape[0] != b:
            raise ValueError(f"{variant} needs B = {b} generator rows, got {token_lp.shape[0]}")
        r = log_p.diagonal() if variant == "dalm" else None
        l_gen = answer_weighted_term(r, loss_mask, answer_mask, token_lp)
        lm = answer_weighted_term(None, loss_mask, answer_mask, token_lp)
    return LossParts(l_ret + l_gen, l_ret, l_gen, lm.detach())


FORMULAS = {
    "dalm": "L_ret + [-sum m (lp + 1[t>=n_i] r_i) / sum m], r_i = log softmax(S_i)[i] (gold passage only)",
    "marginal": "L_ret + [sum_i -log sum_j softmax(S_i)_j P(a_i|q_i,p_j) (+ prompt NLL)] / sum m",
    "independent": "L_ret + [-sum m lp / sum m] (no retriever term in the generator loss)",
}


def describe(variant: str) -> dict[str, Any]:
    """The formula in words, for the result record."""
    return {"formula": FORMULAS[variant], "L_ret": "(CE(S) + CE(S^T)) / 2, S = scale * Q P^T"}
