"""The generator benchmark: ``intersyn bench --config bench.yaml --out DIR``.

Each generator under test answers the same questions; SynJudge scores every answer; the
leaderboard compares them. Generators:

- ``composite``: a text model writes the answer and an image prompt (JSON), a painter draws
  it — like the paper's "GPT-4o + DALL-E 3" and "Gemini + FLUX" baselines. Any configured
  pair of a chat role and a painter; ``painter`` may be left out for a text-only baseline.
- ``answers``: a file of precomputed answers (JSONL ``{id, question, answer, image}``, the
  public SynJudge input; ``image`` relative to ``image_dir``).
- ``dataset``: the answers already in a dataset (e.g. SEIR samples), matched by sample id.

Questions: the shipped benchmark set, a dataset's questions (turn 1 of each sample), or a
file (YAML ``{questions: [{id, domain, question}]}`` or JSONL ``{id, question, domain?}``).

Layout of DIR (every step durable; a rerun skips what is done)::

    bench.json                     config fingerprint and question-set hash
    questions.jsonl                the questions, as asked
    generators/<name>/answers/     a run directory (RunStore) of one-turn samples
    generators/<name>/judged/      the judge's output (intersyn.judge.runner.run_judge)
    leaderboard/                   leaderboard.{md,csv,json,html}, radar/bars .png/.svg

Engines: answering and judging run in this process (asyncio) or, with ``engine: ray`` (CLI
``--engine ray [--address ...] [--workers N]``), on a Ray cluster: each worker answers questions
with its own gate into the same ``answers/`` run directory, and the judge runs as
``judge --engine ray`` does. The folder is the same whichever engine wrote it, so a rerun
resumes across engines; with Ray, DIR must be a path every node sees.

Example ``bench.yaml``::

    questions: {source: shipped, limit: 300}
    judge: {backend: openai, model: Qwen/Qwen2.5-VL-32B-Instruct, base_url: http://127.0.0.1:8000/v1}
    generators:
      - name: qwen+flux
        type: composite
        text: {backend: openai, model: Qwen/Qwen2.5-7B-Instruct, base_url: http://127.0.0.1:8001/v1}
        painter: {backend: diffusers, model: black-forest-labs/FLUX.1-schnell}
      - {name: seir, type: dataset, path: runs/a}
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from intersyn.config import RayConfig, RoleConfig, RunConfig
from intersyn.data.journal import atomic_write_text, read_jsonl_tolerant
from intersyn.data.outputs import check_folder_output, claim_folder, guard_output
from intersyn.data.store import RunStore
from intersyn.errors import ConfigError, InputError, IntersynError
from intersyn.models.base import ChatMessage
from intersyn.models.gate import Models
from intersyn.report.inputs import load_judgement_list, open_samples
from intersyn.report.leaderboard import Entry, entry_from_judgements, write_leaderboard
from intersyn.report.render import resource_dir
from intersyn.schema import DIMENSIONS, Judgement, Sample, TopicPath, Turn

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "minLength": 1},
        "image_prompt": {"type": "string", "minLength": 1},
    },
    "required": ["answer", "image_prompt"],
    "additionalProperties": False,
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


# -- config ---------------------------------------------------------------------------------
class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuestionSource(_Cfg):
    source: Literal["shipped", "dataset", "file"] = "shipped"
    path: str | None = None
    #: Take at most this many questions (a seeded shuffle first, so any limit is a fair sample).
    limit: int | None = Field(default=None, ge=1)
    domains: list[str] = Field(default_factory=list)


class _Generator(_Cfg):
    name: str

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(
                "use letters, digits and . _ + - (at most 64), starting with a letter or digit"
            )
        return v


class CompositeGenerator(_Generator):
    """A text model writes answer + image prompt; a painter draws the prompt."""

    type: Literal["composite"] = "composite"
    text: RoleConfig
    painter: RoleConfig | None = None
    image_size: tuple[int, int] = (512, 512)
    prompt: str | None = Field(default=None, description="prompt template file with {question}")
    params: dict[str, Any] = Field(default_factory=dict)


class AnswersGenerator(_Generator):
    """Precomputed answers: JSONL ``{id, question, answer, image}``."""

    type: Literal["answers"]
    path: str
    image_dir: str | None = None


class DatasetGenerator(_Generator):
    """The answers already in a dataset, matched to the questions by sample id."""

    type: Literal["dataset"]
    path: str


Generator = Annotated[
    CompositeGenerator | AnswersGenerator | DatasetGenerator, Field(discriminator="type")
]


class BenchConfig(_Cfg):
    """A benchmark: questions, generators under test, the judge."""

    questions: QuestionSource = Field(default_factory=QuestionSource)
    generators: list[Generator] = Field(min_length=1)
    judge: RoleConfig
    judge_samples: int = Field(default=1, ge=1)
    rubric: str | None = None
    seed: int = 0
    max_in_flight: int = Field(default=32, ge=1, description="questions in flight (local)")
    #: Where the work runs; not part of the fingerprint (it changes how, not what).
    engine: Literal["local", "ray"] = "local"
    ray: RayConfig = Field(default_factory=RayConfig)

    @field_validator("generators")
    @classmethod
    def _unique(cls, v: list[Any]) -> list[Any]:
        names = [g.name for g in v]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"generator names must be unique; repeated: {', '.join(dup)}")
        return v

    def fingerprint(self) -> str:
        """A short hash of what decides the results (the engine settings do not)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"engine", "ray"}), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def with_engine(self, overrides: dict[str, Any]) -> BenchConfig:
        """A copy with the CLI's engine overrides (``{"engine": ..., "ray": {...}}``) applied."""
        ray = self.ray.model_copy(update=overrides.get("ray") or {})
        return self.model_copy(update={"engine": overrides.get("engine", self.engine), "ray": ray})


