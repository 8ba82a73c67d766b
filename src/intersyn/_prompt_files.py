"""Prompt template files: one Jinja setup for every prompt intersyn sends (SEIR, judge, topics).

Prompts are plain text, so nothing is HTML-escaped; every variable a template uses must be
given (``StrictUndefined``), and a template error names its file and line. Used by
:mod:`intersyn.seir.prompts` and :mod:`intersyn.judge.prompts`.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from intersyn.errors import ConfigError


def shipped_prompts_dir() -> Path:
    """The folder of the shipped prompt templates (``resources/prompts``)."""
    return Path(str(resources.files("intersyn.resources").joinpath("prompts")))


def prompt_environment(
    search: Sequence[str | Path], *, keep_trailing_newline: bool = False
) -> jinja2.Environment:
    """A Jinja environment for prompt text that looks for templates in ``search``, in order."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in search]),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=keep_trailing_newline,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def get_template(env: jinja2.Environment, name: str) -> jinja2.Template:
    """Template ``name`` from ``env``'s folders; a missing file or a syntax error is a
    :class:`ConfigError` naming it."""
    try:
        return env.get_template(name)
    except jinja2.TemplateNotFound:
        raise ConfigError(f"prompt template {name} not found") from None
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(f"{e.filename}:{e.lineno}: prompt template error: {e.message}") from None


def template_from_file(env: jinja2.Environment, path: str | Path) -> jinja2.Template:
    """A user's own template file (anywhere on disk), compiled in ``env``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: prompt file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: prompt file cannot be read ({e}); save it as UTF-8") from None
    try:
        return env.from_string(text, globals={"__file__": str(p)})
    except jinja2.TemplateSyntaxError as e:
        raise ConfigError(f"{p}:{e.lineno}: prompt template error: {e.message}") from None


def render(template: jinja2.Template, /, **variables: Any) -> str:
    """``template`` filled with ``variables``; an unknown variable is an error naming the file."""
    try:
        return template.render(**variables)
    except jinja2.UndefinedError as e:
        where = template.globals.get("__file__") or template.filename or "prompt template"
        known = ", ".join(sorted(variables))
        raise ConfigError(f"{where}: {e.message}; the variables are: {known}") from None
