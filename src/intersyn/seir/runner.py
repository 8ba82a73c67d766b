"""``generate``: a SEIR run into a run directory — resumable, streaming, with progress.

A run directory holds ``run.json`` (the config fingerprint, seed, size; never a secret), the
sample and failure journals and every image (see :mod:`intersyn.data.store`). A finished
sample is durable before it is counted; ``resume=True`` skips every committed id and makes
the rest from the same seeds (no duplicate, none missing); ``retry_failed=True`` also runs
the ids that failed before. A run that hits the budget stops cleanly and resumes later.

Example::

    cfg = load_config("run.yaml")
    result = generate(cfg, Path("runs/a"), 100)
    result.done, result.failed, result.dataset      # Parquet written by finalize
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from intersyn import __version__
from intersyn.config import ROLES, RunConfig
from intersyn.data.store import RunStore
from intersyn.engine.local import run_local
from intersyn.errors import BudgetExceeded, ConfigError, DatasetError, IntersynError, ModelError
from intersyn.models.gate import Models
from intersyn.schema import Sample
from intersyn.seir.context import SeirContext
from intersyn.seir.prompts import Prompts
from intersyn.seir.sample import make_sample
from intersyn.seir.seeds import SampleSeed, iter_seeds, sample_id
from intersyn.seir.topics import (
    Hierarchy,
    Templates,
    load_hierarchy,
    load_templates,
    resources_note,
)

#: Stop starting samples after this many in a row failed on model calls with none finished
#: (a dead endpoint, a wrong key): recording thousands of identical failures helps nobody.
DEAD_AFTER = 16

#: Role settings that change *how* calls are made, not what comes back: left out of the
#: fingerprint so a resume may use other endpoints, limits or keys.
_NOT_OUTPUT = {"limits", "base_url", "base_urls", "api_key_env", "cache", "use"}


@dataclass
class GenerateResult:
    out_dir: Path
    requested: int
    done: int = 0
    failed: int = 0
    skipped: int = 0
    budget_stopped: bool = False
    elapsed_s: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    dataset: Path | None = None
    finalize_note: str = ""

    @property
    def rate(self) -> float:
        made = self.done + self.failed
        return made / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass
class Resources:
    """What seeds and prompts are made from, loaded once per run."""

    hierarchy: Hierarchy
    templates: Templates
    prompts: Prompts

    @classmethod
    def load(cls, cfg: RunConfig) -> Resources:
        return cls(
            load_hierarchy(cfg.seir.topics),
            load_templates(cfg.seir.templates),
            Prompts(cfg.seir.prompts_dir),
        )


def run_fingerprint(cfg: RunConfig, res: Resources) -> str:
    """A hash of everything that changes a run's outputs: models and their parameters,
    SEIR settings, seed, and the content of the hierarchy, templates and prompts."""
    roles = {}
    for role in ("writer", "critic", "inspector", "painter"):
        rc = getattr(cfg, role)
        if rc is not None:
            roles[role] = {
                k: v for k, v in rc.model_dump(mode="json").items() if k not in _NOT_OUTPUT
            }
    seir = cfg.seir.model_dump(mode="json", exclude={"topics", "templates", "prompts_dir"})
    blob = json.dumps(
        {
            "roles": roles,
            "seir": seir,
            "seed": cfg.seed,
            "topics": res.hierarchy.digest(),
            "templates": res.templates.digest(),
            "prompts": res.prompts.digest(),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def build_context(
    cfg: RunConfig, store: RunStore, models: Models, res: Resources | None = None
) -> SeirContext:
    """The per-process context make_sample needs (a Ray worker builds its own the same way)."""
    res = res or Resources.load(cfg)
    return SeirContext(
        models=models,
        store=store,
        settings=cfg.seir,
        prompts=res.prompts,
        templates=res.templates,
        fingerprint=run_fingerprint(cfg, res),
    )


def seeds_for(cfg: RunConfig, res: Resources, indices: Iterator[int]) -> Iterator[SampleSeed]:
    return iter_seeds(
        cfg.seed,
        indices,
        res.hierarchy.leaves(),
        [t.id for t in res.templates],
        cfg.seir.turn_weights,
    )


def public_config(cfg: RunConfig) -> dict[str, Any]:
    """The config as written to run.json (keys are only env-var *names*: no secret)."""
    return cfg.model_dump(mode="json", exclude_none=True)


def _check_existing(store: RunStore, fingerprint: str, resume: bool, force: bool) -> dict[str, Any]:
    meta = store.read_meta()
    has_work = bool(store.done_ids()) or bool(store.failures())
    if not meta and not has_work:
        return {}
    if not resume:
        raise DatasetError(
            f"{store.root} already holds a run ({len(store.done_ids())} samples done); "
            "pass --resume to finish it, --retry-failed to rerun its failures, "
            "or choose another --out"
        )
    old = meta.get("fingerprint")
    if old and old != fingerprint and not force:
        raise ConfigError(
            f"{store.root}/run.json: this run was made with another config (fingerprint {old}, "
            f"now {fingerprint}); resuming would mix two datasets. Use the same config, "
            "or pass --force to continue anyway"
        )
    return meta


@dataclass
class RunPlan:
    """One generate session, decided before any sample is made; shared by every engine.

    :func:`plan_run` checks the run directory, writes ``run.json`` and works out which ids
    are still to make; :meth:`seeds` streams their seeds lazily (flat memory in n);
    :meth:`finish` records how the session ended.
    """

    cfg: RunConfig
    res: Resources
    store: RunStore
    fingerprint: str
    meta: dict[str, Any]
    todo_count: int
    result: GenerateResult
    _skip: set[str]
    _n: int

    @property
    def out(self) -> Path:
        return self.result.out_dir

    def seeds(self) -> Iterator[SampleSeed]:
        todo = (i for i in range(self._n) if sample_id(i) not in self._skip)
        return seeds_for(self.cfg, self.res, todo)

    def finish(self, **session: Any) -> None:
        """Write the session's outcome into run.json (complete or incomplete)."""
        r = self.result
        complete = not r.budget_stopped and r.done + r.failed == self.todo_count
        self.meta.update(
            status="complete" if complete else "incomplete",
            updated_at=datetime.now(timezone.utc).isoformat(),
            last_session={
                **session,
                "done": r.done,
                "failed": r.failed,
                "skipped": r.skipped,
                "budget_stopped": r.budget_stopped,
                "elapsed_s": round(r.elapsed_s, 3),
                "usage_total": r.usage.get("total", {}),
            },
        )
        self.store.write_meta(self.meta)


