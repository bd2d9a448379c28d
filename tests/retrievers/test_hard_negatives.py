"""Hard-negative mining (retrievers/contrastive/hard_negatives.py, mining.py): exclusions, margins,
seeded sampling, agreement with sentence-transformers' mine_hard_negatives, and the InfoNCE with
extra negatives against hand-worked values."""
import math
import sys
import types

import numpy as np
import pytest
import torch

from benchmarks.training import TrainingPair
from benchmarks.types import Doc, Split
from retrievers.contrastive.hard_negatives import mine
from retrievers.contrastive.mining import positives_by_text
from benchmarks.training.losses import own_negatives, symmetric_infonce


def unit(deg):
    """A 2-d unit vector at ``deg`` degrees: cosines between them are cos(angle difference)."""
    return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]


# Query at 0 degrees; corpus rows at 10 (the positive), 12, 25, 40, 60, 90, 180 degrees.
# cosines with the query: .985 (positive), .978, .906, .766, .5, 0, -1.
Q = np.array([unit(0)], dtype=np.float32)
C = np.array([unit(d) for d in (10, 12, 25, 40, 60, 90, 180)], dtype=np.float32)


def test_the_positive_is_never_a_negative_and_top_takes_the_best_others():
    got = mine(Q, C, [[0]], num_negatives=3)
    assert got.negatives == [[1, 2, 3]]
    assert got.scores[0] == pytest.approx([math.cos(math.radians(d)) for d in (12, 25, 40)], abs=1e-6)
    assert got.counts["skipped"]["positive"] == 1


def test_margins_drop_candidates_too_close_to_the_positive():
    pos = math.cos(math.radians(10))  # .9848
    # absolute 0.05: keep score <= .9348, so 12 degrees (.978) goes and 25 (.906) is the first kept
    got = mine(Q, C, [[0]], num_negatives=2, absolute_margin=0.05)
    assert got.negatives == [[2, 3]] and got.counts["skipped"]["absolute_margin"] == 1
    # relative 0.1: keep score <= .9848 - .0985 = .886: 12 and 25 degrees go
    got = mine(Q, C, [[0]], num_negatives=2, relative_margin=0.1)
    assert pos - 0.1 * pos < math.cos(math.radians(25))
    assert got.negatives == [[3, 4]] and got.counts["skipped"]["relative_margin"] == 2
    # max_score 0.6 leaves 60, 90 and 180 degrees; range_min 1 then skips the best survivor
    assert mine(Q, C, [[0]], num_negatives=2, max_score=0.6).negatives == [[4, 5]]
    assert mine(Q, C, [[0]], num_negatives=2, max_score=0.6, range_min=1).negatives == [[5, 6]]


def test_several_positives_all_excluded_and_the_lowest_sets_the_margin():
    # positives at 10 and 40 degrees: the margin counts from .766, so 25 degrees (.906) is dropped too
    got = mine(Q, C, [[0, 3]], num_negatives=2, absolute_margin=0.0)
    assert got.negatives == [[4, 5]]
    assert got.counts["skipped"] == {"positive": 2, "absolute_margin": 2, "relative_margin": 0,
                                     "max_score": 0, "min_score": 0}


def test_too_few_survivors_leave_a_short_list_and_are_counted():
    got = mine(Q, C, [[0]], num_negatives=2, range_max=3, absolute_margin=0.05)
    # the 3 + 1 best candidates are 10, 12, 25, 40 degrees: only 25 and 40 survive
    assert got.negatives == [[2, 3]]
    got = mine(Q, C, [[0]], num_negatives=2, range_max=2, absolute_margin=0.05)
    assert got.negatives == [[2]] and got.counts["short_queries"] == 1 and got.counts["negatives"] == 1
    with pytest.raises(ValueError, match="cannot hold"):
        mine(Q, C, [[0]], num_negatives=3, range_min=1, range_max=3)


def test_random_sampling_is_seeded_and_draws_only_survivors():
    def draw(seed):
        got = mine(Q, C, [[0]], num_negatives=2, sampling="random", absolute_margin=0.05, seed=seed)
        return got.negatives[0]

    draws = {s: draw(s) for s in range(12)}
    assert draws[3] == draw(3)
    assert len({tuple(d) for d in draws.values()}) > 1  # the seed matters
    for d in draws.values():
        assert set(d) <= {2, 3, 4, 5, 6} and len(d) == 2 and d == sorted(d)  # best first


# --- agreement with sentence-transformers -------------------------------------------------------

class FakeDataset:
    """The slice of Hugging Face ``datasets.Dataset`` that mine_hard_negatives touches."""

    def __init__(self, data):
        self.data = data
        self.column_names = list(data)

    @classmethod
    def from_dict(cls, data):
        return cls(data)

    def __len__(self):
        return len(next(iter(self.data.values())))

    def __getitem__(self, col):
        return self.data[col]

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.data)


class CachedVectors:
    """A stand-in model that 'encodes' by looking vectors up: our cached base embeddings."""

    device = torch.device("cpu")

    def __init__(self, vectors):
        self.vectors = vectors

    def encode_query(self, texts, **_):
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)

    encode_document = encode_query

    def similarity(self, a, b):
        from sentence_transformers.util import cos_sim

        return cos_sim(a, b)

    def similarity_pairwise(self, a, b):
        from sentence_transformers.util import pairwise_cos_sim

        return pairwise_cos_sim(a, b)


