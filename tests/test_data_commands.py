"""`intersyn stats / validate / export / import / finalize` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from intersyn.cli import cli
from tests.data.helpers import make_run

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_stats_json_on_the_shipped_example() -> None:
    code, out = _run("stats", str(EXAMPLE), "--json")
    assert code == 0, out
    stats = json.loads(out)
    assert stats["samples"] == 4 and stats["turns"]["total"] == 7
    assert stats["turns"]["histogram"] == {"1": 2, "2": 1, "3": 1}
    assert stats["coverage"]["domains"] == 4
    assert stats["images"]["present"] == 7 and stats["images"]["preview"] == 7
    assert stats["images"]["sizes"] == {"96x72": 7}
    assert stats["failures"]["count"] == 1
    assert stats["words"]["question"]["min"] >= 1


def test_stats_table_is_readable() -> None:
    code, out = _run("stats", str(EXAMPLE / "data"))
    assert code == 0, out
    assert "samples" in out and "words per turn" in out and "Animals" in out


def test_validate_ok_and_every_problem_named(tmp_path: Path) -> None:
    code, out = _run("validate", str(EXAMPLE))
    assert code == 0 and "OK: 4 samples" in out
    samples = make_run(tmp_path, 4)
    a, b = samples[1].turns[0].image, samples[3].turns[1].image
    assert a is not None and b is not None
    (tmp_path / a.path).unlink()
    (tmp_path / b.path).write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with open(next((tmp_path / "samples").glob("*.jsonl")), "a") as f:
        f.write('{"id": "s00009", "topic": 3}\n')
    code, out = _run("validate", str(tmp_path))
    assert code == 1
    assert "sample s00001: turn 0: image" in out and "is missing" in out
    assert "sample s00003: turn 1: image" in out and "cannot be decoded" in out
    assert "not a valid sample: topic" in out and ".jsonl:5)" in out
    assert "FAILED: 4 samples (run), 3 errors" in out


def test_export_import_finalize_commands(tmp_path: Path) -> None:
    code, out = _run("export", str(EXAMPLE), "--format", "hub", "--out", str(tmp_path / "hub"))
    assert code == 0 and "exported 4 samples" in out
    code, out = _run("import", str(tmp_path / "hub"), "--out", str(tmp_path / "back"))
    assert code == 0 and "imported 4 samples" in out
    code, out = _run("validate", str(tmp_path / "back"))
    assert code == 0, out
    code, out = _run("export", str(EXAMPLE), "--format", "hub", "--out", str(tmp_path / "hub"))
    assert code == 1 and "already exists" in out  # a clean message, no traceback
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE, run)
    shutil.rmtree(run / "data")
    code, out = _run("finalize", str(run))
    assert code == 0 and (run / "data" / "train-00000-of-00001.parquet").is_file()


def test_import_bad_input_exits_1_with_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "answers.jsonl"
    src.write_text('{"id": "a", "question": "q", "answer": "x"}\nnot json\n')
    code, out = _run("import", str(src), "--out", str(tmp_path / "out"))
    assert code == 1 and "answers.jsonl:2: not valid JSON" in out
    assert "Traceback" not in out and not (tmp_path / "out").exists()
    code, out = _run("import", str(src), "--out", str(tmp_path / "out"), "--on-error", "skip")
    assert code == 0 and "imported 1 samples" in out and "1 record(s) skipped" in out
