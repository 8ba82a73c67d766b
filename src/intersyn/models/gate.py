"""The one gate every model call passes through.

Usage (SEIR, judge, bench all do this)::

    models = Models.from_config(cfg, cache_path=run_dir / "cache.sqlite")
    reply = await models.chat("writer", [ChatMessage("user", "...")], schema=SCHEMA, sample_id="s1")
    pic = await models.paint("painter", caption, size=(512, 512), seed=1234, sample_id="s1")
    models.usage_report()     # per role: calls, tokens, images, latency percentiles, retries, cost
    await models.aclose()

Tests build it from backends directly: ``Models(chat={"writer": backend}, paint={...})``.

NOTE: this first version only dispatches and bounds concurrency; the model-layer issue (#3)
grows it into the full gate (retries, timeouts, cache, rpm/tpm, usage, budget) with the same
signatures.
"""

from __future__ import annotations

import asyncio
from typing import Any

from intersyn.config import RunConfig
from intersyn.errors import ConfigError
from intersyn.models.base import ChatBackend, ChatMessage, ChatResult, PaintBackend, PaintResult


class Models:
    def __init__(
        self,
        chat: dict[str, ChatBackend] | None = None,
        paint: dict[str, PaintBackend] | None = None,
        *,
        concurrency: dict[str, int] | None = None,
    ) -> None:
        self._chat = dict(chat or {})
        self._paint = dict(paint or {})
        self._sems = {r: asyncio.Semaphore(n) for r, n in (concurrency or {}).items()}

    @classmethod
    def from_config(cls, cfg: RunConfig, **kwargs: Any) -> Models:
        raise NotImplementedError("built by the model-layer issue (#3)")

    def has(self, role: str) -> bool:
        return role in self._chat or role in self._paint

    def vision(self, role: str) -> bool:
        """Whether the role's backend can see images (else caption-proxy mode)."""
        backend = self._chat.get(role)
        return bool(backend is not None and getattr(backend, "vision", False))

    def model_name(self, role: str) -> str:
        backend = self._chat.get(role) or self._paint.get(role)
        if backend is None:
            raise ConfigError(f"role {role!r} is not configured")
        return backend.model

    async def chat(
        self,
        role: str,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        seed: int | None = None,
        sample_id: str | None = None,
    ) -> ChatResult:
        backend = self._chat.get(role)
        if backend is None:
            raise ConfigError(f"role {role!r} has no chat backend configured")
        sem = self._sems.get(role)
        if sem is None:
            return await backend.chat(messages, schema=schema, params=params, seed=seed)
        async with sem:
            return await backend.chat(messages, schema=schema, params=params, seed=seed)

    async def paint(
        self,
        role: str,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        sample_id: str | None = None,
    ) -> PaintResult:
        backend = self._paint.get(role)
        if backend is None:
            raise ConfigError(f"role {role!r} has no painter backend configured")
        return await backend.paint(prompt, size=size, seed=seed, params=params)

    def usage_report(self) -> dict[str, Any]:
        return {}

    async def aclose(self) -> None:
        for c in self._chat.values():
            await c.aclose()
        for p in self._paint.values():
            await p.aclose()
