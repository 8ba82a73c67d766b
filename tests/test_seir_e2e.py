"""`intersyn generate` end to end against the scripted OpenAI-compatible server on 127.0.0.1:
faults (5xx, 429, hangs), and a SIGKILL mid-run followed by --resume."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.journal import Journal
from intersyn.data.store import RunStore
from intersyn.testing.server import Faults, ScriptedServer
from tests.fixtures.seir.doubles import TEMPLATES, TOPICS

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp: Path, base_url: str, *, timeout_s: float = 5.0) -> Path:
    limits = {
        "concurrency": 32,
        "timeout_s": timeout_s,
        "max_retries": 10,
        "backoff_base_s": 0.01,
        "backoff_max_s": 0.05,
    }
    cfg = {
        "writer": {
            "backend": "openai",
            "model": "scripted",
            "base_url": base_url,
            "limits": limits,
        },
        "critic": {"use": "writer"},
        "painter": {
            "backend": "openai-images",
            "model": "scripted-image",
            "base_url": base_url,
            "limits": limits,
        },
        "seir": {"topics": str(TOPICS), "templates": str(TEMPLATES), "image_size": [32, 32]},
        "max_in_flight": 16,
    }
    path = tmp / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _records_per_id(run: Path) -> collections.Counter[str]:
    return collections.Counter(r["id"] for r in Journal(run / "samples", "samples").read())


def test_generate_cli_survives_server_faults(tmp_path: Path) -> None:
    faults = Faults(rate_500=0.05, rate_503=0.05, rate_429=0.05, rate_hang=0.02, hang_s=3, seed=1)
    with ScriptedServer(faults=faults) as srv:
        cfg = _config(tmp_path, srv.base_url, timeout_s=0.5)
        run = tmp_path / "run"
        args = ["generate", "-c", str(cfg), "-o", str(run), "-n", "12", "--turns", "1-2"]
        result = CliRunner().invoke(cli, [*args, "--k", "1", "--no-progress"])
        assert result.exit_code == 0, result.output
        assert sum(srv.stats.faults.values()) > 0  # faults really happened
    store = RunStore(run)
    done, failed = store.done_ids(), store.failures()
    assert done | set(failed) == {f"s{i:06d}" for i in range(1, 13)}
    assert not done & set(failed)
    assert all(n == 1 for n in _records_per_id(run).values())
    assert all(rec["error"] for rec in failed.values())
    assert "12 made" in result.output or "made" in result.output
    for sample in store.iter_samples():
        for turn in sample.turns:
            assert turn.question and turn.answer and turn.caption
            assert turn.image is not None and (run / turn.image.path).is_file()
            assert set(turn.stop_reasons) == {"question", "answer", "image"}
    assert list((run / "data").glob("*.parquet")), "finalize wrote no Parquet shard"
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "complete" and "api_key" not in json.dumps(meta)


def test_sigkill_mid_run_then_resume(tmp_path: Path) -> None:
    n = 40
    with ScriptedServer(latency_s=0.02, capacity=8) as srv:
        cfg = _config(tmp_path, srv.base_url)
        run = tmp_path / "run"
        cmd = [sys.executable, "-m", "intersyn", "generate", "-c", str(cfg), "-o", str(run)]
        cmd += ["-n", str(n), "--turns", "1", "--k", "2", "--no-progress", "--max-in-flight", "4"]
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while len(_records_per_id(run)) < 5:  # wait for a condition, not a duration
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "no sample finished in 120 s"
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
        before = set(_records_per_id(run))
        assert 5 <= len(before) < n, "the kill came too late to test a resume"
        meta = json.loads((run / "run.json").read_text())
        assert meta["status"] == "running"  # killed: never marked complete

        args = ["generate", "-c", str(cfg), "-o", str(run), "--resume", "--no-progress"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1 and "another config" in result.output  # turns/K differ
        # without --config, --resume takes the config stored in run.json
        result = CliRunner().invoke(cli, ["generate", "-o", str(run), "--resume", "--no-progress"])
        assert result.exit_code == 0, result.output
    counts = _records_per_id(run)
    assert set(counts) | set(RunStore(run).failures()) == {f"s{i:06d}" for i in range(1, n + 1)}
    assert all(c == 1 for c in counts.values()), "a sample was written twice"
    assert before <= set(counts)
    assert json.loads((run / "run.json").read_text())["status"] == "complete"
