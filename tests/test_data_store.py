"""Run directory: safe paths, atomic images, journals that never read back a torn write."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from intersyn.data.dataset import open_dataset
from intersyn.data.journal import Journal, read_jsonl_located
from intersyn.data.store import RunStore, safe_join
from intersyn.errors import InputError, UnsafePathError
from tests.data.helpers import make_run, png


@pytest.mark.parametrize("bad", ["../x.png", "a/../../x.png", "/etc/passwd", "C:\\x.png", ""])
def test_safe_join_refuses_escaping_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, bad)


def test_safe_join_refuses_symlink_out(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png(1))
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="outside the dataset root"):
        safe_join(root, "link/secret.png")
    assert safe_join(root, "a/b.png") == (root / "a" / "b.png").resolve()


def test_put_image_keeps_bytes_and_format_and_refuses_non_images(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    data = png(3, (20, 10))
    ref = store.put_image("a/b", "t0", data, seed=5)
    assert (tmp_path / ref.path).read_bytes() == data
    assert (ref.width, ref.height, ref.seed) == (20, 10, 5)
    assert ref.path.endswith(".png") and ".." not in ref.path
    with pytest.raises(InputError, match="not a readable image"):
        store.put_image("s", "t1", b"not an image")


def test_cleaned_ids_never_share_an_image_folder(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    a = store.image_path("a/b", "t0")
    b = store.image_path("a_b", "t0")
    c = store.image_path("..", "t0")
    assert a.rsplit("/", 1)[0] != b.rsplit("/", 1)[0]
    assert ".." not in c.split("/")


def test_torn_last_line_is_never_read_back(tmp_path: Path) -> None:
    samples = make_run(tmp_path, 3)
    (part,) = (tmp_path / "samples").glob("*.jsonl")
    with open(part, "ab") as f:
        f.write(b'{"id": "s99999", "topic": {"dom')  # a write cut by kill -9
    ds = open_dataset(tmp_path)
    assert [s.id for s in ds.samples()] == [s.id for s in samples]
    lines = list(read_jsonl_located(part))
    assert lines[-1].torn and lines[-1].record is None


def test_journal_parts_per_writer_are_all_read(tmp_path: Path) -> None:
    a, b = Journal(tmp_path, "x"), Journal(tmp_path, "x")
    a.append({"id": "1"})
    b.append({"id": "2"})
    a.close()
    b.close()
    assert a.path != b.path
    assert sorted(r["id"] for r in Journal(tmp_path, "x").read()) == ["1", "2"]
    assert os.path.getsize(a.path or "") > 0


def test_resume_sees_done_ids_and_failures(tmp_path: Path) -> None:
    make_run(tmp_path, 4)
    store = RunStore(tmp_path)
    store.fail("s00009", "painter timed out", seed=9)
    store.close()
    assert store.done_ids() == {f"s{i:05d}" for i in range(4)}
    ds = open_dataset(tmp_path)
    assert set(ds.failures()) == {"s00009"}
    assert len(ds) == 4
