"""A stand-in for arcee-ai/synthetic-data-gen (DALM's 200k-row Question / Abstract / Answer CSV),
for measuring the harness at scale. SCALE DATA: its scores say nothing about any retriever.

    python -m benchmarks.perf.standin --rows 200000 --data-dir /tmp/standin [--card-dir DIR] [--seed 0]

writes ``DIR/arcee-standin/train.csv`` and (with ``--card-dir``) the card ``arcee-standin.yaml``
(the shipped ``datasets/arcee-standin.yaml``, byte for byte: unpinned, so one card serves every
size, with arcee-synthetic's holdout options and a note the leaderboard prints under its tables).

What the rows look like, and why:

- Passages are word-bigram chains over the BEIR SciFact corpus (its words and their frequencies,
  read through the pinned scifact card): 120-230 words, i.e. about 150-300 MiniLM word pieces,
  the length of a patent abstract. Chains of 120+ words never come out near-identical, so the only
  duplicates are the intended ones.
- Duplicate passages: each passage gets 1, 2 or 3 questions (probability 0.80 / 0.15 / 0.05), so
  about 1 row in 4 repeats a passage, as generated QA sets with several questions per passage do
  (a chosen rate: the real file's is not known here).
- Questions: 10-20 words, a template around 3 content words of the passage (rarer than the 100
  most frequent corpus words), so they can be answered from it; answers: the 1-4 words after the
  question's last keyword in the passage.
- Rows are shuffled, so the copies of a passage are not adjacent.

Deterministic for a seed (numpy's PCG64 and the pinned corpus): same --rows and --seed, same bytes.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.fsutil import atomic_write_bytes  # noqa: E402

NAME = "arcee-standin"
DATA_FILE = f"{NAME}/train.csv"
MIN_WORDS, MAX_WORDS = 120, 230
QUESTIONS_PER_PASSAGE = ((1, 0.80), (2, 0.15), (3, 0.05))
COMMON = 100  # the most frequent corpus words are never keywords
TEMPLATES = (
    "What does the passage report about {0} and {1} in the context of {2}?",
    "How is {0} related to {1} according to the study of {2}?",
    "Which finding links {0} with {1} and what does it imply for {2}?",
    "In the described work, what role does {0} play for {1} and {2}?",
    "What is stated about {0} when {1} is considered alongside {2}?",
    "According to the text, how do {0} and {1} affect {2}?",
)
_WORD = re.compile(r"^[A-Za-z][A-Za-z-]{3,}$")
_STRIP = re.compile(r"^\W+|\W+$")


class Bigrams:
    """Word ids of a corpus and, per word, the words that follow it (with repetition)."""

    def __init__(self, texts: list[str]) -> None:
        index: dict[str, int] = {}
        ids = np.fromiter((index.setdefault(w, len(index)) for t in texts for w in t.split()), dtype=np.int64)
        self.words = list(index)
        self.ids = ids
        prev, nxt = ids[:-1], ids[1:]
        order = np.argsort(prev, kind="stable")
        self.succ = nxt[order]
        self.count = np.bincount(prev, minlength=len(self.words))
        self.start = np.concatenate([[0], np.cumsum(self.count)[:-1]])
        freq = np.bincount(ids, minlength=len(self.words))
        common = set(np.argsort(-freq, kind="stable")[:COMMON].tolist())
        self.keyword = np.array([i not in common and bool(_WORD.match(k := _STRIP.sub("", w))) and not k.isupper()
                                 for i, w in enumerate(self.words)])  # "METHODS" is a heading, not a topic

    def chains(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """n word-id chains of ``length`` words, all stepped at once."""
        out = np.empty((n, length), dtype=np.int64)
        state = self.ids[rng.integers(0, self.ids.size, n)]
        for step in range(length):
            out[:, step] = state
            u = rng.random(n)
            cnt = self.count[state]
            restart = self.ids[rng.integers(0, self.ids.size, n)]  # a word nothing follows
            pick = self.start[state] + np.minimum((u * cnt).astype(np.int64), np.maximum(cnt - 1, 0))
            state = np.where(cnt > 0, self.succ[np.minimum(pick, self.succ.size - 1)], restart)
        return out


def corpus_texts() -> list[str]:
    """The SciFact corpus, through its pinned card (so every machine builds the same words)."""
    from benchmarks.loaders import load

    return [doc.text for _, doc in sorted(load("scifact", "test").corpus.items())]


def _question(rng: np.random.Generator, bg: Bigrams, chain: np.ndarray) -> tuple[str, str]:
    positions = np.flatnonzero(bg.keyword[chain])
    if positions.size < 3:  # almost never at 120+ words; fall back to any words
        positions = np.arange(chain.size)
    picked = np.sort(rng.choice(positions, size=3, replace=False))
    keys = [_STRIP.sub("", bg.words[chain[p]]) for p in picked]
    question = TEMPLATES[int(rng.integers(len(TEMPLATES)))].format(*keys)
    after = picked[-1] + 1
    span = [_STRIP.sub("", bg.words[w]) for w in chain[after:after + int(rng.integers(1, 5))]]
    answer = " ".join(w for w in span if w) or keys[-1]
    return question, answer


def rows(n_rows: int, seed: int, texts: list[str] | None = None) -> list[tuple[str, str, str]]:
    """The stand-in's rows (Question, Abstract, Answer), shuffled."""
    if n_rows < 1:
        raise ValueError("--rows must be at least 1")
    rng = np.random.default_rng(seed)
    bg = Bigrams(texts if texts is not None else corpus_texts())
    counts, probs = zip(*QUESTIONS_PER_PASSAGE)
    per_passage = rng.choice(np.array(counts), size=n_rows, p=np.array(probs))
    n_passages = int(np.searchsorted(np.cumsum(per_passage), n_rows) + 1)
    per_passage = per_passage[:n_passages]
    per_passage[-1] -= int(per_passage.sum()) - n_rows
    lengths = rng.integers(MIN_WORDS, MAX_WORDS + 1, n_passages)
    out: list[tuple[str, str, str]] = []
    for lo in range(0, n_passages, 20_000):  # chains in blocks: 20k x 230 ids at a time
        block = bg.chains(rng, min(20_000, n_passages - lo), MAX_WORDS)
        for j, chain in enumerate(block):
            chain = chain[:lengths[lo + j]]
            text = " ".join(bg.words[w] for w in chain.tolist())
            text = text[0].upper() + text[1:]
            if not text.endswith("."):
                text += "."
            for _ in range(per_passage[lo + j]):
                out.append((*_question(rng, bg, chain), text))
    order = rng.permutation(len(out))
    return [(out[i][0], out[i][2], out[i][1]) for i in order.tolist()]


