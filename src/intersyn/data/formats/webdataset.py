"""WebDataset tar shards: ``shard-000000.tar`` … with, per sample key, ``<key>.json`` (the
intersyn sample record) and ``<key>.<turn>.<ext>`` (the encoded image of each turn).

Keys are sample ids with anything but letters, digits, ``-`` and ``_`` replaced (plus a
short hash when that changed them, so keys stay unique); the json holds the real id.
The image paths inside the json name the tar members. Trace images are not carried.

The shards suit the ``webdataset`` library (members may differ per sample) and ``intersyn
import``. ``datasets.load_dataset("webdataset", ...)`` infers one set of columns from the
first five samples: it loads these shards when every sample has the same turns and image
formats, and otherwise refuses them (or drops members the first samples lack). For
``datasets``, export ``hub`` or use the finalised Parquet instead.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from intersyn.data.formats._io import ImportedSample, ImportedTurn, Problem
from intersyn.data.images import image_header
from intersyn.errors import InputError
from intersyn.schema import Sample

SAMPLES_PER_SHARD = 1000


def sample_key(sample_id: str) -> str:
    """The WebDataset key of a sample id (no dots: WebDataset splits key and field there)."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", sample_id)
    if clean != sample_id:
        clean += "-" + hashlib.sha1(sample_id.encode()).hexdigest()[:8]
    return clean


def export(
    items: Iterable[tuple[Sample, list[bytes | None]]],
    out: Path,
    *,
    max_shard_bytes: int,
    **_: Any,
) -> int:
    """Write size- and count-bounded tar shards; returns the number of samples."""
    n = 0
    shard = -1
    tar: tarfile.TarFile | None = None
    size = 0
    count = 0
    try:
        for sample, images in items:
            nbytes = sum(len(b) for b in images if b)
            if tar is None or count >= SAMPLES_PER_SHARD or size + nbytes > max_shard_bytes:
                if tar is not None:
                    tar.close()
                shard += 1
                tar = tarfile.open(out / f"shard-{shard:06d}.tar", "w")  # noqa: SIM115
                size = count = 0
            key = sample_key(sample.id)
            record: dict[str, Any] = sample.model_dump(mode="json")
            for t, data in zip(record["turns"], images, strict=True):
                if data is None:
                    t["image"] = None
                    continue
                ext = image_header(data, f"sample {sample.id}, turn {t['index']}").ext
                member = f"{key}.{t['index']}.{ext}"
                t["image"]["path"] = member
                _add(tar, member, data)
            _add(tar, f"{key}.json", json.dumps(record, ensure_ascii=False).encode("utf-8"))
            size += nbytes
            count += 1
            n += 1
    finally:
        if tar is not None:
            tar.close()
    return n


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def read(src: Path, **_: Any) -> Iterator[ImportedSample | Problem]:
    """Samples of a tar shard or a folder of shards (members of a key must be adjacent)."""
    shards = sorted(src.glob("*.tar")) if src.is_dir() else [src]
    for shard in shards:
        try:
            tar = tarfile.open(shard, "r|*")  # noqa: SIM115 - streamed, one member at a time
        except (tarfile.TarError, OSError) as e:
            raise InputError(f"{shard}: not a readable tar file ({e})") from None
        with tar:
            yield from _read_shard(shard, tar)


def _read_shard(shard: Path, tar: tarfile.TarFile) -> Iterator[ImportedSample | Problem]:
    key: str | None = None
    files: dict[str, bytes] = {}
    try:
        for member in tar:
            if not member.isfile():
                continue
            name = member.name
            if name.startswith("/") or ".." in Path(name).parts:
                yield Problem(f"{shard}: {name}", "member path escapes the shard; refused")
                continue
            base = name.rsplit("/", 1)[-1]
            k, _, field = base.partition(".")
            k = name[: len(name) - len(base)] + k
            if k != key:
                if key is not None:
                    yield _group(shard, key, files)
                key, files = k, {}
            fh = tar.extractfile(member)
            files[field] = fh.read() if fh is not None else b""
    except tarfile.TarError as e:
        yield Problem(str(shard), f"the tar file is damaged ({e})")
        return
    if key is not None:
        yield _group(shard, key, files)


def _group(shard: Path, key: str, files: dict[str, bytes]) -> ImportedSample | Problem:
    where = f"{shard}: {key}"
    raw = files.get("json")
    if raw is None:
        return Problem(where, f"no {key}.json in the shard")
    try:
        rec = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return Problem(where, f"{key}.json is not UTF-8 text")
    except json.JSONDecodeError as e:
        return Problem(where, f"{key}.json is not valid JSON ({e.msg})")
    if not isinstance(rec, dict) or not isinstance(rec.get("turns"), list):
        return Problem(where, f"{key}.json is not an intersyn sample (no 'turns' list)")
    sid = rec.get("id")
    if not isinstance(sid, str) or not sid:
        return Problem(where, f"{key}.json has no string 'id'")
    turns = []
    for n, t in enumerate(rec["turns"]):
        if not isinstance(t, dict):
            return Problem(where, f"turns[{n}] is not an object")
        image = t.get("image")
        data = None
        if isinstance(image, dict):
            member = str(image.get("path", ""))
            field = member.rsplit("/", 1)[-1].partition(".")[2]
            if field not in files:
                return Problem(where, f"turn {n}: image member {member!r} is missing")
            data = files[field]
        turns.append(ImportedTurn(str(t.get("question", "")), str(t.get("answer", "")), "", data))
    return ImportedSample(id=sid, where=where, turns=turns, record=rec)