@pytest.mark.parametrize("settings", [
    {"num_negatives": 3},
    {"num_negatives": 2, "absolute_margin": 0.05},
    {"num_negatives": 2, "relative_margin": 0.05},
    {"num_negatives": 3, "relative_margin": 0.1, "range_min": 1},
    {"num_negatives": 2, "max_score": 0.7, "range_max": 6},
    {"num_negatives": 4, "absolute_margin": 0.0, "range_max": 5},
], ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_same_negatives_as_sentence_transformers(monkeypatch, settings):
    from sentence_transformers.util import hard_negatives as st_hn

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(Dataset=FakeDataset))
    monkeypatch.setattr(st_hn, "is_datasets_available", lambda: True)
    rng = np.random.default_rng(7)  # random directions in 8-d: no ties between scores
    corpus = [f"passage {i}" for i in range(14)]
    queries = [f"question {i}" for i in range(6)] + ["question 0"]  # a repeated query: two positives
    positive = [corpus[i] for i in (0, 3, 5, 5, 9, 12, 2)]
    vectors = {t: rng.normal(size=8) for t in corpus + queries}
    for q, p in zip(queries, positive):  # positives lean towards their query, as in real data
        vectors[p] = vectors[p] + 1.5 * vectors[q]
    args = {k: v for k, v in settings.items()}
    theirs = st_hn.mine_hard_negatives(
        FakeDataset({"q": queries, "p": positive}), CachedVectors(vectors), corpus=corpus,
        output_format="labeled-list", output_scores=True, verbose=False, **args)
    by_query = {q: docs[1:] for q, docs in zip(theirs["q"], theirs["p"])}  # [positive, negatives...]

    uniq = list(dict.fromkeys(queries))
    pos_rows = [sorted({corpus.index(p) for q2, p in zip(queries, positive) if q2 == q}) for q in uniq]
    q_vecs, c_vecs = np.array([vectors[q] for q in uniq]), np.array([vectors[t] for t in corpus])
    ours = mine(q_vecs, c_vecs, pos_rows, **args)
    for q, negs in zip(uniq, ours.negatives):
        assert [corpus[j] for j in negs] == by_query.get(q, []), q
    assert sum(len(v) for v in by_query.values()) == ours.counts["negatives"]


# --- the pool and positives handed to the miner -------------------------------------------------

def test_positives_are_every_relevant_passage_by_text_and_shared_by_equal_queries():
    split = Split(
        corpus={"a": Doc("alpha"), "a2": Doc("alpha"), "b": Doc("beta"), "c": Doc("gamma"),
                "d": Doc("delta")},
        queries={"q1": "what", "q2": "what", "q3": "other"},
        qrels={"q1": {"a": 1, "c": 1}, "q2": {"b": 1}, "q3": {"d": 1, "b": 0}},
    )
    pairs = [TrainingPair("q1", "what", "a", "alpha"), TrainingPair("q2", "what", "b", "beta"),
             TrainingPair("q3", "other", "d", "delta")]
    pool, positives = positives_by_text(pairs, split, Doc.full_text)
    assert pool == ["alpha", "beta", "gamma", "delta"]  # a2 is a copy of a
    # q1 and q2 are the same question: alpha, gamma and beta are all positives of both;
    # q3's grade-0 "beta" is not a positive of q3
    assert positives == [[0, 1, 2], [0, 1, 2], [3]]


# --- the loss with extra negatives --------------------------------------------------------------

def ce(logits, target):
    return math.log(sum(math.exp(x) for x in logits)) - logits[target]


def test_infonce_with_negatives_hand_worked():
    q = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    p = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # query 0's negatives: (0.8, 0.6) and padding; query 1's: (1, 0) and (0.6, 0.8)
    n = torch.tensor([[[0.8, 0.6], [0.0, 0.0]], [[1.0, 0.0], [0.6, 0.8]]])
    pad = torch.tensor([[False, True], [False, False]])
    # rows: in-batch scores, then the query's own negatives; columns (passage -> query): unchanged
    rows = (ce([1.0, 0.0, 0.8], 0) + ce([0.6, 0.8, 0.6, 1.0], 1)) / 2
    cols = (ce([1.0, 0.6], 0) + ce([0.0, 0.8], 1)) / 2
    got = symmetric_infonce(q, p, 1.0, None, *own_negatives(n, pad)).item()
    assert got == pytest.approx((rows + cols) / 2, rel=1e-6)
    # at scale 2 every logit doubles
    rows2 = (ce([2.0, 0.0, 1.6], 0) + ce([1.2, 1.6, 1.2, 2.0], 1)) / 2
    cols2 = (ce([2.0, 1.2], 0) + ce([0.0, 1.6], 1)) / 2
    got2 = symmetric_infonce(q, p, 2.0, None, *own_negatives(n, pad)).item()
    assert got2 == pytest.approx((rows2 + cols2) / 2, rel=1e-6)
    # every negative padded = the plain loss
    all_pad = torch.ones(2, 2, dtype=torch.bool)
    assert symmetric_infonce(q, p, 1.0, None, *own_negatives(n, all_pad)).item() == pytest.approx(
        symmetric_infonce(q, p, 1.0).item(), rel=1e-7)
