"""Leakage between a train split and the split a trained row is evaluated on.

A fine-tune that saw the test questions (or their answers' passages) scores well for the wrong
reason. For every (train split, evaluation split) pair this counts, on the evaluation side:

- queries whose text is also a train query: exactly after ``normalise`` (NFKC, casefold,
  punctuation and symbols removed, whitespace collapsed), or as a near duplicate: Jaccard
  similarity >= ``threshold`` between the sets of word ``shingle``-grams. Candidates come from
  MinHash signatures with LSH banding (sub-quadratic) and are then verified by exact Jaccard, so
  a reported near duplicate really is one; one missed needs a pair above the threshold to share
  no band (probability below 1e-7 at Jaccard 0.8 with 32 bands of 4 rows).
- passages likewise, plus ``shared_ids``: passages present under the same id with the same text.
  BEIR splits share one corpus by design (``shared_corpus``): every passage is then "in train",
  which is expected and not a leak in itself.
- evaluated queries (those with a relevant passage) one of whose relevant passages is, exactly or
  nearly, a passage judged relevant in the train split's qrels (``in_train_positives``: the
  retriever was trained to rank that passage first for some train query), and those whose relevant
  passage is anywhere in the train corpus (``in_train_corpus``).

Cost is linear in the texts (plus the candidate pairs): measured on the shared 2-core machine,
about 1 s for llamaindex-10k or SciFact, 21 s for 200,000 against 200,000 short queries.

This is information about the data, not a setting of the evaluation: it changes nothing that is
evaluated, so it is not part of the evaluation fingerprint. It is deterministic for a seed.
"""
from __future__ import annotations

import copy
import hashlib
import re
import unicodedata
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from benchmarks.artifacts import canonical_json
from benchmarks.types import Split

_NOT_WORD = re.compile(r"[^\w\s]+")  # punctuation and symbols: "Lyft's" -> "lyfts", "$19.6" -> "196"
_MASK64 = (1 << 64) - 1
N_EXAMPLES = 5  # id pairs kept per kind, so a reader can look at what matched


@dataclass(frozen=True)
class LeakageSettings:
    shingle: int = 5  # words per shingle; a text shorter than this is one shingle
    num_perm: int = 128
    bands: int = 32  # num_perm / bands rows per band
    threshold: float = 0.8  # exact Jaccard a near duplicate must reach
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_perm % self.bands or not 0 < self.threshold <= 1 or self.shingle < 1:
            raise ValueError(f"leakage settings: bands must divide num_perm, 0 < threshold <= 1, "
                             f"shingle >= 1; got {self}")

    def method(self) -> dict[str, Any]:
        return {
            "normalisation": "NFKC, casefold, punctuation and symbols removed, whitespace collapsed",
            "near_duplicate": (f"MinHash over word {self.shingle}-gram shingles, {self.num_perm} "
                               f"permutations, LSH {self.bands} bands x {self.num_perm // self.bands} rows, "
                               f"candidates verified by exact Jaccard >= {self.threshold}"),
            **asdict(self),
        }


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NOT_WORD.sub("", text).split())


def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


_P, _MIX, _LOW32 = np.uint64(0x100000001B3), np.uint64(29), np.uint64(0xFFFFFFFF)
CHUNK = 50_000  # shingles hashed at a time: CHUNK x num_perm x 8 bytes of memory


