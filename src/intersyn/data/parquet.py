"""The finalised dataset: size-bounded Parquet shards that ``datasets`` loads as they are.

One row per sample::

    id, topic {domain, category, topic}, template, seed, config_fingerprint,
    turns: [{index, question, answer, caption, image {bytes, path}, image_seed,
             image_preview, image_meta (JSON), stop_reasons (JSON), trace (JSON)}],
    schema_version, created_at, meta (JSON)

``image`` is Hugging Face's Image feature (``{bytes, path}``), and the schema carries the
``huggingface`` features metadata, so ``datasets.load_dataset("parquet", data_files=...)``
gives PIL images inside the list of turns. The final image of each turn is embedded; the
images of the refinement trace stay files of the run directory, referenced by their path in
``trace`` (read them with ``open_dataset(run_dir).read_image(ref)``).

Example::

    from intersyn.data.parquet import finalize
    shards = finalize(Path("runs/a"))   # runs/a/data/train-00000-of-00001.parquet
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from intersyn.data.journal import _fsync_dir, atomic_write_text
from intersyn.data.outputs import (
    guard_output,
    release_staging,
    remove_stale_staging,
    staging_folder,
    swap_in,
)
from intersyn.errors import DatasetError, InputError
from intersyn.schema import SCHEMA_VERSION, ImageRef, Round, Sample, TopicPath, Turn

DEFAULT_MAX_SHARD_BYTES = 256 * 1024 * 1024
#: Rows per row group: readers stream one row group at a time, so this bounds their memory.
ROWS_PER_GROUP = 512
#: A row group is also closed when its images reach this many bytes.
GROUP_BYTES = 32 * 1024 * 1024

IMAGE_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
TOPIC_TYPE = pa.struct([("domain", pa.string()), ("category", pa.string()), ("topic", pa.string())])
TURN_TYPE = pa.struct(
    [
        ("index", pa.int32()),
        ("question", pa.string()),
        ("answer", pa.string()),
        ("caption", pa.string()),
        ("image", IMAGE_TYPE),
        ("image_seed", pa.int64()),
        ("image_preview", pa.bool_()),
        ("image_meta", pa.string()),
        ("stop_reasons", pa.string()),
        ("trace", pa.string()),
    ]
)
COLUMNS: list[tuple[str, pa.DataType]] = [
    ("id", pa.string()),
    ("topic", TOPIC_TYPE),
    ("template", pa.string()),
    ("seed", pa.int64()),
    ("config_fingerprint", pa.string()),
    ("turns", pa.list_(TURN_TYPE)),
    ("schema_version", pa.string()),
    ("created_at", pa.string()),
    ("meta", pa.string()),
]

_VALUE = {
    pa.string(): "string",
    pa.int32(): "int32",
    pa.int64(): "int64",
    pa.bool_(): "bool",
}


def _feature(t: pa.DataType) -> Any:
    """The ``datasets`` features JSON for an Arrow type (lists as a JSON list: readable by
    datasets 3.x and 4.x+ alike)."""
    if t == IMAGE_TYPE:
        return {"_type": "Image"}
    if pa.types.is_struct(t):
        return {t.field(i).name: _feature(t.field(i).type) for i in range(t.num_fields)}
    if pa.types.is_list(t):
        return [_feature(t.value_type)]
    return {"dtype": _VALUE[t], "_type": "Value"}


def hf_features() -> dict[str, Any]:
    """Hugging Face features of the dataset, as stored under the schema's ``huggingface`` key."""
    return {name: _feature(t) for name, t in COLUMNS}


def arrow_schema() -> pa.Schema:
    """The Arrow schema of an intersyn dataset, with ``huggingface`` and ``intersyn`` metadata."""
    meta = {
        b"huggingface": json.dumps({"info": {"features": hf_features()}}).encode(),
        b"intersyn": json.dumps(
            {"format": "intersyn-dataset", "schema_version": SCHEMA_VERSION}
        ).encode(),
    }
    return pa.schema([pa.field(n, t) for n, t in COLUMNS], metadata=meta)


SCHEMA = arrow_schema()


# -- rows ------------------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def sample_to_row(sample: Sample, images: list[bytes | None]) -> dict[str, Any]:
    """One Parquet row of ``sample``; ``images[i]`` is the encoded image of turn ``i``."""
    turns = []
    for turn, data in zip(sample.turns, images, strict=True):
        ref = turn.image
        image = None
        if ref is not None or data is not None:
            image = {"bytes": data, "path": ref.path if ref is not None else None}
        turns.append(
            {
                "index": turn.index,
                "question": turn.question,
                "answer": turn.answer,
                "caption": turn.caption,
                "image": image,
                "image_seed": turn.image_seed,
                "image_preview": bool(ref is not None and ref.preview),
                "image_meta": _json(ref.model_dump(mode="json", exclude={"path"})) if ref else None,
                "stop_reasons": _json(turn.stop_reasons),
                "trace": _json([r.model_dump(mode="json") for r in turn.trace]),
            }
        )
    return {
        "id": sample.id,
        "topic": sample.topic.model_dump(),
        "template": sample.template,
        "seed": sample.seed,
        "config_fingerprint": sample.config_fingerprint,
        "turns": turns,
        "schema_version": sample.schema_version,
        "created_at": sample.created_at.isoformat(),
        "meta": _json(sample.meta),
    }


