"""``intersyn judge``, ``intersyn summary`` and ``intersyn agree``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from intersyn.data.outputs import check_file_output, check_folder_output, claim_folder, guard_output
from intersyn.engine.ray_cli import engine_options, engine_overrides
from intersyn.errors import BudgetExceeded, InputError
from intersyn.schema import DIMENSIONS

_PATH = click.Path(path_type=Path)
#: Exit status when the spending budget stopped the run (as `intersyn generate`).
EXIT_BUDGET = 3


@click.command()
@click.argument("input_path", metavar="INPUT", type=_PATH)
@click.option("--config", "-c", "config_path", type=_PATH, help="Run config with a `judge:` role.")
@click.option("--out", "-o", "out_dir", type=_PATH, required=True, help="Judge output directory.")
@click.option(
    "--samples", "-k", default=1, show_default=True, help="Draws per turn (k > 1: T > 0)."
)
@click.option("--image-dir", type=_PATH, help="Images of an answers JSONL (default: its folder).")
@click.option("--rubric", type=_PATH, help="Your own rubric YAML (default: shipped SynJudge v1).")
@click.option(
    "--prompt-file",
    type=_PATH,
    help="Your own judge prompt (one Jinja file); its output format is parsed, no schema sent.",
)
@click.option("--temperature", type=float, help="Sampling temperature of the judge.")
@click.option("--limit", type=int, help="Judge at most this many more turns.")
@click.option("--resume/--no-resume", default=True, help="Skip turns already judged (default).")
@engine_options
def judge(
    input_path: Path,
    config_path: Path | None,
    out_dir: Path,
    samples: int,
    image_dir: Path | None,
    rubric: Path | None,
    prompt_file: Path | None,
    temperature: float | None,
    limit: int | None,
    resume: bool,
    engine: str | None,
    address: str | None,
    workers: int | None,
) -> None:
    """Score every turn of INPUT on TCC, ICC, IQ and ITS (integers 0-5).

    INPUT is a dataset (run directory, intersyn Parquet, InterSyn Hub parquet) or an answers
    JSONL {id, question, answer, image}. Judgements are appended as they finish; rerunning
    the same command resumes. Example:

    \b
      intersyn judge answers.jsonl --image-dir imgs --config judge.yaml --out runs/judged -k 5
      intersyn judge answers.jsonl --config judge.yaml --out runs/j-own --prompt-file my.j2
      intersyn judge /shared/runs/a --config judge.yaml --out /shared/judged --engine ray
    """
    import asyncio

    from intersyn.config import load_config
    from intersyn.judge.runner import judge_async
    from intersyn.judge.store import load_set
    from intersyn.judge.summary import summarize

    guard_output(out_dir, [input_path, image_dir, prompt_file])
    overrides = engine_overrides(engine, address, workers)
    if prompt_file is not None:
        from intersyn.judge.prompts import load_prompts

        load_prompts(prompt_file=prompt_file)  # a missing or broken file stops here, first
        overrides["judge_prompt"] = str(prompt_file)
    cfg = load_config(config_path, overrides)
    if cfg.engine == "ray":  # same judgement set layout: a rerun resumes across engines
        from intersyn.engine.ray_judge import judge_on_ray as judge_async
    if not resume and out_dir.exists() and any(out_dir.iterdir()):
        raise InputError(
            f"{out_dir}: exists and is not empty; --no-resume never overwrites judgements "
            "(choose another --out, or drop --no-resume to continue)"
        )
    console = _console()
    with console.status("judging…") as status:
        n = [0]

        def tick(_: object) -> None:
            n[0] += 1
            status.update(f"judging… {n[0]} turns")

        try:
            run = asyncio.run(
                judge_async(
                    input_path,
                    cfg,
                    out_dir,
                    samples=samples,
                    image_dir=image_dir,
                    rubric_path=rubric,
                    temperature=temperature,
                    limit=limit,
                    on_judged=tick,
                )
            )
        except BudgetExceeded as e:
            console.print(
                f"[yellow]budget reached after {n[0]} turns: {e}[/]\nEvery judgement made is "
                "kept; rerun the same command (with a larger budget) to continue."
            )
            raise SystemExit(EXIT_BUDGET) from None
    counts = ", ".join(f"{k} {v}" for k, v in sorted(run.counts.items())) or "nothing to do"
    console.print(f"judgement set: {run.path}  ({counts})")
    if run.first_error:
        console.print(
            f"[red]{run.counts['error']} turns failed (rerun to retry them); first: "
            f"{run.first_error}[/]"
        )
    if run.mode == "caption-proxy":
        console.print("[yellow]the judge cannot see images: caption-proxy mode (marked)[/]")
    if run.image_problems:
        console.print(f"[yellow]{len(run.image_problems)} turns judged as having no image:[/]")
        for line in run.image_problems[:5]:
            console.print(f"  {line}")
    js = load_set(run.path)
    summary = summarize(js.judgements, js.topics)
    from intersyn.data.journal import atomic_write_text

    atomic_write_text(run.path / "summary.json", json.dumps(summary, indent=2))
    print_summary(console, summary)


@click.command()
@click.argument("path", type=_PATH)
@click.option(
    "--dataset", type=_PATH, help="Dataset for topics (default: topics stored in the set)."
)
@click.option("--json", "json_out", type=_PATH, help="Also write the summary as JSON here.")
@click.option(
    "--items",
    "items_out",
    type=_PATH,
    help="Also write every turn's mean and std per dimension over its draws (CSV).",
)
@click.option(
    "--n-boot",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap resamples for CIs (0: no CIs).",
)
@click.option("--seed", default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace --json / --items files that exist.")
def summary(
    path: Path,
    dataset: Path | None,
    json_out: Path | None,
    items_out: Path | None,
    n_boot: int,
    seed: int,
    overwrite: bool,
) -> None:
    """Summarise a judgement set: per dimension mean, variance, 95% CI, n, n unparsed;
    overall; by domain and category; instability when judged k > 1 times.

    \b
      intersyn summary runs/judged --json runs/judged-summary.json
      intersyn summary runs/judged-k5 --items runs/judged-k5-items.csv
    """
    from intersyn.judge.store import load_set
    from intersyn.judge.summary import summarize

    for flag, target in (("--json", json_out), ("--items", items_out)):
        if target is not None:
            check_file_output(target, [path, dataset], overwrite=overwrite, flag=flag)
    if json_out is not None and items_out is not None and json_out.resolve() == items_out.resolve():
        raise InputError("--json and --items name the same file; give two different files")

    js = load_set(path)
    topics: Any = js.topics
    if dataset is not None:
        from intersyn.data.dataset import open_dataset

        topics = {s.id: s.topic for s in open_dataset(dataset).samples()}
    result = summarize(js.judgements, topics or None, n_boot=n_boot, seed=seed)
    if json_out is not None:
        from intersyn.data.journal import atomic_write_text

        atomic_write_text(json_out, json.dumps(result, indent=2))
    if items_out is not None:
        write_items_csv(js.judgements, items_out)
    print_summary(_console(), result)


def write_items_csv(judgements: list[Any], path: Path) -> None:
    """Every turn's mean and standard deviation per dimension over its draws, as CSV."""
    import csv
    import io

    from intersyn.data.journal import atomic_write_text
    from intersyn.judge.summary import item_stats

    buf = io.StringIO()
    cols = ["sample_id", "turn", "status", "n_draws"]
    cols += [f"{d}_{x}" for d in DIMENSIONS for x in ("mean", "std")]
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    for j in sorted(judgements, key=lambda j: (j.sample_id, j.turn)):
        w.writerow({k: ("" if v is None else v) for k, v in item_stats(j).items()})
    atomic_write_text(path, buf.getvalue())


