"""Generator inputs for e2e training: the DALM text, its tokens, and where the answer starts.

DALM (DLe) builds ``#query# {q} #passage# {p} #answer# {a}`` from strings that already carry
the retriever prefixes, so the text reads ``#query# #query# q #passage# #passage# p ...``; it
right-truncates the whole text to the generator length (the answer goes first); and it takes
the answer start n_i from a separate tokenization of ``... #answer# `` with a Llama tokenizer
set to add_eos_token=True, so n_i counts that EOS (and, for BPE vocabularies, the trailing
space as its own token) and the first answer token(s) are treated as prompt.

Fixed by default, each with a switch back to DALM:
- single prefixes (``faithful_double_prefix``);
- the answer start comes from the offsets of the jointly tokenized text: the first token that
  covers any answer character (``faithful_answer_start`` recomputes DALM's n_i);
- ``truncation="passage"`` shortens the passage so the answer (capped at ``answer_max_tokens``)
  and its EOS always fit; ``"right"`` is DALM's cut at the end.
Every sequence ends with EOS (DALM's add_eos_token) so the generator learns where answers stop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from benchmarks.training.encode import PASSAGE_PREFIX, QUERY_PREFIX


@dataclass(frozen=True)
class TextOptions:
    max_len: int = 192
    faithful_double_prefix: bool = False
    faithful_answer_start: bool = False
    truncation: Literal["passage", "right"] = "passage"
    answer_max_tokens: int | None = 64  # only with truncation="passage"


@dataclass(frozen=True)
class Encoded:
    ids: list[int]  # ends with EOS unless right-truncated away
    answer_start: int  # index of the first token counted as answer (n_i)
    passage_cut: bool  # the passage was shortened to fit


def generator_prompt(query: str, passage: str, double_prefix: bool) -> str:
    """Everything before the answer, ending in ``#answer# `` as in DALM's query_passage_text."""
    if double_prefix:  # DALM formats the already-prefixed retriever strings
        query, passage = QUERY_PREFIX + query, PASSAGE_PREFIX + passage
    return f"#query# {query} #passage# {passage} #answer# "


def _tokens(tok: Any, text: str) -> tuple[list[int], list[tuple[int, int]] | None]:
    """Ids without special tokens, and character offsets when the tokenizer can give them."""
    if getattr(tok, "is_fast", False):
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
    return list(tok(text, add_special_tokens=False)["input_ids"]), None


def truncate_text(tok: Any, text: str, keep: int) -> str:
    """The longest prefix of ``text`` that is at most ``keep`` tokens (cut at a token boundary)."""
    ids, offsets = _tokens(tok, text)
    if len(ids) <= keep:
        return text
    if keep <= 0:
        return ""
    return text[:offsets[keep - 1][1]] if offsets is not None else tok.decode(ids[:keep])


def tokenize_pair(tok: Any, prompt: str, answer: str) -> tuple[list[int], int]:
    """Ids of prompt + answer (with the tokenizer's own BOS if it adds one) + EOS, and the
    index of the first answer token."""
    eos = tok.eos_token_id
    if getattr(tok, "is_fast", False):
        enc = tok(prompt + answer, return_offsets_mapping=True)
        ids, offsets = list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]
        if ids and ids[-1] == eos and offsets[-1] == (0, 0):
            ids.pop()  # a tokenizer that appends EOS itself: we append exactly one below
            offsets.pop()
        cut = len(prompt)
        # Joint tokenization can merge the space before the answer into its first token
        # ("Ġan" spans the space): a token belongs to the answer if it covers any answer char.
        start = next((i for i, (_a, b) in enumerate(offsets) if b > cut), len(ids))
    else:  # slow tokenizers have no offsets: tokenize the two parts separately
        ids = list(tok(prompt.rstrip(" "))["input_ids"])
        if ids and ids[-1] == eos:
            ids.pop()
        start = len(ids)
        ids += list(tok(" " + answer, add_special_tokens=False)["input_ids"])
    return ids + [eos], start


def dalm_answer_start(tok: Any, prompt: str) -> int:
    """DALM's n_i: length of the separately tokenized ``... #answer# `` plus the EOS its
    add_eos_token=True tokenizer appends (counted once, if this tokenizer did not add it)."""
    ids = list(tok(prompt)["input_ids"])
    return len(ids) + (0 if ids and ids[-1] == tok.eos_token_id else 1)


def encode_row(tok: Any, query: str, passage: str, answer: str, opts: TextOptions) -> Encoded:
    if opts.truncation == "passage" and opts.answer_max_tokens is not None:
        answer = truncate_text(tok, answer, opts.answer_max_tokens)
    cut = False
    # Re-tokenizing the joined text can differ by a token from the parts, so shorten the
    # passage by the measured excess and check again (converges in one or two rounds).
    for _ in range(8):
        prompt = generator_prompt(query, passage, opts.faithful_double_prefix)
        ids, start = tokenize_pair(tok, prompt, answer)
        excess = len(ids) - opts.max_len
        if excess <= 0 or opts.truncation == "right" or not passage:
            break
        passage = truncate_text(tok, passage, len(_tokens(tok, passage)[0]) - excess)
        cut = True
    if opts.faithful_answer_start:
        start = dalm_answer_start(tok, prompt)  # untruncated, as DALM's preprocess_dataset
    return Encoded(ids[:opts.max_len], start, cut)


def collate(tok: Any, rows: list[Encoded], device: str) -> dict[str, Any]:
    """Right-padded input_ids (pad id = tokenizer's pad, DALM: eos), attention mask, n_i."""
    import torch

    length = max(len(r.ids) for r in rows)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r.ids)] = torch.tensor(r.ids)
        mask[i, :len(r.ids)] = 1
    start = torch.tensor([r.answer_start for r in rows], dtype=torch.long)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "answer_start": start.to(device)}
