"""``intersyn generate``, ``intersyn quickstart`` and ``intersyn topics show|stats|expand|place``."""

from __future__ import annotations

import asyncio
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import click

from intersyn.config import RunConfig, load_config
from intersyn.engine.ray_cli import engine_options, engine_overrides
from intersyn.errors import ConfigError

EXIT_BUDGET = 3


def parse_turns(value: str) -> list[float]:
    """``"3"`` → exactly 3 turns; ``"1-5"`` → uniform over 1..5 (SeirConfig.turn_weights)."""
    try:
        if "-" in value:
            lo, hi = (int(x) for x in value.split("-", 1))
        else:
            lo = hi = int(value)
    except ValueError:
        raise ConfigError(f"--turns {value!r}: give a number (3) or a range (1-5)") from None
    if not 1 <= lo <= hi:
        raise ConfigError(f"--turns {value!r}: turns start at 1 and the range must not be empty")
    return [0.0] * (lo - 1) + [1.0] * (hi - lo + 1)


def _overrides(
    *,
    turns: str | None,
    seed: int | None,
    k: int | None,
    no_refine: bool,
    max_in_flight: int | None,
    budget: float | None,
    topics: str | None,
    templates: str | None,
) -> dict[str, Any]:
    seir: dict[str, Any] = {}
    if turns:
        seir["turn_weights"] = parse_turns(turns)
    if no_refine:
        k = 0
    if k is not None:
        seir.update(k_question=k, k_answer=k, k_image=k)
    if topics:
        seir["topics"] = topics
    if templates:
        seir["templates"] = templates
    out: dict[str, Any] = {"seir": seir} if seir else {}
    if seed is not None:
        out["seed"] = seed
    if max_in_flight is not None:
        out["max_in_flight"] = max_in_flight
    if budget is not None:
        out["budget_usd"] = budget
    return out


def _write_usage(result: Any) -> None:
    """The run's usage report as ``usage.json`` (what `intersyn models usage RUN_DIR` reads),
    for either engine. It covers this invocation: a ``--resume`` writes its own calls."""
    if isinstance(result.usage, dict) and result.usage:
        import json

        from intersyn.data.journal import atomic_write_text

        path = Path(result.out_dir) / "usage.json"
        atomic_write_text(path, json.dumps(result.usage, indent=2) + "\n")


def _summary(result: Any) -> None:
    click.echo(
        f"{result.out_dir}: {result.done} made, {result.failed} failed, "
        f"{result.skipped} already there; {result.rate:.2f} samples/s over {result.elapsed_s:.1f} s"
    )
    total = result.usage.get("total", {}) if isinstance(result.usage, dict) else {}
    if total:
        click.echo(
            f"  tokens in/out {total.get('input_tokens', 0):,}/{total.get('output_tokens', 0):,}, "
            f"images {total.get('images_made', 0):,}, cache hits {total.get('cache_hits', 0):,}, "
            f"spend ${float(total.get('cost_usd', 0.0)):.4f}"
        )
    if result.failed:
        click.echo(
            f"  failures and their reasons: {result.out_dir / 'failed'}; "
            "rerun them with --retry-failed"
        )
    if result.finalize_note:
        click.echo(f"  {result.finalize_note}")
    if result.budget_stopped:
        click.echo("  stopped: the budget was reached; raise budget_usd and run with --resume")


