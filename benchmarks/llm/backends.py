"""Generator backends: any OpenAI-compatible chat endpoint, or a local transformers model.

Both take chat messages and return the reply text. ``identity`` is what the cache key and the
dataset card record about the model: for the local backend the sha256 of its weight file(s), for
an endpoint the base URL and model name (the server's own model string is logged per run).

The offline default ``smollm2`` is SmolLM2-135M-Instruct (see ``benchmarks.llm.models``).

Example:
    >>> backend = make_backend("local", BackendOptions(model="smollm2", threads=1))
    >>> backend.chat([{"role": "user", "content": "Hi"}], Sampling(max_new_tokens=8), seed=0)
"""
from __future__ import annotations

import logging
import os
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from benchmarks.errors import HarnessError
from benchmarks.llm.models import SMOLLM2, local_model
from benchmarks.openai_client import (
    KEY_ENV, RequestFailed, RetryPolicy, attempt_timeout, base_url, key_missing, make_client, public_url,
    read_key, redact,
)

log = logging.getLogger("harness.generate")
Messages = list[dict[str, str]]
StopFn = Callable[[str], bool]


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0


@dataclass(frozen=True)
class BackendOptions:
    model: str | None = None
    base_url: str | None = None
    api_key_env: str = KEY_ENV  # the CLI's --api-key-env: the user names it, never a suite
    threads: int | None = None
    timeout_s: float = 120.0  # one attempt
    max_wait_s: float = 300.0  # one reply, every retry included: then the server counts as gone


class Backend(Protocol):
    identity: dict[str, str]

    def chat(self, messages: Messages, sampling: Sampling, seed: int, stop: StopFn | None = None) -> str:
        """The reply to ``messages``; ``stop(text_so_far)`` may end decoding early."""
        ...


class _TextStop:
    """A transformers StoppingCriteria that decodes the new tokens and asks ``stop``."""

    def __init__(self, tokenizer: Any, prompt_len: int, stop: StopFn):
        self.tokenizer, self.prompt_len, self.stop = tokenizer, prompt_len, stop

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        text = self.tokenizer.decode(input_ids[0, self.prompt_len:], skip_special_tokens=True)
        return torch.full((input_ids.shape[0],), self.stop(text), dtype=torch.bool, device=input_ids.device)


class LocalBackend:
    """A causal LM run with transformers on CPU (or GPU when present), one prompt at a time."""

    def __init__(self, options: BackendOptions):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if options.threads:
            # On a busy 2-core machine one thread was ~5x faster than two (less OpenMP contention).
            torch.set_num_threads(options.threads)
        name = options.model or SMOLLM2
        path, identity = local_model(options.model)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        if not getattr(self.tokenizer, "chat_template", None):
            raise HarnessError(f"model {name} has no chat template; use an instruction-tuned model")
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)
        if "model_sha256" not in identity:
            identity["revision"] = str(getattr(self.model.config, "_commit_hash", None))
        self.identity = {"backend": "transformers", **identity}

    def chat(self, messages: Messages, sampling: Sampling, seed: int, stop: StopFn | None = None) -> str:
        import torch
        from transformers import StoppingCriteriaList

        enc = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                 return_dict=True).to(self.device)
        prompt_len = enc["input_ids"].shape[1]
        pad = self.tokenizer.pad_token_id
        kwargs: dict[str, Any] = {"max_new_tokens": sampling.max_new_tokens,
                                  "pad_token_id": self.tokenizer.eos_token_id if pad is None else pad}
        if sampling.temperature > 0:
            torch.manual_seed(seed)  # per item, so an item's output does not depend on run order
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            kwargs.update(do_sample=False)
        if stop is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_TextStop(self.tokenizer, prompt_len, stop)])
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        return self.tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True)


class OpenAIBackend:
    """Chat completions on an OpenAI-compatible server (OpenAI, vLLM, llama.cpp, Ollama, ...).

    Endpoint, key, retries and redaction are ``benchmarks.openai_client``'s, as for ``ada``:
    every text that leaves here (errors, warnings, replies, the served model name) is redacted,
    because replies are cached and written into datasets and cards.
    """

    def __init__(self, options: BackendOptions):
        model = options.model or os.environ.get("HARNESS_GEN_MODEL")
        if not model:
            raise HarnessError("the openai backend needs a model: pass --model NAME or set HARNESS_GEN_MODEL")
        url = base_url(options.base_url)
        key = read_key(options.api_key_env)
        if key_missing(url, key):
            raise HarnessError(f"no API key: set {options.api_key_env} (or --api-key-env VAR), "
                               f"or point --base-url at a local server")
        self.policy = RetryPolicy(timeout_s=min(options.timeout_s, options.max_wait_s),
                                  max_wait_s=options.max_wait_s)
        self.client = make_client(url, key, self.policy)
        self.key_env = options.api_key_env
        self.identity = {"backend": "openai-chat", "model": model, "base_url": public_url(url)}
        self.served_models: set[str] = set()  # what the server says it ran (e.g. a dated snapshot)
        self._rng = random.Random()

    def chat(self, messages: Messages, sampling: Sampling, seed: int, stop: StopFn | None = None) -> str:
        from benchmarks.openai_retry import GiveUp, Pacer, call_with_retries, is_refusal, is_unreachable

        def attempt(timeout_s: float) -> Any:
            return self.client.chat.completions.create(
                model=self.identity["model"], messages=messages,  # type: ignore[arg-type]
                max_tokens=sampling.max_new_tokens, temperature=sampling.temperature,
                top_p=sampling.top_p, seed=seed, timeout=attempt_timeout(self.policy, timeout_s))

        def on_retry(reason: str, wait_s: float) -> None:
            log.warning("%s: %s; retrying in %.1f s", where, redact(reason), wait_s)

        where = f"POST {self.identity['base_url']}/chat/completions (model {self.identity['model']!r})"
        try:
            response, _ = call_with_retries(attempt, self.policy, Pacer(threading.Event()), self._rng,
                                            on_retry=on_retry)
        except GiveUp as exc:
            if is_refusal(exc.reason):  # a bad key or an unknown model: stop with the server's words
                raise HarnessError(redact(f"{where} was refused: {exc.reason} (check ${self.key_env} "
                                          f"and --model)")) from None
            if is_unreachable(exc.reason):  # every further item would wait as long: stop the run
                raise HarnessError(redact(
                    f"{where}: {exc.reason}. Finished items are cached: run the same command again "
                    f"to resume (--max-wait-s sets the bound)")) from None
            raise RequestFailed(redact(f"{where} failed after {exc.attempts} attempt(s): "
                                       f"{exc.reason}")) from None
        if response.model:
            self.served_models.add(redact(response.model))
        return redact(response.choices[0].message.content or "")


BACKENDS: dict[str, Callable[[BackendOptions], Backend]] = {"local": LocalBackend, "openai": OpenAIBackend}


def make_backend(name: str, options: BackendOptions) -> Backend:
    if name not in BACKENDS:
        raise HarnessError(f"unknown generator backend {name!r}; known: {', '.join(sorted(BACKENDS))}")
    return BACKENDS[name](options)
