"""Token counting, truncation and request packing for OpenAI-style embedding APIs.

OpenAI's limits (shared/docs/retrievers.md §1): at most 2048 inputs per request, 8191 tokens per
input (cl100k_base), 300,000 tokens per request, and no empty strings. Tokens are counted with
tiktoken when it and its BPE file are available. tiktoken downloads that file on first use, which
fails offline; then the counter falls back to a conservative estimate (characters / 3, where
cl100k averages about 4 characters per token on English prose) and says so in ``describe()``.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Sequence

from benchmarks.errors import ConfigError

_ENCODINGS: dict[str, Any] = {}  # encoding name -> tiktoken Encoding, or the Exception it raised
_ENCODINGS_LOCK = threading.Lock()


def _load_encoding(name: str, timeout_s: float) -> Any:
    """tiktoken encoding, loaded once per process; bounded in time (its download has no timeout)."""
    with _ENCODINGS_LOCK:
        if name not in _ENCODINGS:
            box: list[Any] = [TimeoutError(f"loading tiktoken {name!r} took over {timeout_s:g} s")]

            def load() -> None:
                try:
                    import tiktoken

                    box[0] = tiktoken.get_encoding(name)
                except Exception as exc:  # ImportError, no network, corrupt cache: all mean "estimate"
                    box[0] = exc

            thread = threading.Thread(target=load, daemon=True)
            thread.start()
            thread.join(timeout_s)
            _ENCODINGS[name] = box[0]
        return _ENCODINGS[name]


def encoding_name_for(model: str) -> str:
    """tiktoken's encoding for an OpenAI model; cl100k_base for anything it does not know."""
    try:
        from tiktoken.model import encoding_name_for_model

        return encoding_name_for_model(model)
    except Exception:  # not installed, or a local model name
        return "cl100k_base"


class TokenCounter:
    """Counts and truncates by tokens: tiktoken when usable, else an estimate from characters."""

    def __init__(self, mode: str, encoding: str, model: str, chars_per_token: float,
                 load_timeout_s: float = 10.0) -> None:
        self.encoding_name = encoding_name_for(model) if encoding == "auto" else encoding
        self.chars_per_token = chars_per_token
        self.encoding: Any = None
        self.unavailable: str | None = None
        if mode != "estimate":
            loaded = _load_encoding(self.encoding_name, load_timeout_s)
            if isinstance(loaded, Exception):
                first_line = (str(loaded).splitlines() or [""])[0]
                self.unavailable = f"{type(loaded).__name__}: {first_line[:80]}".rstrip(": ")
                if mode == "tiktoken":
                    raise ConfigError(
                        f"token_counter='tiktoken' but tiktoken {self.encoding_name!r} is unavailable "
                        f"({self.unavailable}); pip install tiktoken and let it fetch its BPE file once "
                        "(or set TIKTOKEN_CACHE_DIR), or use token_counter='estimate'"
                    )
            else:
                self.encoding = loaded

    @property
    def exact(self) -> bool:
        return self.encoding is not None

    def describe(self) -> str:
        if self.exact:
            return f"tiktoken:{self.encoding_name}"
        why = f" (tiktoken unavailable: {self.unavailable})" if self.unavailable else ""
        return f"estimate:{self.chars_per_token:g} chars/token{why}"

    def count(self, text: str) -> int:
        if self.encoding is not None:
            return len(self.encoding.encode(text, disallowed_special=()))
        return max(1, math.ceil(len(text) / self.chars_per_token))

    def truncate(self, text: str, max_tokens: int) -> str:
        if self.encoding is not None:
            tokens = self.encoding.encode(text, disallowed_special=())
            return text if len(tokens) <= max_tokens else self.encoding.decode(tokens[:max_tokens])
        return text[: int(max_tokens * self.chars_per_token)]


@dataclass
class Prepared:
    sent: list[str]  # what goes over the wire, per input text
    tokens: list[int]  # token count of each sent text (exact or estimated)
    truncated: int  # how many texts were cut to the per-input limit
    emptied: int  # how many empty texts were sent as a single space


def prepare_texts(texts: Sequence[str], counter: TokenCounter, *, max_tokens_per_input: int,
                  on_too_long: str, replace_newlines: bool) -> Prepared:
    """Apply the parity/limit rules to each text: newline replacement, no empties, truncation."""
    sent: list[str] = []
    tokens: list[int] = []
    truncated = emptied = 0
    memo: dict[str, tuple[str, int]] = {}
    for index, original in enumerate(texts):
        if original in memo:
            text, n = memo[original]
        else:
            text = original.replace("\n", " ") if replace_newlines else original
            if not text:
                text, emptied = " ", emptied + 1  # the API rejects "", and " " embeds as nothing
            n = counter.count(text)
            if n > max_tokens_per_input:
                if on_too_long == "error":
                    raise ValueError(
                        f"text #{index} has {n} tokens ({counter.describe()}), over max_tokens_per_input="
                        f"{max_tokens_per_input}; set on_too_long='truncate' to cut it"
                    )
                text = counter.truncate(text, max_tokens_per_input)
                n = min(counter.count(text), max_tokens_per_input)
                truncated += 1
            memo[original] = (text, n)
        sent.append(text)
        tokens.append(n)
    return Prepared(sent, tokens, truncated, emptied)


def pack_requests(texts: Sequence[str], tokens: Sequence[int], *, max_inputs: int,
                  max_tokens: int) -> list[list[int]]:
    """Greedy, order-preserving split into requests within the input-count and token limits.

    Returns lists of positions into ``texts``. A single text over ``max_tokens`` still gets a
    request of its own (the per-input limit, checked earlier, is the stricter one in practice).
    """
    batches: list[list[int]] = []
    current: list[int] = []
    current_tokens = 0
    for pos, n in enumerate(tokens):
        if current and (len(current) >= max_inputs or current_tokens + n > max_tokens):
            batches.append(current)
            current, current_tokens = [], 0
        current.append(pos)
        current_tokens += n
    if current:
        batches.append(current)
    return batches
