"""generate(): seeds, determinism, resume, failures, budget stop — with scripted doubles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.store import RunStore
from intersyn.errors import BudgetExceeded, ConfigError, DatasetError
from intersyn.seir.commands import parse_turns
from intersyn.seir.runner import Resources, generate, seeds_for
from intersyn.seir.seeds import make_seed
from tests.fixtures.seir.doubles import (
    TEMPLATES,
    TOPICS,
    Call,
    ScriptedChat,
    ScriptedPaint,
    config,
    default_respond,
    models,
    pure_respond,
)


def _samples(run: Path) -> dict[str, dict]:
    out = {}
    for s in RunStore(run).iter_samples():
        d = s.model_dump(mode="json")
        d.pop("created_at")
        out[s.id] = d
    return out


def test_seeds_are_fixed_by_run_seed_and_index_only() -> None:
    res = Resources.load(config())
    leaves, tids = res.hierarchy.leaves(), [t.id for t in res.templates]
    a = [make_seed(7, i, leaves, tids, [1] * 5) for i in range(50)]
    b = [make_seed(7, i, leaves, tids, [1] * 5) for i in reversed(range(50))][::-1]
    assert a == b
    assert [s.sample_id for s in a[:2]] == ["s000001", "s000002"]
    assert {s.turns for s in a} == {1, 2, 3, 4, 5}
    assert len({s.topic.topic for s in a}) > 3 and len({s.seed for s in a}) == 50
    assert all(len(s.turn_templates) == s.turns for s in a)
    assert make_seed(8, 0, leaves, tids, [1] * 5) != a[0]
    cfg = config(turns=2)
    assert all(s.turns == 2 for s in seeds_for(cfg, res, iter(range(20))))


def test_parse_turns() -> None:
    assert parse_turns("1") == [1.0]
    assert parse_turns("3") == [0.0, 0.0, 1.0]
    assert parse_turns("2-4") == [0.0, 1.0, 1.0, 1.0]
    with pytest.raises(ConfigError):
        parse_turns("0")


def test_same_seed_same_dataset(tmp_path: Path) -> None:
    for name in ("a", "b"):
        m = models(writer=ScriptedChat(pure_respond))
        generate(config(k=2, turns=2), tmp_path / name, 5, models=m, finalize=False)
    a, b = _samples(tmp_path / "a"), _samples(tmp_path / "b")
    assert sorted(a) == [f"s00000{i}" for i in range(1, 6)]
    assert a == b
    for s in a.values():
        for t in s["turns"]:
            assert (tmp_path / "a" / t["image"]["path"]).read_bytes() == (
                tmp_path / "b" / t["image"]["path"]
            ).read_bytes()
    meta = json.loads((tmp_path / "a" / "run.json").read_text())
    assert meta["status"] == "complete" and meta["n"] == 5
    assert a["s000001"]["config_fingerprint"] == meta["fingerprint"]


def test_failures_are_recorded_resume_skips_them(tmp_path: Path) -> None:
    run = tmp_path / "run"

    def writer(call: Call) -> str:
        # every answer about bread is a refusal, even after revision
        if call.kind == "answer" and "Bread:" in call.user:
            return json.dumps({"answer": "I cannot create images.", "caption": "c"})
        return default_respond(call)

    # the answer prompt does not carry the category; mark it through the question instead
    def question_with_category(call: Call) -> str:
        if call.kind == "question" and "Bread" in call.user:
            return json.dumps({"question": "Bread: explain it and draw it?"})
        return writer(call)

    r1 = generate(
        config(k=1), run, 8, models=models(ScriptedChat(question_with_category)), finalize=False
    )
    done, failures = set(_samples(run)), RunStore(run).failures()
    assert r1.failed == len(failures) > 0 and r1.done == len(done) > 0
    assert done | set(failures) == {f"s{i:06d}" for i in range(1, 9)}
    assert not done & set(failures)
    for rec in failures.values():
        assert "refusal" in rec["error"] and isinstance(rec["seed"], int)

    # resume with a larger n: only the new ids run; failures stay failed
    r2 = generate(config(k=1), run, 10, resume=True, models=models(), finalize=False)
    assert (r2.done, r2.failed, r2.skipped) == (2, 0, 8)
    assert set(_samples(run)) == done | {"s000009", "s000010"}
    assert set(RunStore(run).failures()) == set(failures)


def test_failed_sample_reason_then_retry_failed(tmp_path: Path) -> None:
    run = tmp_path / "run"

    def writer(call: Call) -> str:
        # every answer is a refusal in the first session
        if call.kind == "answer":
            return json.dumps({"answer": "I can't draw images.", "caption": "c"})
        return default_respond(call)

    r1 = generate(config(k=1), run, 3, models=models(writer=ScriptedChat(writer)), finalize=False)
    assert (r1.done, r1.failed) == (0, 3)
    failures = RunStore(run).failures()
    assert set(failures) == {"s000001", "s000002", "s000003"}
    assert "refusal" in failures["s000001"]["error"]
    assert "turn 0 answer" in failures["s000001"]["error"]

    r2 = generate(config(k=1), run, 3, resume=True, models=models(), finalize=False)
    assert (r2.done, r2.failed, r2.skipped) == (0, 0, 3)
    r3 = generate(config(k=1), run, 3, retry_failed=True, models=models(), finalize=False)
    assert (r3.done, r3.failed) == (3, 0)
    assert set(_samples(run)) == {"s000001", "s000002", "s000003"}
    assert RunStore(run).failures() == {}


def test_existing_run_needs_resume_and_same_config(tmp_path: Path) -> None:
    run = tmp_path / "run"
    generate(config(k=1), run, 2, models=models(), finalize=False)
    with pytest.raises(DatasetError, match="already holds a run"):
        generate(config(k=1), run, 2, models=models(), finalize=False)
    with pytest.raises(ConfigError, match="another config"):
        generate(config(k=2), run, 3, resume=True, models=models(), finalize=False)
    r = generate(config(k=2), run, 3, resume=True, force=True, models=models(), finalize=False)
    assert r.done == 1


def test_budget_exceeded_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    state = {"calls": 0}

    def writer(call: Call) -> str:
        state["calls"] += 1
        if state["calls"] > 12:
            raise BudgetExceeded("budget of $0.01 reached")
        return default_respond(call)

    cfg = config(k=0)
    cfg.max_in_flight = 1
    r1 = generate(cfg, run, 10, models=models(writer=ScriptedChat(writer)), finalize=False)
    assert r1.budget_stopped and r1.failed == 0 and 0 < r1.done < 10
    assert RunStore(run).failures() == {}
    assert json.loads((run / "run.json").read_text())["status"] == "incomplete"
    r2 = generate(cfg, run, 10, resume=True, models=models(), finalize=False)
    assert r2.done == 10 - r1.done
    assert sorted(_samples(run)) == [f"s{i:06d}" for i in range(1, 11)]


def test_cli_generate_needs_n_or_resume(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["generate", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "give -n" in result.output


def test_topics_show_and_stats_cli() -> None:
    r = CliRunner().invoke(cli, ["topics", "show", "--path", str(TOPICS), "--limit", "2"])
    assert r.exit_code == 0, r.output
    assert "Animals" in r.output and "Birds (3): Red fox sparrow, Snowy owl, … (+1)" in r.output
    r = CliRunner().invoke(
        cli, ["topics", "stats", "--path", str(TOPICS), "--templates", str(TEMPLATES)]
    )
    assert r.exit_code == 0, r.output
    assert "2 domains, 3 categories, 8 topics" in r.output
    assert "1 duplicate topics dropped" in r.output and "4 templates" in r.output
    r = CliRunner().invoke(cli, ["topics", "show", "--path", str(TOPICS), "--domain", "Plants"])
    assert r.exit_code == 1 and "no domain 'Plants'" in r.output


def test_painter_calls_get_seeds_from_the_sample(tmp_path: Path) -> None:
    p = ScriptedPaint()
    generate(config(k=1), tmp_path / "a", 3, models=models(painter=p), finalize=False)
    seeds = [s for _, s in p.prompts]
    assert all(isinstance(s, int) for s in seeds) and len(set(seeds)) == len(seeds)
    stored = {t["image"]["seed"] for s in _samples(tmp_path / "a").values() for t in s["turns"]}
    assert stored <= set(seeds)


def test_progress_line_shows_done_failed_rate_tokens_images_spend(tmp_path: Path) -> None:
    from intersyn.seir.runner import GenerateResult, ProgressView

    m = models()
    generate(config(k=0), tmp_path / "a", 2, models=m, finalize=False)
    view = ProgressView(10, enabled=False, models=m)
    line = view.stats_line(GenerateResult(tmp_path, 10, done=3, failed=1))
    assert line.startswith("ok 3  failed 1  ") and "/s  tokens " in line
    assert " images 2  $0.0000" in line


def test_a_dead_endpoint_stops_the_run_instead_of_failing_every_sample(tmp_path: Path) -> None:
    from intersyn.errors import ModelError
    from intersyn.seir.runner import DEAD_AFTER

    def down(call: Call) -> str:
        raise ModelError("writer: chat call failed: connection refused")

    run = tmp_path / "run"
    cfg = config(k=0)
    with pytest.raises(ModelError, match=r"all failed on model calls.*--retry-failed"):
        generate(cfg, run, 200, models=models(writer=ScriptedChat(down)), finalize=False)
    failures = RunStore(run).failures()
    assert DEAD_AFTER <= len(failures) <= DEAD_AFTER + cfg.max_in_flight  # not all 200
    assert all("connection refused" in rec["error"] for rec in failures.values())
    assert json.loads((run / "run.json").read_text())["status"] == "incomplete"
    # once the server is back, --retry-failed finishes the run
    r = generate(cfg, run, 200, retry_failed=True, models=models(), finalize=False)
    assert r.done == 200 and RunStore(run).failures() == {}
