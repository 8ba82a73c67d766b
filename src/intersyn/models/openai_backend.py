"""OpenAI-compatible backends: chat (vLLM, SGLang, Ollama, llama.cpp's server, TGI, LM Studio,
OpenAI, Azure, OpenRouter, …) and image generation, through the official ``openai`` client.

One ``AsyncOpenAI`` client per endpoint, with the client's own retries off (the gate retries).
Errors become :class:`~intersyn.models.base.BackendError` with ``retryable`` set for 429, 5xx,
timeouts, connection errors and malformed replies.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from typing import Any

from intersyn.errors import ConfigError
from intersyn.models.base import BackendError, ChatMessage, ChatResult, PaintResult, Usage

log = logging.getLogger("intersyn.models")

#: Chat parameters the OpenAI client takes by name; any other parameter (top_k,
#: repetition_penalty, min_p, …) goes to the server in ``extra_body``.
CHAT_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "n",
        "user",
        "reasoning_effort",
        "logprobs",
        "top_logprobs",
    }
)
_RETRYABLE_STATUS = {408, 409, 425, 429}
#: What the client raises for a failed call: its own errors, and ValueError (JSON that does
#: not decode, a reply that does not validate) for malformed bodies.
_CLIENT_ERRORS: tuple[type[BaseException], ...] = (ValueError,)
try:
    import openai as _openai

    _CLIENT_ERRORS = (_openai.OpenAIError, ValueError)
except ImportError:  # pragma: no cover - openai is a core dependency
    pass
FALLBACK_NOTE = (
    "Reply with only a JSON object that follows this JSON schema, and nothing else:\n{schema}"
)


def image_data_url(data: bytes) -> str:
    """A ``data:`` URL for encoded image bytes (PNG, JPEG, WebP or GIF, sniffed)."""
    mime = "image/png"
    if data[:3] == b"\xff\xd8\xff":
        mime = "image/jpeg"
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        mime = "image/webp"
    elif data[:4] == b"GIF8":
        mime = "image/gif"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def to_openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Our messages as OpenAI chat messages; images become ``image_url`` parts."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if not m.images:
            out.append({"role": m.role, "content": m.content})
            continue
        parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
        parts += [{"type": "image_url", "image_url": {"url": image_data_url(b)}} for b in m.images]
        out.append({"role": m.role, "content": parts})
    return out


def schema_name(schema: dict[str, Any]) -> str:
    """A name for ``response_format.json_schema.name`` (letters, digits, ``_`` and ``-``)."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(schema.get("title") or "reply")).strip("_")
    return (name or "reply")[:64]


