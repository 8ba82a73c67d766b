"""A local painter (a diffusers pipeline) hosted in Ray actors that each hold a GPU.

Loading FLUX takes tens of GB and a minute; a worker per sample stream must not each load
one. With ``painter_actors: k`` the driver starts k :class:`PainterHost` actors with
``num_gpus`` each (Ray places them on GPU nodes); every SEIR worker's gate gets a
:class:`RayPainter` backend that forwards ``paint`` calls to them. The diffusers painter
batches concurrent calls, so many workers' calls in flight at one actor become full batches.
The gate in each worker still applies the painter role's limits, cache and usage: only the
backend call crosses to the GPU actor.

Example::

    pool = start_painter_actors(cfg, count=8, gpus=1.0)      # on the driver
    models = models_with_painter_actors(cfg, pool, cache_path=...)   # in each worker
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from intersyn.config import RoleConfig, RunConfig
from intersyn.errors import ConfigError
from intersyn.models.base import PaintResult


class PainterHost:
    """A Ray actor owning one painter backend (built once, on its own GPU)."""

    def __init__(self, role_cfg: RoleConfig) -> None:
        from intersyn.models.registry import build_paint

        self.backend = build_paint("painter", role_cfg)

    def describe(self) -> tuple[str, str]:
        return self.backend.name, self.backend.model

    async def paint(
        self,
        prompt: str,
        size: tuple[int, int],
        seed: int | None,
        params: dict[str, Any] | None,
        timeout_s: float | None,
    ) -> PaintResult:
        return await self.backend.paint(
            prompt, size=size, seed=seed, params=params, timeout_s=timeout_s
        )

    async def aclose(self) -> None:
        await self.backend.aclose()


@dataclass
class PainterPool:
    """Handles of the painter actors plus the backend's name and model (for cache keys)."""

    handles: list[Any]
    name: str
    model: str


class RayPainter:
    """A PaintBackend whose calls run in the painter actors (round-robin over them)."""

    def __init__(self, pool: PainterPool) -> None:
        self.pool = pool
        self.name = pool.name
        self.model = pool.model
        self._turn = itertools.count()

    async def paint(
        self,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> PaintResult:
        handle = self.pool.handles[next(self._turn) % len(self.pool.handles)]
        result: PaintResult = await handle.paint.remote(prompt, size, seed, params, timeout_s)
        return result

    async def aclose(self) -> None:
        """The actors belong to the driver, which stops them at the end of the run."""


def start_painter_actors(cfg: RunConfig, count: int, gpus: float) -> PainterPool | None:
    """Start ``count`` painter actors with ``gpus`` GPUs each (None when ``count`` is 0)."""
    if count <= 0:
        return None
    if cfg.painter is None:
        raise ConfigError("painter actors need a `painter:` section (backend: diffusers)")
    import ray

    host = ray.remote(PainterHost).options(
        num_gpus=gpus,
        num_cpus=0,  # scheduled by its GPU; CPU slots stay for the SEIR workers
        max_concurrency=256,  # calls wait inside the actor, where the painter batches them
        max_restarts=-1,
        max_task_retries=3,  # a paint call is idempotent: same prompt, seed, params
    )
    handles: list[Any] = [host.remote(cfg.painter) for _ in range(count)]
    described = ray.get([h.describe.remote() for h in handles])
    name, model = described[0]
    return PainterPool(handles, name, model)


def stop_painter_actors(pool: PainterPool | None) -> None:
    if pool is None:
        return
    import ray

    for h in pool.handles:
        ray.kill(h, no_restart=True)


def models_with_painter_actors(cfg: RunConfig, pool: PainterPool, *, cache_path: str | None) -> Any:
    """The worker's gate: every role as configured, the painter served by ``pool``."""
    from intersyn.models.gate import Models

    return Models.from_config(cfg, cache_path=cache_path, backends={"painter": RayPainter(pool)})