def _loads(text: Any, default: Any, what: str) -> Any:
    if text is None or text == "":
        return default
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{what} is not valid JSON ({e})") from e


def row_to_sample(row: dict[str, Any]) -> Sample:
    """The Sample of a Parquet row (image bytes are not part of a Sample; paths are)."""
    sid = row.get("id")
    turns = []
    for n, t in enumerate(row.get("turns") or []):
        image = t.get("image") or None
        ref = None
        if image is not None:
            meta = _loads(t.get("image_meta"), {}, f"turn {n} image_meta")
            path = image.get("path") or f"{sid}/turn{t.get('index', n)}.png"
            ref = ImageRef(path=path, **meta)
        trace = _loads(t.get("trace"), [], f"turn {n} trace")
        turns.append(
            Turn(
                index=t.get("index", n),
                question=t.get("question") or "",
                answer=t.get("answer") or "",
                caption=t.get("caption") or "",
                image=ref,
                image_seed=t.get("image_seed"),
                trace=[Round.model_validate(r) for r in trace],
                stop_reasons=_loads(t.get("stop_reasons"), {}, f"turn {n} stop_reasons"),
            )
        )
    fields: dict[str, Any] = {
        "id": sid,
        "topic": TopicPath.model_validate(row.get("topic") or {}),
        "template": row.get("template"),
        "seed": row.get("seed"),
        "config_fingerprint": row.get("config_fingerprint"),
        "turns": turns,
        "schema_version": row.get("schema_version") or SCHEMA_VERSION,
        "meta": _loads(row.get("meta"), {}, "meta"),
    }
    if row.get("created_at"):
        fields["created_at"] = row["created_at"]
    return Sample.model_validate(fields)