def plan_run(
    cfg: RunConfig,
    out_dir: str | Path,
    n: int | None,
    *,
    resume: bool = False,
    retry_failed: bool = False,
    force: bool = False,
    engine: str = "local",
) -> RunPlan:
    """Check ``out_dir``, write ``run.json`` and decide what this session makes."""
    res = Resources.load(cfg)
    out = Path(out_dir)
    store = RunStore(out)
    fingerprint = run_fingerprint(cfg, res)
    meta = _check_existing(store, fingerprint, resume or retry_failed, force)
    if n is None:
        n = int(meta.get("n", 0))
        if n <= 0:
            raise ConfigError("give the number of samples (-n); the run directory has none")
    if n < 0:
        raise ConfigError(f"-n must be at least 0, got {n}")
    skip = store.done_ids() | (set() if retry_failed else set(store.failures()))
    todo_count = sum(1 for i in range(n) if sample_id(i) not in skip)
    now = datetime.now(timezone.utc).isoformat()
    new_meta = {
        "format": "intersyn-run",
        "intersyn_version": __version__,
        "fingerprint": fingerprint,
        "seed": cfg.seed,
        "n": max(n, int(meta.get("n", 0))),
        "created_at": meta.get("created_at", now),
        "updated_at": now,
        "status": "running",
        "engine": engine,
        "resources": resources_note(res.hierarchy, res.templates),
        "config": public_config(cfg),
    }
    store.write_meta(new_meta)
    result = GenerateResult(out_dir=out, requested=n, skipped=n - todo_count)
    return RunPlan(cfg, res, store, fingerprint, new_meta, todo_count, result, skip, n)


async def settle_sample(
    ctx: SeirContext, seed: SampleSeed, sample: Sample | None, error: BaseException | None
) -> Literal["ok", "failed", "stopped"]:
    """Commit a finished sample or record a failure with its reason; returns the status.

    A BudgetExceeded is neither: the sample is made by a later ``--resume`` (status
    ``"stopped"``).
    """
    if isinstance(error, BudgetExceeded):
        return "stopped"
    if sample is not None:
        await ctx.commit(sample)
        return "ok"
    await ctx.fail(seed.sample_id, failure_reason(error), seed=seed.seed, index=seed.index)
    return "failed"


