"""CLI commands of the report area: view, serve, report, bench, leaderboard."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import click

from intersyn.engine.ray_cli import engine_options, engine_overrides
from intersyn.errors import InputError


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@click.option(
    "--judgements", "-j", type=click.Path(path_type=Path), help="judge output folder or set"
)
@click.option("--out", "-o", required=True, type=click.Path(path_type=Path), help="site folder")
@click.option("--title", help="page title")
@click.option(
    "--clean", is_flag=True, help="first remove what an earlier build wrote in the site folder"
)
@click.option(
    "--on-error",
    type=click.Choice(["stop", "skip"]),
    default="stop",
    show_default=True,
    help="what to do with a record that is not a valid sample",
)
def view(
    dataset: Path, judgements: Path | None, out: Path, title: str | None, clean: bool, on_error: str
) -> None:
    """Build a static HTML viewer for DATASET (opens from disk).

    \b
    intersyn view runs/a --judgements runs/a-judged --out site
    intersyn serve site
    """
    from intersyn.report.viewer import build_site

    skipped: list[str] = []
    index = build_site(
        dataset,
        out,
        judgements,
        title=title,
        clean=clean,
        on_error=on_error,
        on_skip=skipped.append,
    )
    for line in skipped[:20]:
        click.echo(f"skipped (no page): {line}", err=True)
    if skipped:
        click.echo(f"{len(skipped)} record(s) skipped; `intersyn validate` lists them", err=True)
    click.echo(f"viewer: {index}")


def _handler(site: Path) -> type[http.server.SimpleHTTPRequestHandler]:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: a static site

    return functools.partial(Handler, directory=str(site))  # type: ignore[return-value]


def make_server(
    site: Path, port: int = 0, host: str = "127.0.0.1"
) -> http.server.ThreadingHTTPServer:
    """A static file server for a built site, bound to loopback (``port=0``: any free port)."""
    if not (site / "index.html").is_file() and not (site / "leaderboard.html").is_file():
        raise InputError(f"{site}: no index.html here; build it with `intersyn view` or `report`")
    return http.server.ThreadingHTTPServer((host, port), _handler(site))


@click.command()
@click.argument("site", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--port", "-p", default=8765, show_default=True, help="0 picks a free port")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="address to bind; keep 127.0.0.1 unless you mean to share the site",
)
def serve(site: Path, port: int, host: str) -> None:
    """Serve a built SITE (viewer, report or leaderboard) on 127.0.0.1."""
    server = make_server(site, port, host)
    host_addr, port_num = server.server_address[0], server.server_address[1]
    page = "index.html" if (site / "index.html").exists() else "leaderboard.html"
    click.echo(f"serving {site} at http://{host_addr!s}:{port_num}/{page}  (Ctrl-C stops)")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--judgements",
    "-j",
    type=click.Path(path_type=Path),
    help="judge output folder or set (not needed for a benchmark folder)",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(path_type=Path),
    help="report folder (default: PATH-report; for a benchmark folder, PATH itself)",
)
@click.option(
    "--viewer",
    help="a viewer site built with `intersyn view` (its folder): each example links to its page",
)
@click.option(
    "--lowest", default=12, show_default=True, help="how many lowest-scoring turns to show"
)
def report(
    path: Path, judgements: Path | None, out: Path | None, viewer: str | None, lowest: int
) -> None:
    """HTML report of a judged dataset (PATH + --judgements) or a benchmark folder.

    \b
    intersyn report runs/a --judgements runs/a-judged --out runs/a-report --viewer site
    intersyn report bench-out          # leaderboard + one report per generator
    """
    from intersyn.report.bench import build_bench_report, is_bench_dir
    from intersyn.report.html import build_report, viewer_link

    if is_bench_dir(path):
        page = build_bench_report(path, out)
    else:
        if judgements is None:
            raise click.UsageError(
                "give --judgements for a dataset (or PATH as a benchmark folder)"
            )
        target = out or Path(f"{path}-report")
        link = viewer_link(viewer, target) if viewer else None
        page = build_report(path, judgements, target, viewer=link, lowest=lowest)
    click.echo(f"report: {page}")


@click.command()
@click.option(
    "--config",
    "-c",
    "config_path",
    required=True,
    type=click.Path(path_type=Path),
    help="bench YAML: questions, generators, judge",
)
@click.option(
    "--out", "-o", required=True, type=click.Path(path_type=Path), help="benchmark folder"
)
@click.option("--only", multiple=True, help="run only this generator (repeatable)")
@click.option("--no-judge", is_flag=True, help="only collect answers")
@engine_options
def bench(
    config_path: Path,
    out: Path,
    only: tuple[str, ...],
    no_judge: bool,
    engine: str | None,
    address: str | None,
    workers: int | None,
) -> None:
    """Benchmark interleaved generators: answer the questions, judge with SynJudge, rank.

    Rerunning the same command resumes, on either engine: answered questions and judged
    turns are skipped.

    \b
    intersyn bench --config bench.yaml --out bench-out
    intersyn bench --config bench.yaml --out /shared/bench-out --engine ray --workers 8
    """
    from intersyn.report.bench import load_bench_config, run_bench

    cfg = load_bench_config(config_path).with_engine(engine_overrides(engine, address, workers))
    page = run_bench(cfg, out, only=list(only) or None, judge=not no_judge, log=click.echo)
    click.echo(f"leaderboard: {page}")


@click.command()
@click.argument("bench_dir", type=click.Path(path_type=Path), required=False)
@click.option("--out", "-o", type=click.Path(path_type=Path), help="default: BENCH_DIR/leaderboard")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="NAME=PATH",
    help="rank judgement sets instead of a benchmark folder (repeat; needs --out)",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["md", "csv", "none"]),
    default="md",
    show_default=True,
    help="also print the table",
)
def leaderboard(bench_dir: Path | None, out: Path | None, sets: tuple[str, ...], fmt: str) -> None:
    """Leaderboard of a benchmark folder: means with 95% CIs, ties, charts (MD, CSV, HTML).

    \b
    intersyn leaderboard bench-out
    intersyn leaderboard --set ours=runs/j-ours --set gpt-4o=runs/j-gpt4o --out lb
    """
    from intersyn.report.bench import build_leaderboard
    from intersyn.report.leaderboard import leaderboard_of_sets

    if (bench_dir is None) == (not sets):
        raise click.UsageError("give a BENCH_DIR or --set NAME=PATH (one or more), not both")
    if sets:
        if out is None:
            raise click.UsageError("--set needs --out (the folder to write the leaderboard in)")
        named: dict[str, str] = {}
        for spec in sets:
            name, sep, path = spec.partition("=")
            if not sep or not name or not path or name in named:
                raise click.UsageError(f"--set {spec!r}: write NAME=PATH, each NAME once")
            named[name] = path
        page = leaderboard_of_sets(named, out)
    else:
        assert bench_dir is not None
        page = build_leaderboard(bench_dir, out)
    if fmt != "none":
        click.echo((page.parent / f"leaderboard.{fmt}").read_text(encoding="utf-8"))
    click.echo(f"leaderboard: {page}")
