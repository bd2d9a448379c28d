"""In-batch contrastive losses, written once (adapter, contrastive, e2e and e2e-equivalent use them).

Notation: B rows, unit (or to-be-normalised) query and passage embeddings q_i, p_j, row i's
positive is p_i. The candidate matrix is the B in-batch passages, optionally followed by M extra
negative passages n_k (e.g. mined hard negatives):

    S = scale * q [p; n]^T                              [B, B + M]   (``in_batch_scores``)
    masked entries (false negatives) are -inf, so they leave the softmax.
    query -> passage:   CE(S, diag)                                   (LlamaIndex's MNRL)
    symmetric:          (CE(S, diag) + CE(S[:, :B]^T, diag)) / 2      (DALM's retriever loss)

The passage -> query direction uses the square block only: extra negatives are passages, not
queries, so they have no row to be scored against. With M = 0 the symmetric loss is exactly
DALM's ``(CE(S) + CE(S^T)) / 2``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def in_batch_scores(q: torch.Tensor, p: torch.Tensor, scale: float, mask: torch.Tensor | None = None,
                    negatives: torch.Tensor | None = None,
                    negatives_mask: torch.Tensor | None = None) -> torch.Tensor:
    """S = scale * q [p; negatives]^T with masked entries at -inf.

    ``mask`` [B, B] (True = drop) removes in-batch false negatives; ``negatives`` [M, d] are extra
    candidate passages for every query and ``negatives_mask`` [B, M] drops some of them per
    query (e.g. a mined negative that is a copy of that query's positive).
    """
    if negatives is None:
        scores = scale * q @ p.T
        return scores.masked_fill(mask, float("-inf")) if mask is not None else scores
    b, m = q.shape[0], negatives.shape[0]
    scores = scale * q @ torch.cat([p, negatives]).T
    if mask is None and negatives_mask is None:
        return scores
    none = torch.zeros((b, b), dtype=torch.bool, device=scores.device)
    extra = torch.zeros((b, m), dtype=torch.bool, device=scores.device)
    full = torch.cat([mask if mask is not None else none, negatives_mask if negatives_mask is not None else extra], 1)
    return scores.masked_fill(full, float("-inf"))


def own_negatives(negatives: torch.Tensor, pad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-query negatives ``[B, N, d]`` (``pad`` [B, N], True = none there) as the shared extra
    candidates of :func:`in_batch_scores`: all B*N of them, each query seeing only its own."""
    b, n = pad.shape
    owner = torch.arange(b, device=pad.device).repeat_interleave(n)  # candidate k belongs to row k // n
    mask = (owner.unsqueeze(0) != torch.arange(b, device=pad.device).unsqueeze(1)) | pad.reshape(1, -1)
    return negatives.reshape(b * n, -1), mask

def info_nce(scores: torch.Tensor, symmetric: bool = True) -> torch.Tensor:
    """CE(S, diag), averaged with CE(S[:, :B]^T, diag) when ``symmetric``."""
    b = scores.shape[0]
    target = torch.arange(b, device=scores.device)
    forward = F.cross_entropy(scores, target)
    if not symmetric:
        return forward
    square = scores if scores.shape[1] == b else scores[:, :b]
    return (forward + F.cross_entropy(square.T, target)) / 2


def symmetric_infonce(q: torch.Tensor, p: torch.Tensor, scale: float = 100.0, mask: torch.Tensor | None = None,
                      negatives: torch.Tensor | None = None,
                      negatives_mask: torch.Tensor | None = None) -> torch.Tensor:
    """DALM's retriever loss on unit q, p: (CE(S, i) + CE(S^T, i)) / 2, S = scale * q p^T
    (scale 100 = 1 / temperature 0.01). A same-passage mask is symmetric, so it serves S and S^T."""
    return info_nce(in_batch_scores(q, p, scale, mask, negatives, negatives_mask))


def mnrl_loss(queries: torch.Tensor, passages: torch.Tensor, scale: float = 20.0,
              mask: torch.Tensor | None = None, negatives: torch.Tensor | None = None,
              negatives_mask: torch.Tensor | None = None) -> torch.Tensor:
    """LlamaIndex's MyMultipleNegativesRankingLoss: mean_i CE(scale * cos(q_i, p_.), i).

    Queries and passages are normalised here (cosine); ``queries`` are already adapted.
    """
    unit = [F.normalize(x, p=2, dim=1) if x is not None else None for x in (queries, passages, negatives)]
    return info_nce(in_batch_scores(unit[0], unit[1], scale, mask, unit[2], negatives_mask), symmetric=False)


def answer_weighted_term(log_p_gold: torch.Tensor, loss_mask: torch.Tensor, answer_mask: torch.Tensor,
                         token_lp: torch.Tensor | None = None) -> torch.Tensor:
    """-sum_{i,t} m_{i,t} (lp_{i,t} + answer_{i,t} r_i) / sum m: DALM's generator loss, r_i =
    ``log_p_gold[i]`` = log P(p_i | q_i). Without ``token_lp`` (the generator's token log-probs)
    it is the retriever's side alone: -sum_i (A_i / sum m) r_i, A_i = row i's answer tokens,
    which is what the e2e loss adds to the retriever's gradient (e2e-equivalent trains on it).
    ``log_p_gold`` None gives the plain LM loss."""
    lp = token_lp if token_lp is not None else torch.zeros_like(loss_mask)
    ll = lp if log_p_gold is None else lp + answer_mask * log_p_gold[:, None]
    return -(loss_mask * ll).sum() / loss_mask.sum().clamp(min=1)