def generate(
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
    """Generate ``n`` samples into ``out_dir`` (see module doc); returns counts and usage."""
    return asyncio.run(
        agenerate(
            cfg,
            out_dir,
            n,
            resume=resume,
            retry_failed=retry_failed,
            force=force,
            models=models,
            progress=progress,
            finalize=finalize,
            on_sample=on_sample,
        )
    )


async def agenerate(
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
    """The async form of :func:`generate` (for callers already inside an event loop)."""
    plan = plan_run(cfg, out_dir, n, resume=resume, retry_failed=retry_failed, force=force)
    out, store, result = plan.out, plan.store, plan.result
    own_models = models is None
    if models is None:
        cache = Path(cfg.cache_path) if cfg.cache_path else out / "cache.sqlite"
        models = Models.from_config(cfg, cache_path=cache)
    ctx = build_context(cfg, store, models, plan.res)
    view = ProgressView(plan.todo_count, enabled=progress, models=models)
    started = time.monotonic()
    dead: list[BaseException] = []  # model failures in a row while nothing was finished

    async def work(seed: SampleSeed) -> Sample:
        return await make_sample(seed, ctx)

    async def on_result(
        seed: SampleSeed, sample: Sample | None, error: BaseException | None
    ) -> bool:
        status = await settle_sample(ctx, seed, sample, error)
        if status == "stopped":
            result.budget_stopped = True
            return False  # not a failure: --resume makes it once the budget allows
        if status == "ok":
            result.done += 1
        else:
            result.failed += 1
        if on_sample is not None:
            on_sample(seed.sample_id, status)
        view.update(result)
        if status == "failed" and isinstance(error, ModelError) and result.done == 0:
            dead.append(error)
        else:
            dead.clear()
        return len(dead) < DEAD_AFTER

    try:
        with view:
            await run_local(plan.seeds(), work, on_result, max_in_flight=cfg.max_in_flight)
    finally:
        result.elapsed_s = time.monotonic() - started
        result.usage = models.usage_report()
        store.close()
        if own_models:
            await models.aclose()
        plan.finish()
    if len(dead) >= DEAD_AFTER:
        raise ModelError(
            f"{out}: the first {len(dead)} samples all failed on model calls, so the run "
            f"stopped ({dead[-1]}). Fix the server or config, then rerun with --retry-failed"
        )
    if finalize:
        result.dataset, result.finalize_note = finalize_run(out)
    return result


def failure_reason(error: BaseException | None) -> str:
    """The reason recorded for a failed sample: our errors' own message, else the exception."""
    if isinstance(error, IntersynError):
        return str(error)
    if error is None:
        return "unknown error"
    tb = "".join(traceback.format_exception_only(type(error), error)).strip()
    return f"internal error ({tb}); please report it with the run's run.json"


def finalize_run(out: Path) -> tuple[Path | None, str]:
    """Write the Parquet shards of the run (intersyn.data.parquet.finalize)."""
    from intersyn.data.parquet import finalize

    shards = finalize(out)
    return out / "data", f"{len(shards)} Parquet shard(s) in {out / 'data'}"


class ProgressView:
    """A live panel: done/failed, rate, ETA, tokens, images and spend (rich), or nothing."""

    def __init__(self, total: int, *, enabled: bool | None, models: Models) -> None:
        import sys

        self.total = total
        self.models = models
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._task: Any = None
        self._last = 0.0
        self._started = time.monotonic()

    def __enter__(self) -> ProgressView:
        self._started = time.monotonic()
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]SEIR"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("seir", total=self.total, stats="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, result: GenerateResult) -> None:
        if self._progress is None:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and result.done + result.failed < self.total:
            return
        self._last = now
        self._progress.update(
            self._task, completed=result.done + result.failed, stats=self.stats_line(result)
        )

    def stats_line(self, result: GenerateResult) -> str:
        """``ok 12  failed 1  0.85/s  tokens 34,567  images 13  $0.0123`` (the panel's text)."""
        total: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            total = self.models.usage_totals()
        tokens = int(total.get("input_tokens", 0)) + int(total.get("output_tokens", 0))
        elapsed = time.monotonic() - self._started
        rate = (result.done + result.failed) / elapsed if elapsed > 0 else 0.0
        return (
            f"ok {result.done}  failed {result.failed}  {rate:.2f}/s  "
            f"tokens {tokens:,}  images {int(total.get('images_made', 0)):,}  "
            f"${float(total.get('cost_usd', 0.0)):.4f}"
        )


__all__ = ["ROLES", "GenerateResult", "agenerate", "build_context", "generate", "run_fingerprint"]