@click.command()
@click.option(
    "--config", "-c", "config_path", type=click.Path(dir_okay=False), help="Run config YAML."
)
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("-n", "n", type=click.IntRange(min=0), help="Number of samples (ids s000001…).")
@click.option("--turns", help="Turns per sample: a number (1) or a range (1-5; the default).")
@click.option("--seed", type=int, help="Run seed: fixes topics, templates, turns, image seeds.")
@click.option("--k", "k", type=click.IntRange(min=0), help="Refine rounds per stage (default 3).")
@click.option("--no-refine", is_flag=True, help="K = 0: one draft per stage (the ablation).")
@click.option("--resume", is_flag=True, help="Finish an interrupted run in --out.")
@click.option("--retry-failed", is_flag=True, help="Also rerun the samples that failed.")
@click.option("--force", is_flag=True, help="Resume even though the config changed.")
@click.option("--max-in-flight", type=click.IntRange(min=1), help="Samples in flight at once.")
@click.option("--budget", type=float, help="Stop cleanly once this many USD are spent.")
@click.option(
    "--topics",
    type=click.Path(dir_okay=False),
    help="Topic hierarchy YAML, or a flat JSON/YAML list of topic names.",
)
@click.option(
    "--templates",
    type=click.Path(dir_okay=False),
    help="Question templates YAML, or a JSON/YAML list with a *** or {topic} slot.",
)
@click.option("--no-finalize", is_flag=True, help="Do not write Parquet shards at the end.")
@click.option("--progress/--no-progress", default=None, help="Live progress (default: on a TTY).")
@engine_options
def generate(
    config_path: str | None,
    out: str,
    n: int | None,
    turns: str | None,
    seed: int | None,
    k: int | None,
    no_refine: bool,
    resume: bool,
    retry_failed: bool,
    force: bool,
    max_in_flight: int | None,
    budget: float | None,
    topics: str | None,
    templates: str | None,
    no_finalize: bool,
    progress: bool | None,
    engine: str | None,
    address: str | None,
    workers: int | None,
) -> None:
    """Generate interleaved samples with SEIR into a run directory.

    \b
    Example:
      intersyn generate --config run.yaml --out runs/a -n 1000 --turns 1-5
      intersyn generate --config run.yaml --out runs/a --resume
      intersyn generate --config run.yaml --out /shared/a -n 100000 --engine ray --address auto
    """
    from intersyn.seir.runner import generate as run

    if n is None and not (resume or retry_failed):
        raise click.UsageError("give -n (how many samples), or --resume an existing run")
    overrides = _overrides(
        turns=turns,
        seed=seed,
        k=k,
        no_refine=no_refine,
        max_in_flight=max_in_flight,
        budget=budget,
        topics=topics,
        templates=templates,
    )
    overrides.update(engine_overrides(engine, address, workers))
    cfg = _run_config(config_path, Path(out), overrides, resume or retry_failed)
    _print_input_notes(cfg.seir.topics, cfg.seir.templates)
    if cfg.engine == "ray":  # same run directory layout: --resume works across engines
        from intersyn.engine.ray_seir import generate_on_ray as run
    result = run(
        cfg,
        Path(out),
        n,
        resume=resume,
        retry_failed=retry_failed,
        force=force,
        progress=progress,
        finalize=not no_finalize,
    )
    _write_usage(result)
    _summary(result)
    if result.budget_stopped:
        sys.exit(EXIT_BUDGET)


def _print_input_notes(topics: str | None, templates: str | None, shown: int = 10) -> None:
    """Before a run starts, for the user's own topics and templates files: the layout of a
    flat list and every entry left out (the first ``shown`` here; run.json keeps them all)."""
    from intersyn.seir.topics import (
        LAYOUT_LIST,
        Hierarchy,
        Templates,
        left_out_notes,
        load_hierarchy,
        load_templates,
    )

    h = load_hierarchy(topics) if topics else Hierarchy([])
    t = load_templates(templates) if templates else Templates([])
    for what, given, layout, source in (
        ("topics", topics, h.layout, h.source),
        ("templates", templates, t.layout, t.source),
    ):
        if given and layout == LAYOUT_LIST:
            click.echo(f"{source}: {what} read as a flat list", err=True)
    notes = left_out_notes(h, t)
    for line in notes[:shown]:
        click.echo(f"  {line}", err=True)
    if len(notes) > shown:
        click.echo(f"  … and {len(notes) - shown} more (listed in run.json)", err=True)


def _run_config(
    config_path: str | None, out: Path, overrides: dict[str, Any], resuming: bool
) -> RunConfig:
    """The config file, or, when resuming without one, the config stored in run.json."""
    meta_path = out / "run.json"
    if config_path is None and resuming and meta_path.exists():
        import json

        from intersyn.config import deep_merge

        try:
            stored = json.loads(meta_path.read_text(encoding="utf-8"))["config"]
        except (KeyError, ValueError) as e:
            raise ConfigError(f"{meta_path}: no readable config ({e}); pass --config") from None
        try:
            return RunConfig.model_validate(deep_merge(stored, overrides))
        except ValueError as e:
            raise ConfigError(f"{meta_path}: the stored config is invalid: {e}") from None
    return load_config(config_path, overrides)


# -- quickstart ----------------------------------------------------------------------------


def quickstart_path() -> Path:
    """The shipped quickstart config (a starting point for one's own run config)."""
    return Path(str(resources.files("intersyn.resources").joinpath("quickstart.yaml")))


