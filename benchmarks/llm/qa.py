"""Questions per chunk and answers per (question, passage), cached item by item.

Parsing follows LlamaIndex's ``generate_qa_embedding_pairs`` exactly: strip the reply, split it
into lines, remove one leading ``\\d+`` followed by ``.``, ``)`` or whitespace from each line, strip,
drop blank lines, keep the first N. Its quirks come along: ``Question 1: ...`` is kept whole, and
a question starting with a number loses it ("2021 revenue ..." -> "revenue ..."). Like LlamaIndex,
a call is tried 3 times and then, by default, skipped (the chunk stays in the corpus with no
question). Unlike LlamaIndex, ids are deterministic (``<chunk id>-q<j>``) instead of uuid4, so a
repeated run writes the same file.

``dalm_filter`` is DALM qa-gen's question filter, off by default: drop questions of fewer than 5
words, starting with ``<``, or containing "question", "answer" or "instruction".
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tqdm.auto import tqdm

from benchmarks.artifacts import canonical_sha256
from benchmarks.errors import HarnessError
from benchmarks.llm.backends import Backend, Sampling
from benchmarks.llm.cache import OutputCache
from benchmarks.llm.prompts import Prompt
from benchmarks.openai_client import RequestFailed, redact

log = logging.getLogger("harness.generate")
NUMBERING = re.compile(r"^\d+[\).\s]")  # LlamaIndex's pattern, unchanged
RETRIES = 3


class Chunk(Protocol):
    """A passage to ask questions about (``benchmarks.generate.pdf.Chunk`` is one)."""

    id: str
    text: str


def parse_questions(reply: str, n: int) -> list[str]:
    lines = (NUMBERING.sub("", line).strip() for line in reply.strip().split("\n"))
    return [line for line in lines if line][:n]


def has_n_questions(n: int) -> Callable[[str], bool]:
    """Stop test for decoding: true once the reply holds ``n`` complete non-blank question lines.

    Greedy decoding is prefix-stable, so stopping here yields exactly what ``parse_questions``
    would keep from the full reply; it only saves the tokens after the N-th newline.
    """
    def done(text: str) -> bool:
        complete = text.lstrip().split("\n")[:-1]  # the last piece has no newline yet
        return sum(1 for line in complete if NUMBERING.sub("", line).strip()) >= n
    return done


def dalm_filter(question: str) -> bool:
    low = question.lower()
    return (len(question.split()) >= 5 and not question.startswith("<")
            and not any(word in low for word in ("question", "answer", "instruction")))


def parse_answer(reply: str) -> str:
    # Small models often add a second paragraph of commentary; the answer is the first one.
    return " ".join(reply.strip().split("\n\n")[0].split())


@dataclass
class Stats:
    from_cache: int = 0
    generated: int = 0
    failed: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.from_cache + self.generated, "from_cache": self.from_cache,
                "generated": self.generated, "failed": self.failed,
                "generate_s": round(self.seconds, 1), "failed_items": self.failures[:20]}


def item_seed(run_seed: int, key: str) -> int:
    # Derived from the item, not the position, so a resumed run samples the same way.
    return int(canonical_sha256([run_seed, key])[:8], 16)


def _call(backend: Backend, messages: list[dict[str, str]], sampling: Sampling, seed: int,
          stop: Callable[[str], bool] | None, label: str) -> str | None:
    for attempt in range(1, RETRIES + 1):
        try:
            return backend.chat(messages, sampling, seed, stop)
        except (HarnessError, KeyboardInterrupt, MemoryError):
            raise
        except RequestFailed as exc:  # the backend already retried within its time bound
            log.warning("generation failed for %s: %s", label, exc)
            return None
        except Exception as exc:  # network errors, server 5xx, malformed replies: retry like LlamaIndex
            log.warning("generation failed for %s (attempt %d/%d): %s", label, attempt, RETRIES,
                        redact(str(exc)))
    return None


Item = tuple[str, dict[str, Any], list[dict[str, str]]]  # (id, inputs for the cache key, messages)


def _run(items: Sequence[Item], backend: Backend, cache: OutputCache, sampling: Sampling, seed: int,
         stop: Callable[[str], bool] | None, on_failure: str, progress: bool,
         desc: str) -> tuple[dict[str, str], Stats]:
    """Replies per item id: cached ones first, the rest generated and cached as each completes."""
    import time

    stats, replies = Stats(), {}
    todo = []
    for item_id, inputs, messages in items:
        key = cache.key(inputs)
        cached = cache.get(key)
        if cached is not None:
            replies[item_id] = cached
            stats.from_cache += 1
        else:
            todo.append((item_id, key, messages))
    if stats.from_cache:
        log.info("%s: %d of %d taken from the cache (%s)", desc, stats.from_cache, len(items), cache.path)
    start = time.monotonic()
    with tqdm(total=len(items), initial=stats.from_cache, desc=desc, disable=not progress,
              unit="item") as bar:
        for item_id, key, messages in todo:
            reply = _call(backend, messages, sampling, item_seed(seed, key), stop, item_id)
            if reply is None:
                if on_failure == "fail":
                    raise HarnessError(f"generation failed {RETRIES} times for {item_id}; see the warnings "
                                       f"above. Finished items are cached: run the same command to resume")
                stats.failed += 1
                stats.failures.append(item_id)
            else:
                cache.put(key, reply, item=item_id)
                replies[item_id] = reply
                stats.generated += 1
            bar.update(1)
    stats.seconds = time.monotonic() - start
    return replies, stats


def job(kind: str, backend: Backend, prompt: Prompt, sampling: Sampling, seed: int,
        **extra: Any) -> dict[str, Any]:
    """What makes two outputs comparable: the cache partition and the card's generator record."""
    return {"kind": kind, "generator": backend.identity, "prompt_sha256": prompt.sha256,
            "sampling": vars(sampling), "seed": seed, **extra}


def generate_questions(chunks: Sequence[Chunk], n: int, backend: Backend, prompt: Prompt, sampling: Sampling,
                       seed: int = 0, on_failure: str = "continue", question_filter: str = "none",
                       progress: bool = True) -> tuple[dict[str, list[str]], Stats, dict[str, Any]]:
    """Questions per chunk id (chunks whose call failed are absent), stats, and the job record."""
    spec = job("questions", backend, prompt, sampling, seed, n=n)
    cache = OutputCache.for_job(spec)
    items = [(c.id, {"context": c.text}, prompt.messages(context=c.text, n=n)) for c in chunks]
    replies, stats = _run(items, backend, cache, sampling, seed, has_n_questions(n), on_failure, progress,
                          "questions")
    questions = {}
    for chunk_id, reply in replies.items():
        parsed = parse_questions(reply, n)
        questions[chunk_id] = [q for q in parsed if dalm_filter(q)] if question_filter == "dalm" else parsed
    return questions, stats, spec


def generate_answers(pairs: Sequence[tuple[str, str, str]], backend: Backend, prompt: Prompt,
                     sampling: Sampling, seed: int = 0, on_failure: str = "continue",
                     progress: bool = True) -> tuple[dict[str, str], Stats, dict[str, Any]]:
    """Answers per item id for (id, question, passage) triples; failed items are absent."""
    spec = job("answers", backend, prompt, sampling, seed)
    cache = OutputCache.for_job(spec)
    items = [(item_id, {"context": passage, "question": question},
              prompt.messages(context=passage, question=question)) for item_id, question, passage in pairs]
    replies, stats = _run(items, backend, cache, sampling, seed, None, on_failure, progress, "answers")
    return {item_id: parse_answer(reply) for item_id, reply in replies.items()}, stats, spec
