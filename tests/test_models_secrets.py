"""An API key travels only in requests: a whole run (generate, then judge) against the scripted
server with every role keyed, faults and a refused response_format on the way, and then every
file the run wrote, its console output and its log are searched for the key."""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.testing import Faults, ScriptedServer
from tests.fixtures.seir.doubles import TEMPLATES, TOPICS

KEY_ENV = "INTERSYN_E2E_TEST_KEY"


def _config(tmp: Path, base_url: str) -> Path:
    limits = {"max_retries": 1, "backoff_base_s": 0.001, "backoff_max_s": 0.01, "timeout_s": 5}
    role = {
        "backend": "openai",
        "model": "scripted",
        "base_url": base_url,
        "api_key_env": KEY_ENV,
        "limits": limits,
    }
    cfg = {
        "writer": role,
        "critic": {"use": "writer"},
        "judge": {"use": "writer", "params": {"temperature": 0}},
        "painter": {**role, "backend": "openai-images", "model": "scripted-image"},
        "seir": {"topics": str(TOPICS), "templates": str(TEMPLATES), "image_size": [32, 32]},
    }
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_a_whole_run_never_writes_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk-e2e-" + base64.b16encode(os.urandom(12)).decode()
    monkeypatch.setenv(KEY_ENV, secret)
    # 500s with one retry make some calls fail for good (failure records, error messages);
    # the refused response_format makes the backend log its fallback.
    faults = Faults(rate_500=0.15, seed=3, reject_response_format=True)
    runner = CliRunner()
    with ScriptedServer(faults=faults) as srv, caplog.at_level(logging.DEBUG):
        cfg = _config(tmp_path, srv.base_url)
        run, judged = tmp_path / "run", tmp_path / "judged"
        args = ["-c", str(cfg), "-o", str(run), "-n", "6", "--turns", "1-2", "--k", "1"]
        gen = runner.invoke(cli, ["generate", *args, "--no-progress"])
        assert gen.exit_code == 0, gen.output
        scored = runner.invoke(cli, ["judge", str(run), "-c", str(cfg), "-o", str(judged)])
        assert scored.exit_code == 0, scored.output
        auth = set(srv.auth)
        n_requests = len(srv.requests)
    # The key was really used: every request carried it.
    assert n_requests > 20 and auth == {f"Bearer {secret}"}
    assert srv.stats.faults["500"] > 0 and srv.stats.faults["reject_response_format"] > 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in written}
    assert {"run.json", "cache.sqlite", "usage.json"} <= names, names
    assert any(p.suffix == ".parquet" for p in written) and len(written) > 10
    assert any("judgements" in p.parts for p in written)  # the judge wrote its set
    for path in written:
        assert secret.encode() not in path.read_bytes(), path
    assert secret not in gen.output + scored.output
    assert "refused response_format" in caplog.text  # the log was captured...
    assert secret not in caplog.text  # ...and holds no key