def load_bench_config(path: str | Path) -> BenchConfig:
    """Read and validate a bench YAML; errors name the file and the field."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: bench config not found") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{p}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping (questions, generators, judge)")
    try:
        cfg = BenchConfig.model_validate(data)
    except ValidationError as e:
        lines = [f"{p}: invalid bench config"]
        for err in e.errors():
            where = ".".join(str(x) for x in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise ConfigError("\n".join(lines)) from None
    return _resolve_paths(cfg, p.parent)


def _resolve_paths(cfg: BenchConfig, base: Path) -> BenchConfig:
    """Relative paths in a config are relative to the config file."""

    def fix(v: str | None) -> str | None:
        return None if v is None or Path(v).is_absolute() else str(base / v)

    if cfg.questions.path:
        cfg.questions.path = fix(cfg.questions.path)
    for g in cfg.generators:
        if isinstance(g, AnswersGenerator | DatasetGenerator):
            g.path = fix(g.path) or g.path
        if isinstance(g, AnswersGenerator) and g.image_dir:
            g.image_dir = fix(g.image_dir)
        if isinstance(g, CompositeGenerator) and g.prompt:
            g.prompt = fix(g.prompt)
    if cfg.rubric:
        cfg.rubric = fix(cfg.rubric)
    return cfg


# -- questions ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    id: str
    question: str
    domain: str = "unknown"


def _questions_yaml(path: Path) -> Iterator[Question]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise InputError(f"{path}: not valid YAML ({e})") from None
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputError(f"{path}: expected `questions: [{{id, domain, question}}, ...]`")
    for n, q in enumerate(items, start=1):
        if not isinstance(q, dict) or not q.get("id") or not q.get("question"):
            raise InputError(f"{path}: question {n} needs `id` and `question`")
        yield Question(str(q["id"]), str(q["question"]), str(q.get("domain") or "unknown"))


def _questions_jsonl(path: Path) -> Iterator[Question]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not valid JSON ({e.msg})") from None
            if not isinstance(q, dict) or not q.get("id") or not q.get("question"):
                raise InputError(f"{path}:{n}: a question needs `id` and `question`")
            yield Question(str(q["id"]), str(q["question"]), str(q.get("domain") or "unknown"))


def _questions_dataset(path: Path) -> Iterator[Question]:
    for s in open_samples(path).samples():
        if s.turns:
            yield Question(s.id, s.turns[0].question, s.topic.domain)


def load_questions(src: QuestionSource, seed: int = 0) -> list[Question]:
    """The question set of a benchmark, filtered, shuffled with ``seed`` and cut to ``limit``."""
    if src.source == "shipped":
        path = Path(str(resources.files("intersyn.resources") / "bench_questions.yaml"))
        if not path.exists():
            raise ConfigError("the shipped bench_questions.yaml is missing from this install")
        qs = list(_questions_yaml(path))
    else:
        if not src.path:
            raise ConfigError(f"questions.path is required when questions.source is {src.source!r}")
        path = Path(src.path)
        if not path.exists():
            raise InputError(f"{path}: question file or dataset not found (questions.path)")
        if src.source == "dataset":
            qs = list(_questions_dataset(path))
        elif path.suffix in (".yaml", ".yml"):
            qs = list(_questions_yaml(path))
        else:
            qs = list(_questions_jsonl(path))
    seen: set[str] = set()
    for q in qs:
        if q.id in seen:
            raise InputError(f"{path}: question id {q.id!r} appears twice; ids must be unique")
        seen.add(q.id)
    if src.domains:
        qs = [q for q in qs if q.domain in src.domains]
    if src.limit is not None and src.limit < len(qs):
        rng = random.Random(seed)
        qs = sorted(rng.sample(qs, src.limit), key=lambda q: q.id)
    if not qs:
        raise InputError(f"{path}: no questions selected (check questions.domains / limit)")
    return qs


# -- answering ------------------------------------------------------------------------------
def _seed_for(seed: int, qid: str) -> int:
    return int(hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest()[:8], 16)


def _sample(q: Question, answer: str, caption: str, image: Any, meta: dict[str, Any]) -> Sample:
    turn = Turn(index=0, question=q.question, answer=answer, caption=caption, image=image)
    topic = TopicPath(domain=q.domain, category="benchmark", topic=q.id)
    return Sample(id=q.id, topic=topic, turns=[turn], meta=meta)


def _prompt_template(gen: CompositeGenerator) -> str:
    path = Path(gen.prompt) if gen.prompt else resource_dir() / "generator_prompt.md"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: generator prompt file not found ({gen.name}.prompt)") from None
    if "{question}" not in text:
        raise ConfigError(f"{path}: a generator prompt needs a {{question}} slot")
    return text


async def _write_answer(
    gen: CompositeGenerator, models: Models, q: Question, seed: int, prompt: str
) -> tuple[str, str]:
    """The text model's (answer, image prompt); one more try with another seed on bad JSON.

    The second try is always a live call (``cache="refresh"``): a rerun replays the first,
    unusable reply from the cache for free, but asks the model again instead of replaying
    an unusable second reply too.
    """
    problem = ""
    for attempt in range(2):
        reply = await models.chat(
            "writer",
            [ChatMessage("user", prompt.replace("{question}", q.question))],
            schema=ANSWER_SCHEMA,
            params=gen.params or None,
            seed=seed + attempt,
            sample_id=q.id,
            cache="refresh" if attempt else True,
        )
        try:
            parsed = json.loads(reply.text)
            answer, caption = str(parsed["answer"]).strip(), str(parsed["image_prompt"]).strip()
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            problem = f"{type(e).__name__}: {e}"
            continue
        if answer:
            return answer, caption
        problem = "empty answer"
    raise InputError(f"the text model's reply is not the JSON {{answer, image_prompt}} ({problem})")


async def _answer_composite(
    gen: CompositeGenerator, models: Models, store: RunStore, q: Question, seed: int, prompt: str
) -> None:
    answer, caption = await _write_answer(gen, models, q, seed, prompt)
    ref = None
    if gen.painter is not None and caption:
        pic = await models.paint("painter", caption, size=gen.image_size, seed=seed, sample_id=q.id)
        ref = store.put_image(
            q.id, "t0", pic.image, seed=seed, preview=pic.preview, painter=pic.painter
        )
    meta = {"generator": gen.name, "text_model": models.model_name("writer")}
    if gen.painter is not None:
        meta["painter"] = models.model_name("painter")
    store.commit(_sample(q, answer, caption, ref, meta))


async def answer_question(
    gen: CompositeGenerator,
    models: Models,
    store: RunStore,
    q: Question,
    bench_seed: int,
    prompt: str,
) -> str | None:
    """Answer one question into ``store`` (committed, or failed with the reason, which is
    returned). The one per-question step of both engines."""
    try:
        await _answer_composite(gen, models, store, q, _seed_for(bench_seed, q.id), prompt)
    except IntersynError as e:
        reason = f"{type(e).__name__}: {e}"
        store.fail(q.id, reason, generator=gen.name)
        return reason
    return None


ModelsFactory = Callable[[CompositeGenerator, Path], Models]


def default_models(gen: CompositeGenerator, gen_dir: Path) -> Models:
    """The generator's text model as role ``writer`` and its painter as ``painter``, gated."""
    cfg = RunConfig(writer=gen.text, painter=gen.painter)
    return Models.from_config(cfg, cache_path=gen_dir / "cache.sqlite")


