"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests, benchmarks and config checks.

It speaks the parts of the OpenAI protocol intersyn uses — ``POST /v1/chat/completions``,
``POST /v1/images/generations`` and ``GET /v1/models`` — with configurable latency, capacity
(at most ``capacity`` requests are served at once; the rest queue), injected faults and
scripted or rule-based replies. It runs Starlette under uvicorn in a background thread::

    with ScriptedServer(latency_s=0.05, faults=Faults(rate_429=0.1, seed=3)) as srv:
        client = AsyncOpenAI(base_url=srv.base_url, api_key="unused")
        ...
        assert srv.requests[0]["model"] == "scripted"

Default replies: a request carrying a JSON schema (``response_format`` json_schema, a
llama.cpp-style ``json_object`` with ``schema``, vLLM's ``guided_json``, or — the plain
fallback of a client whose ``response_format`` was refused — a schema written after the words
"JSON schema" in its last user message) gets a valid instance of that schema; any other
request gets an echo of its last user message. A
``responder`` — a callable ``(request_json) -> str | None`` or a list of strings consumed in
order — scripts the replies; ``None`` (or an exhausted list) falls back to the default.

This is a test double: it is never a default backend of the product.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from intersyn.testing.schema_instance import schema_instance

Responder = Callable[[dict[str, Any]], "str | None"]

#: Fault kinds a request may be given, in the order their rates are drawn.
FAULT_KINDS = ("429", "500", "503", "hang", "truncated", "malformed", "refusal", "bad_json")
REFUSAL_TEXT = "I'm sorry, but I can't help with that request."


