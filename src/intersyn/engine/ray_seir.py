"""``generate`` on Ray: SEIR's own ``make_sample`` in a pool of Ray actors.

The driver does what :func:`intersyn.seir.runner.agenerate` does before and after the loop
(check the run directory, write ``run.json``, finalize Parquet) and streams seeds; each
worker builds the same :class:`~intersyn.seir.context.SeirContext` the local engine uses —
its own gate (connection pools, cache handle, usage, a share of the budget), its own
``RunStore`` part files in the shared run directory — and commits or fails each sample
itself. The run directory is the same whichever engine wrote it, so ``--resume`` works
across engines.

Example::

    cfg = load_config("run.yaml")
    cfg = cfg.model_copy(update={"ray": RayConfig(address="auto", worker_in_flight=64)})
    result = generate_on_ray(cfg, Path("/shared/runs/a"), 1_000_000)
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intersyn.config import RunConfig
from intersyn.data.store import RunStore
from intersyn.engine.ray_endpoints import spread_endpoints
from intersyn.engine.ray_engine import (
    Outcome,
    WorkerInfo,
    connect,
    local_output_dir,
    run_on_ray,
)
from intersyn.engine.ray_painter import (
    PainterPool,
    models_with_painter_actors,
    start_painter_actors,
    stop_painter_actors,
)
from intersyn.errors import ConfigError
from intersyn.models.gate import Models
from intersyn.schema import Sample
from intersyn.seir.context import SeirContext
from intersyn.seir.runner import GenerateResult, finalize_run
from intersyn.seir.seeds import SampleSeed


@dataclass(frozen=True)
class _WorkerSpec:
    """Everything a worker needs to build its context; pickled once per worker."""

    cfg: RunConfig
    out_dir: str
    cache_path: str
    spread: bool
    painters: PainterPool | None = None


def _open_worker(spec: _WorkerSpec, info: WorkerInfo) -> SeirContext:
    from intersyn.seir.runner import build_context

    cfg = spread_endpoints(spec.cfg, info) if spec.spread else spec.cfg
    if cfg.budget_usd is not None:  # each worker's gate guards an equal share of the budget
        cfg = cfg.model_copy(update={"budget_usd": cfg.budget_usd / info.count})
    cache = spec.cache_path.format(worker=info.index, node=info.node_id[:12])
    if spec.painters is not None:
        models = models_with_painter_actors(cfg, spec.painters, cache_path=cache)
    else:
        models = Models.from_config(cfg, cache_path=cache)
    return build_context(cfg, RunStore(Path(spec.out_dir)), models)


async def _make_one(seed: SampleSeed, ctx: SeirContext) -> Outcome:
    """One sample, committed or failed-with-reason by the worker itself."""
    from intersyn.seir.runner import failure_reason, settle_sample
    from intersyn.seir.sample import make_sample

    sample: Sample | None = None
    error: BaseException | None = None
    try:
        sample = await make_sample(seed, ctx)
    except Exception as e:
        error = e
    status = await settle_sample(ctx, seed, sample, error)
    reason = failure_reason(error) if error is not None else None
    return Outcome(seed.sample_id, status, error=reason, value=_usage_total(ctx))


def _usage_total(ctx: SeirContext) -> dict[str, Any]:
    return ctx.models.usage_totals()


def _seed_id(seed: SampleSeed) -> str:
    return seed.sample_id


def _done_ids(ctx: SeirContext) -> set[str]:
    return ctx.store.done_ids()


async def _close_worker(ctx: SeirContext) -> dict[str, Any]:
    ctx.store.close()
    report = ctx.models.usage_report()
    await ctx.models.aclose()
    return report


class _LiveUsage:
    """The cluster's usage so far (latest total per worker, summed) for the progress panel."""

    def __init__(self) -> None:
        self.per_worker: dict[int, dict[str, Any]] = {}

    def update(self, outcome: Outcome) -> None:
        if isinstance(outcome.value, dict):
            self.per_worker[outcome.worker] = outcome.value

    def usage_totals(self) -> dict[str, Any]:
        from intersyn.engine.ray_engine import merge_usage

        return merge_usage(self.per_worker.values())

    def usage_report(self) -> dict[str, Any]:
        return {"total": self.usage_totals()}