async def _run_composite(
    gen: CompositeGenerator,
    questions: list[Question],
    store: RunStore,
    models: Models,
    cfg: BenchConfig,
) -> None:
    prompt = _prompt_template(gen)
    done = store.done_ids()
    sem = asyncio.Semaphore(cfg.max_in_flight)
    fatal: list[str] = []  # a config problem fails every question: stop at the first

    async def one(q: Question) -> None:
        async with sem:
            if fatal:
                return
            reason = await answer_question(gen, models, store, q, cfg.seed, prompt)
            if reason and reason.startswith(f"{ConfigError.__name__}: "):
                fatal.append(reason.split(": ", 1)[1])

    try:
        await asyncio.gather(*(one(q) for q in questions if q.id not in done))
    finally:
        await models.aclose()
    if fatal:
        raise ConfigError(
            f"generator {gen.name}: {fatal[0]}\nFix the bench config and run the same command "
            "again: answered questions are kept, the failed ones are asked again."
        )


def _import_answers(gen: AnswersGenerator, questions: list[Question], store: RunStore) -> None:
    path = Path(gen.path)
    if not path.exists():
        raise InputError(f"{path}: answers file not found (generator {gen.name})")
    # The data layer's one answers reader: bad records are named by file and line.
    answers = open_samples(path, image_root=gen.image_dir)
    wanted = {q.id: q for q in questions}
    done = store.done_ids()
    for rec in answers.records():
        if rec.sample is None:
            if rec.warning:
                continue
            raise InputError(f"{rec.where}: {rec.error} (answers of generator {gen.name})")
        q = wanted.get(rec.sample.id)
        if q is None or rec.sample.id in done or not rec.sample.turns:
            continue
        turn = rec.sample.turns[0]
        ref = None
        meta = {"generator": gen.name, "source": str(path)}
        image = answers.image_or_reason(rec.sample, 0)
        if image.data is not None:
            try:
                ref = store.put_image(q.id, "t0", image.data)
            except InputError as e:
                meta["image_error"] = f"{turn.image.path if turn.image else ''}: {e}"
        elif turn.image is not None:
            # Judged as "no image" (ICC = IQ = ITS = 0), with the reason kept.
            meta["image_error"] = f"{turn.image.path}: {image.reason}"
        store.commit(_sample(q, turn.answer, turn.caption, ref, meta))
        done.add(q.id)
    for q in questions:
        if q.id not in done:
            store.fail(q.id, f"no answer for this question in {path}", generator=gen.name)


