"""The SynJudge runner: every turn of the input → one Judgement, durable as it finishes.

::

    set_dir = run_judge("answers.jsonl", cfg, Path("runs/judged"), samples=5)
    judgements = load_judgements(set_dir)

Each turn is judged through ``Models.chat("judge", ...)`` with the JSON schema of the four
scores (constrained output where the server supports it), parsed under the parse-safe
contract (:mod:`intersyn.judge.parse`), repaired once by feeding the error back (a repair is
never replayed from the response cache), and else recorded ``unparsed`` — never given invented numbers. The hard rules are applied in code:
no text → TCC = ITS = 0; no image (missing, corrupt or absent) → ICC = IQ = ITS = 0, with the
reason in ``Judgement.forced``. A judge that cannot see images runs in caption-proxy mode and
every judgement says so.

With ``samples=k > 1`` each turn is judged k times at temperature > 0, each draw with its own
seed (so a response cache does not collapse them); the judgement keeps every raw reply and
every parsed draw, its score per dimension is the (low) median of the draws, and ``spread``
holds the per-dimension standard deviation.
"""

from __future__ import annotations

import asyncio
import hashlib
import statistics
from collections import Counter
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intersyn.config import RunConfig
from intersyn.errors import BudgetExceeded, ConfigError, InputError, ModelError
from intersyn.judge.items import NO_IMAGE_GIVEN, ImageLoad, JudgeItem, iter_items
from intersyn.judge.parse import ParseResult, parse_reply
from intersyn.judge.prompts import JudgePrompts, build_messages, load_prompts, repair_messages
from intersyn.judge.rubric import Rubric, load_rubric
from intersyn.judge.store import JudgementStore, SetInfo
from intersyn.models.base import ChatMessage
from intersyn.models.gate import Models
from intersyn.schema import DIMENSIONS, Judgement

ROLE = "judge"
#: Temperature of the draws when ``samples > 1`` and neither the config nor the caller sets one.
DEFAULT_SAMPLING_TEMPERATURE = 0.7

#: Stop after this many turns in a row failed with no success at all (a dead endpoint, a
#: wrong key): recording thousands of errors helps nobody.
DEAD_AFTER = 16

NO_TEXT_DIMS = ("tcc", "its")
NO_IMAGE_PREFIX = "no image ("
NO_IMAGE_DIMS = ("icc", "iq", "its")


@dataclass
class JudgeRun:
    """What one ``judge`` run did: the set folder, status counts, images it could not use."""

    path: Path
    counts: Counter[str] = field(default_factory=Counter)
    image_problems: list[str] = field(default_factory=list)
    mode: str = "vision"
    #: The first failed call's message (the rest usually say the same).
    first_error: str | None = None


@dataclass
class JudgeSettings:
    """Everything judging one turn needs, fixed for a run; built by :func:`prepare_settings`
    (the local runner and each Ray worker use it)."""

    models: Models
    rubric: Rubric
    prompts: JudgePrompts
    vision: bool
    judge_model: str
    samples: int
    params: dict[str, Any] | None
    seed: int


def run_judge(
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
    on_judged: Callable[[Judgement], None] | None = None,
) -> Path:
    """Judge every turn of ``input_path`` into a judgement set under ``out_dir``; return its folder.

    A rerun with the same judge, rubric and ``samples`` resumes: finished turns are skipped.
    """
    run = asyncio.run(
        judge_async(
            input_path,
            cfg,
            out_dir,
            samples=samples,
            image_dir=image_dir,
            models=models,
            rubric_path=rubric_path,
            temperature=temperature,
            limit=limit,
            on_judged=on_judged,
        )
    )
    return run.path