def window_hashes(words: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every word n-gram of every text, in order, and how many each text has.

    ``words``: the word hashes of all texts concatenated; ``lengths``: words per text. A text
    shorter than n words is one shingle; one with no words has none. All texts at once, so the
    cost is a few numpy passes, not a Python loop per text."""
    counts = np.where(lengths > 0, np.maximum(lengths - n + 1, 1), 0)
    text_of = np.repeat(np.arange(lengths.size), counts)
    first_word, first_window = np.cumsum(lengths) - lengths, np.cumsum(counts) - counts
    starts = first_word[text_of] + np.arange(counts.sum()) - first_window[text_of]
    widths = np.minimum(lengths, n)[text_of]
    h = np.zeros(starts.size, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around arithmetic is the point
        for j in range(n if starts.size else 0):
            step = (h * _P) ^ words[np.minimum(starts + j, words.size - 1)]
            step ^= step >> _MIX
            h = np.where(j < widths, step, h)
    return h, counts


class Texts:
    """Normalised texts, their shingles and MinHash signatures."""

    def __init__(self, texts: Iterable[str], settings: LeakageSettings, vocab: dict[str, int]) -> None:
        self.norm = [normalise(t) for t in texts]
        self.settings = settings
        self.vocab = vocab
        self._sets: dict[int, np.ndarray] = {}
        self._windows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def windows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(all shingle hashes, count per text, first per text), computed when the near-duplicate
        search first needs them: a corpus that matches exactly (a BEIR split's) never pays."""
        if self._windows is None:
            ids: list[int] = []
            lengths = np.zeros(len(self.norm), dtype=np.int64)
            vocab = self.vocab
            for i, t in enumerate(self.norm):
                words = t.split()
                ids += [vocab[w] if w in vocab else vocab.setdefault(w, _word_hash(w)) for w in words]
                lengths[i] = len(words)
            hashes, counts = window_hashes(np.array(ids, dtype=np.uint64), lengths, self.settings.shingle)
            self._windows = hashes, counts, np.cumsum(counts) - counts
        return self._windows

    def shingles(self, i: int) -> np.ndarray:
        """The set of text i's shingle hashes (sorted, unique)."""
        if i not in self._sets:
            hashes, counts, starts = self.windows()
            self._sets[i] = np.unique(hashes[starts[i]:starts[i] + counts[i]])
        return self._sets[i]

    def signatures(self, rows: Sequence[int]) -> np.ndarray:
        """[len(rows), num_perm] uint64 MinHash values of the given texts (each with >= 1 word)."""
        hashes, all_counts, starts = self.windows()
        s = self.settings
        rng = np.random.default_rng(s.seed)
        # Multiply-add-shift hashing of 32-bit keys (Dietzfelbinger): a 2-universal family, two
        # numpy operations per value, no overflowing modulus.
        a = rng.integers(1, 2**63, size=s.num_perm, dtype=np.uint64) | np.uint64(1)
        b = rng.integers(0, 2**63, size=s.num_perm, dtype=np.uint64)
        rows = np.asarray(rows, dtype=np.int64)
        counts = all_counts[rows]
        seg = np.cumsum(counts) - counts  # where each row's shingles start in ``keys``
        keys = hashes[np.repeat(starts[rows] - seg, counts) + np.arange(counts.sum())]
        keys = (keys ^ (keys >> np.uint64(32))) & _LOW32
        out = np.empty((rows.size, s.num_perm), dtype=np.uint64)
        r0 = 0
        while r0 < rows.size:  # whole rows, about CHUNK shingles at a time
            r1 = max(r0 + 1, int(np.searchsorted(seg, seg[r0] + CHUNK, side="right")))
            w0, w1 = seg[r0], (seg[r1] if r1 < rows.size else keys.size)
            with np.errstate(over="ignore"):
                values = (keys[w0:w1, None] * a[None, :] + b[None, :]) >> np.uint64(32)
            out[r0:r1] = np.minimum.reduceat(values, seg[r0:r1] - w0, axis=0)
            r0 = r1
        return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 and b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def _band_keys(sig: np.ndarray, bands: int) -> np.ndarray:
    """[n, bands] one 64-bit key per band (hash collisions only add candidates, all verified)."""
    rows = sig.shape[1] // bands
    keys = np.zeros((sig.shape[0], bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            keys = keys * np.uint64(0x9E3779B97F4A7C15) ^ sig[:, r::rows][:, :bands]
    return keys


def candidate_pairs(eval_keys: np.ndarray, train_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eval row, train row) pairs sharing at least one band key, unique, sorted: per band a sort
    and a binary search, so the cost grows with the texts and the matches, not their product."""
    n_train = train_keys.shape[0]
    pairs = []
    for band in range(train_keys.shape[1]):
        order = np.argsort(train_keys[:, band], kind="stable")
        ordered = train_keys[order, band]
        lo = np.searchsorted(ordered, eval_keys[:, band], side="left")
        n = np.searchsorted(ordered, eval_keys[:, band], side="right") - lo
        if n.any():
            at = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(n.sum())
            pairs.append(np.repeat(np.arange(n.size), n) * n_train + order[at])
    both = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, dtype=np.int64)
    return both // n_train, both % n_train


def match(eval_texts: Texts, train_texts: Texts) -> dict[int, dict[str, Any]]:
    """eval index -> {"kind": "exact" | "near", "train": [train indices], "jaccard": best}.

    Exact matches are found by normalised text; the near-duplicate search runs only for eval
    texts with no exact match."""
    s = eval_texts.settings
    by_text: dict[str, list[int]] = {}
    for j, t in enumerate(train_texts.norm):
        if t:
            by_text.setdefault(t, []).append(j)
    found: dict[int, dict[str, Any]] = {}
    for i, t in enumerate(eval_texts.norm):
        if t and t in by_text:
            found[i] = {"kind": "exact", "train": by_text[t], "jaccard": 1.0}
    rest = [i for i, t in enumerate(eval_texts.norm) if t and i not in found]
    train_rows = [j for j, t in enumerate(train_texts.norm) if t]
    if not rest or not train_rows:
        return found
    e_rows, t_rows = candidate_pairs(_band_keys(eval_texts.signatures(rest), s.bands),
                                     _band_keys(train_texts.signatures(train_rows), s.bands))
    hits: dict[int, list[tuple[float, int]]] = {}
    for e, t in zip(e_rows.tolist(), t_rows.tolist()):
        i, j = rest[e], train_rows[t]
        sim = jaccard(eval_texts.shingles(i), train_texts.shingles(j))
        if sim >= s.threshold:
            hits.setdefault(i, []).append((sim, j))
    for i, scored in sorted(hits.items()):
        found[i] = {"kind": "near", "train": [j for _, j in scored], "jaccard": max(sim for sim, _ in scored)}
    return found


def _examples(found: dict[int, dict[str, Any]], eval_ids: list[str],
              train_ids: list[str]) -> list[dict[str, Any]]:
    return [{"eval": eval_ids[i], "train": train_ids[m["train"][0]], "kind": m["kind"],
             "jaccard": round(m["jaccard"], 4)} for i, m in sorted(found.items())[:N_EXAMPLES]]


def _kinds(found: dict[int, dict[str, Any]]) -> dict[str, int]:
    return {k: sum(m["kind"] == k for m in found.values()) for k in ("exact", "near")}


def check(train: Split, evaluated: Split, relevance_level: int = 1,
          settings: LeakageSettings | None = None) -> dict[str, Any]:
    """The leakage counts of one (train split, evaluation split) pair, as the record stores them."""
    s = settings or LeakageSettings()
    vocab: dict[str, int] = {}
    q_eval_ids, q_train_ids = list(evaluated.queries), list(train.queries)
    queries = match(Texts(evaluated.queries.values(), s, vocab), Texts(train.queries.values(), s, vocab))
    p_eval_ids, p_train_ids = list(evaluated.corpus), list(train.corpus)
    shared_ids = {p for p in p_eval_ids if p in train.corpus and train.corpus[p] == evaluated.corpus[p]}
    passages = match(Texts((d.full_text() for d in evaluated.corpus.values()), s, vocab),
                     Texts((d.full_text() for d in train.corpus.values()), s, vocab))
    train_index = {p: j for j, p in enumerate(p_train_ids)}
    in_train: dict[str, set[int]] = {p_eval_ids[i]: set(m["train"]) for i, m in passages.items()}
    for p in shared_ids:  # same id, same text: matched even if its text normalises to nothing
        in_train.setdefault(p, set()).add(train_index[p])
    positives = {train_index[d] for r in train.qrels.values() for d, g in r.items()
                 if g >= relevance_level and d in train_index}
    judged = [q for q, r in evaluated.qrels.items() if any(g >= relevance_level for g in r.values())]
    relevant = {q: [d for d, g in evaluated.qrels[q].items() if g >= relevance_level] for q in judged}
    to_positive = sorted(q for q in judged if any(in_train.get(d, set()) & positives for d in relevant[q]))
    to_corpus = [q for q in judged if any(in_train.get(d) for d in relevant[q])]
    return {
        "method": s.method(),
        "queries": {"eval": len(q_eval_ids), "train": len(q_train_ids), **_kinds(queries),
                    "examples": _examples(queries, q_eval_ids, q_train_ids)},
        "passages": {"eval": len(p_eval_ids), "train": len(p_train_ids), **_kinds(passages),
                     "shared_ids": len(shared_ids),
                     "shared_corpus": len(shared_ids) == len(p_eval_ids) == len(p_train_ids) > 0,
                     "examples": _examples({i: m for i, m in passages.items()
                                            if p_eval_ids[i] not in shared_ids}, p_eval_ids, p_train_ids)},
        "relevant": {"eval_queries": len(judged), "in_train_positives": len(to_positive),
                     "in_train_corpus": len(to_corpus), "examples": to_positive[:N_EXAMPLES]},
    }


_CACHE: dict[str, dict[str, Any]] = {}  # content key -> counts: rows sharing a pair compute it once


def _content_key(train: Split, evaluated: Split, relevance_level: int, s: LeakageSettings) -> str:
    # Streamed, one canonical JSON line per item in the order the examples follow: one blob of a
    # 200k-row split was a 500 MB string (and as many bytes again) just to name it.
    digest = hashlib.sha256(canonical_json([relevance_level, asdict(s)]).encode("utf-8"))
    for split in (train, evaluated):
        for part in (split.queries.items(), ((k, d.title, d.text) for k, d in split.corpus.items()),
                     ((q, list(r.items())) for q, r in split.qrels.items())):
            digest.update(b"\x1e")  # part separator: no item line starts with it
            for item in part:
                digest.update(canonical_json(list(item)).encode("utf-8") + b"\n")
    return digest.hexdigest()


def cached_check(train: Split, evaluated: Split, relevance_level: int = 1,
                 settings: LeakageSettings | None = None) -> dict[str, Any]:
    """``check``, computed once per distinct (train, evaluated) content in this process."""
    s = settings or LeakageSettings()
    key = _content_key(train, evaluated, relevance_level, s)
    if key not in _CACHE:
        if len(_CACHE) >= 8:  # a long test session must not hold every corpus it ever saw
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = check(train, evaluated, relevance_level, s)
    return copy.deepcopy(_CACHE[key])  # each record gets its own copy