def _import_dataset(gen: DatasetGenerator, questions: list[Question], store: RunStore) -> None:
    wanted = {q.id: q for q in questions}
    done = store.done_ids()
    dataset = open_samples(gen.path)
    for s in dataset.samples():
        q = wanted.get(s.id)
        if q is None or s.id in done or not s.turns:
            continue
        ref = None
        try:
            data = dataset.image_bytes(s, 0)
        except InputError:
            data = None
        if data:
            ref = store.put_image(s.id, "t0", data, seed=s.turns[0].image_seed)
        t = s.turns[0]
        store.commit(
            _sample(q, t.answer, t.caption, ref, {"generator": gen.name, "source": gen.path})
        )
        done.add(s.id)
    for q in questions:
        if q.id not in done:
            store.fail(q.id, f"no sample with this id in {gen.path}", generator=gen.name)


# -- the run --------------------------------------------------------------------------------
def _questions_hash(questions: list[Question]) -> str:
    blob = json.dumps([[q.id, q.question] for q in questions], ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _pin_questions(out: Path, questions: list[Question]) -> None:
    """Write the question set once; a rerun into the same folder must ask the same questions."""
    path = out / "questions.jsonl"
    digest = _questions_hash(questions)
    bench_json = out / "bench.json"
    if bench_json.exists():
        old = json.loads(bench_json.read_text(encoding="utf-8")).get("questions_sha")
        if old and old != digest:
            raise ConfigError(
                f"{out}: this benchmark folder was run with another question set; "
                "use a new --out folder (or delete this one) to change the questions"
            )
    lines = [json.dumps(q.__dict__, ensure_ascii=False) for q in questions]
    atomic_write_text(path, "\n".join(lines) + "\n")
    atomic_write_text(
        bench_json, json.dumps({"questions_sha": digest, "n": len(questions)}, indent=2)
    )


def _answer(
    gen: CompositeGenerator | AnswersGenerator | DatasetGenerator,
    questions: list[Question],
    gen_dir: Path,
    cfg: BenchConfig,
    models_factory: ModelsFactory,
) -> RunStore:
    store = RunStore(gen_dir / "answers")
    store.write_meta({"generator": gen.model_dump(mode="json"), "bench": cfg.fingerprint()})
    try:
        if isinstance(gen, CompositeGenerator) and cfg.engine == "ray":
            from intersyn.engine.ray_bench import answer_on_ray

            answer_on_ray(gen, questions, store, cfg, models_factory, _prompt_template(gen))
        elif isinstance(gen, CompositeGenerator):
            asyncio.run(_run_composite(gen, questions, store, models_factory(gen, gen_dir), cfg))
        elif isinstance(gen, AnswersGenerator):
            _import_answers(gen, questions, store)
        else:
            _import_dataset(gen, questions, store)
    finally:
        store.close()
    return store


def _judge(gen_dir: Path, cfg: BenchConfig, judge_models: Models | None) -> Path | None:
    from intersyn.judge.runner import run_judge

    answers = gen_dir / "answers"
    if not RunStore(answers, fsync=False).done_ids():
        return None  # nothing answered: nothing to judge (failures are counted)
    judge_cfg = RunConfig(
        judge=cfg.judge, rubric=cfg.rubric, seed=cfg.seed, engine=cfg.engine, ray=cfg.ray
    )
    if cfg.engine == "ray":  # the same judgement set as run_judge writes
        from intersyn.engine.ray_judge import judge_on_ray

        run = asyncio.run(
            judge_on_ray(answers, judge_cfg, gen_dir / "judged", samples=cfg.judge_samples)
        )
        set_dir = Path(run.path)
    else:
        set_dir = Path(
            run_judge(
                answers,
                judge_cfg,
                gen_dir / "judged",
                samples=cfg.judge_samples,
                models=judge_models,
            )
        )
    rel = set_dir.relative_to(gen_dir) if set_dir.is_relative_to(gen_dir) else set_dir
    atomic_write_text(gen_dir / "judged.json", json.dumps({"set": str(rel)}))
    return set_dir


def run_bench(
    cfg: BenchConfig,
    out_dir: str | Path,
    *,
    models_factory: ModelsFactory = default_models,
    judge_models: Models | None = None,
    only: list[str] | None = None,
    judge: bool = True,
    log: Callable[[str], None] = lambda _msg: None,
) -> Path:
    """Answer, judge and rank; returns the leaderboard page. Rerunning resumes.

    ``models_factory`` builds the gate for a composite generator (tests pass test doubles);
    ``judge_models`` likewise for the judge. ``only`` limits the run to some generators.
    With ``cfg.engine == "ray"`` every Ray worker calls ``models_factory`` for its own gate
    (so it must pickle), and the judge builds its gates from ``cfg.judge``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    questions = load_questions(cfg.questions, cfg.seed)
    _pin_questions(out, questions)
    unknown = sorted(set(only or []) - {g.name for g in cfg.generators})
    if unknown:
        raise ConfigError(f"--only names unknown generators: {', '.join(unknown)}")
    if cfg.engine == "ray":
        if judge_models is not None:
            raise ConfigError(
                "the Ray engine builds one judge gate per worker; judge_models= is for local runs"
            )
        from intersyn.engine.ray_engine import connect

        started = connect(cfg.ray.address)  # once for every generator and the judge
        try:
            _run_generators(cfg, out, questions, only, models_factory, None, judge, log)
        finally:
            if started:
                import ray

                ray.shutdown()
    else:
        _run_generators(cfg, out, questions, only, models_factory, judge_models, judge, log)
    return build_bench_report(out)


def _run_generators(
    cfg: BenchConfig,
    out: Path,
    questions: list[Question],
    only: list[str] | None,
    models_factory: ModelsFactory,
    judge_models: Models | None,
    judge: bool,
    log: Callable[[str], None],
) -> None:
    for gen in cfg.generators:
        if only and gen.name not in only:
            continue
        gen_dir = out / "generators" / gen.name
        log(f"{gen.name}: answering {len(questions)} questions")
        store = _answer(gen, questions, gen_dir, cfg, models_factory)
        failed = len(RunStore(store.root, fsync=False).failures())
        if failed:
            log(f"{gen.name}: {failed} questions without an answer (see answers/failed/)")
        if judge:
            log(f"{gen.name}: judging")
            _judge(gen_dir, cfg, judge_models)


# -- leaderboard from a bench folder --------------------------------------------------------
def is_bench_dir(path: str | Path) -> bool:
    p = Path(path)
    return (p / "bench.json").is_file() and (p / "generators").is_dir()


def _question_ids(out: Path) -> set[str]:
    return {str(r["id"]) for r in read_jsonl_tolerant(out / "questions.jsonl") if "id" in r}


def judgement_set_of(gen_dir: Path) -> Path | None:
    """The judgement set the last bench run made for a generator."""
    record = gen_dir / "judged.json"
    if record.exists():
        rel = Path(json.loads(record.read_text(encoding="utf-8"))["set"])
        return rel if rel.is_absolute() else gen_dir / rel
    return gen_dir / "judged" if (gen_dir / "judged").exists() else None


def generator_results(out: Path) -> Iterator[tuple[str, Path, list[Judgement], int]]:
    """(name, folder, judgements on the bench's questions, questions left unanswered)."""
    ids = _question_ids(out)
    for gen_dir in sorted((out / "generators").iterdir()):
        if not gen_dir.is_dir():
            continue
        answered = RunStore(gen_dir / "answers", fsync=False).done_ids() & ids
        set_dir = judgement_set_of(gen_dir)
        judgements = load_judgement_list(set_dir) if set_dir is not None else []
        judgements = [j for j in judgements if j.sample_id in ids]
        yield gen_dir.name, gen_dir, judgements, len(ids - answered)


def build_leaderboard(bench_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Leaderboard of a bench folder (Markdown, CSV, JSON, HTML, charts); returns the HTML."""
    out = Path(bench_dir)
    if not is_bench_dir(out):
        raise InputError(
            f"{out}: not a benchmark folder (no bench.json); run `intersyn bench` first"
        )
    target = Path(out_dir) if out_dir else out / "leaderboard"
    claim_folder(target, "leaderboard", inputs=[out / "generators"])
    entries: list[Entry] = []
    for name, _gen_dir, judgements, unanswered in generator_results(out):
        if not judgements:
            empty = dict.fromkeys(DIMENSIONS, None)
            entries.append(Entry(name, dict(empty), dict(empty), None, None, 0, 0, unanswered))
            continue
        entry = entry_from_judgements(name, judgements, n_failed=unanswered)
        if (target.parent / "reports" / name / "index.html").exists():
            entry.report = f"../reports/{name}/index.html"
        entries.append(entry)
    if not entries:
        raise InputError(f"{out}: no generator results yet")
    return write_leaderboard(entries, target, title=f"Leaderboard · {out.name}")


def build_bench_report(bench_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """A benchmark's leaderboard plus one report per generator; returns the leaderboard page."""
    from intersyn.report.html import build_report

    out = Path(bench_dir)
    target = Path(out_dir) if out_dir else out
    guard_output(target / "reports", [out / "generators"])  # before any report is written
    check_folder_output(target / "leaderboard", "leaderboard", inputs=[out / "generators"])
    for name, gen_dir, judgements, _unanswered in generator_results(out):
        if judgements:
            build_report(
                gen_dir / "answers",
                judgements,
                target / "reports" / name,
                title=f"{name} · {out.name}",
            )
    return build_leaderboard(out, target / "leaderboard")
