"""Roles → backends, through one gate (limits, retries, timeouts, cache, usage)."""

from intersyn.models.base import (
    ChatBackend,
    ChatMessage,
    ChatResult,
    PaintBackend,
    PaintResult,
    Usage,
)

__all__ = ["ChatBackend", "ChatMessage", "ChatResult", "PaintBackend", "PaintResult", "Usage"]
