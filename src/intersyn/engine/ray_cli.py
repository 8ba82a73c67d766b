"""The ``--engine ray`` options shared by ``generate``, ``judge`` and ``bench``.

Example::

    @click.command()
    @engine_options
    def generate(..., engine, address, workers):
        overrides.update(engine_overrides(engine, address, workers))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def engine_options(f: F) -> F:
    """Add ``--engine``, ``--address`` and ``--workers`` to a click command."""
    f = click.option(
        "--workers",
        type=click.IntRange(min=1),
        help="Ray worker actors (default: one per CPU of the cluster).",
    )(f)
    f = click.option(
        "--address",
        help="Ray cluster for --engine ray: auto, HOST:PORT or ray://HOST:PORT "
        "(default: start a local Ray).",
    )(f)
    f = click.option(
        "--engine",
        type=click.Choice(["local", "ray"]),
        help="Where the work runs: local asyncio (default) or a Ray cluster (docs/scale.md).",
    )(f)
    return f


def engine_overrides(
    engine: str | None, address: str | None, workers: int | None
) -> dict[str, Any]:
    """Config overrides for the engine options (``--address``/``--workers`` imply Ray)."""
    out: dict[str, Any] = {}
    ray: dict[str, Any] = {}
    if address:
        ray["address"] = address
    if workers:
        ray["workers"] = workers
    if ray:
        out["ray"] = ray
        if engine is None:
            engine = "ray"
    if engine == "local" and ray:
        raise click.UsageError("--address and --workers are for --engine ray")
    if engine:
        out["engine"] = engine
    return out
