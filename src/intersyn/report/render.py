"""Rendering pages: one Jinja2 environment (autoescape ON) over ``resources/report``.

Every piece of model text reaches a page through an autoescaped template (or, in the
browser, through ``textContent``), so an answer holding ``<script>`` shows as text.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

#: Static files every site and report carries (no CDN: everything works from file://).
ASSETS = ("site.css", "viewer.js")


def resource_dir() -> Path:
    return Path(str(resources.files("intersyn.resources") / "report"))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir()),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["score"] = format_score
    return env


def format_score(value: float | int | None, digits: int = 2) -> str:
    """A score for a table: ``–`` when absent."""
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def write_file(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file.

    No fsync: a site is rebuilt from its inputs, so speed matters more than durability.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_page(path: Path, template: str, **context: Any) -> None:
    write_file(path, render(template, **context).encode("utf-8"))


def js_literal(value: Any) -> str:
    """JSON for a ``<script src>`` file that can never close a tag or break a parser.

    ``<``, ``>`` and ``&`` are escaped inside strings, and so are U+2028/U+2029.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, esc)
    return text


def js_call(function: str, value: Any) -> str:
    """``FUNCTION(<json>);`` — data loaded from file:// by a script tag (fetch is blocked)."""
    return f"{function}({js_literal(value)});\n"


def copy_assets(out_dir: Path) -> None:
    """Copy the shared CSS and JS into ``out_dir/assets``."""
    target = out_dir / "assets"
    target.mkdir(parents=True, exist_ok=True)
    for name in ASSETS:
        shutil.copyfile(resource_dir() / name, target / name)
