"""``judge`` on Ray: the judge's own ``judge_item`` in a pool of Ray actors.

The driver opens the judgement set (so ``set.json`` and resume work exactly as on the local
engine), lists the turns still to judge and streams them to the workers; each worker builds
its own gate and appends to its own journal part of the same set, so a judgement is durable
before the driver counts it and a rerun resumes whichever engine wrote the set.

A judge item's image is read on the driver just before the item is sent (only the items in
flight are held): workers then need no access to the input dataset, only to the output set.

Example::

    run = await judge_on_ray("runs/a", cfg, Path("/shared/judged"), samples=3)
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from intersyn.config import RunConfig
from intersyn.engine.ray_endpoints import spread_endpoints
from intersyn.engine.ray_engine import Outcome, WorkerInfo, local_output_dir, run_on_ray
from intersyn.errors import ConfigError
from intersyn.judge.items import ImageLoad, JudgeItem
from intersyn.judge.rubric import Rubric, load_rubric
from intersyn.judge.runner import (
    ROLE,
    JudgeRun,
    JudgeSettings,
    check_input,
    image_problem,
    judge_item,
    pending_items,
    prepare_settings,
    set_info,
)
from intersyn.judge.store import JudgementStore, SetInfo
from intersyn.models.gate import Models


@dataclass(frozen=True)
class _Spec:
    cfg: RunConfig
    out_dir: str
    cache_path: str
    info: SetInfo
    rubric: Rubric
    samples: int
    temperature: float | None


@dataclass
class _Ctx:
    settings: JudgeSettings
    store: JudgementStore
    lock: asyncio.Lock


def _key(item: JudgeItem) -> str:
    return f"{item.sample_id}#{item.turn}"


def _open(spec: _Spec, info: WorkerInfo) -> _Ctx:
    cfg = spread_endpoints(spec.cfg, info) if spec.cfg.ray.spread_endpoints else spec.cfg
    cache = spec.cache_path.format(worker=info.index, node=info.node_id[:12])
    models = Models.from_config(cfg, cache_path=cache, roles=[ROLE])
    settings = prepare_settings(models, cfg, spec.rubric, spec.samples, spec.temperature)
    return _Ctx(settings, JudgementStore(Path(spec.out_dir), spec.info), asyncio.Lock())


async def _judge_one(item: JudgeItem, ctx: _Ctx) -> Outcome:
    j = await judge_item(item, ctx.settings)
    async with ctx.lock:  # one journal writer per worker
        await asyncio.to_thread(ctx.store.append, j, item.topic)
    # Why the turn was judged as having no image (missing, corrupt, refused), as run_judge says.
    reason = image_problem(j)
    problem = f"{item.sample_id} turn {item.turn}: {reason}" if reason else None
    return Outcome(_key(item), "ok", value={"status": j.status, "image_problem": problem})


def _done(ctx: _Ctx) -> set[str]:
    return {f"{sid}#{turn}" for sid, turn in ctx.store.done()}


async def _close(ctx: _Ctx) -> dict[str, Any]:
    ctx.store.close()
    report = ctx.settings.models.usage_report()
    await ctx.settings.models.aclose()
    return report


def _constant(load: ImageLoad) -> ImageLoad:
    return load


def _shippable(items: Iterator[JudgeItem]) -> Iterator[JudgeItem]:
    """Items whose image is already read (a picklable loader instead of a dataset closure)."""
    for item in items:
        yield replace(item, load_image=functools.partial(_constant, item.load_image()))


async def judge_on_ray(
    input_path: str | Path,
    cfg: RunConfig,
    out_dir: str | Path,
    *,
    samples: int = 1,
    image_dir: str | Path | None = None,
    models: Models | None = None,
    rubric_path: str | Path | None = None,
    temperature: float | None = None,
    limit: int | None = None,
    on_judged: Callable[[Any], None] | None = None,
) -> JudgeRun:
    """Same arguments and result as :func:`intersyn.judge.runner.judge_async`, on Ray."""
    if models is not None:
        raise ConfigError("the Ray engine builds one gate per worker; models= is for local runs")
    check_input(input_path, samples)
    out = local_output_dir(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.role(ROLE)
    rubric = load_rubric(rubric_path or cfg.rubric)
    # The driver asks the gate what the judge is (model, vision) without making a call.
    probe = Models.from_config(cfg, roles=[ROLE], cache=False)
    try:
        s = prepare_settings(probe, cfg, rubric, samples, temperature)
    finally:
        await probe.aclose()
    info = set_info(s, input_path)
    store = JudgementStore(out, info)
    done = store.done()
    store.close()
    run = JudgeRun(store.root, mode=info.mode)
    cache = str(Path(cfg.cache_path) if cfg.cache_path else out / "cache.sqlite")
    spec = _Spec(cfg, str(out), cache, info, rubric, samples, temperature)

    def on_outcome(o: Outcome) -> None:
        if o.status == "ok" and isinstance(o.value, dict):
            run.counts[o.value["status"]] += 1
            if o.value.get("image_problem"):
                run.image_problems.append(o.value["image_problem"])
        elif o.status != "skipped":  # failed or lost: judged again by the next rerun
            run.counts["error"] += 1
        if on_judged is not None:
            on_judged(o)

    def drive() -> None:
        ray_cfg = cfg.ray
        run_on_ray(
            _shippable(pending_items(input_path, image_dir, done, run, limit)),
            functools.partial(_open, spec),
            _judge_one,
            item_id=_key,
            done_ids=_done,
            close_worker_ctx=_close,
            workers=ray_cfg.workers,
            worker_in_flight=ray_cfg.worker_in_flight,
            address=ray_cfg.address,
            num_cpus=ray_cfg.num_cpus,
            on_outcome=on_outcome,
        )

    await asyncio.to_thread(drive)
    return run
