"""Roles → backends, through one gate (limits, retries, timeouts, cache, usage).

>>> from intersyn.models import Models, ChatMessage        # doctest: +SKIP
>>> models = Models.from_config(cfg, cache_path="run/cache.sqlite")
>>> reply = await models.chat("writer", [ChatMessage("user", "Hi")], sample_id="s1")
"""

from intersyn.models.base import (
    BackendError,
    ChatBackend,
    ChatMessage,
    ChatResult,
    PaintBackend,
    PaintResult,
    Usage,
)
from intersyn.models.gate import CacheMode, ModelCallError, Models

__all__ = [
    "BackendError",
    "CacheMode",
    "ChatBackend",
    "ChatMessage",
    "ChatResult",
    "ModelCallError",
    "Models",
    "PaintBackend",
    "PaintResult",
    "Usage",
]
