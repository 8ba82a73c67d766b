"""The static viewer: pages, index chunks, escaping, trace diffs, images, failures, streaming."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from intersyn.judge.store import JudgementStore, SetInfo
from intersyn.report import viewer
from intersyn.report.viewer import build_site, sample_page
from tests.report_fixtures import XSS, make_judgements, make_run


def _chunk_rows(site: Path) -> list[list]:
    rows: list[list] = []
    for f in sorted((site / "data").glob("index-*.js")):
        text = f.read_text()
        assert text.startswith("INTERSYN_CHUNK(") and text.endswith(");\n")
        rows.extend(json.loads(text[len("INTERSYN_CHUNK(") : -3]))
    return rows


def _meta(site: Path) -> dict:
    text = (site / "data" / "meta.js").read_text()
    return json.loads(text[len("INTERSYN_META(") : -3])


@pytest.fixture
def built(tmp_path: Path) -> tuple[Path, Path]:
    run = make_run(tmp_path / "run", n=6)
    site = tmp_path / "site"
    build_site(run, site, judgements=make_judgements(run))
    return run, site


def test_every_sample_and_failure_gets_a_page_and_an_index_row(built: tuple[Path, Path]) -> None:
    _run, site = built
    rows = _chunk_rows(site)
    assert [r[0] for r in rows] == [f"s{i:04d}" for i in range(6)] + ["s9999"]
    for r in rows:
        assert (site / r[1]).is_file()
    meta = _meta(site)
    assert meta["count"] == 7 and meta["failed"] == 1 and meta["judged"] is True
    assert meta["facets"]["Animals"] == {"Birds": ["kingfisher"]}
    failed = next(r for r in rows if r[0] == "s9999")
    assert failed[6] == 1
    assert "writer timed out" in (site / failed[1]).read_text()


def test_index_rows_carry_mean_scores_and_judge_status(built: tuple[Path, Path]) -> None:
    _run, site = built
    rows = {r[0]: r for r in _chunk_rows(site)}
    # s0001 has two turns: tcc 1 and 2 -> mean 1.5; icc 2, 3 -> 2.5; iq 4; its 0, 1 -> 0.5.
    assert rows["s0001"][8:13] == [1.5, 2.5, 4.0, 0.5, 2.125]
    assert rows["s0001"][7] == "ok" and rows["s0001"][5] == 2
    assert rows["s0002"][7] == "unparsed" and rows["s0002"][8:13] == [None] * 5
    assert rows["s0000"][14].startswith("thumb/") and (built[1] / rows["s0000"][14]).is_file()
    # The static list marks the failed sample and the unparsed judgement where the scores are blank.
    page = (built[1] / "list" / "page-0001.html").read_text()
    assert re.search(r'>s9999</a> <span class="badge error">failed</span>', page)
    assert re.search(r'>s0002</a> <span class="badge error">judge unparsed</span>', page)


def test_model_text_is_escaped_everywhere(built: tuple[Path, Path]) -> None:
    _run, site = built
    page = (site / sample_page("s0001")).read_text()
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert 'onerror="window' not in page
    # The JS index escapes < > & so the data can never close a tag either.
    raw_index = "".join(p.read_text() for p in (site / "data").glob("index-*.js"))
    assert "<" not in raw_index and ">" not in raw_index
    # The judge's raw output is text too.
    assert "TCC: 1 &lt;b&gt;bold&lt;/b&gt;" in page


def test_sample_page_shows_dialogue_judgement_and_caption_on_demand(
    built: tuple[Path, Path],
) -> None:
    _run, site = built
    page = (site / sample_page("s0005")).read_text()
    assert page.count('class="turn"') == 3
    assert "Question 2: explain Mars and show it" in page
    assert re.search(r'<details class="caption"><summary>caption</summary>', page)
    assert 'class="answer-image" src="../../img/' in page
    imgs = re.findall(r'src="\.\./\.\./(img/[^"]+)"', page)
    assert imgs and all((site / p).is_file() for p in imgs)
    assert "judge judge-x" in page and "±0.50" in page
    # prev/next navigation between samples
    assert f'href="../../{sample_page("s0004")}" rel="prev"' in page


def test_refinement_trace_shows_rounds_side_by_side_with_changes(built: tuple[Path, Path]) -> None:
    _run, site = built
    page = (site / sample_page("s0000")).read_text()
    assert "QR · question refinement" in page and "AR · answer refinement" in page
    assert "IR · image refinement" in page
    assert "Tell me about a kingfisher<ins> and draw one</ins>" in page
    assert "A small <del>bird.</del>" in page
    assert "A small <ins>blue bird that dives for fish.</ins>" in page
    assert "a <ins>blue kingfisher diving into a river</ins>" in page  # AR caption diff
    assert page.count('class="round-image"') == 2  # both IR rounds' images
    assert "stopped: max_rounds" in page and "nothing to change" in page


def test_turn_without_image_and_missing_file_are_reported(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=6, with_failure=False)
    # Delete the image file of s0003 turn 0 after the run was written.
    from intersyn.data.store import RunStore

    s3 = next(s for s in RunStore(run, fsync=False).iter_samples() if s.id == "s0003")
    assert s3.turns[0].image is not None
    (run / s3.turns[0].image.path).unlink()
    site = tmp_path / "site"
    build_site(run, site)
    assert "is missing or not a readable image" in (site / sample_page("s0003")).read_text()
    assert "no image" in (site / sample_page("s0004")).read_text()
    assert _meta(site)["judged"] is False


def test_index_is_chunked_and_static_list_pages_link_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(viewer, "CHUNK", 4)
    run = make_run(tmp_path / "run", n=10, with_failure=False)
    site = tmp_path / "site"
    build_site(run, site)
    chunks = sorted((site / "data").glob("index-*.js"))
    assert [len(json.loads(c.read_text()[15:-3])) for c in chunks] == [4, 4, 2]
    assert _meta(site)["chunks"] == [f"data/index-000{i}.js" for i in (1, 2, 3)]
    p2 = (site / "list" / "page-0002.html").read_text()
    assert 'href="page-0001.html" rel="prev"' in p2 and 'href="page-0003.html" rel="next"' in p2
    assert "page 2 of 3" in p2 and "<!--NAV-->" not in p2


def test_reads_judgements_from_a_judge_output_folder(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=3, with_failure=False)
    judged = tmp_path / "judged"
    store = JudgementStore(
        judged, SetInfo(judge_model="judge-x", rubric="synjudge@1", mode="vision")
    )
    for j in make_judgements(run):
        store.append(j)
    store.close()
    site = tmp_path / "site"
    build_site(run, site, judgements=judged)
    rows = {r[0]: r for r in _chunk_rows(site)}
    assert rows["s0000"][8:12] == [0.0, 1.0, 4.0, 0.0]


def test_builds_from_a_finalised_parquet_dataset(tmp_path: Path) -> None:
    from intersyn.data.parquet import finalize

    run = make_run(tmp_path / "run", n=4, with_failure=False)
    finalize(run)
    site = tmp_path / "site"
    build_site(run / "data", site)
    rows = _chunk_rows(site)
    assert sorted(r[0] for r in rows) == ["s0000", "s0001", "s0002", "s0003"]
    page = (site / sample_page("s0001")).read_text()
    assert 'class="answer-image"' in page and XSS not in page


def test_site_page_paths_are_safe_for_any_id() -> None:
    for sid in ("../../etc/passwd", "a/b", "x" * 300, ".hidden", "ok-id_1"):
        p = sample_page(sid)
        assert p.startswith("s/") and p.count("/") == 2 and not p.split("/")[2].startswith(".")
        assert len(p) < 120
    assert sample_page("ok-id_1").endswith("/ok-id_1.html")
    assert sample_page("a/b") != sample_page("a_b")


def test_judgements_are_streamed_never_loaded_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The build reads judgements through iter_judgements into an on-disk index (flat
    memory); the newer record of a rejudged turn wins, an error never hides a judgement."""
    from intersyn.judge import store as judge_store
    from intersyn.schema import Judgement

    run = make_run(tmp_path / "run", n=3)
    judged = tmp_path / "judged"
    store = JudgementStore(
        judged, SetInfo(judge_model="judge-x", rubric="synjudge@1", mode="vision")
    )
    for j in make_judgements(run):
        store.append(j)
    rejudged = Judgement(
        sample_id="s0000",
        turn=0,
        tcc=5,
        icc=5,
        iq=5,
        its=5,
        judge_model="judge-x",
        rubric_version="1",
    )
    failed = rejudged.model_copy(update={"status": "error", "tcc": None, "error": "boom"})
    store.append(rejudged)
    store.append(failed)
    store.close()

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("the viewer must not load a whole judgement set")

    monkeypatch.setattr(judge_store, "load_judgements", refuse)
    monkeypatch.setattr(judge_store, "load_set", refuse)
    site = tmp_path / "site"
    build_site(run, site, judgements=judged)
    rows = {r[0]: r for r in _chunk_rows(site)}
    assert rows["s0000"][8:12] == [5.0, 5.0, 5.0, 5.0] and rows["s0000"][7] == "ok"
    assert _meta(site)["judged"] is True


def test_an_answers_jsonl_is_viewed(tmp_path: Path) -> None:
    from tests.report_fixtures import png

    (tmp_path / "a.png").write_bytes(png((10, 200, 30)))
    lines = [
        {"id": "q1", "question": "What is <b>this</b>?", "answer": "A bird.", "image": "a.png"},
        {"id": "q1", "turn": 1, "question": "And then?", "answer": "It flew.", "image": "gone.png"},
    ]
    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    site = tmp_path / "site"
    build_site(src, site)
    [row] = _chunk_rows(site)
    assert row[0] == "q1" and row[5] == 2 and row[14].startswith("thumb/")
    page = (site / row[1]).read_text()
    assert "What is &lt;b&gt;this&lt;/b&gt;?" in page and "gone.png" in page
