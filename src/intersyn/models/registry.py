"""Backend registry: a role's config (``backend: openai | llamacpp | …``) → a backend object.

Chat backends: ``openai`` (any OpenAI-compatible server), ``llamacpp`` (the embedded SmolLM2 in
process), ``caption-proxy`` (a text-only chat model standing in for a vision role: an openai
endpoint when ``base_url`` is set, else the embedded model; never sees images).
Paint backends: ``openai-images``, ``diffusers`` (local pipeline), ``preview`` (offline
stand-in that draws the caption; only ever used when a config names it).
"""

from __future__ import annotations

import json
from typing import Any

from intersyn.config import RoleConfig
from intersyn.errors import ConfigError
from intersyn.models.base import ChatBackend, PaintBackend

CHAT_BACKENDS = ("openai", "llamacpp", "caption-proxy")
PAINT_BACKENDS = ("openai-images", "diffusers", "preview")
#: Roles whose backend paints; every other role chats.
PAINT_ROLES = ("painter",)


def backend_identity(cfg: RoleConfig) -> str:
    """Roles whose configs agree on this share one backend object (one client, one model)."""
    data = cfg.model_dump(mode="json", exclude={"limits", "cache", "use"})
    return json.dumps(data, sort_keys=True)


def build_chat(role: str, cfg: RoleConfig) -> ChatBackend:
    """The chat backend for ``role``; errors name the role and field."""
    backend = cfg.backend or ("openai" if cfg.endpoints() else None)
    if backend is None:
        raise ConfigError(
            f"{role}.backend is not set: choose one of {', '.join(CHAT_BACKENDS)} "
            "(openai needs base_url and model)"
        )
    if backend not in CHAT_BACKENDS:
        raise ConfigError(
            f"{role}.backend is {backend!r}, which paints images; the {role} role chats: "
            f"use one of {', '.join(CHAT_BACKENDS)}"
        )
    if backend == "caption-proxy":
        return _caption_proxy(role, cfg)
    if backend == "llamacpp":
        from intersyn.models.llamacpp import LlamaCppChat

        return LlamaCppChat(model_path=cfg.model, params=cfg.params)
    return _openai_chat(role, cfg, vision=bool(cfg.vision))


def _openai_chat(role: str, cfg: RoleConfig, *, vision: bool) -> ChatBackend:
    from intersyn.models.openai_backend import OpenAIChat

    if not cfg.model:
        raise ConfigError(f"{role}.model is not set: name the model the server serves")
    if not cfg.endpoints():
        raise ConfigError(
            f"{role}.base_url is not set: give the server's OpenAI URL, e.g. "
            "http://127.0.0.1:8000/v1 (vLLM) or http://127.0.0.1:11434/v1 (Ollama)"
        )
    return OpenAIChat(
        cfg.model,
        cfg.endpoints(),
        api_key_env=cfg.api_key_env,
        params=cfg.params,
        structured_output=cfg.structured_output,
        vision=vision,
        timeout_s=cfg.limits.timeout_s,
    )


def _caption_proxy(role: str, cfg: RoleConfig) -> ChatBackend:
    if cfg.vision:
        raise ConfigError(f"{role}: backend caption-proxy is text-only; remove `vision: true`")
    if cfg.endpoints():
        return _openai_chat(role, cfg, vision=False)
    from intersyn.models.llamacpp import LlamaCppChat

    return LlamaCppChat(model_path=cfg.model, params=cfg.params)


def build_paint(role: str, cfg: RoleConfig) -> PaintBackend:
    """The paint backend for ``role``; a painter is never chosen silently."""
    backend = cfg.backend
    if backend is None:
        raise ConfigError(
            f"{role}.backend is not set: choose one of {', '.join(PAINT_BACKENDS)} "
            "(preview draws the caption as a stand-in image, marked as a preview)"
        )
    if backend not in PAINT_BACKENDS:
        raise ConfigError(
            f"{role}.backend is {backend!r}, a chat backend; the {role} role paints: "
            f"use one of {', '.join(PAINT_BACKENDS)}"
        )
    if backend == "preview":
        from intersyn.models.preview import PreviewPainter

        return PreviewPainter(params=cfg.params)
    if backend == "diffusers":
        from intersyn.models.diffusers_painter import DiffusersPainter

        if not cfg.model:
            raise ConfigError(
                f"{role}.model is not set: give the local folder of a diffusers pipeline "
                "(FLUX.1, SD 3, SDXL), e.g. /models/FLUX.1-schnell"
            )
        return DiffusersPainter(model_path=cfg.model, params=cfg.params)
    from intersyn.models.openai_backend import OpenAIImages

    if not cfg.model or not cfg.endpoints():
        raise ConfigError(f"{role}: backend openai-images needs model and base_url")
    return OpenAIImages(
        cfg.model,
        cfg.endpoints(),
        api_key_env=cfg.api_key_env,
        params=cfg.params,
        timeout_s=cfg.limits.timeout_s,
    )


def build(role: str, cfg: RoleConfig) -> tuple[str, Any]:
    """``("paint", backend)`` for a painting role, ``("chat", backend)`` otherwise."""
    if role in PAINT_ROLES:
        return "paint", build_paint(role, cfg)
    return "chat", build_chat(role, cfg)
