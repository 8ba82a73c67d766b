"""Nothing lost (issue 11, items 1 and 2): no command writes over, around or into its own
inputs; an existing file is replaced only with --overwrite (never an input); a folder is
emptied or replaced only when the same command wrote it; finalize cleans up after itself."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.outputs import MARKER, STAGING_MARKER, guard_output
from intersyn.errors import InputError
from intersyn.judge.store import JudgementStore, SetInfo
from tests.data.helpers import make_run
from tests.report_fixtures import make_judgements

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output


def _tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with the hash of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _judged(dataset: Path) -> Path:
    """A judgement set (the folder `intersyn judge --out` writes) for ``dataset``."""
    judged = dataset.parent / f"{dataset.name}-judged"
    info = SetInfo(judge_model="judge-x", rubric="synjudge@1", mode="vision")
    store = JudgementStore(judged, info)
    for j in make_judgements(dataset):
        store.append(j)
    store.close()
    return judged


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "a"
    make_run(run, 3)
    code, out = _run("finalize", run)
    assert code == 0, out
    return run


def test_guard_refuses_out_that_is_holds_or_lies_inside_an_input(tmp_path: Path) -> None:
    data = tmp_path / "runs" / "a"
    data.mkdir(parents=True)
    for out, how in (
        (data, "is the input"),
        (tmp_path / "runs", "contains the input"),
        (data / "site", "lies inside the input"),
        (tmp_path / "runs" / "a" / ".." / "a", "is the input"),  # same place, other spelling
    ):
        with pytest.raises(InputError, match=how):
            guard_output(out, [data])
    link = tmp_path / "link"
    link.symlink_to(data)
    with pytest.raises(InputError, match="is the input"):
        guard_output(link, [data])
    guard_output(tmp_path / "runs" / "b", [data, None])  # a sibling is fine


def test_view_out_dataset_clean_is_refused_and_the_dataset_is_intact(dataset: Path) -> None:
    before = _tree(dataset)
    for out in (dataset, dataset / "site", dataset.parent):
        code, out_text = _run("view", dataset, "--out", out, "--clean")
        assert code != 0 and "nothing was written" in out_text, out_text
    code, out_text = _run("view", dataset / "data", "--out", dataset, "--clean")
    assert code != 0 and "contains the input" in out_text
    assert _tree(dataset) == before


def test_view_clean_removes_only_what_a_build_wrote(dataset: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert _run("view", dataset, "--out", site)[0] == 0
    assert json.loads((site / MARKER).read_text())["kind"] == "view"
    (site / "notes.txt").write_text("mine")  # a user's own file beside the site
    stale = site / "s" / "zz" / "gone.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an older build")
    code, out = _run("view", dataset, "--out", site, "--clean")
    assert code == 0, out
    assert (site / "notes.txt").read_text() == "mine" and not stale.exists()
    assert (site / "index.html").is_file()


def test_view_and_report_refuse_a_folder_they_did_not_write(dataset: Path, tmp_path: Path) -> None:
    mine = tmp_path / "docs"
    mine.mkdir()
    (mine / "index.html").write_text("my own page")
    judged = _judged(dataset)
    for args in (
        ("view", dataset, "--out", mine),
        ("view", dataset, "--out", mine, "--clean"),
        ("report", dataset, "--judgements", judged, "--out", mine),
    ):
        code, out = _run(*args)
        assert code != 0 and "files intersyn did not write" in out, out
    assert (mine / "index.html").read_text() == "my own page"
    assert sorted(p.name for p in mine.iterdir()) == ["index.html"]
    # a site is not a report folder either
    assert _run("view", dataset, "--out", tmp_path / "site")[0] == 0
    code, out = _run("report", dataset, "--judgements", judged, "--out", tmp_path / "site")
    assert code != 0 and "the output of `intersyn view`" in out


def test_report_refuses_its_inputs(dataset: Path) -> None:
    judged = _judged(dataset)
    before = _tree(dataset)
    for out in (dataset, judged, dataset / "report"):
        code, text = _run("report", dataset, "--judgements", judged, "--out", out)
        assert code != 0 and "nothing was written" in text, text
    assert _tree(dataset) == before


def test_export_and_import_overwrite_never_replace_an_input_or_a_foreign_folder(
    dataset: Path, tmp_path: Path
) -> None:
    before = _tree(dataset)
    code, out = _run("export", dataset, "--format", "hub", "--out", dataset, "--overwrite")
    assert code != 0 and "is the input" in out
    code, out = _run("export", dataset, "--format", "hub", "--out", dataset / "x", "--overwrite")
    assert code != 0 and "lies inside the input" in out
    assert _tree(dataset) == before
    hub = tmp_path / "hub"
    assert _run("export", dataset, "--format", "hub", "--out", hub)[0] == 0
    code, out = _run("import", hub, "--out", hub, "--overwrite")
    assert code != 0 and "is the input" in out
    # --overwrite replaces an earlier export, never a folder the command did not write
    assert _run("export", dataset, "--format", "hub", "--out", hub, "--overwrite")[0] == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.txt").write_text("keep")
    code, out = _run("export", dataset, "--format", "hub", "--out", mine, "--overwrite")
    assert code != 0 and "was not written by `intersyn export`" in out
    assert (mine / "keep.txt").read_text() == "keep"
    code, out = _run("import", hub, "--out", mine, "--overwrite")
    assert code != 0 and "was not written by `intersyn import`" in out
    assert sorted(p.name for p in mine.iterdir()) == ["keep.txt"]


def test_annotate_export_never_overwrites_its_database(dataset: Path, tmp_path: Path) -> None:
    from intersyn.annotate.db import AnnotationDB
    from intersyn.annotate.prepare import prepare

    db_path = tmp_path / "r.sqlite"
    db = AnnotationDB(db_path)
    prepare(db, dataset, ["alice"], 1)
    db.close()  # checkpointed: the file's bytes are the whole database
    db_before = db_path.read_bytes()
    for extra in ((), ("--overwrite",)):
        code, out = _run("annotate", "export", "--db", db_path, "--out", db_path, *extra)
        assert code != 0 and "is the input" in out, out
        code, out = _run(
            "annotate", "export", "--db", db_path, "--out", tmp_path / "x.jsonl",
            "--history", db_path, *extra,
        )  # fmt: skip
        assert code != 0 and "--history" in out and "is the input" in out
    assert db_path.read_bytes() == db_before and not (tmp_path / "x.jsonl").exists()
    target = tmp_path / "ratings.jsonl"
    target.write_text("earlier export\n")
    code, out = _run("annotate", "export", "--db", db_path, "--out", target)
    assert code != 0 and "--overwrite" in out and target.read_text() == "earlier export\n"
    code, out = _run("annotate", "export", "--db", db_path, "--out", target, "--overwrite")
    assert code == 0 and target.read_text() == ""  # nothing rated yet: zero lines
    code, out = _run("annotate", "links", "--db", db_path, "--out", db_path, "--overwrite")
    assert code != 0 and "is the input" in out and db_path.read_bytes() == db_before


def test_summary_and_agree_never_write_into_their_inputs(dataset: Path, tmp_path: Path) -> None:
    judged = _judged(dataset)
    before = _tree(judged)
    code, out = _run("summary", judged, "--json", judged / "summary.json")
    assert code != 0 and "lies inside the input" in out
    target = tmp_path / "summary.json"
    assert _run("summary", judged, "--json", target)[0] == 0
    first = target.read_text()
    code, out = _run("summary", judged, "--json", target, "--n-boot", "0")
    assert code != 0 and "--overwrite" in out and target.read_text() == first
    assert _run("summary", judged, "--json", target, "--n-boot", "0", "--overwrite")[0] == 0
    human = tmp_path / "human.jsonl"
    human.write_text(
        json.dumps({"sample_id": "s00000", "turn": 0, "annotator": "a", "tcc": 1, "icc": 1,
                    "iq": 1, "its": 1}) + "\n"
    )  # fmt: skip
    code, out = _run("agree", "--judge", judged, "--human", human, "--out", judged)
    assert code != 0 and "is the input" in out
    assert _tree(judged) == before


def test_judge_out_inside_its_input_is_refused(dataset: Path) -> None:
    before = _tree(dataset)
    code, out = _run("judge", dataset, "--out", dataset / "judged")
    assert code != 0 and "lies inside the input" in out
    assert _tree(dataset) == before


def test_topics_expand_never_writes_over_from(tmp_path: Path) -> None:
    topics = tmp_path / "topics.yaml"
    topics.write_text((ROOT / "tests/fixtures/seir/topics_small.yaml").read_text())
    before = topics.read_text()
    for extra in ((), ("--overwrite",)):
        code, out = _run(
            "topics", "expand", "--config", tmp_path / "none.yaml", "--from", topics,
            "--out", topics, *extra,
        )  # fmt: skip
        assert code != 0 and "is the input" in out
    assert topics.read_text() == before


def test_leaderboard_out_never_inside_the_generators(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    (bench / "generators").mkdir(parents=True)
    (bench / "bench.json").write_text("{}")
    code, out = _run("leaderboard", bench, "--out", bench / "generators")
    assert code != 0 and "is the input" in out


def test_finalize_removes_only_the_leftovers_of_a_killed_finalize(dataset: Path) -> None:
    # A finalize killed mid-way leaves its temporary folder, marked with its (now dead) pid.
    code = (
        "import sys; from pathlib import Path; from intersyn.data.outputs import staging_folder;"
        "f = staging_folder(Path(sys.argv[1])); (f / '.part-00000.parquet').write_bytes(b'x')"
    )
    left = dataset / ".data.tmp-deadbeef"
    subprocess.run([sys.executable, "-c", code, str(left)], check=True, cwd=ROOT)
    assert (left / STAGING_MARKER).is_file()
    foreign = dataset / ".data.tmp-someone"  # same name pattern, no marker of ours: kept
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not ours")
    old = dataset / ".data.old-12345678"  # an old data/ renamed aside just before a swap
    old.mkdir()
    (old / "train-00000-of-00001.parquet").write_bytes(b"old shard")
    code_, out = _run("finalize", dataset)
    assert code_ == 0, out
    assert not left.exists() and not old.exists()
    assert (foreign / "notes.txt").read_text() == "not ours"
    assert [p.name for p in dataset.glob(".data.*")] == [foreign.name]


def test_finalize_refuses_to_replace_a_data_folder_it_did_not_write(
    dataset: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    (other / "data").mkdir(parents=True)
    (other / "data" / "mine.csv").write_text("a,b\n")
    code, out = _run("finalize", dataset, "--out", other)
    assert code != 0 and "mine.csv" in out and "intersyn did not write" in out
    assert (other / "data" / "mine.csv").read_text() == "a,b\n"
    code, out = _run("finalize", dataset, "--out", dataset / "samples")
    assert code != 0 and "lies inside the input" in out


def test_cache_commands_never_touch_a_file_that_is_not_a_cache(
    dataset: Path, tmp_path: Path
) -> None:
    from intersyn.annotate.db import AnnotationDB
    from intersyn.annotate.prepare import prepare

    db_path = tmp_path / "r.sqlite"
    db = AnnotationDB(db_path)
    prepare(db, dataset, ["alice"], 1)
    db.close()
    before = db_path.read_bytes()
    [shard] = (dataset / "data").glob("*.parquet")
    for target in (db_path, shard):
        code, out = _run("models", "cache", "clear", target, "--yes")
        assert code != 0 and "not an intersyn response cache" in out, out
        code, out = _run("models", "cache", "stats", target)
        assert code != 0 and "nothing was changed" in out
    assert db_path.read_bytes() == before


def test_annotate_never_adds_its_tables_to_another_database(dataset: Path, tmp_path: Path) -> None:
    from intersyn.annotate.db import AnnotationDB
    from intersyn.annotate.prepare import prepare
    from intersyn.errors import DatasetError
    from intersyn.models.cache import ResponseCache

    cache_path = tmp_path / "cache.sqlite"
    ResponseCache(cache_path).close()
    before = cache_path.read_bytes()
    with pytest.raises(DatasetError, match=r"not an intersyn ratings database|something else"):
        prepare(AnnotationDB(cache_path), dataset, ["alice"], 1)
    assert cache_path.read_bytes() == before


def test_bench_report_checks_every_output_before_writing_any(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    (bench / "generators").mkdir(parents=True)
    (bench / "bench.json").write_text("{}")
    code, out = _run("report", bench, "--out", bench / "generators")
    assert code != 0 and "lies inside the input" in out
    assert sorted(p.name for p in (bench / "generators").iterdir()) == []


def test_a_failed_view_or_report_leaves_no_folder_behind(tmp_path: Path) -> None:
    code, out = _run("view", tmp_path / "nowhere", "--out", tmp_path / "site")
    assert code != 0 and "no such file" in out and not (tmp_path / "site").exists()
    run = tmp_path / "run"
    make_run(run, 1)
    empty = tmp_path / "empty-judged"
    empty.mkdir()
    code, out = _run("report", run, "--judgements", empty, "--out", tmp_path / "rep")
    assert code != 0 and "no judgement set" in out and not (tmp_path / "rep").exists()
