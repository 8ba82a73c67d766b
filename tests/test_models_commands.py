"""``intersyn models check | usage | cache | scripted-server``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.testing import ScriptedServer


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return str(path)


def test_check_pings_every_role(tmp_path: Path) -> None:
    with ScriptedServer(model="qwen") as srv:
        cfg = _write(
            tmp_path,
            f"writer: {{backend: openai, model: qwen, base_url: {srv.base_url}}}\n"
            "critic: {use: writer}\npainter: {backend: preview}\n",
        )
        result = CliRunner().invoke(cli, ["models", "check", "--config", cfg, "--json"])
        sent = list(srv.requests)
    assert result.exit_code == 0, result.output
    rows = {r["role"]: r for r in json.loads(result.output)}
    assert set(rows) == {"writer", "critic", "painter"}
    assert all(r["ok"] for r in rows.values())
    assert "Scripted reply" in rows["writer"]["detail"]
    assert rows["painter"]["detail"] == "image 64x64 (preview)"
    assert sent[0]["max_tokens"] == 8


def test_check_reports_a_dead_endpoint(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = _write(
        tmp_path,
        f"judge: {{backend: openai, model: m, base_url: 'http://127.0.0.1:{port}/v1',"
        " limits: {max_retries: 0, timeout_s: 2}}\n",
    )
    result = CliRunner().invoke(cli, ["models", "check", "--config", cfg])
    assert result.exit_code == 1
    assert result.output.startswith("FAIL judge")
    assert f"127.0.0.1:{port}" in result.output


def test_usage_and_cache_commands(tmp_path: Path) -> None:
    import asyncio

    from intersyn.models import ChatMessage, Models
    from intersyn.models.openai_backend import OpenAIChat

    run = tmp_path / "run"
    with ScriptedServer() as srv:
        models = Models(
            chat={"writer": OpenAIChat("m", [srv.base_url])},
            cache=run / "cache.sqlite",
            usage_path=run / "usage.json",
        )

        async def go() -> None:
            for _ in range(3):
                await models.chat("writer", [ChatMessage("user", "x")], seed=1)
            await models.aclose()

        asyncio.run(go())
    runner = CliRunner()
    shown = runner.invoke(cli, ["models", "usage", str(run)])
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.output.splitlines() if x.startswith("writer"))
    assert line.split()[2:6] == ["3", "0", "0", "2"]  # calls, failures, retries, cache hits
    stats = runner.invoke(cli, ["models", "cache", "stats", str(run)])
    assert json.loads(stats.output)["entries"] == 1
    cleared = runner.invoke(cli, ["models", "cache", "clear", str(run), "--yes"])
    assert "deleted 1 entries" in cleared.output
    bad = tmp_path / "bad.json"
    bad.write_text("{\n oops")
    broken = runner.invoke(cli, ["models", "usage", str(bad)])
    assert broken.exit_code == 1 and "bad.json: line 2" in broken.output


def test_scripted_server_command_serves_until_stopped() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "intersyn", "models", "scripted-server", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        models = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                models = httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert models is not None and models["data"][0]["id"] == "scripted"
        reply = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": "scripted", "messages": [{"role": "user", "content": "ping"}]},
            timeout=10,
        ).json()
        assert reply["choices"][0]["message"]["content"] == "Scripted reply to: ping"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


def test_every_example_config_builds_its_roles() -> None:
    from intersyn.config import load_config
    from intersyn.models import Models

    names = {p.stem for p in EXAMPLES}
    assert {"vllm", "sglang", "ollama", "openai", "llamacpp-server", "diffusers-flux"} <= names
    for path in EXAMPLES:
        head = path.read_text().split("\n\n")[0]
        assert "intersyn models check --config examples/" in head, path
        cfg = load_config(path)
        if cfg.writer is not None and cfg.writer.backend == "llamacpp":
            continue  # loads the embedded model; covered by test_models_llamacpp
        models = Models.from_config(cfg, cache=False)
        assert models.has("writer") and models.has("judge") and models.has("painter"), path
