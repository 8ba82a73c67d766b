"""Human ratings files: Rating-schema rows in Parquet, JSON lines or CSV.

Columns: ``sample_id`` (or ``id``), ``turn`` (default 0), ``annotator`` (default ``human``),
``tcc``, ``icc``, ``iq``, ``its`` (integers 0–5), optional ``time`` and ``comment``. Every bad
row — a score outside 0–5 or not a whole number, a missing field, the same annotator rating
the same turn twice — is an error naming the file, the line (or row) and the item.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intersyn.errors import InputError
from intersyn.schema import Rating


def load_ratings(path: str | Path) -> list[Rating]:
    """Read and check a ratings file (``.parquet``, ``.jsonl``/``.ndjson``, ``.csv``)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: ratings file not found")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        rows = _parquet_rows(p)
        unit = "row"
    elif suffix in (".jsonl", ".ndjson", ".json"):
        rows = _jsonl_rows(p)
        unit = "line"
    elif suffix == ".csv":
        rows = _csv_rows(p)
        unit = "line"
    else:
        raise InputError(f"{p}: ratings must be .parquet, .jsonl or .csv (got {suffix or 'none'})")
    ratings: list[Rating] = []
    first_seen: dict[tuple[str, int, str], int] = {}
    try:
        for n, row in rows:
            if not ratings:
                _check_columns(p, unit, n, row)
            r = _rating(p, unit, n, row)
            key = (r.sample_id, r.turn, r.annotator)
            if key in first_seen:
                raise InputError(
                    f"{p}:{unit} {n}: duplicate rating of sample {r.sample_id!r} turn {r.turn} "
                    f"by {r.annotator!r} (first on {unit} {first_seen[key]}); keep one"
                )
            first_seen[key] = n
            ratings.append(r)
    except UnicodeDecodeError as e:
        raise InputError(
            f"{p}: not UTF-8 text (byte {e.start}: {e.reason}); save the file as UTF-8"
        ) from None
    if not ratings:
        raise InputError(f"{p}: no ratings in the file (it is empty)")
    return ratings


#: Columns every ratings file needs (``id`` may stand for ``sample_id``).
SCORE_COLUMNS = ("tcc", "icc", "iq", "its")
COLUMNS_HELP = "sample_id (or id), turn (default 0), annotator (default human), tcc, icc, iq, its"


def _check_columns(p: Path, unit: str, n: int, row: dict[str, Any]) -> None:
    """A missing column is named once, with the columns a ratings file has."""
    keys = {k for k in row if k is not None}
    missing = [c for c in SCORE_COLUMNS if c not in keys]
    if not keys & {"sample_id", "id"}:
        missing.insert(0, "sample_id")
    if missing:
        got = ", ".join(sorted(str(k) for k in keys)) or "none"
        raise InputError(
            f"{p}:{unit} {n}: missing column(s) {', '.join(missing)} (found: {got}); "
            f"a ratings file has {COLUMNS_HELP}"
        )


def _rating(p: Path, unit: str, n: int, row: dict[str, Any]) -> Rating:
    row = {k: v for k, v in row.items() if k is not None}
    for k in ("turn", "annotator"):  # an empty cell takes the default
        if row.get(k) in ("", None):
            row.pop(k, None)
    if "sample_id" not in row and "id" in row:
        row["sample_id"] = row.pop("id")
    if isinstance(row.get("sample_id"), int):
        row["sample_id"] = str(row["sample_id"])
    if row.get("sample_id") in ("", None):
        raise InputError(f"{p}:{unit} {n}: empty sample_id; every rating names the sample it rates")
    row.setdefault("turn", 0)
    row.setdefault("annotator", "human")
    for k in ("time", "comment"):
        if row.get(k) in ("", None):
            row.pop(k, None)
    row = {k: v for k, v in row.items() if k in Rating.model_fields}
    try:
        return Rating.model_validate(row)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "row"
        item = f"sample {row.get('sample_id')!r} turn {row.get('turn')}"
        got = err.get("input")
        hint = (
            "scores are whole numbers 0-5"
            if field in SCORE_COLUMNS
            else "turn is a whole number >= 0"
            if field == "turn"
            else "fix the value"
        )
        raise InputError(
            f"{p}:{unit} {n}: {item}: {field}: {err['msg']} (got {got!r}); {hint}"
        ) from None


def _jsonl_rows(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(p, encoding="utf-8-sig") as f:  # -sig: a byte-order mark is not data
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"{p}:line {n}: not valid JSON ({e.msg})") from None
            if not isinstance(rec, dict):
                raise InputError(f"{p}:line {n}: each line must be a JSON object")
            yield n, rec


def _csv_rows(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    # utf-8-sig: spreadsheets save CSV with a byte-order mark, which is not part of the header.
    with open(p, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames:
            reader.fieldnames = [name.strip() for name in reader.fieldnames]
        for row in reader:
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue
            clean: dict[str, Any] = {}
            for k, v in row.items():
                if isinstance(v, str) and k in ("turn", "tcc", "icc", "iq", "its"):
                    v = v.strip()
                    clean[k] = int(v) if v.lstrip("-").isdigit() else (v or None)
                elif isinstance(v, str) and k in ("sample_id", "id", "annotator"):
                    clean[k] = v.strip()
                else:
                    clean[k] = v
            yield reader.line_num, clean


def _parquet_rows(p: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except Exception as e:
        raise InputError(f"{p}: not a readable Parquet file ({e})") from None
    yield from enumerate(table.to_pylist(), start=1)