def quickstart_config(turns: str | None = None, k: int | None = None) -> RunConfig:
    """The quickstart's config with the ``--turns`` and ``--k`` overrides applied."""
    path = quickstart_path()
    seir: dict[str, Any] = {}
    if turns:
        seir["turn_weights"] = parse_turns(turns)
    if k is not None:
        seir.update(k_question=k, k_answer=k, k_image=k)
    return load_config(path, {"seir": seir} if seir else None)


@click.command()
@click.option("--out", "-o", default="runs/quickstart", show_default=True, type=click.Path())
@click.option("-n", "n", default=4, show_default=True, type=click.IntRange(min=1))
@click.option("--turns", default="1-2", show_default=True, help="A number or a range.")
@click.option("--k", "k", default=1, show_default=True, type=click.IntRange(min=0))
@click.option("--resume", is_flag=True, help="Finish an interrupted quickstart in --out.")
@click.option("--retry-failed", is_flag=True, help="Also rerun the samples that failed.")
def quickstart(out: str, n: int, turns: str, k: int, resume: bool, retry_failed: bool) -> None:
    """Offline demo: a small SEIR run on the embedded SmolLM2, judged, with a report.

    It demonstrates the pipeline, not model quality.

    \b
    Example:
      intersyn quickstart                      # 4 samples into runs/quickstart/
      intersyn quickstart --out demo -n 2 --turns 1
    """
    from intersyn.seir.runner import generate as run

    cfg = quickstart_config(turns, k)
    root = Path(out)
    click.echo(
        "intersyn quickstart: SEIR on the embedded SmolLM2-135M (CPU, llama.cpp), preview "
        "painter, caption-proxy inspection. This demonstrates the pipeline, not model quality."
    )
    click.echo(f"generating {n} sample(s) with K = {k} (a few minutes on a laptop CPU)…")

    def note(sample_id: str, status: str) -> None:  # without a TTY there is no live panel
        click.echo(f"  {sample_id}: {status}", err=True)

    on_sample = None if sys.stderr.isatty() else note
    result = run(
        cfg,
        root / "run",
        n,
        resume=resume,
        retry_failed=retry_failed,
        progress=None,
        on_sample=on_sample,
    )
    _write_usage(result)
    _summary(result)
    judged, report = _judge_and_report(cfg, root, result)
    click.echo("\nWhere to look:")
    click.echo(f"  samples, traces, images: {root / 'run'}")
    if result.dataset is not None:
        click.echo(f"  Parquet dataset:         {result.dataset}")
    if judged is not None:
        click.echo(f"  judgements:              {judged}")
    if report is not None:
        click.echo(f"  report (open in a browser): {report}")
    click.echo(
        "\nTo run on your own models, copy the quickstart's config, replace its writer section "
        "with one line (critic and judge follow it) and run `intersyn generate`:\n"
        f"  cp {quickstart_path()} run.yaml\n"
        "  writer: {backend: openai, model: Qwen/Qwen2.5-7B-Instruct, "
        "base_url: http://127.0.0.1:8000/v1}   # vLLM\n"
        "  (Ollama: base_url http://127.0.0.1:11434/v1, model qwen2.5:7b; OpenAI: base_url "
        "https://api.openai.com/v1, model gpt-4o-mini, api_key_env: OPENAI_API_KEY)\n"
        "  intersyn generate --config run.yaml --out runs/mine -n 100"
    )
    if report is None:
        raise click.ClickException(
            f"no sample was finished, so nothing was judged: the reasons are in "
            f"{root / 'run' / 'failed'}"
        )


def _judge_and_report(cfg: RunConfig, root: Path, result: Any) -> tuple[Path | None, Path | None]:
    """Judge the run's samples (caption-proxy SynJudge) and build the HTML report.

    Every finished sample of the run counts, not only this session's: a ``--resume`` after
    an interruption judges (resuming the judgement set) and reports too.
    """
    from intersyn.data.store import RunStore
    from intersyn.judge.runner import run_judge
    from intersyn.report.html import build_report

    dataset = result.dataset.parent if result.dataset is not None else root / "run"
    if not RunStore(root / "run").done_ids():
        click.echo("judging skipped: no sample was finished")
        return None, None
    click.echo("judging the samples (TCC, ICC, IQ, ITS; caption-proxy: the judge sees no image)…")
    judged = run_judge(dataset, cfg, root / "judged")
    return judged, build_report(dataset, judged, root / "report")


