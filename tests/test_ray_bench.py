"""`intersyn bench --engine ray`: composite answering and judging on the two-node Ray cluster
against the scripted server — the same benchmark folder as the local engine, and one started
on one engine finished on the other with every answer and judgement written once."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.journal import read_jsonl_tolerant
from intersyn.data.store import RunStore
from intersyn.judge.store import find_sets, load_judgements
from intersyn.report.bench import ANSWER_SCHEMA
from intersyn.testing import Faults, ScriptedServer
from tests.test_ray_judge import judge_responder
from tests.test_report_bench import _config

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]
COMPOSITE = "llm+painter"


def _bench(cfg: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["bench", "-c", str(cfg), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _answers(out: Path) -> dict[str, tuple[str, str, str | None]]:
    store = RunStore(out / "generators" / COMPOSITE / "answers", fsync=False)
    return {
        s.id: (s.turns[0].answer, s.turns[0].caption, s.turns[0].image and s.turns[0].image.sha256)
        for s in store.iter_samples()
    }


def _scores(out: Path) -> dict[str, dict[tuple[str, int], tuple[Any, ...]]]:
    return {
        gen.name: {
            (j.sample_id, j.turn): (j.status, j.tcc, j.icc, j.iq, j.its)
            for j in load_judgements(gen / "judged")
        }
        for gen in sorted((out / "generators").iterdir())
    }


def _records_per_key(out: Path) -> collections.Counter[str]:
    """Every answer and judgement record written, keyed by generator and id."""
    seen: collections.Counter[str] = collections.Counter()
    for gen in (out / "generators").iterdir():
        for part in (gen / "answers" / "samples").glob("*.jsonl"):
            seen.update(f"{gen.name}/a/{r['id']}" for r in read_jsonl_tolerant(part))
        for set_dir in find_sets(gen / "judged"):
            for part in (set_dir / "parts").glob("*.jsonl"):
                seen.update(
                    f"{gen.name}/j/{r['sample_id']}#{r['turn']}" for r in read_jsonl_tolerant(part)
                )
    return seen


def _answer_calls(srv: ScriptedServer) -> int:
    schema = json.dumps(ANSWER_SCHEMA["properties"], sort_keys=True)
    return sum(schema in json.dumps(r, sort_keys=True) for r in srv.requests)


def test_bench_on_ray_matches_local_and_resumes_across_engines(tmp_path: Path) -> None:
    mixed = tmp_path / "mixed"
    # A run started locally that lost one question to a server error (no retries) ...
    (tmp_path / "flaky").mkdir()
    with ScriptedServer(faults=Faults(sequence=["500"])) as flaky:
        cfg = yaml.safe_load(_config(tmp_path / "flaky", flaky.base_url).read_text())
        cfg["generators"][0]["text"]["limits"] = {"max_retries": 0}
        flaky_cfg = tmp_path / "flaky" / "bench.yaml"
        flaky_cfg.write_text(yaml.safe_dump(cfg))
        _bench(flaky_cfg, mixed, "--only", COMPOSITE, "--no-judge")
    assert len(_answers(mixed)) == 5
    parts = mixed / "generators" / COMPOSITE / "answers" / "samples"
    assert len(list(parts.glob("*.jsonl"))) == 1
    with ScriptedServer(responder=judge_responder) as srv:
        cfg_path = _config(tmp_path, srv.base_url)
        # ... is finished on Ray: only the lost question is asked again, everything judged ...
        out = _bench(cfg_path, mixed, "--engine", "ray", "--workers", "2")
        assert "leaderboard:" in out
        assert _answer_calls(srv) == 1
        assert len(list(parts.glob("*.jsonl"))) == 2  # the answer came from a Ray worker
        # ... and a local rerun finds nothing left to do.
        before = len(srv.requests)
        _bench(cfg_path, mixed)
        assert len(srv.requests) == before
        local = tmp_path / "local"
        _bench(cfg_path, local)
    assert _answers(mixed) == _answers(local) and len(_answers(local)) == 6
    scores = _scores(local)
    assert _scores(mixed) == scores
    assert len(scores[COMPOSITE]) == 6 and len(scores["file"]) == 3
    assert len({v[1:] for v in scores[COMPOSITE].values()}) > 1  # scores vary per turn
    records = _records_per_key(mixed)
    assert len(records) == (6 + 3) * 2 and max(records.values()) == 1  # answers, judgements
    board = [
        json.loads((o / "leaderboard" / "leaderboard.json").read_text()) for o in (mixed, local)
    ]
    assert board[0]["entries"] == board[1]["entries"]