async def judge_async(
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
    on_judged: Callable[[Judgement], None] | None = None,
) -> JudgeRun:
    """The async core of :func:`run_judge`; returns counts and image problems too."""
    check_input(input_path, samples)
    out = Path(out_dir)
    rubric = load_rubric(rubric_path or cfg.rubric)
    own_models = models is None
    if models is None:
        cache = Path(cfg.cache_path) if cfg.cache_path else out / "cache.sqlite"
        cfg.role(ROLE)  # a clear error when the config has no judge section
        out.mkdir(parents=True, exist_ok=True)
        # Only the judge's backend: judging never loads a writer model or a painter.
        models = Models.from_config(
            cfg, cache_path=cache, usage_path=out / "usage.json", roles=[ROLE]
        )
    try:
        if not models.has(ROLE):
            raise ConfigError("no judge model: add a `judge:` section to the config")
        settings = prepare_settings(models, cfg, rubric, samples, temperature)
        info = set_info(settings, input_path)
        store = JudgementStore(out, info)
        try:
            run = JudgeRun(store.root, mode=info.mode)
            await _judge_all(input_path, image_dir, settings, store, run, cfg, limit, on_judged)
        finally:
            store.close()
        return run
    finally:
        if own_models:
            await models.aclose()


def check_input(input_path: str | Path, samples: int) -> None:
    """Refuse a run that cannot start (before anything is written), whichever engine runs it."""
    if samples < 1:
        raise ConfigError(f"--samples must be at least 1, got {samples}")
    if not Path(input_path).exists():
        raise InputError(f"{input_path}: input not found (a dataset, a .parquet, or a .jsonl)")


def set_info(settings: JudgeSettings, input_path: str | Path) -> SetInfo:
    """What makes a judgement set (judge model, rubric, mode, k): another value, another set."""
    return SetInfo(
        judge_model=settings.judge_model,
        rubric=settings.rubric.label,
        mode="vision" if settings.vision else "caption-proxy",
        samples=settings.samples,
        rubric_sha256=settings.rubric.sha256,
        input=str(input_path),
        prompt=settings.prompts.label,
    )


def pending_items(
    input_path: str | Path,
    image_dir: str | Path | None,
    done: Container[tuple[str, int]],
    run: JudgeRun,
    limit: int | None,
) -> Iterator[JudgeItem]:
    """The turns still to judge, read lazily: repeats and finished turns are counted in
    ``run`` and left out; at most ``limit`` are yielded."""
    seen: set[tuple[str, int]] = set()
    scheduled = 0
    for item in iter_items(input_path, image_dir=image_dir):
        if item.key in seen:
            run.counts["duplicate"] += 1
            continue
        seen.add(item.key)
        if item.key in done:
            run.counts["skipped"] += 1
            continue
        if limit is not None and scheduled >= limit:
            return
        scheduled += 1
        yield item


def prepare_settings(
    models: Models, cfg: RunConfig, rubric: Rubric, samples: int, temperature: float | None
) -> JudgeSettings:
    """The settings of a judge run: what the judge is (model, vision) from ``models``, the
    prompts, and the sampling parameters of ``samples`` draws per turn.

    With ``samples > 1`` and no temperature given or configured, draws use
    :data:`DEFAULT_SAMPLING_TEMPERATURE`; a temperature of 0 with ``samples > 1`` is refused.
    """
    params: dict[str, Any] | None = None
    configured = cfg.judge.params.get("temperature") if cfg.judge else None
    if temperature is not None:
        params = {"temperature": temperature}
    elif samples > 1 and not (isinstance(configured, (int, float)) and configured > 0):
        params = {"temperature": DEFAULT_SAMPLING_TEMPERATURE}
    if samples > 1 and params is not None and not params["temperature"] > 0:
        raise ConfigError("--samples > 1 needs a temperature above 0 (draws would be identical)")
    return JudgeSettings(
        models=models,
        rubric=rubric,
        prompts=load_prompts(prompt_file=cfg.judge_prompt),
        vision=models.vision(ROLE),
        judge_model=models.model_name(ROLE),
        samples=samples,
        params=params,
        seed=cfg.seed,
    )


