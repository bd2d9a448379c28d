"""Compressed embeddings: hand-worked truncation, int8 and binary codes, bytes per vector, exact
and deterministic quantized search with float rescoring; cross-checked against sentence-transformers."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.compress import (CompressionParams, bytes_per_vector, compressed_search, int8_ranges,
                                 quantize_binary, quantize_int8, signs, split_params, truncate)
from benchmarks.context import RunContext
from benchmarks.search import search_run
from retrievers.base import ParamsError

# Ranges chosen so every step is a power of two (1/256 and 1/128): the codes are exact by hand.
DOCS = np.array([[0.0, -1.0], [0.5, 0.25], [255 / 256, 0.9921875]], np.float32)


def test_truncate_keeps_the_first_dims_and_renormalises():
    out = truncate(np.array([[3, 4, 12], [0, 0, 1]], np.float32), 2)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0, 0]], atol=1e-7)  # a zero vector stays zero
    assert truncate(DOCS, None) is not None and truncate(DOCS, None).shape == (3, 2)
    with pytest.raises(ValueError, match="larger than the embedding dimension"):
        truncate(DOCS, 3)


def test_int8_codes_by_hand():
    ranges = int8_ranges(DOCS)  # the corpus is the calibration set
    np.testing.assert_array_equal(ranges, [[0, -1], [255 / 256, 0.9921875]])
    # dim 0: step 1/256: 0 -> 0, 0.5 -> 128, 255/256 -> 255; dim 1: step 1/128: -1 -> 0, .25 -> 160
    np.testing.assert_array_equal(quantize_int8(DOCS, ranges), [[-128, -128], [0, 32], [127, 127]])
    # queries use the corpus's buckets and are clipped to them: 0.3 * 256 = 76.8 -> 76; 2.0 -> 255
    queries = np.array([[0.3, 2.0], [-1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(quantize_int8(queries, ranges), [[-52, 127], [-128, 0]])
    flat = np.array([[0.2, 1.0], [0.2, 3.0]], np.float32)  # max == min: step 1, as sentence-transformers
    np.testing.assert_array_equal(quantize_int8(flat, int8_ranges(flat))[:, 0], [-128, -128])


def test_binary_codes_and_hamming_by_hand():
    v = np.array([[0.3, -0.2, 0.0, 0.1, -5, 2, 0, 0, 1]], np.float32)  # 0 counts as negative (x > 0)
    np.testing.assert_array_equal(quantize_binary(v), [[0b10010100, 0b10000000]])
    np.testing.assert_array_equal(signs(v), [[1, -1, -1, 1, -1, 1, -1, -1, 1]])
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 45)).astype(np.float32), rng.normal(size=(11, 45)).astype(np.float32)
    xor = np.bitwise_xor(quantize_binary(a)[:, None, :], quantize_binary(b)[None, :, :])
    hamming = np.unpackbits(xor, axis=-1).sum(axis=-1, dtype=np.int64)  # padding bits are 0 in both
    np.testing.assert_array_equal(signs(a) @ signs(b).T, 45 - 2 * hamming)


def test_bytes_per_vector():
    assert [bytes_per_vector(384, q) for q in (None, "int8", "binary")] == [1536, 384, 48]
    assert bytes_per_vector(385, "binary") == 49 and bytes_per_vector(64, None) == 256


def test_codes_match_sentence_transformers_quantize_embeddings():
    from sentence_transformers import quantize_embeddings  # its top-level export in 5.x and 6.x

    rng = np.random.default_rng(1)
    docs, queries = rng.normal(size=(300, 37)).astype(np.float32), rng.normal(size=(20, 37)).astype(np.float32)
    ranges = int8_ranges(docs)
    for x in (docs, queries):
        want = quantize_embeddings(x, "int8", calibration_embeddings=docs)
        np.testing.assert_array_equal(quantize_int8(x, ranges), want)
        np.testing.assert_array_equal(quantize_binary(x), quantize_embeddings(x, "ubinary"))
        # "binary" is the same bits with the sign bit flipped (its -128 offset); usearch undoes it so
        np.testing.assert_array_equal(quantize_embeddings(x, "binary").view(np.uint8) ^ 0x80, quantize_binary(x))


Q = np.array([[0.6, 0.4]], np.float32)
D = np.array([[0.9, 0.1], [0.2, 0.8], [-0.5, 0.5]], np.float32)


def test_binary_search_ties_and_rescoring_by_hand():
    ctx = RunContext(progress=False)
    ids = ["d1", "d2", "d3"]
    # signs: q [1, 1]; d1 [1, 1], d2 [1, 1], d3 [-1, 1] -> 2, 2, 0; the tie goes to the larger id
    plain = compressed_search(Q, D, ["q"], ids, 3, ctx, CompressionParams(quantize="binary"))
    assert list(plain["q"].items()) == [("d2", 2.0), ("d1", 2.0), ("d3", 0.0)]
    # rescore 2 of k 2: the candidates d2, d1 re-ranked by float: d1 .58 > d2 .44
    top2 = compressed_search(Q, D, ["q"], ids, 2, ctx, CompressionParams(quantize="binary", rescore=2))
    assert list(top2["q"]) == ["d1", "d2"]
    assert top2["q"]["d1"] == pytest.approx(0.58) and top2["q"]["d2"] == pytest.approx(0.44)
    # rescore 1 of k 1: only d2 is a candidate, so the float-best d1 is never seen
    top1 = compressed_search(Q, D, ["q"], ids, 1, ctx, CompressionParams(quantize="binary", rescore=1))
    assert list(top1["q"]) == ["d2"]


def test_rescoring_every_doc_gives_the_float_run_and_int8_scores_are_code_products():
    rng = np.random.default_rng(2)
    q, d = rng.normal(size=(9, 16)).astype(np.float32), rng.normal(size=(40, 16)).astype(np.float32)
    qids, ids = [f"q{i}" for i in range(9)], [f"d{i:02d}" for i in range(40)]
    ctx = RunContext(progress=False)
    full = search_run(q, d, qids, ids, 10, ctx)
    for kind in ("int8", "binary"):
        assert compressed_search(q, d, qids, ids, 10, ctx, CompressionParams(quantize=kind, rescore=40)) == full
    run = compressed_search(q, d, qids, ids, 5, ctx, CompressionParams(quantize="int8"))
    ranges = int8_ranges(d)
    codes_q, codes_d = quantize_int8(q, ranges).astype(np.int64), quantize_int8(d, ranges).astype(np.int64)
    for i, qid in enumerate(qids):
        for doc, score in run[qid].items():
            assert score == codes_q[i] @ codes_d[ids.index(doc)]  # exact integers
    truncated = compressed_search(q, d, qids, ids, 5, ctx, CompressionParams(truncate_dim=4))
    assert truncated == search_run(truncate(q, 4), truncate(d, 4), qids, ids, 5, ctx)


def test_params_are_taken_out_for_every_dense_retriever_and_checked():
    from retrievers.sentence_transformer import EncoderParams, SentenceTransformerRetriever

    own, comp = split_params("r", {"model": "m", "quantize": "int8", "truncate_dim": 64}, EncoderParams)
    assert own == {"model": "m"} and (comp.quantize, comp.truncate_dim, comp.rescore) == ("int8", 64, None)
    for bad, where in [({"quantize": "int4"}, "quantize"), ({"rescore": 10}, "set quantize too"),
                       ({"truncate_dim": 0}, "truncate_dim")]:
        with pytest.raises(ParamsError, match=where) as exc:
            split_params("r", bad, EncoderParams)
        assert "truncate_dim" in exc.value.valid and "model" in exc.value.valid
    # the embedding cache key (the fingerprint) is the uncompressed row's: no re-encoding
    plain = SentenceTransformerRetriever("a", {"model": "minilm-l6"})
    packed = SentenceTransformerRetriever("b", {"model": "minilm-l6", "quantize": "binary", "rescore": 50})
    assert packed.fingerprint() == plain.fingerprint() and packed.compression.rescore == 50
