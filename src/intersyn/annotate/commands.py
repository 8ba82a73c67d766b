"""``intersyn annotate``: serve the rating app, issue links, show progress, export ratings."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import click

from intersyn.annotate.db import ADMIN, AnnotationDB
from intersyn.annotate.prepare import Links, prepare, ready_db, rotate_links
from intersyn.data.outputs import check_file_output, guard_output
from intersyn.errors import InputError

DEFAULT_PORT = 8765
#: The database's meta key holding the address `annotate serve` last served on.
BASE_URL_KEY = "base_url"


@click.group()
def annotate() -> None:
    """Collect human ratings (TCC, ICC, IQ, ITS) in a local web app.

    \b
    intersyn annotate serve runs/a --db ratings.sqlite --annotators alice,bob --overlap 2
    intersyn annotate status --db ratings.sqlite
    intersyn annotate export --db ratings.sqlite --out ratings.parquet
    """


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise InputError("--annotators is empty; name them, e.g. --annotators alice,bob")
    return names


def _base_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _print_links(links: Links, base_url: str, out: Path | None) -> None:
    urls = links.urls(base_url)
    click.echo("Personal links (shown once; each is a password — send each person only theirs):")
    for name, url in urls.items():
        label = "admin" if name == ADMIN else name
        click.echo(f"  {label:<16} {url}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({("admin" if k == ADMIN else k): v for k, v in urls.items()}, f, indent=2)
        click.echo(f"Links also written to {out} (readable only by you).")


@annotate.command()
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@click.option(
    "--db",
    "db_path",
    required=True,
    type=click.Path(path_type=Path),
    help="The ratings database (SQLite); created on first use.",
)
@click.option("--annotators", help="Comma-separated annotator names (when creating the database).")
@click.option(
    "--overlap", type=int, default=None, help="How many annotators rate each item (default 2)."
)
@click.option("--limit", type=int, default=None, help="Rate only the first N samples.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on. Keep 127.0.0.1 unless others must reach it.",
)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--base-url", default=None, help="Address printed in links (default http://HOST:PORT)."
)
@click.option(
    "--allowed-host",
    "allowed_hosts",
    multiple=True,
    help="Host names the app answers to besides loopback (repeatable).",
)
@click.option(
    "--rubric",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="Rubric file to show (the one you judge with); default: the shipped SynJudge rubric.",
)
@click.option(
    "--links-out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write newly issued links as JSON to this file (mode 600).",
)
@click.option("--overwrite", is_flag=True, help="Replace the --links-out file if it exists.")
def serve(
    input_path: Path | None,
    db_path: Path,
    annotators: str | None,
    overlap: int | None,
    limit: int | None,
    host: str,
    port: int,
    base_url: str | None,
    allowed_hosts: tuple[str, ...],
    rubric: Path | None,
    links_out: Path | None,
    overwrite: bool,
) -> None:
    """Serve the rating app for INPUT (a dataset or run directory) on HOST:PORT.

    The first run copies every turn of INPUT into --db and prints each annotator's link;
    later runs only need --db and continue where everyone stopped.
    """
    import uvicorn

    from intersyn.annotate.app import create_app, default_allowed_hosts

    _check_port_free(host, port)
    db = AnnotationDB(db_path)
    if links_out is not None:
        guard_output(links_out, [db_path, input_path], flag="--links-out")
        if not db.is_ready():  # links are issued (and the file written) on the first run only
            check_file_output(links_out, overwrite=overwrite, flag="--links-out")
    links = prepare(db, input_path, _names(annotators), overlap, limit=limit)
    base = base_url or _base_url(host, port)
    with db.write() as conn:  # `annotate links` prints links for this address, not 8765
        db.set_meta(conn, **{BASE_URL_KEY: base})
    if links is not None:
        _print_links(links, base, links_out)
    else:
        click.echo(
            f"{db_path}: continuing; links are unchanged (new ones: intersyn annotate links --db"
            f" {db_path})"
        )
    hosts = default_allowed_hosts(host)
    if hosts != ["*"]:
        hosts = sorted(set(hosts) | set(allowed_hosts))
    app = create_app(db_path, allowed_hosts=hosts, rubric=rubric)
    n = db.item_count()
    click.echo(f"Serving {n} items on {base} (Ctrl+C to stop)")
    # No access log: a sign-in URL carries the token in its query string.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")


@annotate.command()
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--annotator",
    "names",
    multiple=True,
    help="Only this annotator (repeatable); default: every annotator and the admin.",
)
@click.option(
    "--admin/--no-admin",
    "with_admin",
    default=None,
    help="Also issue a new admin link (default: yes unless --annotator is given).",
)
@click.option(
    "--base-url",
    default=None,
    help="Address printed in links (default: the address `annotate serve` last served on, "
    f"else http://127.0.0.1:{DEFAULT_PORT}).",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the links as JSON to this file (mode 600).",
)
@click.option("--overwrite", is_flag=True, help="Replace the --out file if it exists.")
def links(
    db_path: Path,
    names: tuple[str, ...],
    with_admin: bool | None,
    base_url: str | None,
    out: Path | None,
    overwrite: bool,
) -> None:
    """Issue new personal links (tokens are stored hashed, so old links cannot be shown again).

    The old links of those people stop working at once, even while the server runs.
    """
    if out is not None:
        check_file_output(out, [db_path], overwrite=overwrite)
    db = ready_db(db_path)
    if base_url is None:
        base_url = db.meta().get(BASE_URL_KEY) or _base_url("127.0.0.1", DEFAULT_PORT)
    admin = (not names) if with_admin is None else with_admin
    issued = rotate_links(db, list(names) or None, admin=admin)
    _print_links(issued, base_url, out)


@annotate.command()
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(db_path: Path, as_json: bool) -> None:
    """Progress per annotator and Krippendorff's α per dimension so far."""
    from intersyn.annotate.agreement import agreement_so_far

    db = ready_db(db_path)
    progress = db.progress()
    ratings = db.ratings()
    agreement = agreement_so_far(ratings)
    if as_json:
        report = {
            "items": db.item_count(),
            "ratings": len(ratings),
            "progress": [p.__dict__ for p in progress],
            "agreement": agreement,
            "flags": len(db.flags()),
        }
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"{db.item_count()} items, {len(ratings)} ratings")
    click.echo(
        f"{'annotator':<16} {'assigned':>8} {'rated':>6} {'skipped':>7} {'flagged':>7} {'to go':>6}"
    )
    for p in progress:
        click.echo(
            f"{p.annotator:<16} {p.assigned:>8} {p.rated:>6} {p.skipped:>7} {p.flagged:>7}"
            f" {p.remaining:>6}"
        )
    alpha = agreement["alpha"]
    shown = "  ".join(f"{d.upper()} {'n/a' if a is None else f'{a:.3f}'}" for d, a in alpha.items())
    click.echo(f"Krippendorff's α over {agreement['items']} items rated twice or more: {shown}")


