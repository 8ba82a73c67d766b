"""``intersyn models …``: check endpoints, read usage, manage the cache, run the scripted server."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import click

from intersyn.errors import InputError, IntersynError


@click.group(name="models")
def models() -> None:
    """Check endpoints, usage, cache, the scripted server."""


@models.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--role", "roles", multiple=True, help="Check only these roles (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def check(config_path: str, roles: tuple[str, ...], as_json: bool) -> None:
    """Ping each configured role with one small real call through the gate.

    \b
    Example:
      intersyn models check --config examples/vllm.yaml
    """
    from intersyn.config import load_config

    cfg = load_config(config_path)
    rows = asyncio.run(_check(cfg, list(roles) or None))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for r in rows:
            mark = "ok  " if r["ok"] else "FAIL"
            where = r.get("endpoint") or "in process"
            click.echo(
                f"{mark} {r['role']:<10} {r['backend']:<14} {r['model']} @ {where} "
                f"({r['seconds']:.2f}s) {r['detail']}"
            )
    if not rows:
        raise click.ClickException(f"{config_path}: no roles configured")
    if not all(r["ok"] for r in rows):
        raise SystemExit(1)


async def _check(cfg: Any, roles: list[str] | None) -> list[dict[str, Any]]:
    from intersyn.models.base import ChatMessage
    from intersyn.models.gate import Models

    gate = Models.from_config(cfg, roles=roles, cache=False)
    rows = []
    for role in gate.roles():
        backend = gate.backend(role)
        endpoints = list(getattr(backend, "endpoints", None) or [None])
        row: dict[str, Any] = {
            "role": role,
            "backend": backend.name,
            "model": backend.model,
            "endpoint": ", ".join(e for e in endpoints if e) or None,
            "vision": gate.vision(role),
        }
        start = time.perf_counter()
        try:
            if role == "painter" or not hasattr(backend, "chat"):
                pic = await gate.paint(role, "a red circle on white", size=(64, 64), seed=0)
                row["detail"] = f"image {pic.width}x{pic.height}" + (
                    " (preview)" if pic.preview else ""
                )
            else:
                served = await backend.ping() if hasattr(backend, "ping") else None
                if served is not None and backend.model not in served:
                    row["detail"] = f"warning: server lists {served[:5]}, not {backend.model!r}; "
                else:
                    row["detail"] = ""
                reply = await gate.chat(
                    role, [ChatMessage("user", "Reply with the word OK.")], params={"max_tokens": 8}
                )
                row["detail"] += f"replied {reply.text[:40]!r}"
            row["ok"] = True
        except IntersynError as e:
            row["ok"], row["detail"] = False, str(e)
        except Exception as e:  # a check reports every failure instead of stopping at the first
            row["ok"], row["detail"] = False, f"{type(e).__name__}: {e}"
        row["seconds"] = time.perf_counter() - start
        rows.append(row)
    await gate.aclose()
    return rows


@models.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON report.")
def usage(path: str, as_json: bool) -> None:
    """Show a usage report (a usage.json, or a run directory holding one).

    \b
    Example:
      intersyn models usage runs/a
    """
    p = Path(path)
    if p.is_dir():
        p = p / "usage.json"
    try:
        report = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{p}: no usage report here (runs write usage.json)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: line {e.lineno}: not valid JSON ({e.msg})") from None
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(
        f"{'role':<10} {'model':<28} {'calls':>6} {'fail':>5} {'retry':>6} {'hits':>6} "
        f"{'tok in':>9} {'tok out':>9} {'img':>5} {'p50 s':>7} {'p95 s':>7} {'USD':>9}"
    )
    for role, r in (report.get("roles") or {}).items():
        lat = r.get("latency_s") or {}
        click.echo(
            f"{role:<10} {str(r.get('model', ''))[:28]:<28} {r['calls']:>6} {r['failures']:>5} "
            f"{r['retries']:>6} {r['cache_hits']:>6} {r['input_tokens']:>9} "
            f"{r['output_tokens']:>9} {r['images_made']:>5} {_num(lat.get('p50')):>7} "
            f"{_num(lat.get('p95')):>7} {r['cost_usd']:>9.4f}"
        )
    total = report.get("total") or {}
    budget = report.get("budget_usd")
    click.echo(
        f"total: {total.get('calls', 0)} calls, ${total.get('cost_usd', 0):.4f}"
        + (f" of a ${budget:g} budget" if budget else "")
    )


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}"


@models.group()
def cache() -> None:
    """Inspect or clear a response cache (SQLite)."""


@cache.command("stats")
@click.argument("path", type=click.Path(exists=True))
def cache_stats(path: str) -> None:
    """Entries, size and hits of a cache file (or a run directory's cache.sqlite).

    \b
    Example:
      intersyn models cache stats runs/a
    """
    from intersyn.models.cache import ResponseCache

    db = ResponseCache(_cache_file(path))
    click.echo(json.dumps(db.stats(), indent=2))
    db.close()


@cache.command("clear")
@click.argument("path", type=click.Path(exists=True))
@click.option("--kind", type=click.Choice(["chat", "paint"]), help="Only this kind of entry.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(path: str, kind: str | None, yes: bool) -> None:
    """Delete cached replies (calls are then made again, and paid for again).

    \b
    Example:
      intersyn models cache clear runs/a --kind chat --yes
    """
    from intersyn.models.cache import ResponseCache

    file = _cache_file(path)
    if not yes:
        click.confirm(f"delete {'all' if kind is None else kind} entries of {file}?", abort=True)
    db = ResponseCache(file)
    n = db.clear(kind)
    db.close()
    click.echo(f"deleted {n} entries from {file}")


def _cache_file(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "cache.sqlite"
        if not p.is_file():
            raise InputError(f"{path}: no cache.sqlite in this directory")
    return p


@models.command("scripted-server")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--model", default="scripted", show_default=True, help="Model id it serves.")
@click.option("--latency", default=0.0, show_default=True, type=float, help="Seconds per reply.")
@click.option("--capacity", default=64, show_default=True, type=int, help="Concurrent requests.")
@click.option("--rate-429", default=0.0, type=float, help="Share of requests answered 429.")
@click.option("--rate-500", default=0.0, type=float)
@click.option("--rate-503", default=0.0, type=float)
@click.option("--rate-hang", default=0.0, type=float, help="Share of requests never answered.")
@click.option("--rate-truncated", default=0.0, type=float)
@click.option("--rate-malformed", default=0.0, type=float)
@click.option("--rate-refusal", default=0.0, type=float)
@click.option("--rate-bad-json", default=0.0, type=float, help="Replies cut short, said whole.")
@click.option("--retry-after", default=1.0, show_default=True, type=float)
@click.option("--no-response-format", is_flag=True, help="Answer 400 to response_format.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fault draws.")
def scripted_server(
    host: str,
    port: int,
    model: str,
    latency: float,
    capacity: int,
    retry_after: float,
    no_response_format: bool,
    seed: int,
    **rates: float,
) -> None:
    """Serve the scripted OpenAI-compatible test server until Ctrl-C.

    Replies to structured requests with a valid instance of their JSON schema, otherwise
    with an echo; injects the faults asked for. Point a config's base_url at it to test
    a run without a model.

    \b
    Example:
      intersyn models scripted-server --port 8000 --latency 0.5 --rate-429 0.05
      # writer: {backend: openai, model: scripted, base_url: http://127.0.0.1:8000/v1}
    """
    from intersyn.testing import Faults, ScriptedServer

    faults = Faults(retry_after_s=retry_after, reject_response_format=no_response_format, seed=seed)
    for name, value in rates.items():  # rate_429, rate_500, … straight from the options
        setattr(faults, name, float(value))
    srv = ScriptedServer(
        latency_s=latency, capacity=capacity, faults=faults, model=model, host=host, port=port
    )
    try:
        srv.start()
    except OSError as e:
        raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror}") from None
    click.echo(f"scripted server at {srv.base_url} (model {model!r}); Ctrl-C stops it")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
        click.echo(f"served {srv.stats.served} requests; faults {dict(srv.stats.faults)}")
