"""The report area's commands: view, report, leaderboard, bench errors, serve."""

from __future__ import annotations

import re
import threading
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from intersyn.cli import cli
from intersyn.judge.store import JudgementStore, SetInfo
from intersyn.report.commands import make_server
from intersyn.report.diff import side_by_side, word_diff
from tests.report_fixtures import make_judgements, make_run


def _judged(tmp_path: Path) -> tuple[Path, Path]:
    run = make_run(tmp_path / "run", n=4)
    judged = tmp_path / "judged"
    store = JudgementStore(
        judged, SetInfo(judge_model="judge-x", rubric="synjudge@1", mode="vision")
    )
    for j in make_judgements(run):
        store.append(j)
    store.close()
    return run, judged


def test_view_and_report_commands_write_sites(tmp_path: Path) -> None:
    run, judged = _judged(tmp_path)
    r = CliRunner().invoke(
        cli, ["view", str(run), "-j", str(judged), "--out", str(tmp_path / "site")]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "site" / "index.html").is_file() and "viewer:" in r.output
    r = CliRunner().invoke(
        cli, ["report", str(run), "-j", str(judged), "--out", str(tmp_path / "rep")]
    )
    assert r.exit_code == 0, r.output
    assert "Summary" in (tmp_path / "rep" / "index.html").read_text()


def test_bad_inputs_give_clean_messages(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["view", str(tmp_path / "nope"), "--out", str(tmp_path / "s")])
    assert r.exit_code == 1 and "nope" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["leaderboard", str(tmp_path)])
    assert r.exit_code == 1 and "not a benchmark folder" in r.output
    bad = tmp_path / "bench.yaml"
    bad.write_text("generators: [\n")
    r = CliRunner().invoke(cli, ["bench", "--config", str(bad), "--out", str(tmp_path / "b")])
    assert r.exit_code == 1 and "bench.yaml" in r.output and "line" in r.output


def test_serve_serves_the_site_on_loopback(tmp_path: Path) -> None:
    run, _judged_dir = _judged(tmp_path)
    CliRunner().invoke(cli, ["view", str(run), "--out", str(tmp_path / "site")])
    server = make_server(tmp_path / "site", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[0], server.server_address[1]
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as resp:
            assert resp.status == 200 and b"intersyn" in resp.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/meta.js", timeout=10) as resp:
            assert resp.read().startswith(b"INTERSYN_META(")
    finally:
        server.shutdown()
        server.server_close()


def test_word_diff_marks_changed_words() -> None:
    segs = [(s.op, s.text) for s in word_diff("a red fox jumps", "a brown fox jumps high")]
    assert segs == [
        ("equal", "a "),
        ("delete", "red"),
        ("insert", "brown"),
        ("equal", " fox jumps"),
        ("insert", " high"),
    ]


@given(st.text(max_size=60), st.text(max_size=60))
def test_side_by_side_rebuilds_both_texts(old: str, new: str) -> None:
    left, right = side_by_side(old, new)
    assert "".join(s.text for s in left) == old
    assert "".join(s.text for s in right) == new
    assert all(s.op != "insert" for s in left) and all(s.op != "delete" for s in right)


def test_report_viewer_option_takes_the_site_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's commands as written: the site folder as typed, linked from the report."""
    monkeypatch.chdir(tmp_path)
    run, judged = _judged(tmp_path)
    runner = CliRunner()
    r = runner.invoke(cli, ["view", str(run), "--judgements", str(judged), "--out", "site"])
    assert r.exit_code == 0, r.output
    args = ["report", str(run), "--judgements", str(judged), "--out", "runs/a-report"]
    r = runner.invoke(cli, [*args, "--viewer", "site"])
    assert r.exit_code == 0, r.output
    html = (tmp_path / "runs/a-report/index.html").read_text()
    assert 'href="../../site/index.html"' in html
    links = re.findall(r'href="(\.\./\.\./site/s/[^"#]+)#turn-\d+"', html)
    assert links and all((tmp_path / "runs/a-report" / link).is_file() for link in links)
    # A link already relative to the report still works; a folder with no site is refused.
    r = runner.invoke(cli, [*args, "--viewer", "../../site"])
    assert (
        r.exit_code == 0
        and 'href="../../site/index.html"' in (tmp_path / "runs/a-report/index.html").read_text()
    )
    r = runner.invoke(cli, [*args, "--viewer", "nosite"])
    assert r.exit_code == 1 and "--viewer nosite: no viewer site there" in r.output
    assert "intersyn view" in r.output and "Traceback" not in r.output
