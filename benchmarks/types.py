"""The one internal representation every loader produces and every retriever consumes."""
from __future__ import annotations

from dataclasses import dataclass, field

Qrels = dict[str, dict[str, int]]  # qid -> {doc_id: grade}; grade >= 1 means relevant
Run = dict[str, dict[str, float]]  # qid -> {doc_id: score}


@dataclass(frozen=True)
class Doc:
    text: str
    title: str = ""

    def full_text(self, sep: str = " ") -> str:
        """Title and text joined as MTEB embeds BEIR documents (title + " " + text)."""
        return f"{self.title}{sep}{self.text}" if self.title else self.text


@dataclass
class Split:
    """One split of a dataset: corpus, queries, graded qrels, optional reference answers."""

    corpus: dict[str, Doc]
    queries: dict[str, str]
    qrels: Qrels
    answers: dict[str, str] | None = None
    # role -> {"path": resolved path, "sha256": hex}: recorded in results for provenance.
    files: dict[str, dict[str, str]] = field(default_factory=dict)
    # What loading did that a reader of the result should know (skipped rows, merged duplicates).
    notes: dict[str, object] = field(default_factory=dict)
