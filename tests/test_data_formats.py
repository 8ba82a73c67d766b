"""Import / export: Hub round trip with files written by `datasets` and pyarrow, every
format round trip, and bad input refused with file, line or sample named."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from intersyn.data.dataset import open_dataset
from intersyn.data.formats import FORMATS, export_dataset, import_dataset
from intersyn.data.parquet import finalize
from intersyn.errors import DatasetError, InputError
from tests.conftest import require
from tests.data.helpers import hub_rows, make_run, png, write_hub_with_datasets


def _parquet_rows(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


@pytest.mark.parametrize("absent", [None, ""])
def test_hub_written_by_datasets_imports_validates_and_exports_identically(
    tmp_path: Path, absent: str | None
) -> None:
    require("datasets")
    src = tmp_path / "hub.parquet"
    rows = hub_rows(8, absent=absent)
    write_hub_with_datasets(src, rows)
    report = import_dataset(src, tmp_path / "imported")
    assert report.samples == 8 and report.skipped == []

    from intersyn.data.validate import validate_dataset

    assert validate_dataset(tmp_path / "imported").ok
    ds = open_dataset(tmp_path / "imported")
    first = next(iter(ds.samples()))
    assert first.topic.domain == "unknown" and first.topic.topic == "topic 0"

    export_dataset(tmp_path / "imported", "hub", tmp_path / "out")
    assert _parquet_rows(tmp_path / "out" / "data") == pq.read_table(src).to_pylist()


def test_hub_export_loads_in_datasets_with_pil_images(tmp_path: Path) -> None:
    require("datasets")
    import datasets
    from PIL import Image

    make_run(tmp_path / "run", 4)
    finalize(tmp_path / "run")
    export_dataset(tmp_path / "run", "hub", tmp_path / "hub")
    ds = datasets.load_dataset(
        "parquet", data_files=str(tmp_path / "hub" / "data" / "*.parquet"), split="train"
    )
    assert ds[1]["human2"] == "Question 1.1: how does it work? Show me. ü"
    assert isinstance(ds[1]["image2"], Image.Image)
    assert ds[0]["image2"] is None and ds[0]["human2"] is None


def test_hub_written_by_pyarrow_with_binary_images_opens_directly(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": ["a", "b"],
            "topic": ["owls", None],
            "human1": ["q1", "q2"],
            "gpt1": ["a1", "a2"],
            "caption1": ["c1", "c2"],
            "image1": pa.array([png(1), None], type=pa.binary()),
        }
    )
    pq.write_table(table, tmp_path / "x.parquet")
    ds = open_dataset(tmp_path / "x.parquet")
    a, b = list(ds.samples())
    assert ds.kind == "hub" and (a.id, b.id) == ("a", "b")
    assert ds.image_bytes(a, 0) == png(1) and ds.image_bytes(b, 0) is None
    assert b.topic.topic == "unknown"


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "hub"])
def test_every_format_round_trips_text_and_image_bytes(tmp_path: Path, fmt: str) -> None:
    samples = make_run(tmp_path / "run", 5)
    export_dataset(tmp_path / "run", fmt, tmp_path / fmt)
    assert import_dataset(tmp_path / fmt, tmp_path / "back", fmt=fmt).samples == 5
    src, back = open_dataset(tmp_path / "run"), open_dataset(tmp_path / "back")
    got = {s.id: s for s in back.samples()}
    for s in samples:
        b = got[s.id]
        assert [(t.question, t.answer) for t in b.turns] == [
            (t.question, t.answer) for t in s.turns
        ]
        for i in range(len(s.turns)):
            assert back.image_bytes(b, i) == src.image_bytes(s, i)
        assert [t.caption for t in b.turns] == [t.caption for t in s.turns]


def test_webdataset_keeps_the_whole_sample_record(tmp_path: Path) -> None:
    samples = make_run(tmp_path / "run", 3)
    export_dataset(tmp_path / "run", "webdataset", tmp_path / "wds")
    import_dataset(tmp_path / "wds", tmp_path / "back")
    got = {s.id: s for s in open_dataset(tmp_path / "back").samples()}
    s = samples[1]
    assert got[s.id].topic == s.topic and got[s.id].seed == s.seed
    assert got[s.id].turns[0].image_seed == s.turns[0].image_seed
    assert got[s.id].turns[0].trace[0].image is None  # trace images are not carried
    assert "not carried" in (got[s.id].turns[0].trace[0].note or "")


def test_llamafactory_export_registers_its_file(tmp_path: Path) -> None:
    make_run(tmp_path / "run", 2)
    export_dataset(tmp_path / "run", "llamafactory", tmp_path / "lf")
    info = json.loads((tmp_path / "lf" / "dataset_info.json").read_text())
    assert info["intersyn"]["file_name"] == "data.json"
    data = json.loads((tmp_path / "lf" / "data.json").read_text())
    el = data[1]
    assert len(el["images"]) == sum(m["content"].count("<image>") for m in el["messages"]) == 2
    assert all((tmp_path / "lf" / p).is_file() for p in el["images"])


# -- bad input -------------------------------------------------------------------------------
def _answers(tmp_path: Path, lines: list[str]) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "images" / "ok.png").write_bytes(png(1))
    path = tmp_path / "answers.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


GOOD = json.dumps({"id": "a", "question": "q", "answer": "x", "image": "images/ok.png"})


def test_malformed_jsonl_names_file_and_line_and_skip_goes_on(tmp_path: Path) -> None:
    src = _answers(tmp_path, [GOOD, '{"id": "b", "question": ', GOOD.replace('"a"', '"c"')])
    with pytest.raises(InputError, match=r"answers.jsonl:2: not valid JSON"):
        import_dataset(src, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    report = import_dataset(src, tmp_path / "out", on_error="skip")
    assert report.samples == 2 and "answers.jsonl:2" in str(report.skipped[0])
    assert sorted(s.id for s in open_dataset(tmp_path / "out").samples()) == ["a", "c"]


def test_non_utf8_text_is_named(tmp_path: Path) -> None:
    src = _answers(tmp_path, [GOOD])
    with open(src, "ab") as f:
        f.write(b'{"id": "b", "question": "caf\xe9", "answer": "x"}\n')
    with pytest.raises(InputError, match=r"answers.jsonl:2: not UTF-8"):
        import_dataset(src, tmp_path / "out")


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    src = _answers(tmp_path, [GOOD, GOOD])
    with pytest.raises(InputError, match=r"answers.jsonl:2: duplicate id 'a' turn 0"):
        import_dataset(src, tmp_path / "out")


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ("images/missing.png", "is missing"),
        ("../outside.png", "escapes the dataset root"),
        ("/etc/hostname", "is absolute"),
        ("images/corrupt.png", "not a readable image"),
        ("link/secret.png", "outside the dataset root"),
    ],
)
def test_bad_image_paths_and_files_are_refused(tmp_path: Path, image: str, message: str) -> None:
    src = _answers(
        tmp_path, [json.dumps({"id": "a", "question": "q", "answer": "x", "image": image})]
    )
    (tmp_path / "images" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png(2))
    (tmp_path / "outside.png").write_bytes(png(3))
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(InputError, match=message) as e:
        import_dataset(src, tmp_path / "out")
    assert "answers.jsonl:1" in str(e.value)
    assert not (tmp_path / "out").exists()


def test_wrongly_typed_and_missing_hub_columns(tmp_path: Path) -> None:
    pq.write_table(pa.table({"id": [1, 2], "human1": ["q", "q"]}), tmp_path / "a.parquet")
    with pytest.raises(InputError, match=r"column 'id' is int64, expected string"):
        open_dataset(tmp_path / "a.parquet")
    pq.write_table(pa.table({"id": ["x"], "human1": [3]}), tmp_path / "b.parquet")
    with pytest.raises(InputError, match=r"column 'human1' is int64"):
        import_dataset(tmp_path / "b.parquet", tmp_path / "out")
    pq.write_table(pa.table({"id": ["x"], "turns": [3]}), tmp_path / "c.parquet")
    with pytest.raises(InputError, match=r"column 'topic' is missing.*column 'turns' is int64"):
        open_dataset(tmp_path / "c.parquet")


def test_failing_export_leaves_existing_output_untouched(tmp_path: Path) -> None:
    samples = make_run(tmp_path / "run", 3)
    out = tmp_path / "out"
    export_dataset(tmp_path / "run", "answers", out)
    before = (out / "answers.jsonl").read_bytes()
    with pytest.raises(DatasetError, match="already exists"):
        export_dataset(tmp_path / "run", "answers", out)
    ref = samples[1].turns[0].image
    assert ref is not None
    (tmp_path / "run" / ref.path).unlink()
    with pytest.raises(InputError, match="s00001"):
        export_dataset(tmp_path / "run", "answers", out, overwrite=True)
    assert (out / "answers.jsonl").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    report = export_dataset(tmp_path / "run", "answers", out, overwrite=True, on_error="skip")
    assert report.samples == 2 and "s00001" in str(report.skipped[0])


def test_reference_jsonl_with_bad_conversation_is_named(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png(1))
    good = {
        "id": "a",
        "topic": "owl",
        "conversations": [
            {"from": "human", "value": "q"},
            {"from": "gpt", "value": "x", "caption": "c", "image": "a.png"},
        ],
    }
    bad = {"id": "b", "conversations": [{"from": "robot", "value": "q"}]}
    src = tmp_path / "data.jsonl"
    src.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match=r"data.jsonl:2: sample b: .*'robot'"):
        import_dataset(src, tmp_path / "out", fmt="reference")
    report = import_dataset(src, tmp_path / "out", fmt="reference", on_error="skip")
    (s,) = open_dataset(tmp_path / "out").samples()
    assert report.samples == 1 and s.topic.topic == "owl" and s.turns[0].caption == "c"


def test_webdataset_export_with_uniform_samples_loads_in_datasets(tmp_path: Path) -> None:
    # Member names stay what `datasets`' WebDataset loader splits on (key, then field):
    # samples of one shape load with PIL images and the record as JSON.
    require("datasets")
    import datasets
    from PIL import Image

    samples = make_run(tmp_path / "run", 7, turns=1)
    export_dataset(tmp_path / "run", "webdataset", tmp_path / "wds")
    ds = datasets.load_dataset(
        "webdataset", data_files={"train": str(tmp_path / "wds" / "*.tar")}, split="train"
    )
    assert len(ds) == 7 and set(ds.column_names) >= {"json", "0.png"}
    row = ds[3]
    assert row["json"]["id"] == samples[3].id
    assert row["json"]["turns"][0]["question"] == samples[3].turns[0].question
    assert isinstance(row["0.png"], Image.Image) and row["0.png"].size == (12, 9)
