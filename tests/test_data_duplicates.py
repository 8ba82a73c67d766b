"""Issue 11, item 11: a Parquet dataset (Hub layout or intersyn's own) with a repeated id is a
named problem in every reader, as it is for run directories and answers JSONL — `view` no
longer counts 4 samples and silently writes 3 pages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.dataset import open_dataset
from intersyn.errors import InputError
from intersyn.judge.items import iter_items
from intersyn.report.viewer import sample_page
from tests.data.helpers import hub_rows, make_run, write_hub_with_datasets


def _run(*args: object) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output  # stdout and stderr


@pytest.fixture
def hub(tmp_path: Path) -> Path:
    rows = hub_rows(4)
    rows[3]["id"] = rows[1]["id"]  # row 3 repeats row 1's id
    path = tmp_path / "hub.parquet"
    write_hub_with_datasets(path, rows)
    return path


def test_every_reader_names_the_repeated_id(hub: Path, tmp_path: Path) -> None:
    dup = "00000_0000000001"
    bad = [r for r in open_dataset(hub).records() if r.sample is None]
    assert len(bad) == 1 and "row 3" in bad[0].where
    assert f"duplicate id {dup!r}" in str(bad[0].error) and "row 1" in str(bad[0].error)
    code, out = _run("validate", hub)
    assert code == 1 and f"duplicate id {dup!r}" in out
    code, out = _run("stats", hub, "--json")
    assert code == 0 and json.loads(out)["bad_records"] == 1
    with pytest.raises(InputError, match="duplicate id"):
        list(iter_items(hub))  # the judge's reader
    code, out = _run("import", hub, "--out", tmp_path / "imp")
    assert code != 0 and "duplicate id" in out


def test_view_stops_or_says_which_record_it_left_out(hub: Path, tmp_path: Path) -> None:
    code, out = _run("view", hub, "--out", tmp_path / "site")
    assert code != 0 and "duplicate id" in out and "row 3" in out
    site = tmp_path / "site2"
    code, out = _run("view", hub, "--out", site, "--on-error", "skip")
    assert code == 0, out
    assert "skipped (no page)" in out and "duplicate id" in out and "1 record(s) skipped" in out
    meta = (site / "data" / "meta.js").read_text()
    assert '"count":3' in meta
    # the page of the repeated id shows its first row, not the last one read
    page = (site / sample_page("00000_0000000001")).read_text()
    assert "Question 1.1" in page and "Question 3.1" not in page


def test_intersyn_parquet_with_a_repeated_id_is_named(tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_run(run, 3)
    assert _run("finalize", run)[0] == 0
    import pyarrow as pa
    import pyarrow.parquet as pq

    [shard] = sorted((run / "data").glob("*.parquet"))
    table = pq.read_table(shard)
    doubled = tmp_path / "doubled.parquet"
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), doubled)
    bad = [r for r in open_dataset(doubled).records() if r.sample is None]
    assert len(bad) == 1 and "duplicate id 's00000'" in str(bad[0].error)
    with pytest.raises(InputError, match="duplicate id"):
        list(iter_items(doubled))
    code, out = _run("validate", doubled)
    assert code == 1 and "duplicate id 's00000'" in out
