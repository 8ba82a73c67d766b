"""The one answers-JSONL reader: a dataset for every command, lenient images for the judge,
strict images for the importer, every problem named by file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.dataset import NO_IMAGE_GIVEN, open_dataset
from intersyn.data.formats import ImportedSample, Problem, import_dataset
from intersyn.data.formats.answers import AnswersDataset, AnswersFile
from intersyn.errors import InputError
from tests.data.helpers import png


def write(folder: Path, rows: list[dict[str, Any] | str], name: str = "answers.jsonl") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    (folder / "images" / "ok.png").write_bytes(png(1))
    (folder / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    path = folder / name
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ROWS: list[dict[str, Any] | str] = [
    {"id": "b", "turn": 1, "question": "q-b1", "answer": "a-b1", "image": None},
    {"id": "a", "question": "q-a", "answer": "a-a", "image": "images/ok.png", "caption": "c"},
    {"id": "b", "turn": 0, "question": "q-b0", "answer": "a-b0", "image": "images/gone.png"},
    {"id": "c", "question": "q-c", "answer": "a-c", "image": "images/corrupt.png"},
]


def test_open_dataset_reads_answers_jsonl_lazily_grouped_by_id(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    ds = open_dataset(path)
    assert isinstance(ds, AnswersDataset) and ds.kind == "answers" and len(ds) == 3
    samples = list(ds.samples())
    assert [s.id for s in samples] == ["b", "a", "c"]  # first-seen order
    b = samples[0]
    assert [t.question for t in b.turns] == ["q-b0", "q-b1"]  # turn order, not line order
    assert b.topic.topic == "unknown" and b.turns[1].image is None
    a = samples[1]
    assert a.turns[0].caption == "c" and ds.image_bytes(a, 0) == png(1)
    assert ds.image_bytes(b, 1) is None


def test_a_bad_image_is_one_turns_problem_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    ds = open_dataset(path)
    b, a, c = ds.samples()
    missing = ds.image_or_reason(b, 0)
    assert missing.data is None and "gone.png" in str(missing.reason)
    assert f"{path}:3" in str(missing.reason) and "missing" in str(missing.reason)
    corrupt = ds.image_or_reason(c, 0)
    assert corrupt.data is None and "not a readable image" in str(corrupt.reason)
    assert f"{path}:4" in str(corrupt.reason)
    assert ds.image_or_reason(b, 1).reason == NO_IMAGE_GIVEN
    assert ds.image_or_reason(a, 0).data == png(1)
    with pytest.raises(InputError, match=rf"sample b, turn 0: .*{path.name}:3"):
        ds.image_bytes(b, 0)  # the strict read names the record too


def test_image_root_and_escaping_paths(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "x.png").write_bytes(png(4))
    path = write(
        tmp_path / "jsonl",
        [
            {"id": "a", "question": "q", "answer": "t", "image": "x.png"},
            {"id": "b", "question": "q", "answer": "t", "image": "../imgs/x.png"},
        ],
    )
    a, b = open_dataset(path, image_root=tmp_path / "imgs").samples()
    ds = open_dataset(path, image_root=tmp_path / "imgs")
    assert ds.image_bytes(a, 0) == png(4)
    refused = ds.image_or_reason(b, 0)
    assert refused.data is None and "escapes the dataset root" in str(refused.reason)


def test_line_problems_stop_or_are_skipped(tmp_path: Path) -> None:
    rows: list[dict[str, Any] | str] = [
        {"id": "a", "question": "q", "answer": "t"},
        "not json",
        {"question": "no id"},
        {"id": "a", "question": "again"},
        {"id": "g", "turn": 2, "question": "a gap"},
        {"id": "t", "question": 7},
        {"id": "ok", "question": "fine"},
    ]
    path = write(tmp_path, rows)
    ds = open_dataset(path)
    with pytest.raises(InputError, match=rf"{path.name}:2: not valid JSON"):
        list(ds.samples())
    assert [s.id for s in ds.samples(on_error="skip")] == ["a", "ok"]
    problems = [r for r in ds.records() if r.sample is None]
    text = "\n".join(f"{r.where}: {r.error}" for r in problems)
    assert f"{path}:3: missing or empty `id`" in text
    assert f"{path}:4: duplicate id 'a' turn 0" in text and "line 1" in text
    assert "turns [2] of sample g; expected [0]" in text
    assert f"{path}:6: id 't': `question` must be a string" in text
    assert len(problems) == 5


def test_the_export_folder_opens_as_a_dataset(tmp_path: Path) -> None:
    write(tmp_path / "export", [{"id": "a", "question": "q", "answer": "t", "image": None}])
    ds = open_dataset(tmp_path / "export")
    assert ds.kind == "answers" and [s.id for s in ds.samples()] == ["a"]


def test_import_stays_strict_about_images(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    with pytest.raises(InputError, match=r"answers\.jsonl:3.*gone\.png.*missing"):
        import_dataset(path, tmp_path / "out")
    report = import_dataset(path, tmp_path / "out", on_error="skip")
    assert report.samples == 1 and report.skipped_total == 2
    [s] = open_dataset(tmp_path / "out").samples()
    assert s.id == "a" and s.turns[0].image is not None and s.turns[0].image.width == 12


def test_public_names_and_reader_memory_holds_offsets_not_text(tmp_path: Path) -> None:
    assert ImportedSample.__module__.startswith("intersyn.data.formats")
    assert Problem("f:1", "bad").__str__() == "f:1: bad"
    path = write(tmp_path, ROWS)
    f = AnswersFile(path)
    index = f.index()
    assert set(index) == {"a", "b", "c"}
    # (turn, byte offset, line) only: the question and answer texts stay on disk.
    assert all(isinstance(x, int) for e in index.values() for t in e for x in t)
    assert f.line_of("b", 0) == 3 and f.line_of("b", 5) is None


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_stats_and_validate_take_an_answers_jsonl(tmp_path: Path) -> None:
    path = write(tmp_path, ROWS)
    code, out = _run("stats", str(path), "--json")
    assert code == 0, out
    stats = json.loads(out)
    assert stats["kind"] == "answers" and stats["samples"] == 3
    assert stats["images"]["present"] == 3 and stats["images"]["unreadable"] == 2
    code, out = _run("validate", str(path))
    assert code == 1
    assert "gone.png" in out and "answers.jsonl:3" in out and "corrupt.png" in out
