"""``intersyn import-scores``: the reference judge scripts' score lines → a judgement set."""

from __future__ import annotations

import json
from pathlib import Path

import click

_PATH = click.Path(path_type=Path)


@click.command("import-scores")
@click.argument("score_file", type=_PATH)
@click.option(
    "--dataset",
    "-d",
    required=True,
    type=_PATH,
    help="The answers JSONL or dataset the scores were made for (ids are matched to it).",
)
@click.option("--out", "-o", "out_dir", required=True, type=_PATH, help="Judge output folder.")
@click.option("--judge-model", help="Who scored (default: reference:<file name>), e.g. gpt-4o.")
@click.option(
    "--rubric-label",
    default="reference-prompt@1",
    show_default=True,
    help="What they were scored against (id@version).",
)
@click.option("--image-dir", type=_PATH, help="Images of an answers JSONL (default: its folder).")
@click.option("--overwrite", is_flag=True, help="Replace this set if it was imported before.")
def import_scores(
    score_file: Path,
    dataset: Path,
    out_dir: Path,
    judge_model: str | None,
    rubric_label: str,
    image_dir: Path | None,
    overwrite: bool,
) -> None:
    """Import the reference judge's score lines (`labels`: TCC, ICC, IQ, ITS; -1 = failed)
    as a judgement set that summary, agree, report and leaderboard read.

    A -1 (or missing) label makes the turn unparsed: counted, never averaged. Lines with
    other than four labels, labels outside 0-5, or ids not in --dataset stop the import
    before anything is written.

    \b
    Example:
      intersyn import-scores gpt4o_judge.jsonl --dataset model_answer.jsonl \\
          --out runs/j-gpt4o --judge-model gpt-4o
      intersyn agree --judge runs/j-gpt4o runs/j-ours --human ratings.csv
    """
    from intersyn.data.journal import atomic_write_text
    from intersyn.data.outputs import guard_output
    from intersyn.judge.reference_scores import import_scores as run
    from intersyn.judge.store import load_set
    from intersyn.judge.summary import summarize

    guard_output(out_dir, [score_file, dataset, image_dir])
    got = run(
        score_file,
        dataset,
        out_dir,
        judge_model=judge_model,
        rubric_label=rubric_label,
        image_dir=image_dir,
        overwrite=overwrite,
    )
    js = load_set(got.path)
    summary = summarize(js.judgements, js.topics or None)
    atomic_write_text(got.path / "summary.json", json.dumps(summary, indent=2))
    click.echo(f"judgement set: {got.path}")
    click.echo(
        f"  {got.ok} scored, {got.unparsed} unparsed (left out of every mean); "
        f"{got.not_scored} items of {dataset} have no score line"
    )
    for reason, n in got.reasons.most_common():
        click.echo(f"    {n} × {reason}")
    means = ", ".join(
        f"{d.upper()} {'-' if r['mean'] is None else format(r['mean'], '.2f')}"
        for d, r in summary["dimensions"].items()
    )
    click.echo(f"  means over scored turns: {means}")
    click.echo(f"  the full summary: intersyn summary {got.path}")