@dataclass
class Faults:
    """Faults injected into chat and image requests.

    Each request (in arrival order) draws at most one fault from the rates, deterministically
    from ``seed``; ``sequence`` overrides the draw for the first requests (``None`` = no fault).

    - ``429``: HTTP 429 with ``Retry-After: retry_after_s``;
    - ``500`` / ``503``: HTTP server errors;
    - ``hang``: no reply for ``hang_s`` seconds (past any sane client timeout), then 503;
    - ``truncated``: the reply text is cut in half, ``finish_reason: length``;
    - ``malformed``: HTTP 200 whose body is not JSON;
    - ``refusal``: the model declines (``message.refusal`` set, refusal text as content);
    - ``bad_json``: HTTP 200, ``finish_reason: stop``, but the reply text stops two thirds of
      the way through (malformed JSON for a structured request, a server that says nothing).

    ``reject_response_format`` makes the server answer HTTP 400 to any request carrying
    ``response_format`` (like servers without constrained decoding); ``reject_json_schema``
    only to ``response_format`` of type ``json_schema`` (like llama.cpp's Python server,
    which takes ``{"type": "json_object", "schema": …}``).
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_hang: float = 0.0
    rate_truncated: float = 0.0
    rate_malformed: float = 0.0
    rate_refusal: float = 0.0
    rate_bad_json: float = 0.0
    retry_after_s: float = 0.1
    hang_s: float = 3600.0
    seed: int = 0
    sequence: Sequence[str | None] = ()
    reject_response_format: bool = False
    reject_json_schema: bool = False


@dataclass
class ServerStats:
    """What the server saw: requests served, faults injected, peak concurrency."""

    served: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    peak_concurrency: int = 0
    in_flight: int = 0


class ScriptedServer:
    """An OpenAI-compatible server on 127.0.0.1 in a background thread (a context manager)."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        capacity: int = 64,
        faults: Faults | None = None,
        responder: Responder | Sequence[str] | None = None,
        model: str = "scripted",
        host: str = "127.0.0.1",
        port: int = 0,
        record_requests: bool = True,
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.latency_s = latency_s
        self.capacity = capacity
        self.faults = faults or Faults()
        self.model = model
        self.host = host
        self.port = port
        self.record_requests = record_requests
        #: Every request body received (chat and images), in arrival order.
        self.requests: list[dict[str, Any]] = []
        #: The Authorization header of each recorded request ("" when absent), in memory only.
        self.auth: list[str] = []
        self.stats = ServerStats()
        self._responder = responder
        self._scripted: list[str] = (
            list(responder) if isinstance(responder, Sequence) and not callable(responder) else []
        )
        self._lock = threading.Lock()
        self._count = 0
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._sem: asyncio.Semaphore | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in ``/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ScriptedServer:
        """Bind, start serving in a thread, and return when the server accepts requests."""
        import uvicorn

        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when the
        # protocol is explicit, and without it every reply stalls ~40 ms on delayed ACKs.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            loop="asyncio",
            backlog=4096,
            timeout_graceful_shutdown=1,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="scripted"
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"scripted server did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving: hanging requests are released, the thread is joined."""
        if self._server is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the app -----------------------------------------------------------------------------

    def app(self) -> Any:
        """The Starlette application (usable on its own, e.g. behind another server)."""
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/images/generations", self._images, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/health", self._health, methods=["GET"]),
            ]
        )

    def _ensure_loop_state(self) -> None:
        if self._sem is None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._sem = asyncio.Semaphore(self.capacity)

    def _refuses_format(self, body: dict[str, Any]) -> str | None:
        fmt = body.get("response_format")
        if not fmt:
            return None
        if self.faults.reject_response_format:
            return "response_format is not supported by this server"
        if self.faults.reject_json_schema and (
            isinstance(fmt, dict) and fmt.get("type") == "json_schema"
        ):
            return "response_format type json_schema is not supported (use json_object)"
        return None

    def _next_fault(self) -> str | None:
        with self._lock:
            n = self._count
            self._count += 1
        f = self.faults
        if n < len(f.sequence):
            return f.sequence[n]
        draw = random.Random(f"{f.seed}:{n}").random()
        edge = 0.0
        for kind in FAULT_KINDS:
            edge += float(getattr(f, f"rate_{kind}"))
            if draw < edge:
                return kind
        return None

    async def _serve(self, request: Any, kind: str) -> Any:
        from starlette.responses import JSONResponse, Response

        self._ensure_loop_state()
        assert self._sem is not None and self._stop is not None
        raw = await request.body()
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return _error(400, "request body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        if self.record_requests:
            with self._lock:
                self.requests.append(body)
                self.auth.append(request.headers.get("authorization", ""))
        async with self._sem:
            self.stats.in_flight += 1
            self.stats.peak_concurrency = max(self.stats.peak_concurrency, self.stats.in_flight)
            try:
                if self.latency_s > 0:
                    await asyncio.sleep(self.latency_s)
                refusal = self._refuses_format(body) if kind == "chat" else None
                if refusal is not None:
                    self.stats.faults["reject_response_format"] += 1
                    return _error(400, refusal)
                fault = self._next_fault()
                if fault is not None:
                    self.stats.faults[fault] += 1
                if fault == "429":
                    return _error(
                        429,
                        "rate limited (scripted)",
                        headers={"Retry-After": f"{self.faults.retry_after_s:g}"},
                    )
                if fault in ("500", "503"):
                    return _error(int(fault), f"scripted server error {fault}")
                if fault == "hang":
                    try:
                        await asyncio.wait_for(self._stop.wait(), self.faults.hang_s)
                    except asyncio.TimeoutError:
                        pass
                    return _error(503, "scripted hang ended")
                if fault == "malformed":
                    return Response(
                        b'{"id": "x", "choices": [{"mess', media_type="application/json"
                    )
                self.stats.served += 1
                if kind == "images":
                    return JSONResponse(self._image_reply(body))
                return JSONResponse(self._chat_reply(body, fault))
            finally:
                self.stats.in_flight -= 1

    async def _chat(self, request: Any) -> Any:
        return await self._serve(request, "chat")

    async def _images(self, request: Any) -> Any:
        return await self._serve(request, "images")

    async def _models(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "owned_by": "intersyn-scripted"}],
            }
        )

    async def _health(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse({"status": "ok"})

    # -- replies -----------------------------------------------------------------------------

    def reply_text(self, body: dict[str, Any]) -> str:
        """The reply the server gives ``body`` (scripted, else the default rule)."""
        if self._scripted:
            with self._lock:
                if self._scripted:
                    return self._scripted.pop(0)
        if callable(self._responder):
            text = self._responder(body)
            if text is not None:
                return text
        return default_reply(body)

    def _chat_reply(self, body: dict[str, Any], fault: str | None) -> dict[str, Any]:
        refusal = None
        finish = "stop"
        if fault == "refusal":
            text, refusal = REFUSAL_TEXT, REFUSAL_TEXT
        else:
            text = self.reply_text(body)
        if fault == "truncated":
            text, finish = text[: len(text) // 2], "length"
        elif fault == "bad_json":
            text = text[: len(text) * 2 // 3]
        prompt_tokens = _approx_tokens(json.dumps(body.get("messages", [])))
        return {
            "id": "chatcmpl-scripted-" + hashlib.sha1(text.encode()).hexdigest()[:12],
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": refusal},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": _approx_tokens(text),
                "total_tokens": prompt_tokens + _approx_tokens(text),
            },
        }

    def _image_reply(self, body: dict[str, Any]) -> dict[str, Any]:
        size = str(body.get("size") or "256x256")
        try:
            w, h = (int(x) for x in size.lower().split("x"))
        except ValueError:
            w, h = 256, 256
        n = max(1, int(body.get("n") or 1))
        prompt = str(body.get("prompt", ""))
        seed = body.get("seed")
        data = [
            {"b64_json": base64.b64encode(solid_png(f"{prompt}|{seed}|{i}", w, h)).decode()}
            for i in range(n)
        ]
        return {"created": int(time.time()), "data": data}


def default_reply(body: dict[str, Any]) -> str:
    """The rule-based reply: a schema instance for structured requests, else an echo."""
    schema = request_schema(body)
    seed = int.from_bytes(
        hashlib.sha256(json.dumps(body.get("messages", []), sort_keys=True).encode()).digest()[:4],
        "big",
    )
    if schema is not None:
        return json.dumps(schema_instance(schema, seed=seed))
    fmt = body.get("response_format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return json.dumps({"reply": "scripted"})
    return "Scripted reply to: " + last_user_text(body)[:500]


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a chat request asks the reply to follow, if any."""
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_schema":
            spec = fmt.get("json_schema") or {}
            schema = spec.get("schema") if isinstance(spec, dict) else None
            if isinstance(schema, dict):
                return schema
        if fmt.get("type") == "json_object" and isinstance(fmt.get("schema"), dict):
            return dict(fmt["schema"])
    for key in ("guided_json",):
        value = body.get(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = None
        if isinstance(value, dict):
            return value
    structured = body.get("structured_outputs")
    if isinstance(structured, dict) and isinstance(structured.get("json"), dict):
        return dict(structured["json"])
    return prompt_schema(body)


def prompt_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """A JSON schema written into the last user message after the words "JSON schema".

    That is how a client asks a server without constrained decoding for JSON (the openai
    backend's fallback); the scripted server then answers like a model that complies.
    """
    text = last_user_text(body)
    at = text.rfind("JSON schema")
    start = text.find("{", at) if at >= 0 else -1
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict) and ("type" in value or "properties" in value):
        return value
    return None


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat request (text parts joined)."""
    for msg in reversed(body.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(
                    str(p.get("text", "")) for p in content if isinstance(p, dict)
                ).strip()
    return ""


def solid_png(key: str, width: int, height: int) -> bytes:
    """A PNG of one colour chosen from ``key`` (the scripted images endpoint's picture)."""
    from PIL import Image

    digest = hashlib.sha256(key.encode()).digest()
    img = Image.new("RGB", (max(1, width), max(1, height)), tuple(digest[:3]))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
    from starlette.responses import JSONResponse

    kind = "rate_limit_error" if status == 429 else "server_error"
    if status == 400:
        kind = "invalid_request_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "code": status}},
        status_code=status,
        headers=headers,
    )