def generate_on_ray(
    cfg: RunConfig,
    out_dir: str | Path,
    n: int | None,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    force: bool = False,
    models: Models | None = None,
    progress: bool | None = None,
    finalize: bool = True,
    on_sample: Callable[[str, str], None] | None = None,
) -> GenerateResult:
    """Generate ``n`` samples into ``out_dir`` on a Ray cluster; returns a GenerateResult.

    ``out_dir`` must be a path every node sees (a shared filesystem): workers write there.
    ``cfg.ray`` says where and how wide (address, workers, in-flight, painter actors).
    Same signature as :func:`intersyn.seir.runner.generate`; ``models`` cannot be given (each
    worker builds its own gate from ``cfg``).
    """
    if models is not None:
        raise ConfigError(
            "the Ray engine builds one gate per worker from the config; models= is for the "
            "local engine"
        )
    settings = cfg.ray
    out = local_output_dir(out_dir)
    # Join the cluster before touching the run directory: an unreachable address leaves
    # nothing behind (a fresh --out stays fresh).
    t0 = time.monotonic()
    ray_started = connect(settings.address)
    ray_start_s = time.monotonic() - t0
    try:
        result = _run(
            cfg,
            out,
            n,
            resume=resume,
            retry_failed=retry_failed,
            force=force,
            progress=progress,
            on_sample=on_sample,
            ray_start_s=ray_start_s,
        )
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    if finalize:
        result.dataset, result.finalize_note = finalize_run(out)
    return result


def _run(
    cfg: RunConfig,
    out: Path,
    n: int | None,
    *,
    resume: bool,
    retry_failed: bool,
    force: bool,
    progress: bool | None,
    on_sample: Callable[[str, str], None] | None,
    ray_start_s: float,
) -> GenerateResult:
    """Plan the run, drive the workers, record the session (Ray already joined)."""
    from intersyn.seir.runner import ProgressView, plan_run

    settings = cfg.ray
    plan = plan_run(
        cfg, out, n, resume=resume, retry_failed=retry_failed, force=force, engine="ray"
    )
    store, result, todo_count = plan.store, plan.result, plan.todo_count
    cache = str(Path(cfg.cache_path) if cfg.cache_path else out / "cache.sqlite")
    live = _LiveUsage()
    view = ProgressView(todo_count, enabled=progress, models=live)  # type: ignore[arg-type]

    def on_outcome(o: Outcome) -> bool:
        live.update(o)
        if o.status == "stopped":
            result.budget_stopped = True
            return False  # stop feeding; what is in flight finishes or stops the same way
        if o.status in ("ok", "skipped"):
            result.done += 1
        elif o.status == "failed":
            result.failed += 1
        elif o.status == "lost":  # the driver gave up on it: record why, like any failure
            store.fail(o.id, o.error or "worker lost", engine="ray")
            result.failed += 1
        if on_sample is not None and o.status in ("ok", "failed", "lost"):
            on_sample(o.id, "ok" if o.status == "ok" else "failed")
        view.update(result)
        return True

    report = None
    started = time.monotonic()  # the run itself, without starting a local Ray
    painters = None
    try:
        painters = start_painter_actors(cfg, settings.painter_actors, settings.painter_gpus)
        spec = _WorkerSpec(cfg, str(out), cache, settings.spread_endpoints, painters)
        with view:
            report = run_on_ray(
                plan.seeds(),
                functools.partial(_open_worker, spec),
                _make_one,
                item_id=_seed_id,
                done_ids=_done_ids,
                close_worker_ctx=_close_worker,
                workers=settings.workers,
                worker_in_flight=settings.worker_in_flight,
                num_cpus=settings.num_cpus,
                on_outcome=on_outcome,
            )
    finally:
        result.elapsed_s = time.monotonic() - started
        if report is not None:
            result.usage = report.usage
        store.close()
        plan.finish(
            engine="ray",
            ray_start_s=round(ray_start_s, 3),
            workers=report.workers if report else 0,
            worker_restarts=report.worker_restarts if report else 0,
        )
        stop_painter_actors(painters)
    return result
