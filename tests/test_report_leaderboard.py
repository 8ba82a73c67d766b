"""Leaderboard: means and CIs from the judge's summary, ties from overlapping CIs, outputs."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

from intersyn.judge.summary import summarize
from intersyn.report.leaderboard import (
    Entry,
    entry_from_judgements,
    rank,
    to_markdown,
    write_leaderboard,
)
from intersyn.schema import DIMENSIONS, Judgement


def _entry(name: str, overall: float, ci: tuple[float, float] | None) -> Entry:
    means = dict.fromkeys(DIMENSIONS, overall)
    return Entry(name, means, dict.fromkeys(DIMENSIONS, ci), overall, ci, 100, 0)


def test_rank_shares_places_where_cis_overlap() -> None:
    entries = [
        _entry("c", 3.0, (2.8, 3.2)),
        _entry("a", 4.0, (3.9, 4.1)),
        _entry("b", 3.95, (3.85, 4.05)),
        _entry("d", 2.0, (1.9, 2.1)),
        _entry("none", 0.0, None),
    ]
    entries[-1].overall = None
    ranked = rank(entries)
    assert [e.name for e in ranked] == ["a", "b", "c", "d", "none"]
    assert [e.rank for e in ranked] == [1, 1, 3, 4, 0]
    assert ranked[0].tied_with == ["b"] and ranked[1].tied_with == ["a"]
    assert ranked[2].tied_with == [] and ranked[3].tied_with == []
    md = to_markdown(ranked)
    assert "| 1= | a |" in md and "| 1= | b |" in md and "| 3 | c |" in md and "| – | none |" in md


def _judgements(
    model: str, scores: list[tuple[int, int, int, int]], unparsed: int = 0
) -> list[Judgement]:
    out = [
        Judgement(
            sample_id=f"q{i}",
            turn=0,
            tcc=a,
            icc=b,
            iq=c,
            its=d,
            judge_model=model,
            rubric_version="1",
        )
        for i, (a, b, c, d) in enumerate(scores)
    ]
    out += [
        Judgement(
            sample_id=f"u{i}", turn=0, status="unparsed", judge_model=model, rubric_version="1"
        )
        for i in range(unparsed)
    ]
    return out


def test_entry_uses_the_judges_summary_and_counts_unparsed() -> None:
    js = _judgements("j", [(5, 4, 3, 2), (3, 4, 5, 2), (4, 4, 4, 4)], unparsed=2)
    e = entry_from_judgements("gen", js, n_failed=1)
    s = summarize(js)
    assert e.means["tcc"] == 4.0 and e.means["its"] == s["dimensions"]["its"]["mean"]
    assert e.cis["tcc"] == tuple(s["dimensions"]["tcc"]["ci95"])
    assert e.overall == s["overall"]["mean"] and e.overall_ci == tuple(s["overall"]["ci95"])
    assert (e.n, e.n_unparsed, e.n_failed) == (3, 2, 1)
    assert e.judge_model == "j"


def test_entry_does_not_depend_on_the_order_judgements_were_written() -> None:
    scores = [(i % 6, (i * 2) % 6, (i * 5) % 6, (i * 3) % 6) for i in range(30)]
    js = _judgements("j", scores, unparsed=1)
    a = entry_from_judgements("gen", js)
    b = entry_from_judgements("gen", list(reversed(js)))
    assert a.cis == b.cis and a.overall_ci == b.overall_ci and a.means == b.means


def test_writes_markdown_csv_json_html_and_charts(tmp_path: Path) -> None:
    hi = entry_from_judgements("strong", _judgements("j", [(5, 5, 5, 5)] * 20 + [(4, 5, 5, 4)] * 5))
    lo = entry_from_judgements(
        "weak <b>", _judgements("j", [(1, 2, 1, 0)] * 20 + [(2, 1, 2, 1)] * 5, unparsed=3)
    )
    lo.n_failed = 2
    page = write_leaderboard([lo, hi], tmp_path)
    md = (tmp_path / "leaderboard.md").read_text().splitlines()
    assert md[0] == "| rank | generator | TCC | ICC | IQ | ITS | overall | n | unparsed | failed |"
    assert md[2].startswith("| 1 | strong | 4.80 [") and md[2].endswith("| 25 | 0 | 0 |")
    assert md[3].startswith("| 2 | weak <b> | ") and md[3].endswith("| 25 | 3 | 2 |")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "leaderboard.csv").read_text())))
    assert [r["generator"] for r in rows] == ["strong", "weak <b>"]
    assert rows[0]["rank"] == "1" and rows[1]["rank"] == "2" and rows[0]["tied"] == ""
    assert float(rows[0]["tcc"]) == 4.8 and rows[1]["n_unparsed"] == "3"
    assert (
        float(rows[0]["overall_ci_low"])
        <= float(rows[0]["overall"])
        <= float(rows[0]["overall_ci_high"])
    )
    data = json.loads((tmp_path / "leaderboard.json").read_text())
    assert data["entries"][0]["name"] == "strong"
    html = page.read_text()
    assert "weak &lt;b&gt;" in html and "weak <b>" not in html
    for stem in ("radar", "bars"):
        assert (tmp_path / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
        root = ET.fromstring((tmp_path / f"{stem}.svg").read_text())
        assert root.tag.endswith("svg")
        assert f'src="{stem}.png"' in html
