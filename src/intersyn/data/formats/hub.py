"""The released InterSyn Hub layout: one Parquet row per sample with the columns
``id, topic, human1..5, gpt1..5, caption1..5, image1..5`` (``human`` = question, ``gpt`` =
answer text, ``caption`` = the final text-to-image prompt, ``image`` = Image ``{bytes, path}``).

Import keeps what only the Hub row knows (image file names, whether absent turns were
null or empty strings) in ``meta["hub"]``, so import → export gives the same text and the
same image bytes back. Samples with more than five turns get more columns (``human6`` …).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from intersyn.data.dataset import Dataset, HubDataset, open_dataset
from intersyn.data.formats._io import ImportedSample, ImportedTurn, Problem
from intersyn.data.parquet import ShardWriter
from intersyn.errors import InputError
from intersyn.schema import Sample

HUB_TURNS = 5
_IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


def hub_schema(turns: int = HUB_TURNS) -> pa.Schema:
    """Arrow schema of the Hub layout with ``turns`` turn columns and HF features metadata."""
    fields = [pa.field("id", pa.string()), pa.field("topic", pa.string())]
    features: dict[str, Any] = {
        "id": {"dtype": "string", "_type": "Value"},
        "topic": {"dtype": "string", "_type": "Value"},
    }
    for kind in ("human", "gpt", "caption", "image"):
        for i in range(1, turns + 1):
            name = f"{kind}{i}"
            if kind == "image":
                fields.append(pa.field(name, _IMAGE))
                features[name] = {"_type": "Image"}
            else:
                fields.append(pa.field(name, pa.string()))
                features[name] = {"dtype": "string", "_type": "Value"}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    return pa.schema(fields, metadata=meta)


def sample_to_hub_row(sample: Sample, images: list[bytes | None], turns: int) -> dict[str, Any]:
    """One Hub row; a turn the sample lacks is written as it was read (null by default)."""
    hub = sample.meta.get("hub") if isinstance(sample.meta.get("hub"), dict) else {}
    assert isinstance(hub, dict)
    absent = hub.get("absent")
    names = hub.get("image_names") or {}
    row: dict[str, Any] = {"id": sample.id, "topic": sample.topic.topic}
    for i in range(1, turns + 1):
        if i <= len(sample.turns):
            t = sample.turns[i - 1]
            data = images[i - 1]
            row[f"human{i}"] = t.question
            row[f"gpt{i}"] = t.answer
            row[f"caption{i}"] = t.caption
            if data is None:
                row[f"image{i}"] = None
            else:
                name = names.get(str(i)) if str(i) in names else _default_name(sample, i)
                row[f"image{i}"] = {"bytes": data, "path": name}
        else:
            for kind in ("human", "gpt", "caption"):
                row[f"{kind}{i}"] = absent
            row[f"image{i}"] = None
    return row


def _default_name(sample: Sample, i: int) -> str | None:
    ref = sample.turns[i - 1].image
    return Path(ref.path).name if ref is not None else None


def export(
    items: Iterable[tuple[Sample, list[bytes | None]]],
    out: Path,
    *,
    source: Dataset,
    max_shard_bytes: int,
    **_: Any,
) -> int:
    """Write ``out/data/train-*.parquet`` in the Hub layout; returns the number of rows."""
    turns = max(HUB_TURNS, _max_turns(source))
    writer = ShardWriter(out / "data", max_shard_bytes, schema=hub_schema(turns))
    for sample, images in items:
        row = sample_to_hub_row(sample, images, turns)
        writer.add_row(row, sum(len(b) for b in images if b))
    writer.close()
    return writer.rows


def _max_turns(ds: Dataset) -> int:
    if isinstance(ds, HubDataset):
        return ds.turns
    most = 0
    for rec in ds.records():
        if rec.sample is not None:
            most = max(most, len(rec.sample.turns))
    return most


def read(src: Path, **_: Any) -> Iterator[ImportedSample | Problem]:
    """Samples of a Hub-layout Parquet file or folder, one row group at a time."""
    ds = open_dataset(src)
    if not isinstance(ds, HubDataset):
        raise InputError(
            f"{src}: not in the Hub layout (it is an intersyn {ds.kind} dataset; "
            "open it directly, no import needed)"
        )
    for rec in ds.records():
        if rec.sample is None:
            yield Problem(rec.where, rec.error or "unreadable row")
            continue
        s = rec.sample
        try:
            images = [ds.image_bytes(s, i) for i in range(len(s.turns))]
        except InputError as e:
            yield Problem(rec.where, str(e))
            continue
        yield ImportedSample(
            id=s.id,
            where=rec.where,
            topic=s.topic.topic,
            meta=s.meta,
            turns=[
                ImportedTurn(t.question, t.answer, t.caption, img)
                for t, img in zip(s.turns, images, strict=True)
            ],
        )
