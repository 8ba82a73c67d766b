"""Dataset commands: ``stats``, ``validate``, ``export``, ``import``, ``finalize``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from intersyn.data.formats import FORMATS, Problem

_ON_ERROR = click.Choice(["stop", "skip"])
# Lines after the first carry the docstring's own indentation (click dedents the help).
_FORMAT_HELP = "\n      ".join(f"{name}: {desc}" for name, (_, desc) in FORMATS.items())


@click.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def stats(dataset: Path, as_json: bool) -> None:
    """Statistics of DATASET: samples, turns, topic coverage, word lengths, images (the 10
    most common image sizes), failures.

    DATASET is a run directory, a finalised dataset (data/*.parquet) or a Hub-layout Parquet.

    \b
    Example:
      intersyn stats examples/data
      intersyn stats runs/a --json > stats.json
    """
    from intersyn.data.dataset import open_dataset
    from intersyn.data.stats import compute_stats, render_stats

    result = compute_stats(open_dataset(dataset))
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    from rich.console import Console

    Console().print(render_stats(result))


@click.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--no-images", is_flag=True, help="Skip decoding images (schema and ids only).")
@click.option(
    "--max-problems", default=200, show_default=True, help="How many problems to list (all count)."
)
@click.option(
    "--image-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder an answers JSONL's image paths are relative to (default: its folder).",
)
def validate(
    dataset: Path, as_json: bool, no_images: bool, max_problems: int, image_root: Path | None
) -> None:
    """Check DATASET: schema, unique ids, decodable images, missing files, unsafe paths.

    Each problem is printed with its sample id and what is wrong; the exit status is 1
    when there is any error (warnings alone exit 0).

    \b
    Example:
      intersyn validate examples/data
      intersyn validate answers.jsonl --image-root answers_images/
    """
    from intersyn.data.validate import validate_dataset

    report = validate_dataset(
        dataset, check_images=not no_images, limit=max_problems, image_root=image_root
    )
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for p in report.problems:
            click.echo(str(p))
        listed = len(report.problems)
        total = report.errors + report.warnings
        if total > listed:
            click.echo(f"… and {total - listed} more (raise --max-problems to list them)")
        verdict = "OK" if report.ok else "FAILED"
        click.echo(
            f"{verdict}: {report.samples} samples ({report.kind}), "
            f"{report.errors} errors, {report.warnings} warnings"
        )
    if not report.ok:
        sys.exit(1)


@click.command()
@click.argument("dataset", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), required=True, help="Target format."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists (atomically).")
@click.option("--on-error", type=_ON_ERROR, default="stop", show_default=True)
@click.option("--max-shard-mb", default=256, show_default=True, help="Shard size bound.")
def export(
    dataset: Path, fmt: str, out: Path, overwrite: bool, on_error: str, max_shard_mb: int
) -> None:
    """Export DATASET to another format, written to --out.

    \b
    Formats:
      {formats}

    The export is written to a temporary folder and renamed to --out at the end: a
    failed export leaves nothing behind and never touches an existing folder.

    \b
    Example:
      intersyn export examples/data --format hub --out out/hub
      intersyn export runs/a --format llamafactory --out out/lf
    """
    from intersyn.data.formats import export_dataset

    report = export_dataset(
        dataset,
        fmt,
        out,
        overwrite=overwrite,
        on_error=on_error,
        max_shard_bytes=max_shard_mb * 1024 * 1024,
    )
    _skipped(report.skipped, report.skipped_total)
    click.echo(f"exported {report.samples} samples to {report.out} ({fmt})")


assert export.help is not None
export.help = export.help.replace("{formats}", _FORMAT_HELP)


@click.command("import")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New dataset folder.")
@click.option(
    "--format", "fmt", type=click.Choice(list(FORMATS)), default=None, help="Default: guessed."
)
@click.option("--on-error", type=_ON_ERROR, default="stop", show_default=True)
@click.option(
    "--image-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder image paths are relative to (default: depends on the format).",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists (atomically).")
@click.option("--max-shard-mb", default=256, show_default=True, help="Shard size bound.")
def import_(
    source: Path,
    out: Path,
    fmt: str | None,
    on_error: str,
    image_root: Path | None,
    overwrite: bool,
    max_shard_mb: int,
) -> None:
    """Import SOURCE into a new intersyn dataset at --out (a run directory, finalised).

    \b
    Formats:
      {formats}

    A bad record (malformed JSON, missing or corrupt image, duplicate id, wrongly typed
    column, non-UTF-8 text, an image path out of the image root) stops the import with its
    file and line, writing nothing; --on-error skip leaves such records out and lists them.

    \b
    Example:
      intersyn import hub.parquet --out datasets/intersyn
      intersyn import answers.jsonl --format answers --out datasets/answers
    """
    from intersyn.data.formats import import_dataset

    report = import_dataset(
        source,
        out,
        fmt=fmt,
        on_error=on_error,
        image_root=image_root,
        overwrite=overwrite,
        max_shard_bytes=max_shard_mb * 1024 * 1024,
    )
    _skipped(report.skipped, report.skipped_total)
    click.echo(f"imported {report.samples} samples into {report.out}")


assert import_.help is not None
import_.help = import_.help.replace("{formats}", _FORMAT_HELP)


@click.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Default: RUN_DIR.")
@click.option("--max-shard-mb", default=256, show_default=True, help="Shard size bound.")
@click.option("--on-error", type=_ON_ERROR, default="stop", show_default=True)
def finalize(run_dir: Path, out: Path | None, max_shard_mb: int, on_error: str) -> None:
    """Write RUN_DIR's Parquet shards (OUT/data/train-*.parquet) that `datasets` loads.

    \b
    Example:
      intersyn finalize runs/a
      python -c "import datasets; print(datasets.load_dataset('parquet',
          data_files='runs/a/data/*.parquet', split='train'))"
    """
    from intersyn.data.parquet import finalize as run_finalize

    shards = run_finalize(
        run_dir, out, max_shard_bytes=max_shard_mb * 1024 * 1024, on_error=on_error
    )
    click.echo(f"wrote {len(shards)} shard(s) to {shards[0].parent}")


def _skipped(problems: list[Problem], total: int) -> None:
    for p in problems:
        click.echo(f"skipped: {p}", err=True)
    if total > len(problems):
        click.echo(f"skipped {total - len(problems)} more", err=True)
    if total:
        click.echo(f"{total} record(s) skipped", err=True)
