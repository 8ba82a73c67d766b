"""Ratings out of the database: Parquet or JSON lines in the :class:`~intersyn.schema.Rating`
schema, ready for ``intersyn agree`` and for judge-training data.

Columns are exactly Rating's fields (``sample_id, turn, annotator, tcc, icc, iq, its, time,
comment``), one row per current rating (skips are not ratings). Flags and the full edit history
are separate JSON-lines files.

>>> export_ratings(AnnotationDB(Path("ratings.sqlite")), Path("ratings.parquet"))  # doctest: +SKIP
42
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from intersyn.annotate.db import AnnotationDB
from intersyn.data.journal import atomic_write_bytes
from intersyn.errors import InputError
from intersyn.schema import DIMENSIONS, SCHEMA_VERSION, Rating

Format = Literal["parquet", "jsonl"]


def format_for(path: Path, fmt: str | None = None) -> Format:
    """The export format: given, or from the file suffix (.parquet, .jsonl)."""
    chosen = fmt or {".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(
        Path(path).suffix.lower()
    )
    if chosen not in ("parquet", "jsonl"):
        raise InputError(
            f"{path}: cannot tell the export format; end the name in .parquet or .jsonl"
            " or pass --format parquet|jsonl"
        )
    return chosen  # type: ignore[return-value]


def export_ratings(db: AnnotationDB, out: Path, *, fmt: str | None = None) -> int:
    """Write every current rating to ``out`` (atomically); return how many were written."""
    ratings = db.ratings()
    data = ratings_bytes(ratings, format_for(out, fmt))
    atomic_write_bytes(Path(out), data)
    return len(ratings)


def ratings_bytes(ratings: list[Rating], fmt: Format) -> bytes:
    if fmt == "jsonl":
        return jsonl_bytes(r.model_dump(mode="json") for r in ratings)
    return _parquet_bytes(ratings)


def jsonl_bytes(records: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(
        json.dumps(rec, ensure_ascii=False, default=str).encode("utf-8") + b"\n" for rec in records
    )


def write_jsonl(records: Iterable[dict[str, Any]], out: Path) -> int:
    """Write records as JSON lines atomically; return how many."""
    rows = list(records)
    atomic_write_bytes(Path(out), jsonl_bytes(rows))
    return len(rows)


def _parquet_bytes(ratings: list[Rating]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("sample_id", pa.string()),
            ("turn", pa.int64()),
            ("annotator", pa.string()),
            *[(d, pa.int64()) for d in DIMENSIONS],
            ("time", pa.timestamp("us", tz="UTC")),
            ("comment", pa.string()),
        ],
        metadata={
            b"intersyn": json.dumps(
                {"kind": "ratings", "schema_version": SCHEMA_VERSION, "dimensions": DIMENSIONS}
            ).encode()
        },
    )
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for r in ratings:
        for name in schema.names:
            columns[name].append(getattr(r, name))
    table = pa.Table.from_pydict(columns, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()