# -- topics --------------------------------------------------------------------------------


@click.group()
def topics() -> None:
    """Show, count or expand a topic hierarchy."""


def _print_list_layout(h: Any) -> None:
    """Say so when a hierarchy came from a flat list, and name the entries left out."""
    from intersyn.seir.topics import LAYOUT_LIST

    if h.layout == LAYOUT_LIST:
        click.echo(
            f"{h.source}: a flat list of topics, read under domain and category 'unknown' "
            "(group them with `intersyn topics place`)"
        )
    for x in h.left_out:
        click.echo(f"  line {x.line}: {x.reason}, left out")


@topics.command("show")
@click.option(
    "--path",
    type=click.Path(dir_okay=False),
    help="Hierarchy YAML or flat topic list (default: shipped).",
)
@click.option("--domain", help="Only this domain.")
@click.option("--limit", default=5, show_default=True, help="Topics shown per category (0: all).")
def topics_show(path: str | None, domain: str | None, limit: int) -> None:
    """Print the hierarchy as a tree.

    \b
    Example:  intersyn topics show --domain Animals --limit 3
    """
    from intersyn.seir.topics import load_hierarchy, normalize

    h = load_hierarchy(path)
    _print_list_layout(h)
    shown = [d for d in h.domains if domain is None or normalize(d.name) == normalize(domain)]
    if not shown:
        names = ", ".join(d.name for d in h.domains)
        raise click.ClickException(f"no domain {domain!r} in {h.source}; domains: {names}")
    for d in shown:
        click.echo(f"{d.name}")
        for c in d.categories:
            items = c.topics if limit <= 0 else c.topics[:limit]
            more = f", … (+{len(c.topics) - len(items)})" if len(items) < len(c.topics) else ""
            click.echo(f"  {c.name} ({len(c.topics)}): {', '.join(items)}{more}")


@topics.command("stats")
@click.option(
    "--path",
    type=click.Path(dir_okay=False),
    help="Hierarchy YAML or flat topic list (default: shipped).",
)
@click.option(
    "--templates", type=click.Path(dir_okay=False), help="Templates YAML or list to count too."
)
def topics_stats(path: str | None, templates: str | None) -> None:
    """Counts per domain, duplicates dropped, and template forms.

    \b
    Example:  intersyn topics stats
    """
    from collections import Counter

    from intersyn.seir.topics import default_path, load_hierarchy, load_templates

    h = load_hierarchy(path)
    c = h.counts()
    _print_list_layout(h)
    click.echo(
        f"{h.source}: {c['domains']} domains, {c['categories']} categories, {c['topics']} topics"
    )
    for d in h.domains:
        n = sum(len(x.topics) for x in d.categories)
        click.echo(f"  {d.name}: {len(d.categories)} categories, {n} topics")
    if h.duplicates:
        click.echo(f"  {len(h.duplicates)} duplicate topics dropped (case/space-insensitive):")
        for dup in h.duplicates[:10]:
            click.echo(f"    line {dup.line}: {dup.topic!r} = {dup.first}")
    if templates is not None or default_path("templates.yaml").exists():
        t = load_templates(templates)
        forms = Counter(x.form for x in t)
        click.echo(
            f"{t.source}: {len(t)} templates ({t.layout}); forms: "
            + ", ".join(f"{f} {n}" for f, n in forms.most_common())
        )
        if t.left_out:
            click.echo(f"  {len(t.left_out)} templates left out:")
            for x in t.left_out:
                click.echo(f"    line {x.line}: {x.text!r}: {x.reason}")