def retry_after(headers: Any) -> float | None:
    """Seconds from a Retry-After (or retry-after-ms) header, if any."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class _Clients:
    """One AsyncOpenAI client per endpoint, keyed by base URL."""

    def __init__(self, endpoints: list[str], api_key_env: str | None, timeout_s: float) -> None:
        if not endpoints:
            raise ConfigError("an openai backend needs base_url (or base_urls)")
        self.endpoints = endpoints
        self.api_key_env = api_key_env
        self.timeout_s = timeout_s
        self._clients: dict[str, Any] = {}
        self._secret: str | None = None

    def get(self, endpoint: str) -> Any:
        client = self._clients.get(endpoint)
        if client is None:
            import os

            from openai import AsyncOpenAI

            key = None
            if self.api_key_env:
                key = os.environ.get(self.api_key_env)
                if key is None:
                    raise ConfigError(
                        f"environment variable {self.api_key_env} (api_key_env) is not set; "
                        "export it before running"
                    )
            self._secret = key
            # Local servers ignore the key; the client insists on one.
            client = AsyncOpenAI(
                base_url=endpoint,
                api_key=key or "not-needed",
                max_retries=0,
                timeout=self.timeout_s,
            )
            self._clients[endpoint] = client
        return client

    def redact(self, text: str) -> str:
        """``text`` with the API key (if any) masked: error messages never carry it."""
        return text.replace(self._secret, "***") if self._secret else text

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def backend_error(exc: BaseException, endpoint: str, clients: _Clients) -> BackendError:
    """Map an exception of the openai client to a BackendError with the right retry policy."""
    import openai

    msg = clients.redact(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status >= 500 or status in _RETRYABLE_STATUS
        hint = ""
        if status in (401, 403):
            hint = f" (check the key in ${clients.api_key_env or 'api_key_env'})"
        elif status == 404:
            hint = " (check base_url and the model name)"
        return BackendError(
            msg + hint,
            retryable=retryable,
            status=status,
            retry_after_s=retry_after(exc.response.headers),
            endpoint=endpoint,
        )
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return BackendError(msg, retryable=True, endpoint=endpoint)
    # A reply that is not the JSON the protocol promises (a broken proxy, a cut connection).
    return BackendError(f"malformed reply: {msg}", retryable=True, endpoint=endpoint)


def is_format_refusal(error: BackendError) -> bool:
    """Whether a server refused the request's ``response_format`` (not a passing failure).

    HTTP 400/422 is a refusal; so is an error that names ``response_format``, whatever its
    status (llama-cpp-python's server answers an unknown format with HTTP 500).
    """
    return error.status in (400, 422) or (
        error.status is not None and "response_format" in str(error)
    )


class OpenAIChat:
    """Chat with any OpenAI-compatible endpoint; JSON schema via ``response_format``.

    ``structured_output``: ``auto`` sends ``response_format`` type ``json_schema``; if the
    server refuses it (HTTP 400/422) it tries llama.cpp's ``{"type": "json_object", "schema":
    …}``, and if that is refused too, falls back to plain output with the schema in the
    prompt, parsed by the caller — each step logged once per endpoint and remembered;
    ``json_schema`` / ``json_object`` send that form and fail on refusal; ``guided_json``
    uses vLLM's guided decoding (``extra_body={"guided_json": schema}``); ``off`` never
    constrains.
    """

    name = "openai"
    #: What ``auto`` tries, in order, for an endpoint that refuses the previous form.
    AUTO_STEPS = ("json_schema", "json_object", "fallback")

    def __init__(
        self,
        model: str,
        endpoints: list[str],
        *,
        api_key_env: str | None = None,
        params: dict[str, Any] | None = None,
        structured_output: str = "auto",
        vision: bool = False,
        timeout_s: float = 120.0,
    ) -> None:
        self.model = model
        self.vision = vision
        self.params = dict(params or {})
        self.structured_output = structured_output
        self._clients = _Clients(list(endpoints), api_key_env, timeout_s)
        self.endpoints = self._clients.endpoints
        #: For ``auto``: the structured form each endpoint accepted (index into AUTO_STEPS).
        self._auto_step: dict[str, int] = {}

    async def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        timeout_s: float | None = None,
        endpoint: str | None = None,
    ) -> ChatResult:
        endpoint = endpoint or self.endpoints[0]
        if schema is None:
            return await self._create(messages, None, params, seed, timeout_s, endpoint, "off")
        if self.structured_output != "auto":
            mode = self.structured_output
            return await self._create(messages, schema, params, seed, timeout_s, endpoint, mode)
        while True:
            step = self._auto_step.get(endpoint, 0)
            mode = self.AUTO_STEPS[step]
            try:
                return await self._create(messages, schema, params, seed, timeout_s, endpoint, mode)
            except BackendError as e:
                if mode == "fallback" or not is_format_refusal(e):
                    raise
                self._step_down(endpoint, step, str(e))

    def _step_down(self, endpoint: str, step: int, why: str) -> None:
        if self._auto_step.get(endpoint, 0) != step:
            return  # a concurrent call already moved this endpoint on
        self._auto_step[endpoint] = step + 1
        nxt = self.AUTO_STEPS[step + 1]
        what = (
            "trying response_format json_object with the schema (llama.cpp style)"
            if nxt == "json_object"
            else "falling back to plain output with the schema in the prompt, parsed by the caller"
        )
        log.warning(
            "%s (model %s) refused response_format %s: %s — %s (said once per endpoint)",
            endpoint,
            self.model,
            self.AUTO_STEPS[step],
            why[:300],
            what,
        )

    def request_kwargs(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any] | None,
        params: dict[str, Any] | None,
        seed: int | None,
        mode: str,
    ) -> dict[str, Any]:
        """The keyword arguments for ``chat.completions.create`` (without timeout)."""
        merged = {**self.params, **(params or {})}
        kwargs: dict[str, Any] = {k: v for k, v in merged.items() if k in CHAT_PARAMS}
        extra = {k: v for k, v in merged.items() if k not in CHAT_PARAMS and k != "seed"}
        if seed is not None or "seed" in merged:
            kwargs["seed"] = seed if seed is not None else merged["seed"]
        wire = to_openai_messages(messages)
        if schema is not None and mode in ("auto", "json_schema"):
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": schema_name(schema), "schema": schema, "strict": False},
            }
        elif schema is not None and mode == "json_object":
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        elif schema is not None and mode == "guided_json":
            extra["guided_json"] = schema
        elif schema is not None and mode == "fallback":
            note = FALLBACK_NOTE.format(schema=json.dumps(schema))
            wire.append({"role": "user", "content": note})
        if extra:
            kwargs["extra_body"] = extra
        kwargs["messages"] = wire
        kwargs["model"] = self.model
        return kwargs

    async def _create(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any] | None,
        params: dict[str, Any] | None,
        seed: int | None,
        timeout_s: float | None,
        endpoint: str,
        mode: str,
    ) -> ChatResult:
        kwargs = self.request_kwargs(messages, schema, params, seed, mode)
        client = self._clients.get(endpoint)
        start = time.perf_counter()
        try:
            resp = await client.chat.completions.create(
                **kwargs, timeout=timeout_s or self._clients.timeout_s
            )
        except _CLIENT_ERRORS as exc:
            raise backend_error(exc, endpoint, self._clients) from None
        choices = getattr(resp, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise BackendError(
                "malformed reply: no choices/message", retryable=True, endpoint=endpoint
            )
        msg = choices[0].message
        usage = getattr(resp, "usage", None)
        return ChatResult(
            text=msg.content or "",
            usage=Usage(
                input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
                output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
                image_inputs=sum(len(m.images) for m in messages),
                latency_s=time.perf_counter() - start,
            ),
            model=getattr(resp, "model", None) or self.model,
            structured=schema is not None and mode not in ("off", "fallback"),
            finish_reason=choices[0].finish_reason,
            refusal=getattr(msg, "refusal", None),
            endpoint=endpoint,
        )

    async def ping(self, endpoint: str | None = None) -> list[str]:
        """The model ids the endpoint serves (``GET /models``)."""
        client = self._clients.get(endpoint or self.endpoints[0])
        try:
            page = await client.models.list()
        except _CLIENT_ERRORS as exc:
            raise backend_error(exc, endpoint or self.endpoints[0], self._clients) from None
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        await self._clients.aclose()


class OpenAIImages:
    """Image generation through an OpenAI-compatible ``/images/generations`` endpoint.

    Asks for ``b64_json``; ``size`` as ``WxH``; the seed is sent in ``extra_body`` for servers
    that take one (OpenAI ignores it, so its images are not reproducible).
    """

    name = "openai-images"

    def __init__(
        self,
        model: str,
        endpoints: list[str],
        *,
        api_key_env: str | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float = 300.0,
        send_seed: bool = True,
    ) -> None:
        self.model = model
        self.params = dict(params or {})
        self.send_seed = send_seed
        self._clients = _Clients(list(endpoints), api_key_env, timeout_s)
        self.endpoints = self._clients.endpoints

    async def paint(
        self,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        endpoint: str | None = None,
    ) -> PaintResult:
        endpoint = endpoint or self.endpoints[0]
        merged = {**self.params, **(params or {})}
        extra = {k: v for k, v in merged.items() if k not in ("quality", "style", "n")}
        if seed is not None and self.send_seed:
            extra["seed"] = seed
        named = {k: v for k, v in merged.items() if k in ("quality", "style")}
        client = self._clients.get(endpoint)
        start = time.perf_counter()
        try:
            resp = await client.images.generate(
                model=self.model,
                prompt=prompt,
                size=f"{size[0]}x{size[1]}",
                n=1,
                response_format="b64_json",
                extra_body=extra or None,
                timeout=timeout_s or self._clients.timeout_s,
                **named,
            )
        except _CLIENT_ERRORS as exc:
            raise backend_error(exc, endpoint, self._clients) from None
        data = getattr(resp, "data", None) or []
        b64 = getattr(data[0], "b64_json", None) if data else None
        if not b64:
            raise BackendError(
                "malformed reply: no b64_json image", retryable=True, endpoint=endpoint
            )
        try:
            png = base64.b64decode(b64)
        except ValueError:
            raise BackendError(
                "malformed reply: b64_json is not base64", retryable=True, endpoint=endpoint
            ) from None
        png, width, height = _as_png(png, endpoint)
        return PaintResult(
            image=png,
            width=width,
            height=height,
            seed=seed,
            usage=Usage(images_made=1, latency_s=time.perf_counter() - start),
            painter=f"{self.name}:{self.model}",
        )

    async def aclose(self) -> None:
        await self._clients.aclose()


def _as_png(data: bytes, endpoint: str) -> tuple[bytes, int, int]:
    """Decode an image reply and return it as PNG bytes with its size."""
    import io

    from intersyn.data.images import ImageProblem, opened_image

    try:
        with opened_image(data, "the image") as img:  # decodable, within the pixel limit
            if img.format == "PNG":
                return data, img.width, img.height
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            return buf.getvalue(), img.width, img.height
    except ImageProblem as e:
        raise BackendError(
            f"malformed reply: not a decodable image ({e})", retryable=True, endpoint=endpoint
        ) from None