# -- writing ---------------------------------------------------------------------------------
class ShardWriter:
    """Streams rows into size-bounded shards ``train-NNNNN-of-MMMMM.parquet`` in a folder.

    Rows are buffered into row groups (``ROWS_PER_GROUP`` rows or ``GROUP_BYTES`` of images);
    a shard is closed before it would pass ``max_shard_bytes``. Shards are written under
    temporary names and renamed when the total is known (:meth:`close`).
    """

    def __init__(
        self,
        directory: Path,
        max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
        schema: pa.Schema = SCHEMA,
        prefix: str = "train",
    ) -> None:
        if max_shard_bytes <= 0:
            raise DatasetError(f"max_shard_bytes must be positive, got {max_shard_bytes}")
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_shard_bytes = max_shard_bytes
        self.schema = schema
        self.prefix = prefix
        self.group_bytes = min(GROUP_BYTES, max(1, max_shard_bytes // 4))
        self.rows = 0
        self._parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self._buffer: list[dict[str, Any]] = []
        self._buffer_bytes = 0

    def add(self, sample: Sample, images: list[bytes | None]) -> None:
        """Queue one sample with the encoded image of each of its turns."""
        self.add_row(sample_to_row(sample, images), sum(len(b) for b in images if b))

    def add_row(self, row: dict[str, Any], nbytes: int = 0) -> None:
        """Queue one row of this writer's schema; ``nbytes``: its size beyond the text."""
        self._buffer.append(row)
        self._buffer_bytes += nbytes + 512
        self.rows += 1
        if len(self._buffer) >= ROWS_PER_GROUP or self._buffer_bytes >= self.group_bytes:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        if self._writer is not None and self._shard_bytes + self._buffer_bytes > (
            self.max_shard_bytes
        ):
            self._writer.close()
            self._writer = None
        if self._writer is None:
            part = self.directory / f".part-{len(self._parts):05d}.parquet"
            self._parts.append(part)
            self._writer = pq.ParquetWriter(part, self.schema, compression="zstd")
            self._shard_bytes = 0
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._writer.write_table(table, row_group_size=len(self._buffer))
        self._shard_bytes += self._buffer_bytes
        self._buffer = []
        self._buffer_bytes = 0

    def close(self) -> list[Path]:
        """Flush, close and name the shards; returns their final paths (one empty shard if
        there were no rows, so the dataset still has its schema)."""
        self._flush()
        if self._writer is None and not self._parts:
            part = self.directory / ".part-00000.parquet"
            self._parts.append(part)
            pq.ParquetWriter(part, self.schema, compression="zstd").close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        total = len(self._parts)
        final = []
        for i, part in enumerate(self._parts):
            target = self.directory / f"{self.prefix}-{i:05d}-of-{total:05d}.parquet"
            os.replace(part, target)
            final.append(target)
        _fsync_dir(self.directory)
        return final


def write_shards(
    items: Iterable[tuple[Sample, list[bytes | None]]],
    out_dir: Path,
    *,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> list[Path]:
    """Write ``(sample, images)`` pairs as the dataset ``out_dir/data/*.parquet``.

    The shards are built in a temporary folder beside ``data/`` and swapped in at the end,
    so a failure leaves any earlier ``data/`` as it was.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_data_folder(out_dir / "data")
    remove_leftovers(out_dir)
    tmp = staging_folder(out_dir / f".data.tmp-{secrets.token_hex(4)}")
    try:
        writer = ShardWriter(tmp, max_shard_bytes)
        for sample, images in items:
            writer.add(sample, images)
        shards = writer.close()
        release_staging(tmp)
        swap_in(tmp, out_dir / "data")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_card(out_dir)
    return [out_dir / "data" / p.name for p in shards]


_SHARD = re.compile(r"^train-\d{5}-of-\d{5}\.parquet$")


def _ours(folder: Path) -> bool:
    """True when ``folder`` holds nothing but shards this module writes."""
    return all(_SHARD.match(p.name) and p.is_file() for p in folder.iterdir())


def _check_data_folder(data: Path) -> None:
    """Refuse to replace a ``data/`` that holds files finalize did not write."""
    if not data.exists():
        return
    if not data.is_dir() or not _ours(data):
        others = [] if not data.is_dir() else [p.name for p in data.iterdir()]
        shown = ", ".join(sorted(n for n in others if not _SHARD.match(n))[:5])
        raise DatasetError(
            f"{data} holds files intersyn did not write ({shown or 'it is not a folder'}); "
            "finalize replaces data/ as a whole, so move them elsewhere or finalize into "
            "another --out. Nothing was changed."
        )


def remove_leftovers(out_dir: Path) -> list[Path]:
    """Remove what a finalize killed mid-way left in ``out_dir``: its temporary folders (their
    marker names a process of this host that is gone) and an old ``data/`` renamed aside just
    before the swap (nothing but our shards). Anything else is left alone."""
    removed = remove_stale_staging(out_dir, ".data.tmp-*")
    for old in sorted(out_dir.glob(".data.old-*")):
        if old.is_dir() and not old.is_symlink() and _ours(old):
            shutil.rmtree(old, ignore_errors=True)
            removed.append(old)
    return removed


_CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---
# intersyn dataset

Interleaved image–text samples written by [intersyn](https://github.com/) (schema {version}).
One row per sample; `turns` is a list of {{question, answer, caption, image, ...}}.

```python
from datasets import load_dataset
ds = load_dataset("parquet", data_files="data/*.parquet", split="train")
```
"""


def _write_card(out_dir: Path) -> None:
    card = out_dir / "README.md"
    if not card.exists():
        atomic_write_text(card, _CARD.format(version=SCHEMA_VERSION))


def finalize(
    run_dir: Path,
    out_dir: Path | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    *,
    on_error: str = "stop",
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Write the Parquet shards of a run directory; returns the shard paths.

    Shards go to ``out_dir/data/`` (``out_dir`` defaults to ``run_dir``), in sample-id order,
    so the same run gives the same rows whatever order its samples finished in. A missing
    or unreadable image stops with an error naming the sample (``on_error="skip"`` leaves
    that sample out instead and says so on stderr).
    """
    from intersyn.data.dataset import RunDataset

    run = RunDataset(Path(run_dir))
    target = Path(out_dir) if out_dir is not None else run.root
    if target.resolve() != run.root.resolve():
        guard_output(target, [run.root])
    skipped: list[str] = []

    def items() -> Iterator[tuple[Sample, list[bytes | None]]]:
        for n, sample in enumerate(run.samples_sorted(), start=1):
            try:
                images = [run.image_bytes(sample, i) for i in range(len(sample.turns))]
            except InputError as e:
                if on_error != "skip":
                    raise InputError(
                        f"{e}\nfinalize stopped; nothing was written. Restore the image, or "
                        "run `intersyn finalize --on-error skip` to leave the sample out."
                    ) from e
                skipped.append(f"{sample.id}: {e}")
                continue
            if progress is not None:
                progress(n)
            yield sample, images

    shards = write_shards(items(), target, max_shard_bytes=max_shard_bytes)
    if skipped:
        import sys

        for line in skipped:
            print(f"skipped {line}", file=sys.stderr)
    return shards