@click.command()
@click.option(
    "--judge",
    "-j",
    "judges",
    type=_PATH,
    multiple=True,
    required=True,
    help="A judgement set or judge output (repeat, or list several).",
)
@click.argument("more_judges", nargs=-1, type=_PATH)
@click.option(
    "--human",
    "human",
    type=_PATH,
    required=True,
    help="Human ratings: .parquet, .jsonl or .csv.",
)
@click.option(
    "--out", "-o", "out_dir", type=_PATH, help="Write agreement.json and the charts here."
)
@click.option(
    "--n-boot",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Bootstrap resamples for CIs (0: no CIs).",
)
@click.option("--seed", default=0, show_default=True)
def agree(
    judges: tuple[Path, ...],
    more_judges: tuple[Path, ...],
    human: Path,
    out_dir: Path | None,
    n_boot: int,
    seed: int,
) -> None:
    """Agreement of judges with human ratings (RMSE, MAE, exact, A@1, Pearson, Spearman,
    Kendall, QWK with 95% CIs) and between annotators (Krippendorff's alpha, pairwise A@1).

    \b
      intersyn agree --judge runs/j-gpt4o runs/j-qwen --human ratings.csv --out runs/agree
    """
    from intersyn.judge.agreement import compare
    from intersyn.judge.ratings import load_ratings
    from intersyn.judge.store import load_set

    inputs = [*judges, *more_judges, human]
    if out_dir is not None:
        check_folder_output(out_dir, "agree", inputs=inputs)
    ratings = load_ratings(human)
    named: dict[str, Any] = {}
    for p in (*judges, *more_judges):
        js = load_set(p)
        if not js.judgements:
            raise InputError(
                f"{p}: holds no judgements; pass a judgement set or the --out folder of "
                "`intersyn judge` (a judge run that stopped before judging anything has none)"
            )
        named[_judge_name(js, p, named)] = js.judgements
    result = compare(named, ratings, n_boot=n_boot, seed=seed)
    if all(r["n_pairs"] == 0 for r in result["judges"].values()):
        first = ratings[0]
        raise InputError(
            f"{human}: no rating matches a judged turn (first rating: sample "
            f"{first.sample_id!r} turn {first.turn}); check that sample ids and turns match"
        )
    console = _console()
    if result["unmatched"]:
        shown = ", ".join(f"{u['sample_id']}#{u['turn']}" for u in result["unmatched"][:5])
        console.print(
            f"[yellow]{len(result['unmatched'])} rated turns match no judgement: {shown}…[/]"
        )
    print_agreement(console, result)
    if out_dir is not None:
        from intersyn.data.journal import atomic_write_text
        from intersyn.judge.plots import plot_agreement

        claim_folder(out_dir, "agree", inputs=inputs)
        atomic_write_text(out_dir / "agreement.json", json.dumps(result, indent=2))
        paths = plot_agreement(result, out_dir)
        console.print(f"wrote {out_dir / 'agreement.json'}, " + ", ".join(str(p) for p in paths))


