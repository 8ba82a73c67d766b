"""The three small contracts every backend speaks: chat, paint, and the usage each call cost.

SEIR and the judge never talk to a backend directly: they call :class:`intersyn.models.gate.Models`,
the one gate that applies limits, retries, timeouts, the response cache and usage accounting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class Usage:
    """What one call cost. Summed per role by the gate."""

    input_tokens: int = 0
    output_tokens: int = 0
    image_inputs: int = 0
    images_made: int = 0
    latency_s: float = 0.0
    retries: int = 0
    cached: bool = False
    cost_usd: float = 0.0


@dataclass
class ChatMessage:
    """A chat message; ``images`` are encoded image bytes (PNG/JPEG) shown to a vision model."""

    role: str
    content: str
    images: list[bytes] = field(default_factory=list)


@dataclass
class ChatResult:
    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    #: True when the server honoured the JSON schema (constrained decoding).
    structured: bool = False
    finish_reason: str | None = None
    #: The model's refusal message when it declined to answer (OpenAI ``message.refusal``).
    refusal: str | None = None
    #: The endpoint that answered (None for in-process backends or a cache hit).
    endpoint: str | None = None


@dataclass
class PaintResult:
    """An image made by a painter: encoded PNG bytes plus how it was made."""

    image: bytes
    width: int
    height: int
    seed: int | None
    usage: Usage = field(default_factory=Usage)
    #: True for the offline preview painter (caption drawn on a canvas, not a model's image).
    preview: bool = False
    painter: str = ""


class BackendError(Exception):
    """A backend call failed. The gate retries it when ``retryable`` and otherwise (or after
    the last retry) turns it into a :class:`~intersyn.errors.ModelError` naming role, endpoint,
    model and sample.

    Backends (and test doubles) raise it; ``retry_after_s`` carries a server's Retry-After.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status
        self.retry_after_s = retry_after_s
        self.endpoint = endpoint


@runtime_checkable
class ChatBackend(Protocol):
    """messages (+ optional images, optional JSON schema) → text + usage."""

    name: str
    model: str
    #: Whether the backend accepts images in messages (a VLM).
    vision: bool

    async def chat(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        timeout_s: float | None = None,
    ) -> ChatResult: ...

    async def aclose(self) -> None: ...


#: Optional attributes a backend may define, read by the gate with ``getattr``:
#: ``endpoints: list[str]`` — the gate picks one per call (least loaded, another one on retry)
#: and passes it as ``endpoint=`` to ``chat``/``paint``; ``cacheable: bool`` (default True) —
#: False for backends whose calls cost nothing to redo (the preview painter).


@runtime_checkable
class PaintBackend(Protocol):
    """(prompt, size, seed) → image + usage."""

    name: str
    model: str

    async def paint(
        self,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> PaintResult: ...

    async def aclose(self) -> None: ...
