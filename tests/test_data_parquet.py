"""Finalised Parquet: HF-loadable shards (PIL images inside turns), size-bounded, lossless."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from intersyn.data.dataset import open_dataset
from intersyn.data.parquet import finalize
from intersyn.errors import InputError
from tests.conftest import require
from tests.data.helpers import make_run, png


def test_finalize_loads_in_datasets_with_pil_images_and_turns(tmp_path: Path) -> None:
    require("datasets")
    import datasets
    from PIL import Image

    samples = make_run(tmp_path, 6)
    shards = finalize(tmp_path)
    assert [p.name for p in shards] == ["train-00000-of-00001.parquet"]
    ds = datasets.load_dataset("parquet", data_files=[str(p) for p in shards], split="train")
    assert len(ds) == 6
    row = ds[1]
    assert row["id"] == "s00001"
    assert row["topic"] == samples[1].topic.model_dump()
    assert [t["question"] for t in row["turns"]] == [t.question for t in samples[1].turns]
    image = row["turns"][1]["image"]
    assert isinstance(image, Image.Image) and image.size == (12, 9)
    assert row["turns"][1]["image_seed"] == samples[1].turns[1].image_seed


def test_finalize_round_trips_every_sample_and_image(tmp_path: Path) -> None:
    samples = make_run(tmp_path, 9)
    finalize(tmp_path)
    for path in (tmp_path / "data", next((tmp_path / "data").glob("*.parquet"))):
        ds = open_dataset(path)
        assert ds.kind == "parquet" and len(ds) == 9
        got = list(ds.samples())
        assert got == sorted(samples, key=lambda s: s.id)
        for s in got:
            for t in range(len(s.turns)):
                assert ds.image_bytes(s, t) == png(int(s.id[1:]) * 10 + t)
            # trace images stay files of the run directory, found through the dataset root
            trace_ref = s.turns[0].trace[0].image
            assert trace_ref is not None
            assert ds.read_image(trace_ref) == png(int(s.id[1:]) * 10 + 5000)


def test_random_access_image_bytes_outside_iteration(tmp_path: Path) -> None:
    samples = make_run(tmp_path, 5)
    finalize(tmp_path)
    ds = open_dataset(tmp_path / "data")
    last = samples[-1]
    assert ds.image_bytes(last, 0) == png(40)
    assert ds.image_bytes(samples[0], 0) == png(0)


def test_shards_are_size_bounded_and_named_of_n(tmp_path: Path) -> None:
    make_run(tmp_path, 12)
    shards = finalize(tmp_path, max_shard_bytes=2000)
    n = len(shards)
    assert n > 1
    assert [p.name for p in shards] == [f"train-{i:05d}-of-{n:05d}.parquet" for i in range(n)]
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in shards) == 12
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [p.name for p in shards]


def test_finalize_schema_carries_hf_features(tmp_path: Path) -> None:
    make_run(tmp_path, 1)
    (shard,) = finalize(tmp_path)
    meta = pq.read_schema(shard).metadata
    assert b'"_type": "Image"' in meta[b"huggingface"]
    assert b"intersyn-dataset" in meta[b"intersyn"]


def test_finalize_missing_image_names_sample_and_keeps_old_shards(tmp_path: Path) -> None:
    samples = make_run(tmp_path, 3)
    (old,) = finalize(tmp_path)
    before = old.read_bytes()
    ref = samples[2].turns[0].image
    assert ref is not None
    (tmp_path / ref.path).unlink()
    with pytest.raises(InputError, match="s00002") as e:
        finalize(tmp_path)
    assert "missing" in str(e.value)
    assert old.read_bytes() == before  # nothing already written is damaged
    assert not list(tmp_path.glob(".data.tmp-*"))
    shards = finalize(tmp_path, on_error="skip")
    assert [s.id for s in open_dataset(shards[0]).samples()] == ["s00000", "s00001"]


def test_finalize_is_in_id_order_whatever_the_commit_order(tmp_path: Path) -> None:
    from intersyn.data.store import RunStore
    from tests.data.helpers import make_sample

    store = RunStore(tmp_path)
    for i in (3, 1, 2, 0):
        store.commit(make_sample(store, i, turns=1))
    store.close()
    finalize(tmp_path)
    assert [s.id for s in open_dataset(tmp_path / "data").samples()] == [
        "s00000",
        "s00001",
        "s00002",
        "s00003",
    ]


def test_open_dataset_explains_what_it_expected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no dataset here"):
        open_dataset(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        open_dataset(tmp_path / "nope")
    bad = tmp_path / "x.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet"):
        open_dataset(bad)
