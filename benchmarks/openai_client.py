"""The one place that decides where OpenAI-style requests go, with which key, and how long to wait.

Used by the ``ada`` retriever and ``generate --backend openai`` (and so by e2e's generated answers);
``openai_retry`` is the one retry loop both run under a ``RetryPolicy`` from here.

Endpoint rule: the base URL is the CLI's (``generate --base-url``), else ``$OPENAI_BASE_URL``, else
api.openai.com. A suite file may name a ``base_url`` only for a host the user allowed on the
command line (``run --allow-endpoint HOST``): otherwise a shared suite could send the user's key
to any server. Key rule: the key is ``$OPENAI_API_KEY`` (``generate --api-key-env VAR`` may name
another variable, since the user types it); a suite can never choose the variable. Only OpenAI's own
host needs a key (``key_missing``); any other server is sent a placeholder.

Redaction: every key read here is registered, and ``redact`` blanks it out of any text that may
reach a terminal, log, record, cache or card: verbatim, in any letter case, percent-encoded, inside
base64 (``Authorization: Basic`` of ``user:key``, ``:key``, ``key:``), and URL userinfo.

This module imports no ``openai`` at load time: the CLI imports it for its log filter.
"""
from __future__ import annotations

import base64
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import quote, unquote, urlsplit

KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY_PLACEHOLDER = "sk-no-key-required"  # sent to keyless local servers: the client demands a key
REDACTED = "<redacted>"
MIN_SECRET = 4  # shorter strings are not keys and would blank out ordinary words

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@'\"<>]*@")
_B64 = "A-Za-z0-9+/=_-"


class RequestFailed(Exception):
    """A request failed after the policy's retries (message redacted): do not retry it again."""


# -- waiting -------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetryPolicy:
    """How long one request may take, retries included. ``max_wait_s`` bounds it all."""

    max_retries: int = 6  # retries after the first attempt
    backoff_base_s: float = 1.0  # first wait ~ base; doubles each retry
    backoff_max_s: float = 20.0  # cap on one backoff wait (LlamaIndex: 1-20 s)
    max_retry_after_s: float = 120.0  # cap on a server's Retry-After
    timeout_s: float = 120.0  # one attempt: no answer within this is a timeout
    connect_timeout_s: float = 10.0
    max_wait_s: float = 300.0  # one request, every attempt and wait included: then give up

    def backoff(self, retry: int, rng: Any) -> float:
        """Equal jitter: half the exponential delay fixed, half random (spreads concurrent clients)."""
        delay = min(self.backoff_max_s, self.backoff_base_s * (2 ** retry))
        return delay / 2 + rng.uniform(0, delay / 2)


def attempt_timeout(policy: RetryPolicy, seconds: float) -> Any:
    """The openai client's timeout for one attempt that may take at most ``seconds``."""
    import openai

    seconds = max(0.05, seconds)
    return openai.Timeout(seconds, connect=min(policy.connect_timeout_s, seconds))


# -- endpoint and key -------------------------------------------------------------------------
def host_of(url: str) -> str:
    """``host[:port]`` of a URL, lower-cased, without credentials."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def public_url(url: str) -> str:
    """``scheme://host[:port]/path`` without credentials, query or trailing slash: safe to record."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{host_of(url)}{parts.path.rstrip('/')}"


def base_url(cli_or_suite: str | None = None) -> str:
    """The endpoint to call: the one given (already allowed), else $OPENAI_BASE_URL, else OpenAI's."""
    url = cli_or_suite or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    register_secret(unquote(urlsplit(url).password or ""))
    return url


def host_allowed(url: str, allowed: Iterable[str]) -> bool:
    """True when ``--allow-endpoint`` named this URL's host (any port) or its host:port."""
    host = host_of(url)
    names = {a.strip().lower().rstrip("/") for a in allowed}
    return host in names or host.rsplit(":", 1)[0] in names


def suite_endpoint_problems(suite_base_url: str | None, key_env: str | None,
                            allowed: Iterable[str]) -> list[str]:
    """What a suite may not choose: a key variable, or an endpoint the CLI did not allow."""
    problems = []
    if key_env is not None and key_env != KEY_ENV:
        problems.append(f"api_key_env cannot be set in a suite (it would choose which environment "
                        f"variable is sent as a key); the key is always ${KEY_ENV}")
    if suite_base_url and not host_allowed(suite_base_url, allowed):
        host = host_of(redact(suite_base_url)) or "?"
        problems.append(f"base_url points at {host}, which the command line did not allow; "
                        f"pass --allow-endpoint {host.rsplit(':', 1)[0]} if you trust it with your key, "
                        f"or drop base_url and set ${BASE_URL_ENV}")
    return problems


def read_key(env_var: str = KEY_ENV) -> str | None:
    """The key from the environment (registered for redaction), or None when unset."""
    key = os.environ.get(env_var) or None
    if key:
        register_secret(key)
    return key


def key_missing(url: str, key: str | None) -> bool:
    """OpenAI's own API needs a key; any other server may be keyless (it gets the placeholder)."""
    return not key and (urlsplit(url).hostname or "").lower() == urlsplit(DEFAULT_BASE_URL).hostname


def make_client(url: str, key: str | None, policy: RetryPolicy) -> Any:
    """The openai client; it never retries itself (``call_with_retries`` does, within the policy)."""
    import openai

    return openai.OpenAI(api_key=key or NO_KEY_PLACEHOLDER, base_url=url, max_retries=0,
                         timeout=attempt_timeout(policy, policy.timeout_s))


# -- redaction --------------------------------------------------------------------------------
def register_secret(secret: str | None) -> None:
    if secret and len(secret) >= MIN_SECRET and secret != NO_KEY_PLACEHOLDER:
        with _secrets_lock:
            _secrets.add(secret)


def _secrets_now(extra: Iterable[str | None]) -> list[str]:
    register_secret(os.environ.get(KEY_ENV))
    with _secrets_lock:
        found = set(_secrets)
    found.update(s for s in extra if s and len(s) >= MIN_SECRET)
    return sorted(found, key=len, reverse=True)


def _base64_cores(secret: str) -> set[str]:
    """Base64 runs that appear whenever ``secret`` is base64-encoded after any prefix.

    The key starts at some offset inside the encoded bytes (``user:`` before it, say); for each
    of the three offsets mod 3, the 3-byte groups lying wholly inside the key encode to a fixed
    string. Finding one of them marks the whole surrounding base64 token as secret.
    """
    raw, cores = secret.encode("utf-8"), set()
    for skip in range(3):
        part = raw[skip:]
        part = part[: len(part) // 3 * 3]
        if len(part) >= 6:
            encoded = base64.b64encode(part).decode("ascii")
            cores.update({encoded, encoded.replace("+", "-").replace("/", "_")})
    return cores


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every registered key (and ``secrets``) blanked out, and URL userinfo removed."""
    if not text:
        return text
    text = _USERINFO.sub(lambda m: m.group(1) + REDACTED + "@", text)
    for secret in _secrets_now(secrets):
        for form in {secret, quote(secret, safe="")}:
            text = re.sub(re.escape(form), REDACTED, text, flags=re.IGNORECASE)
        for core in _base64_cores(secret):
            if core in text:
                text = re.sub(f"[{_B64}]*{re.escape(core)}[{_B64}]*", REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter: no log line (or logged traceback) carries a key."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: let the handler report it as logging does
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of ``logger`` (default: root), once."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
