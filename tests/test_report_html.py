"""The report of a judged dataset: summary, distributions, breakdown, instability, lowest turns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from intersyn.errors import InputError
from intersyn.judge.summary import summarize
from intersyn.report.html import build_report, distribution
from intersyn.schema import Judgement
from tests.report_fixtures import make_judgements, make_run


def _table(html: str, table_id: str) -> str:
    m = re.search(rf'<table[^>]*id="{table_id}"[^>]*>(.*?)</table>', html, re.S)
    assert m, table_id
    return m.group(1)


def test_report_tables_match_the_judges_summary(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=6)
    js = make_judgements(run)
    page = build_report(run, js, tmp_path / "rep", viewer="../site")
    html = page.read_text()
    s = summarize(js)
    summary = _table(html, "summary")
    assert f"{s['dimensions']['tcc']['mean']:.2f}" in summary
    lo, hi = s["dimensions"]["icc"]["ci95"]
    assert f"[{lo:.2f}, {hi:.2f}]" in summary
    assert f"{s['overall']['mean']:.2f}" in summary
    dist = _table(html, "distribution")
    counts = distribution(js)
    assert (
        sum(counts["iq"]) == s["dimensions"]["iq"]["n"]
        and counts["iq"][4] == s["dimensions"]["iq"]["n"]
    )
    assert "<td>IQ</td>" + "".join(f'<td class="num">{c}</td>' for c in counts["iq"]) in dist
    domains = _table(html, "by-domain")
    assert "<td>Animals</td>" in domains and "<td>Space</td>" in domains
    inst = _table(html, "instability")
    tcc = s["instability"]["tcc"]
    assert (
        f'<td>TCC</td><td class="num">{tcc["mean_std"]:.2f}</td><td class="num">{tcc["share_varying"]:.2f}</td>'
        in inst
    )
    assert (tmp_path / "rep" / "distribution.png").exists() and (
        tmp_path / "rep" / "distribution.svg"
    ).exists()
    assert "unparsed 3" in html  # s0002's three turns


def test_lowest_scoring_turns_come_first_with_their_images(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=6)
    js = make_judgements(run)
    page = build_report(run, js, tmp_path / "rep", lowest=3, viewer="../site")
    html = page.read_text()
    ids = re.findall(
        r'<div class="example" id="low-\d+">.*?<h4><a href="[^"]+">(s\d+)</a> · turn (\d+)',
        html,
        re.S,
    )
    ok = sorted(
        ((sum(j.scores().values()) / 4, j.sample_id, j.turn) for j in js if j.status == "ok"),
    )[:3]
    assert [(sid, int(t) - 1) for sid, t in ids] == [(sid, t) for _o, sid, t in ok]
    thumbs = re.findall(r'class="example-image" src="(thumb/[^"]+)"', html)
    assert len(thumbs) == 3 and all((tmp_path / "rep" / t).is_file() for t in thumbs)
    assert "&lt;script&gt;" in html or "<script>window" not in html


def test_no_judgements_is_a_clear_error(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=2)
    with pytest.raises(InputError, match="no judgements"):
        build_report(run, [], tmp_path / "rep")


def test_report_without_sampling_explains_instability(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=2, with_failure=False)
    js = [
        Judgement(
            sample_id="s0000",
            turn=0,
            tcc=1,
            icc=1,
            iq=1,
            its=1,
            judge_model="j",
            rubric_version="1",
        ),
        Judgement(
            sample_id="s0001",
            turn=0,
            tcc=2,
            icc=2,
            iq=2,
            its=2,
            judge_model="j",
            rubric_version="1",
            mode="caption-proxy",
        ),
    ]
    html = build_report(run, js, tmp_path / "rep").read_text()
    assert "--samples k" in html
    assert "caption-proxy mode" in html
