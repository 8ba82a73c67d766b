"""Prompt templates: Jinja2 files under ``resources/prompts/`` that a user can read and change.

``seir.prompts_dir`` in a run config names a folder whose files override the shipped ones of
the same name (``question_draft.j2`` …); missing files fall back to the shipped set. Every
variable a template uses must be given (StrictUndefined): a typo is an error naming the file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import jinja2

from intersyn._prompt_files import get_template, prompt_environment, render, shipped_prompts_dir
from intersyn.errors import ConfigError

#: Every prompt SEIR renders (``<name>.j2``).
PROMPT_NAMES = (
    "system_writer",
    "system_critic",
    "system_inspector",
    "question_draft",
    "question_critique",
    "question_revise",
    "answer_draft",
    "answer_critique",
    "answer_revise",
    "image_critique",
    "caption_revise",
    "repair",
    "topics_domains",
    "topics_categories",
    "topics_topics",
)


class Prompts:
    """Renders prompt templates by name; user files shadow shipped ones."""

    def __init__(self, user_dir: str | Path | None = None) -> None:
        self.user_dir = Path(user_dir) if user_dir else None
        if self.user_dir is not None and not self.user_dir.is_dir():
            raise ConfigError(f"seir.prompts_dir: {self.user_dir} is not a folder")
        search = [str(self.user_dir)] if self.user_dir else []
        search.append(str(shipped_prompts_dir()))
        self._env = prompt_environment(search)
        self._cache: dict[str, jinja2.Template] = {}

    def _template(self, name: str) -> jinja2.Template:
        t = self._cache.get(name)
        if t is None:
            t = get_template(self._env, f"{name}.j2")
            self._cache[name] = t
        return t

    def render(self, name: str, **variables: Any) -> str:
        """The prompt ``name`` filled with ``variables``, surrounding whitespace stripped."""
        return render(self._template(name), **variables).strip()

    def digest(self) -> str:
        """A short hash of every prompt's text (part of a run's fingerprint)."""
        h = hashlib.sha256()
        for name in PROMPT_NAMES:
            source = self._template(name).filename
            h.update(name.encode() + b"\0")
            if source:
                h.update(Path(source).read_bytes())
        for extra in ("_history",):
            h.update(self._env.loader.get_source(self._env, f"{extra}.j2")[0].encode())  # type: ignore[union-attr]
        return h.hexdigest()[:16]