def csv_bytes(table: list[tuple[str, str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # as pandas' to_csv (how arcee is exported) writes
    writer.writerow(["Question", "Abstract", "Answer"])
    writer.writerows(table)
    return buf.getvalue().encode("utf-8")


def shipped_card() -> Path:
    from benchmarks.shipped import cards_dir

    return cards_dir() / f"{NAME}.yaml"


def write(n_rows: int, data_dir: Path, card_dir: Path | None, seed: int = 0) -> Path:
    """Write the CSV (and the card); return the CSV's path. Atomic: nothing half-written."""
    path = Path(data_dir) / DATA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, csv_bytes(rows(n_rows, seed)))
    if card_dir is not None:
        Path(card_dir).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(card_dir) / f"{NAME}.yaml", shipped_card().read_bytes())
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.perf.standin", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, required=True, help="rows (queries) to write, e.g. 200000")
    ap.add_argument("--data-dir", type=Path, required=True,
                    help=f"a data folder: writes {DATA_FILE} under it (put it on HARNESS_DATA_PATH)")
    ap.add_argument("--card-dir", type=Path, help=f"also write the card {NAME}.yaml here (HARNESS_DATASETS_DIR)")
    ap.add_argument("--seed", type=int, default=0, help="same rows and seed, same bytes (default 0)")
    args = ap.parse_args(argv)
    if args.rows < 1:
        ap.error("--rows must be at least 1")
    path = write(args.rows, args.data_dir, args.card_dir, args.seed)
    print(f"wrote {path} ({args.rows:,} rows, seed {args.seed}); scale data, not a quality benchmark")
    return 0


if __name__ == "__main__":
    sys.exit(main())
