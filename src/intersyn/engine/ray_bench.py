"""``bench`` on Ray: a composite generator's questions answered by a pool of Ray actors.

The driver (:func:`intersyn.report.bench.run_bench`) pins the questions and opens the
generator's ``answers/`` run directory as the local engine does; it then streams the
questions not yet answered to the workers. Each worker builds its own gate with the bench's
``models_factory`` (the generator's text model and painter) and its own ``RunStore`` part
files in the same ``answers/`` folder, and runs the bench's own per-question step
(:func:`intersyn.report.bench.answer_question`): an answer is committed, or its failure
recorded, before the driver hears of it. The judging step runs through
:func:`intersyn.engine.ray_judge.judge_on_ray`. Same files as the local engine, so a rerun
resumes across engines.

Example::

    cfg = load_bench_config("bench.yaml").with_engine({"engine": "ray", "ray": {"workers": 4}})
    run_bench(cfg, "/shared/bench-out")
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from intersyn.config import RunConfig
from intersyn.data.store import RunStore
from intersyn.engine.ray_endpoints import spread_endpoints
from intersyn.engine.ray_engine import EngineReport, Outcome, WorkerInfo, run_on_ray
from intersyn.models.gate import Models

if TYPE_CHECKING:
    from intersyn.report.bench import (
        BenchConfig,
        CompositeGenerator,
        ModelsFactory,
        Question,
    )


@dataclass(frozen=True)
class _Spec:
    """What a worker needs to build its context; pickled once per worker."""

    gen: CompositeGenerator
    gen_dir: str
    prompt: str
    seed: int
    spread: bool
    models_factory: ModelsFactory


@dataclass
class _Ctx:
    spec: _Spec
    gen: CompositeGenerator
    models: Models
    store: RunStore


def spread_generator(gen: CompositeGenerator, info: WorkerInfo) -> CompositeGenerator:
    """The generator with its text model and painter pinned to this worker's endpoint."""
    cfg = spread_endpoints(RunConfig(writer=gen.text, painter=gen.painter), info)
    return gen.model_copy(update={"text": cfg.writer, "painter": cfg.painter})


def _open(spec: _Spec, info: WorkerInfo) -> _Ctx:
    gen = spread_generator(spec.gen, info) if spec.spread else spec.gen
    gen_dir = Path(spec.gen_dir)
    return _Ctx(spec, gen, spec.models_factory(gen, gen_dir), RunStore(gen_dir / "answers"))


async def _answer_one(q: Question, ctx: _Ctx) -> Outcome:
    from intersyn.report.bench import answer_question

    problem = await answer_question(
        ctx.gen, ctx.models, ctx.store, q, ctx.spec.seed, ctx.spec.prompt
    )
    return Outcome(q.id, "failed" if problem else "ok", error=problem)


def _question_id(q: Question) -> str:
    return q.id


def _done(ctx: _Ctx) -> set[str]:
    return ctx.store.done_ids()


async def _close(ctx: _Ctx) -> dict[str, Any]:
    ctx.store.close()
    report = ctx.models.usage_report()
    await ctx.models.aclose()
    return report


def answer_on_ray(
    gen: CompositeGenerator,
    questions: list[Question],
    store: RunStore,
    cfg: BenchConfig,
    models_factory: ModelsFactory,
    prompt: str,
) -> EngineReport | None:
    """Answer the questions ``store`` (the generator's ``answers/``) lacks, on Ray.

    Questions a worker was lost on beyond every retry are recorded as failed by the driver
    (a rerun asks them again). Returns the engine's counts, or None when nothing was left.
    """
    done = store.done_ids()
    if all(q.id in done for q in questions):
        return None  # nothing to answer: start no workers
    todo: Iterator[Question] = (q for q in questions if q.id not in done)
    gen_dir = store.root.absolute().parent
    spec = _Spec(gen, str(gen_dir), prompt, cfg.seed, cfg.ray.spread_endpoints, models_factory)

    def on_outcome(o: Outcome) -> None:
        if o.status == "lost":
            store.fail(o.id, o.error or "worker lost", generator=gen.name, engine="ray")

    return run_on_ray(
        todo,
        functools.partial(_open, spec),
        _answer_one,
        item_id=_question_id,
        done_ids=_done,
        close_worker_ctx=_close,
        workers=cfg.ray.workers,
        worker_in_flight=cfg.ray.worker_in_flight,
        address=cfg.ray.address,
        num_cpus=cfg.ray.num_cpus,
        on_outcome=on_outcome,
    )
