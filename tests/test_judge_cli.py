"""`intersyn judge / summary / agree` end to end against the scripted OpenAI-compatible server
on 127.0.0.1, with messy replies from the corpus; and kill -9 in the middle, then resume."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.judge.store import load_judgements
from intersyn.testing.server import ScriptedServer
from tests.test_judge_parse import _corpus
from tests.test_judge_runner import png

REPAIRED = {"tcc": 2, "icc": 2, "iq": 2, "its": 2}


def _answers(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "img.png").write_bytes(png("blue"))
    rows = [
        {
            "id": f"s{i:03d}",
            "question": f"Explain item s{i:03d} and draw it",
            "answer": "text",
            "image": "img.png",
        }
        for i in range(n)
    ]
    path = folder / "answers.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _messy_responder(corpus: list[dict[str, Any]]) -> Any:
    """First reply: corpus entry i for sample i. Repair: valid JSON for even i, junk for odd."""

    def respond(body: dict[str, Any]) -> str:
        text = json.dumps(body["messages"])
        i = int(re.search(r"item s(\d{3})", text).group(1))  # type: ignore[union-attr]
        if "could not be read" in text:
            return json.dumps(REPAIRED) if i % 2 == 0 else "sorry, no scores"
        return str(corpus[i]["reply"])

    return respond


def _config(tmp: Path, url: str, concurrency: int = 8) -> Path:
    cfg = tmp / "judge.yaml"
    cfg.write_text(
        "judge:\n  backend: openai\n  model: scripted-vlm\n"
        f"  base_url: {url}\n  vision: true\n  limits: {{concurrency: {concurrency}, max_retries: 1}}\n"
    )
    return cfg


def _expected(corpus: list[dict[str, Any]], i: int) -> dict[str, int] | None:
    exp = corpus[i]["expected"]
    if exp is None and corpus[i].get("finish_reason") is None:
        return REPAIRED if i % 2 == 0 else None
    return exp if exp is not None else (REPAIRED if i % 2 == 0 else None)


def test_judge_cli_against_scripted_server_with_messy_replies(tmp_path: Path) -> None:
    all_rows = _corpus()
    # A mix of well-formed and ill-formed replies, in a fixed order.
    corpus = [r for k, r in enumerate(all_rows) if k % 7 == 0][:36]
    assert any(r["expected"] is None for r in corpus) and any(r["expected"] for r in corpus)
    answers = _answers(tmp_path / "in", len(corpus))
    with ScriptedServer(responder=_messy_responder(corpus)) as srv:
        cfg = _config(tmp_path, srv.base_url)
        res = CliRunner().invoke(
            cli, ["judge", str(answers), "--config", str(cfg), "--out", str(tmp_path / "out")]
        )
        assert res.exit_code == 0, res.output
        n_requests = len(srv.requests)
    js = {j.sample_id: j for j in load_judgements(tmp_path / "out")}
    assert len(js) == len(corpus)
    for i in range(len(corpus)):
        j = js[f"s{i:03d}"]
        want = _expected(corpus, i)
        if want is None:
            assert j.status == "unparsed" and j.scores() == dict.fromkeys(want or REPAIRED), corpus[
                i
            ]["id"]
        else:
            assert j.status == "ok" and j.scores() == want, corpus[i]["id"]
    n_ill = sum(1 for r in corpus if r["expected"] is None)
    assert n_requests == len(corpus) + n_ill  # exactly one repair per ill-formed reply
    summary = json.loads(next((tmp_path / "out").rglob("summary.json")).read_text())
    assert summary["n_unparsed"] == sum(1 for j in js.values() if j.status == "unparsed")
    assert "unparsed" in res.output and "TCC" in res.output

    # summary command, with JSON output
    out_json = tmp_path / "s.json"
    res = CliRunner().invoke(
        cli, ["summary", str(tmp_path / "out"), "--json", str(out_json), "--n-boot", "50"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(out_json.read_text())["n_items"] == len(corpus)


def test_agree_cli_two_judges_and_annotators(tmp_path: Path) -> None:
    from intersyn.config import RunConfig
    from intersyn.judge.runner import run_judge
    from intersyn.models.gate import Models
    from tests.test_judge_runner import ScriptedJudge

    answers = _answers(tmp_path / "in", 12)
    for model, bump in (("judge-a", 0), ("judge-b", 1)):
        backend = ScriptedJudge(
            lambda m, p, s, b=bump: "TCC: {0}\nICC: {0}\nIQ: 3\nITS: {1}".format(
                int(re.search(r"s(\d{3})", m[1].content).group(1)) % 5,  # type: ignore[union-attr]
                min(5, 2 + b),
            ),
            model=model,
        )
        run_judge(answers, RunConfig(), tmp_path / model, models=Models(chat={"judge": backend}))
    ratings = tmp_path / "ratings.csv"
    lines = ["sample_id,turn,annotator,tcc,icc,iq,its"]
    for i in range(12):
        lines.append(f"s{i:03d},0,ann1,{i % 5},{i % 5},3,2")
        lines.append(f"s{i:03d},0,ann2,{min(5, i % 5 + 1)},{i % 5},4,3")
    lines.append("s999,0,ann1,1,1,1,1")  # matches nothing: named, not fatal
    ratings.write_text("\n".join(lines) + "\n")
    res = CliRunner().invoke(
        cli,
        [
            "agree",
            "--judge",
            str(tmp_path / "judge-a"),
            str(tmp_path / "judge-b"),
            "--human",
            str(ratings),
            "--out",
            str(tmp_path / "agree"),
            "--n-boot",
            "50",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "s999#0" in res.output and "judge-a" in res.output and "judge-b" in res.output
    assert "judges side by side" in res.output
    result = json.loads((tmp_path / "agree" / "agreement.json").read_text())
    a = result["judges"]["judge-a"]["dimensions"]
    assert a["tcc"]["exact"]["value"] == 0.5  # equal to ann1 on every turn, to ann2 on none
    assert result["judges"]["judge-b"]["dimensions"]["its"]["a1"]["value"] == 1.0
    assert result["inter_annotator"]["alpha_ordinal"]["icc"] == 1.0
    assert (tmp_path / "agree" / "agreement.png").exists() and (
        tmp_path / "agree" / "agreement.svg"
    ).exists()

    bad = tmp_path / "bad.csv"
    bad.write_text("sample_id,turn,annotator,tcc,icc,iq,its\nzzz,0,a,1,1,1,1\n")
    res = CliRunner().invoke(
        cli, ["agree", "--judge", str(tmp_path / "judge-a"), "--human", str(bad)]
    )
    assert res.exit_code == 1 and "no rating matches a judged turn" in res.output
    assert "Traceback" not in res.output

    # A --judge that holds no judgements (a ratings file by mistake, a set whose run stopped
    # before judging anything) or whose set.json is damaged: named, no traceback.
    res = CliRunner().invoke(cli, ["agree", "--judge", str(ratings), "--human", str(ratings)])
    assert res.exit_code == 1 and f"{ratings}: holds no judgements" in res.output
    [set_dir] = (tmp_path / "judge-a" / "judgements").iterdir()
    (set_dir / "set.json").write_text("{")
    res = CliRunner().invoke(
        cli, ["agree", "--judge", str(tmp_path / "judge-a"), "--human", str(ratings)]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "set.json: not a readable judgement-set description" in res.output


def test_kill_9_mid_run_then_rerun_finishes_without_duplicates(tmp_path: Path) -> None:
    n = 60
    answers = _answers(tmp_path / "in", n)
    out = tmp_path / "out"
    reply = "TCC: 4\nICC: 4\nIQ: 4\nITS: 4"
    with ScriptedServer(latency_s=0.05, capacity=4, responder=lambda body: reply) as srv:
        cfg = _config(tmp_path, srv.base_url, concurrency=4)
        cmd = [
            sys.executable,
            "-m",
            "intersyn",
            "judge",
            str(answers),
            "--config",
            str(cfg),
            "--out",
            str(out),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                done = sum(
                    len(p.read_bytes().splitlines()) for p in out.rglob("judgements-*.jsonl")
                )
                if done >= 8:
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        before = sum(len(p.read_bytes().splitlines()) for p in out.rglob("judgements-*.jsonl"))
        assert before >= 1
        rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
    js = load_judgements(out)
    assert sorted(j.sample_id for j in js) == [f"s{i:03d}" for i in range(n)]
    records = [
        json.loads(x)
        for p in out.rglob("judgements-*.jsonl")
        for x in p.read_text().splitlines()
        if x.endswith("}")
    ]
    ids = [r["sample_id"] for r in records]
    assert len(ids) == len(set(ids)) == n  # nothing judged twice, nothing missing
    assert all(j.scores() == dict.fromkeys(("tcc", "icc", "iq", "its"), 4) for j in js)


def test_hub_layout_parquet_is_judged_turn_by_turn(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from intersyn.data.formats.hub import hub_schema

    rows = []
    for i in range(3):
        row: dict[str, Any] = {"id": f"h{i}", "topic": "lighthouses"}
        for t in range(1, 6):
            present = t <= 2
            row[f"human{t}"] = f"question {t} of item s{i:03d}" if present else None
            row[f"gpt{t}"] = f"answer {t}" if present else None
            row[f"caption{t}"] = f"caption {t}" if present else None
            row[f"image{t}"] = (
                {"bytes": png(), "path": f"h{i}_{t}.png"} if present and t == 1 else None
            )
        rows.append(row)
    pq.write_table(pa.Table.from_pylist(rows, schema=hub_schema()), tmp_path / "hub.parquet")
    with ScriptedServer(responder=lambda body: "TCC: 5\nICC: 4\nIQ: 3\nITS: 2") as srv:
        cfg = _config(tmp_path, srv.base_url)
        res = CliRunner().invoke(
            cli,
            [
                "judge",
                str(tmp_path / "hub.parquet"),
                "--config",
                str(cfg),
                "--out",
                str(tmp_path / "out"),
            ],
        )
        assert res.exit_code == 0, res.output
        second_turn = [r for r in srv.requests if "question 2 of" in json.dumps(r)]
    js = {(j.sample_id, j.turn): j for j in load_judgements(tmp_path / "out")}
    assert sorted(js) == [(f"h{i}", t) for i in range(3) for t in (0, 1)]
    assert js[("h0", 0)].scores() == {"tcc": 5, "icc": 4, "iq": 3, "its": 2}
    assert js[("h0", 1)].scores() == {"tcc": 5, "icc": 0, "iq": 0, "its": 0}  # no image in turn 2
    # turn 2 is judged with turn 1 as context, and only its own image (none) is shown
    text = json.dumps(second_turn[0]["messages"])
    assert text.index("question 1 of") < text.index("question 2 of")
    assert "image_url" not in text


def test_truncated_reply_is_repaired_and_a_refused_schema_still_parses(tmp_path: Path) -> None:
    from intersyn.testing.server import Faults

    answers = _answers(tmp_path / "in", 1)
    reply = "TCC: 3\nICC: 3\nIQ: 4\nITS: 5\nThe text covers the topic well and the picture"
    with ScriptedServer(
        responder=lambda body: reply, faults=Faults(sequence=["truncated", None])
    ) as srv:
        cfg = _config(tmp_path, srv.base_url)
        res = CliRunner().invoke(
            cli, ["judge", str(answers), "--config", str(cfg), "--out", str(tmp_path / "a")]
        )
        assert res.exit_code == 0, res.output
        assert len(srv.requests) == 2 and "cut off" in json.dumps(srv.requests[1]["messages"])
    [j] = load_judgements(tmp_path / "a")
    assert (
        j.status == "ok"
        and j.scores() == {"tcc": 3, "icc": 3, "iq": 4, "its": 5}
        and len(j.raw) == 2
    )

    with ScriptedServer(
        responder=lambda body: reply, faults=Faults(reject_response_format=True)
    ) as srv:
        cfg = _config(tmp_path, srv.base_url)
        res = CliRunner().invoke(
            cli, ["judge", str(answers), "--config", str(cfg), "--out", str(tmp_path / "b")]
        )
        assert res.exit_code == 0, res.output
    [j] = load_judgements(tmp_path / "b")
    assert j.status == "ok" and j.its == 5


def test_judge_without_judge_role_is_a_clean_error(tmp_path: Path) -> None:
    answers = _answers(tmp_path / "in", 1)
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("seed: 1\n")
    res = CliRunner().invoke(
        cli, ["judge", str(answers), "--config", str(cfg), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 1 and "judge" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(
        cli, ["judge", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 1 and "input not found" in res.output


def test_k_draws_reach_the_server_seeded_at_temperature_and_replay_from_cache(
    tmp_path: Path,
) -> None:
    answers = _answers(tmp_path / "in", 4)

    def by_seed(body: dict[str, Any]) -> str:
        v = int(body["seed"]) % 6
        return json.dumps({"tcc": v, "icc": 5 - v, "iq": 3, "its": 3})

    out = tmp_path / "out"
    with ScriptedServer(responder=by_seed) as srv:
        cfg = _config(tmp_path, srv.base_url)
        args = ["judge", str(answers), "--config", str(cfg), "--out", str(out), "--samples", "3"]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        first = list(srv.requests)
        assert len(first) == 12 and len({r["seed"] for r in first}) == 12
        assert all(r["temperature"] == 0.7 for r in first)
        assert "instability" in res.output
        js = {j.sample_id: j for j in load_judgements(out)}
        for j in js.values():
            assert len(j.draws) == 3 and len(j.raw) == 3 and j.spread is not None
            assert j.iq == 3 and j.spread["iq"] == 0.0
        # The summary reports the judge's instability, computed here from the draws.
        inst = json.loads(next(out.rglob("summary.json")).read_text())["instability"]
        stds = [statistics.pstdev(d["tcc"] for d in j.draws) for j in js.values()]
        assert inst["tcc"]["mean_std"] == pytest.approx(statistics.mean(stds))
        varying = [len({d["tcc"] for d in j.draws}) > 1 for j in js.values()]
        assert inst["tcc"]["share_varying"] == sum(varying) / 4 and sum(varying) > 0
        assert inst["iq"] == {"mean_std": 0.0, "share_varying": 0.0, "n_items": 4}
        assert "least stable turns" in res.output
        # ... and every turn's mean and spread over its draws, with `summary --items`.
        items = tmp_path / "items.csv"
        res = CliRunner().invoke(cli, ["summary", str(out), "--items", str(items)])
        assert res.exit_code == 0, res.output
        rows = {r["sample_id"]: r for r in csv.DictReader(items.open())}
        assert set(rows) == set(js)
        for sid, j in js.items():
            tcc = [d["tcc"] for d in j.draws]
            assert float(rows[sid]["tcc_mean"]) == pytest.approx(statistics.mean(tcc))
            assert float(rows[sid]["tcc_std"]) == pytest.approx(j.spread["tcc"])  # type: ignore[index]
            assert rows[sid]["n_draws"] == "3"
        # The same command again: everything is done, nothing is sent.
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0 and len(srv.requests) == 12 and "skipped 4" in res.output
        # Judgements lost (not the cache): the paid-for draws replay from the cache.
        for part in out.rglob("judgements-*.jsonl"):
            part.unlink()
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        assert len(srv.requests) == 12
    again = {j.sample_id: j for j in load_judgements(out)}
    assert {k: j.draws for k, j in again.items()} == {k: j.draws for k, j in js.items()}


def test_summary_breaks_down_by_the_datasets_topics(tmp_path: Path) -> None:
    from intersyn.config import RunConfig
    from intersyn.data.store import RunStore
    from intersyn.judge.runner import run_judge
    from intersyn.models.gate import Models
    from intersyn.schema import Sample, TopicPath, Turn
    from tests.test_judge_runner import ScriptedJudge

    store = RunStore(tmp_path / "run")
    for i, (domain, category) in enumerate(
        [("Food", "Bread"), ("Food", "Cheese"), ("Space", "Moons")]
    ):
        ref = store.put_image(f"d{i}", "t0", png())
        turn = Turn(index=0, question="q", answer="a", caption="c", image=ref)
        store.commit(
            Sample(
                id=f"d{i}",
                topic=TopicPath(domain=domain, category=category, topic="t"),
                turns=[turn],
            )
        )
    store.close()
    run_judge(
        tmp_path / "run",
        RunConfig(),
        tmp_path / "out",
        models=Models(chat={"judge": ScriptedJudge()}),
    )
    out_json = tmp_path / "s.json"
    res = CliRunner().invoke(
        cli,
        [
            "summary",
            str(tmp_path / "out"),
            "--dataset",
            str(tmp_path / "run"),
            "--json",
            str(out_json),
        ],
    )
    assert res.exit_code == 0, res.output
    s = json.loads(out_json.read_text())
    assert s["by_domain"]["Food"]["n"] == 2 and s["by_domain"]["Space"]["n"] == 1
    assert set(s["by_category"]) == {"Food / Bread", "Food / Cheese", "Space / Moons"}
    assert s["overall"]["mean"] == (4 + 3 + 5 + 2) / 4
    assert "by domain" in res.output


def test_summary_marks_caption_proxy_judgements(tmp_path: Path) -> None:
    from intersyn.config import RunConfig
    from intersyn.judge.runner import run_judge
    from intersyn.models.gate import Models
    from tests.test_judge_runner import ScriptedJudge

    answers = _answers(tmp_path / "in", 3)
    backend = ScriptedJudge(vision=False)
    run_judge(answers, RunConfig(), tmp_path / "out", models=Models(chat={"judge": backend}))
    res = CliRunner().invoke(cli, ["summary", str(tmp_path / "out"), "--n-boot", "20"])
    assert res.exit_code == 0, res.output
    assert "caption-proxy: 3 of 3 turns were judged from the image's caption" in res.output