async def _judge_all(
    input_path: str | Path,
    image_dir: str | Path | None,
    s: JudgeSettings,
    store: JudgementStore,
    run: JudgeRun,
    cfg: RunConfig,
    limit: int | None,
    on_judged: Callable[[Judgement], None] | None,
) -> None:
    done = store.done()
    concurrency = cfg.judge.limits.concurrency if cfg.judge else 1
    # Enough turns in flight that the gate's per-role limit, not this loop, is what binds.
    slots = asyncio.Semaphore(max(cfg.max_in_flight, -(-concurrency // s.samples)))
    tasks: set[asyncio.Task[None]] = set()

    stop: list[BaseException] = []  # set when the run must end early (budget, dead endpoint)
    failing = [0]  # consecutive turns whose every call failed, with no success yet

    async def one(item: JudgeItem) -> None:
        try:
            try:
                j = await judge_item(item, s)
            except BudgetExceeded as e:
                stop.append(e)
                return
            failing[0] = failing[0] + 1 if j.status == "error" else 0
            if failing[0] >= DEAD_AFTER and run.counts["ok"] + run.counts["unparsed"] == 0:
                stop.append(
                    ModelError(
                        f"the first {failing[0]} judge calls all failed ({j.error}); stopping. "
                        "Nothing judged is lost: fix the endpoint or config and rerun."
                    )
                )
            # fsync in a worker thread: the event loop keeps serving replies while a
            # judgement is made durable (it is counted only after). Turns finishing together
            # share one write and one fsync (the journal's group commit), so no lock here.
            await asyncio.to_thread(store.append, j, item.topic)
            run.counts[j.status] += 1
            if j.status == "error" and run.first_error is None:
                run.first_error = f"{item.sample_id} turn {item.turn}: {j.error}"
            problem = image_problem(j)
            if problem:
                run.image_problems.append(f"{item.sample_id} turn {item.turn}: {problem}")
            if on_judged is not None:
                on_judged(j)
        finally:
            slots.release()

    try:
        for item in pending_items(input_path, image_dir, done, run, limit):
            if stop:
                break
            await slots.acquire()
            task = asyncio.create_task(one(item))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    except Exception:
        # A bad record further on stops the run (the input is read lazily), but the turns
        # already in flight finish and are made durable first: nothing paid for is lost.
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if tasks:
        await asyncio.gather(*tasks)
    if stop:
        raise stop[0]


def draw_seed(base: int, sample_id: str, turn: int, draw: int) -> int:
    """A stable seed per (run seed, sample, turn, draw): draws differ, reruns repeat."""
    h = hashlib.sha256(f"{base}\x1f{sample_id}\x1f{turn}\x1f{draw}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


async def judge_item(item: JudgeItem, s: JudgeSettings) -> Judgement:
    """Judge one turn (k draws); apply the hard rules; never invent a score."""
    image = await asyncio.to_thread(item.load_image)
    forced, forced_dims = _hard_rules(item, image)
    required = [d for d in DIMENSIONS if d not in forced_dims]
    base: dict[str, Any] = {
        "sample_id": item.sample_id,
        "turn": item.turn,
        "judge_model": s.judge_model,
        "rubric_version": s.rubric.label,
        "mode": "vision" if s.vision else "caption-proxy",
        "forced": forced,
    }
    if not required:  # nothing left for a judge to score
        return Judgement.model_validate({**base, **dict.fromkeys(DIMENSIONS, 0)})
    messages = build_messages(item, image, s.rubric, s.prompts, vision=s.vision)
    outcomes = await asyncio.gather(
        *(_draw(item, messages, required, s, i) for i in range(s.samples))
    )
    raw = [text for _, texts, _ in outcomes for text in texts]
    parsed = [p.scores for p, _, _ in outcomes if p is not None and p.scores is not None]
    if not parsed:
        failed = [err for _, _, err in outcomes if err]
        status = "error" if failed else "unparsed"
        reason = failed[0] if failed else _first_parse_error(outcomes)
        return Judgement.model_validate({**base, "status": status, "raw": raw, "error": reason})
    draws = [{d: (0 if d in forced_dims else p.get(d)) for d in DIMENSIONS} for p in parsed]
    scores = {d: _combine([dr[d] for dr in draws]) for d in DIMENSIONS}
    note = _draw_note(outcomes, len(parsed))
    return Judgement.model_validate(
        {
            **base,
            **scores,
            "raw": raw,
            "draws": draws if s.samples > 1 else [],
            "spread": _spread(draws) if s.samples > 1 else None,
            "error": note,
        }
    )


def image_problem(j: Judgement) -> str | None:
    """Why a turn was judged as having no image when its answer named one (missing file,
    corrupt file, refused path), from the hard rule recorded in ``forced``; else None."""
    for rule in j.forced:
        if rule.startswith(NO_IMAGE_PREFIX) and NO_IMAGE_GIVEN not in rule:
            return rule[len(NO_IMAGE_PREFIX) : rule.rfind("): ")]
    return None


def _hard_rules(item: JudgeItem, image: ImageLoad) -> tuple[list[str], set[str]]:
    forced: list[str] = []
    dims: set[str] = set()
    if not item.answer.strip():
        forced.append("no text: tcc=its=0")
        dims.update(NO_TEXT_DIMS)
    if image.data is None:
        forced.append(f"{NO_IMAGE_PREFIX}{image.reason}): icc=iq=its=0")
        dims.update(NO_IMAGE_DIMS)
    return forced, dims


_Outcome = tuple[ParseResult | None, list[str], str | None]


async def _draw(
    item: JudgeItem, messages: list[ChatMessage], required: list[str], s: JudgeSettings, i: int
) -> _Outcome:
    """One draw: a call, its parse, at most one repair. (parse, raw replies, call error)."""
    seed = draw_seed(s.seed, item.sample_id, item.turn, i)
    texts: list[str] = []
    try:
        reply = await s.models.chat(
            ROLE,
            messages,
            schema=s.prompts.schema,
            params=s.params,
            seed=seed,
            sample_id=item.sample_id,
        )
        texts.append(reply.text)
        result = parse_reply(reply.text, finish_reason=reply.finish_reason, required=required)
        if result.ok:
            return result, texts, None
        fix = repair_messages(messages, reply.text, result.error or "", s.prompts)
        # Always asked afresh: a stored repair of this same unreadable reply (replayed from
        # the cache by a rerun) could only have been unreadable too, else the turn was done.
        again = await s.models.chat(
            ROLE,
            fix,
            schema=s.prompts.schema,
            params=s.params,
            seed=seed,
            sample_id=item.sample_id,
            cache="refresh",
        )
        texts.append(again.text)
        second = parse_reply(again.text, finish_reason=again.finish_reason, required=required)
        if second.ok:
            return second, texts, None
        return ParseResult(None, f"{result.error}; after repair: {second.error}"), texts, None
    except BudgetExceeded:
        raise  # the run stops cleanly; this turn stays undone and a rerun judges it
    except Exception as e:  # a failed call is recorded as status=error and retried on rerun
        return None, texts, f"judge call failed: {type(e).__name__}: {e}"


def _first_parse_error(outcomes: list[_Outcome]) -> str:
    for p, _, _ in outcomes:
        if p is not None and p.error:
            return p.error
    return "no reply could be parsed"


def _draw_note(outcomes: list[_Outcome], n_parsed: int) -> str | None:
    if n_parsed == len(outcomes):
        return None
    return f"{len(outcomes) - n_parsed} of {len(outcomes)} draws gave no scores"


def _combine(values: list[int | None]) -> int | None:
    present = [v for v in values if v is not None]
    return statistics.median_low(present) if present else None


def _spread(draws: list[dict[str, int | None]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for d in DIMENSIONS:
        vals = [v for dr in draws if (v := dr[d]) is not None]
        out[d] = statistics.pstdev(vals) if vals else 0.0
    return out