@topics.command("expand")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), required=True)
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="YAML to write.")
@click.option(
    "--from", "base", type=click.Path(dir_okay=False), help="Hierarchy (or flat list) to grow."
)
@click.option("--domains", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--categories", default=65, show_default=True, type=click.IntRange(min=1))
@click.option("--topics", "n_topics", default=3500, show_default=True, type=click.IntRange(min=1))
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists (never --from).")
def topics_expand(
    config_path: str,
    out: str,
    base: str | None,
    domains: int,
    categories: int,
    n_topics: int,
    overwrite: bool,
) -> None:
    """Build or grow a hierarchy with the writer model (domains → categories → topics).

    The hierarchy is saved to --out as it grows; --from reads one to grow (never written).

    \b
    Example:
      intersyn topics expand --config run.yaml --out my_topics.yaml --topics 500
      intersyn topics expand --config run.yaml --from my_topics.yaml --out more_topics.yaml
    """
    from intersyn.data.outputs import check_file_output
    from intersyn.models.gate import Models
    from intersyn.seir.expand import expand_hierarchy, write_hierarchy
    from intersyn.seir.prompts import Prompts
    from intersyn.seir.topics import load_hierarchy

    check_file_output(out, [base, config_path], overwrite=overwrite)
    cfg = load_config(config_path)
    start = load_hierarchy(base) if base else None
    target = Path(out)

    async def go() -> Any:
        models = Models.from_config(cfg, roles=["writer"])
        try:
            return await expand_hierarchy(
                models,
                Prompts(cfg.seir.prompts_dir),
                base=start,
                domains=domains,
                categories=categories,
                topics=n_topics,
                save=lambda h: write_hierarchy(h, target),
            )
        finally:
            await models.aclose()

    h = asyncio.run(go())
    c = h.counts()
    click.echo(
        f"{target}: {c['domains']} domains, {c['categories']} categories, {c['topics']} topics"
    )
    short = [
        k
        for k, want in (("domains", domains), ("categories", categories), ("topics", n_topics))
        if c[k] < want
    ]
    if short:
        click.echo(
            f"  below target for {', '.join(short)}: the model ran out of new names; "
            f"rerun with --from {target} and a new --out to continue"
        )


@topics.command("place")
@click.argument("topic_list", type=click.Path(dir_okay=False, exists=True))
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), required=True)
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False), help="YAML to write.")
@click.option(
    "--hierarchy",
    "target",
    type=click.Path(dir_okay=False),
    help="Hierarchy whose categories to use (default: the shipped one).",
)
@click.option("--batch", default=20, show_default=True, type=click.IntRange(min=1, max=200))
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def topics_place(
    topic_list: str, config_path: str, out: str, target: str | None, batch: int, overwrite: bool
) -> None:
    """Group a flat topic list into the categories of a hierarchy, with the writer model.

    Each topic goes to one `Domain / Category` of --hierarchy (the reply is constrained to
    that list) or stays unplaced, with the reason; unplaced topics are kept under
    unknown / unknown. Writes --out (a hierarchy YAML) and --out's name + `.place.json`
    (counts per category, every unplaced topic and why).

    \b
    Example:
      intersyn topics place object.json --config run.yaml --out placed.yaml
      intersyn generate --config run.yaml --topics placed.yaml --out runs/a -n 100
    """
    import json

    from intersyn.data.journal import atomic_write_text
    from intersyn.data.outputs import check_file_output
    from intersyn.models.gate import Models
    from intersyn.seir.expand import write_hierarchy
    from intersyn.seir.place import place_topics
    from intersyn.seir.prompts import Prompts
    from intersyn.seir.topics import default_path, load_hierarchy

    target_path = Path(out)
    report_path = target_path.with_name(target_path.name + ".place.json")
    inputs = [Path(topic_list), Path(target) if target else default_path("topics.yaml")]
    for written in (target_path, report_path):
        check_file_output(written, [*inputs, config_path], overwrite=overwrite)
    cfg = load_config(config_path)
    topics_h = load_hierarchy(topic_list)
    _print_list_layout(topics_h)
    categories = load_hierarchy(target)

    async def go() -> Any:
        models = Models.from_config(cfg, roles=["writer"])
        try:
            return await place_topics(
                models, Prompts(cfg.seir.prompts_dir), topics_h, categories, batch=batch
            )
        finally:
            await models.aclose()

    placed = asyncio.run(go())
    write_hierarchy(placed.hierarchy, target_path)
    report = {"topics": topics_h.source, "hierarchy": categories.source, **placed.report()}
    atomic_write_text(report_path, json.dumps(report, indent=2, ensure_ascii=False))
    c = placed.hierarchy.counts()
    click.echo(
        f"{target_path}: {placed.placed} of {c['topics']} topics placed in "
        f"{len(report['per_category']) - (1 if placed.unplaced else 0)} categories "
        f"({placed.calls} calls)"
    )
    if placed.unplaced:
        click.echo(
            f"  {len(placed.unplaced)} not placed (kept under unknown / unknown); "
            f"why, for each: {report_path}"
        )
        for u in placed.unplaced[:5]:
            click.echo(f"    {u.topic!r}: {u.reason}")
