"""Rule checks every SEIR draft passes besides the critic: empty text, refusals, word limits.

A rule violation is not a crash: it becomes a suggestion the writer revises against (recorded
as a round with ``critic_mode="rule"`` and a note). What revision cannot fix fails the sample
with :class:`SampleFailed` and a reason — never a silently empty or wrong field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from intersyn.errors import IntersynError
from intersyn.textcheck import is_refusal

__all__ = ["SampleFailed", "is_refusal", "problems", "repeats", "truncate_words", "word_count"]


class SampleFailed(IntersynError):
    """A sample could not be finished; the message is the reason stored with the failure."""


def word_count(text: str) -> int:
    return len(text.split())


def truncate_words(text: str, limit: int) -> str:
    return " ".join(text.split()[:limit])


def _key(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text).split()).casefold()


def repeats(text: str, earlier: Sequence[str], what: str) -> list[str]:
    """A violation when ``text`` is an earlier turn's ``what`` again (case, spaces and
    punctuation ignored): later turns must ask something new (PAPER.md, multi-turn)."""
    key = _key(text)
    for i, old in enumerate(earlier):
        if key and key == _key(old):
            return [
                f"The {what} repeats turn {i + 1}'s {what}: ask about something the earlier "
                "turns did not cover."
            ]
    return []


def problems(text: str, what: str, max_words: int | None = None) -> list[str]:
    """Rule violations of one field, each phrased as an instruction the writer can follow."""
    if not text.strip():
        return [f"The {what} is empty: write the {what}."]
    out: list[str] = []
    if is_refusal(text):
        out.append(
            f"The {what} is a refusal. Do not refuse or mention being unable to make images: "
            f"write the {what} itself (a separate model draws the picture)."
        )
    if max_words is not None and word_count(text) > max_words:
        out.append(
            f"The {what} has {word_count(text)} words; shorten it to at most {max_words} words."
        )
    return out
