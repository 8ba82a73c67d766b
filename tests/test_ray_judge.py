"""`intersyn judge --engine ray`: the judge's own per-turn code on the two-node Ray cluster
against the scripted server — the same judgements as the local engine, and a set started on
one engine finished on the other with every turn judged once."""

from __future__ import annotations

import collections
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.journal import read_jsonl_tolerant
from intersyn.judge.store import find_sets, load_judgements
from intersyn.testing.server import ScriptedServer
from tests.test_ray_generate import LIMITS, _cfg, _gen

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_cluster")]


def judge_responder(body: dict[str, Any]) -> str | None:
    """Scores from a hash of the prompt: deterministic per turn, different across turns."""
    rf = body.get("response_format") or {}
    schema = (rf.get("json_schema") or {}).get("schema") or {}
    if "tcc" not in schema.get("properties", {}):
        return None
    h = hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
    return json.dumps({d: h[i] % 6 for i, d in enumerate(("tcc", "icc", "iq", "its"))})


def _judge(cfg: Path, data: Path, out: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["judge", str(data), "-c", str(cfg), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return result.output


def _scores(out: Path) -> dict[tuple[str, int], tuple[Any, ...]]:
    return {
        (j.sample_id, j.turn): (j.status, j.tcc, j.icc, j.iq, j.its) for j in load_judgements(out)
    }


def _records(out: Path) -> collections.Counter[tuple[str, int]]:
    [set_dir] = find_sets(out)
    return collections.Counter(
        (r["sample_id"], r["turn"])
        for part in (set_dir / "parts").glob("*.jsonl")
        for r in read_jsonl_tolerant(part)
    )


def test_judge_on_ray_matches_local_and_resumes_across_engines(tmp_path: Path) -> None:
    with ScriptedServer(responder=judge_responder) as srv:
        judge_role = {"backend": "openai", "model": "scripted-judge", "base_url": srv.base_url}
        cfg = _cfg(tmp_path, [srv.base_url], judge={**judge_role, "limits": LIMITS})
        run = tmp_path / "run"
        _gen(cfg, run, "-n", "6")
        local, mixed = tmp_path / "j-local", tmp_path / "j-mixed"
        _judge(cfg, run, local)
        _judge(cfg, run, mixed, "--limit", "3")
        _judge(cfg, run, mixed, "--engine", "ray", "--workers", "2")
    scores = _scores(local)
    assert len(scores) >= 6 and all(v[0] == "ok" for v in scores.values())
    assert len({v[1:] for v in scores.values()}) > 1  # the scores really vary per turn
    assert _scores(mixed) == scores
    assert max(_records(mixed).values()) == 1


def test_judge_on_ray_lists_the_turns_judged_without_their_image(tmp_path: Path) -> None:
    """A missing or corrupt image file is judged as "no image" on Ray too, and the command
    names those turns with the reason, as the local engine does."""
    from tests.test_judge_runner import write_answers

    rows = [
        {"id": "fine", "question": "q", "answer": "t", "image": "ok.png"},
        {"id": "gone", "question": "q", "answer": "t", "image": "gone.png"},
        {"id": "broken", "question": "q", "answer": "t", "image": "corrupt.png"},
    ]
    answers = write_answers(tmp_path / "in", rows)
    with ScriptedServer(responder=judge_responder) as srv:
        judge_role = {"backend": "openai", "model": "scripted-judge", "base_url": srv.base_url}
        cfg = _cfg(tmp_path, [srv.base_url], judge={**judge_role, "limits": LIMITS})
        output = _judge(cfg, answers, tmp_path / "out", "--engine", "ray", "--workers", "2")
    assert "2 turns judged as having no image" in output
    assert "gone turn 0: image file 'gone.png' not found" in output
    assert "broken turn 0: image 'corrupt.png'" in output and "corrupt" in output
    js = {j.sample_id: j for j in load_judgements(tmp_path / "out")}
    assert js["gone"].icc == js["gone"].iq == js["gone"].its == 0
    assert js["fine"].status == "ok" and not js["fine"].forced