def _judge_name(js: Any, p: Path, taken: dict[str, Any]) -> str:
    """The judge model's name; when two sets share it, what tells them apart (rubric, mode,
    draws), then the folder name."""
    if js.info is None:
        name = p.stem
    else:
        name = js.info.judge_model
        if name in taken:
            k = f", k={js.info.samples}" if js.info.samples > 1 else ""
            name = f"{name} ({js.info.rubric}, {js.info.mode}{k})"
    while name in taken:
        name = f"{name} ({p.name})" if p.name not in name else f"{name}'"
    return name


# -- tables ----------------------------------------------------------------------------------
def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


def _f(x: Any, nd: int = 2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _ci(ci: Any, nd: int = 2) -> str:
    return "-" if not ci else f"[{ci[0]:.{nd}f},{ci[1]:.{nd}f}]"


def print_summary(console: Any, s: dict[str, Any]) -> None:
    """The summary as rich tables: dimensions, breakdown by domain, instability."""
    from rich.table import Table

    t = Table(
        title=f"SynJudge summary — {s['n_ok']} ok, {s['n_unparsed']} unparsed, "
        f"{s['n_error']} failed of {s['n_items']} turns"
    )
    for c in ("dim", "mean", "95% CI", "variance", "n", "n unparsed"):
        t.add_column(c, justify="left" if c == "dim" else "right")
    for d in DIMENSIONS:
        r = s["dimensions"][d]
        t.add_row(
            d.upper(),
            _f(r["mean"]),
            _ci(r["ci95"]),
            _f(r["variance"]),
            str(r["n"]),
            str(r["n_unparsed"]),
        )
    o = s["overall"]
    t.add_row("overall", _f(o["mean"]), _ci(o["ci95"]), "", str(o["n"]), "")
    console.print(t)
    proxied = s.get("modes", {}).get("caption-proxy", 0)
    if proxied:
        console.print(
            f"[yellow]caption-proxy: {proxied} of {s['n_items']} turns were judged from the "
            "image's caption by a judge that cannot see images[/]"
        )
    for key, label in (("by_domain", "domain"), ("by_category", "category")):
        if not s.get(key):
            continue
        b = Table(title=f"by {label}")
        for c in (label, "n", "n unparsed", *(d.upper() for d in DIMENSIONS), "overall"):
            b.add_column(c, justify="left" if c == label else "right")
        for name, r in s[key].items():
            b.add_row(
                name,
                str(r["n"]),
                str(r.get("n_unparsed", 0)),
                *(_f(r[d]) for d in DIMENSIONS),
                _f(r["overall"]),
            )
        console.print(b)
    inst = s.get("instability")
    if inst:
        _print_instability(console, inst)


def _print_instability(console: Any, inst: dict[str, Any]) -> None:
    """The judge's self-consistency over k draws, then its least stable turns."""
    from rich import box
    from rich.table import Table

    draws = ", ".join(f"{n} turns x {k} draws" for k, n in inst["draws"].items())
    i = Table(title=f"instability over draws ({inst['n_items']} turns: {draws})")
    for c in ("dim", "mean per-turn std", "share of turns varying", "turns scored"):
        i.add_column(c, justify="left" if c == "dim" else "right")
    for d in DIMENSIONS:
        r = inst[d]
        i.add_row(d.upper(), _f(r["mean_std"], 3), _f(r["share_varying"], 3), str(r["n_items"]))
    i.add_row("any", _f(inst["mean_std"], 3), _f(inst["share_any_varying"], 3), "")
    console.print(i)
    rows = inst.get("least_stable") or []
    if not rows:
        return
    t = Table(title="least stable turns: mean±std over draws", box=box.SIMPLE_HEAD)
    for c in ("sample", "turn", "draws", *(d.upper() for d in DIMENSIONS)):
        t.add_column(c, justify="left" if c == "sample" else "right", no_wrap=c != "sample")
    for r in rows:
        cells = [
            "-" if r[f"{d}_mean"] is None else f"{r[f'{d}_mean']:.2f}±{r[f'{d}_std']:.2f}"
            for d in DIMENSIONS
        ]
        t.add_row(r["sample_id"], str(r["turn"]), str(r["n_draws"]), *cells)
    console.print(t)


def print_agreement(console: Any, result: dict[str, Any]) -> None:
    """One table per judge (metrics × dimensions, value and 95% CI), then the annotators."""
    from rich import box
    from rich.table import Table

    from intersyn.judge.agreement import METRICS

    for name, res in result["judges"].items():
        t = Table(
            box=box.SIMPLE_HEAD,
            title=f"{name} vs human: {res['n_items']} turns, {res['n_pairs']} pairs (value, 95% CI)",
            padding=(0, 0),  # the column gaps suffice: 5 CIs like [-0.25,-0.01] fit 80 columns
        )
        t.add_column("metric", no_wrap=True)
        groups = [*DIMENSIONS, "overall"]
        for g in groups:
            t.add_column(g.upper() if g != "overall" else g, justify="right", no_wrap=True)
        for m in METRICS:
            blocks = [res["overall"] if g == "overall" else res["dimensions"][g] for g in groups]
            cells = [f"{_f(b[m]['value'])}\n{_ci(b[m]['ci95'], 2)}" for b in blocks]
            t.add_row("A@1" if m == "a1" else m.upper(), *cells)
        console.print(t)
    if len(result["judges"]) > 1:
        _side_by_side(console, result)
    ia = result["inter_annotator"]
    if ia.get("note"):
        console.print(f"inter-annotator: {ia['note']}")
        return
    a = Table(
        title=f"inter-annotator ({len(ia['annotators'])} annotators, "
        f"{ia['n_items_multiply_rated']} turns rated more than once)"
    )
    for c in ("dim", "alpha interval", "alpha ordinal"):
        a.add_column(c)
    for d in DIMENSIONS:
        a.add_row(d.upper(), _f(ia["alpha_interval"][d], 3), _f(ia["alpha_ordinal"][d], 3))
    console.print(a)
    p = Table(title="pairwise A@1 between annotators")
    for c in ("a", "b", "n", *(d.upper() for d in DIMENSIONS)):
        p.add_column(c)
    for row in ia["pairwise"]:
        p.add_row(row["a"], row["b"], str(row["n"]), *(_f(row[d]["a1"]) for d in DIMENSIONS))
    console.print(p)


def _side_by_side(console: Any, result: dict[str, Any]) -> None:
    """Judges next to each other: RMSE and A@1 per dimension (lower RMSE, higher A@1 win)."""
    from rich.table import Table

    t = Table(title="judges side by side: RMSE / A@1")
    t.add_column("dim")
    for name in result["judges"]:
        t.add_column(name, justify="right")
    for g in [*DIMENSIONS, "overall"]:
        cells = []
        for res in result["judges"].values():
            b = res["overall"] if g == "overall" else res["dimensions"][g]
            cells.append(f"{_f(b['rmse']['value'])} / {_f(b['a1']['value'])}")
        t.add_row(g.upper() if g != "overall" else g, *cells)
    console.print(t)