@annotate.command()
@click.option("--db", "db_path", required=True, type=click.Path(path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="ratings.parquet or ratings.jsonl (Rating schema).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "jsonl"]),
    default=None,
    help="Default: from the --out suffix.",
)
@click.option(
    "--flags",
    "flags_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write flagged items with comments as JSON lines.",
)
@click.option(
    "--history",
    "history_out",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write every submit ever made (the edit history) as JSON lines.",
)
@click.option("--overwrite", is_flag=True, help="Replace output files that exist (never --db).")
def export(
    db_path: Path,
    out: Path,
    fmt: str | None,
    flags_out: Path | None,
    history_out: Path | None,
    overwrite: bool,
) -> None:
    """Export the current ratings, ready for `intersyn agree` and judge training."""
    from intersyn.annotate.export import export_ratings, write_jsonl

    targets = {"--out": out, "--flags": flags_out, "--history": history_out}
    seen: dict[Path, str] = {}
    for flag, target in targets.items():
        if target is None:
            continue
        check_file_output(target, [db_path], overwrite=overwrite, flag=flag)
        other = seen.setdefault(target.resolve(), flag)
        if other != flag:
            raise InputError(f"{other} and {flag} name the same file {target}; give each its own")
    db = ready_db(db_path)
    with _writing(out):
        n = export_ratings(db, out, fmt=fmt)
    click.echo(f"{n} ratings written to {out}")
    if flags_out is not None:
        with _writing(flags_out):
            click.echo(f"{write_jsonl(db.flags(), flags_out)} flags written to {flags_out}")
    if history_out is not None:
        with _writing(history_out):
            n_hist = write_jsonl(db.history(), history_out)
        click.echo(f"{n_hist} submits written to {history_out}")


@contextlib.contextmanager
def _writing(path: Path) -> Iterator[None]:
    """Turn a failed write (no such folder, no permission, disk full) into a clear message."""
    try:
        yield
    except OSError as e:
        reason = e.strerror or str(e)
        raise InputError(f"cannot write {path}: {reason}; pick another path") from e


def _check_port_free(host: str, port: int) -> None:
    """Refuse early, with a hint, when HOST:PORT cannot be bound (in use, or not ours)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            reason = e.strerror or str(e)
            raise InputError(
                f"cannot listen on {host}:{port}: {reason}; is another server running there?"
                f" Pass another --port (e.g. --port {port + 1})"
            ) from e
