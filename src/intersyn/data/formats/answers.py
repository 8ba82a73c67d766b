"""The answers JSONL that judges read: one record per turn.

::

    {"id": "s1", "turn": 0, "question": "...", "answer": "...", "image": "images/s1_0.png",
     "caption": "..."}

- ``id`` is the sample id; a multi-turn sample has one record per turn with ``turn`` =
  0, 1, … (``turn`` may be left out for single-turn answers: it is then 0). Records of
  one sample need not be adjacent.
- ``image`` is a path relative to the JSONL's folder (or to ``--image-root``), or null /
  empty when the answer has no image. Absolute paths and paths out of that folder are
  refused. ``caption`` is optional.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from intersyn.data.formats._io import (
    ImportedSample,
    ImportedTurn,
    Problem,
    decode_line,
    image_name,
    load_image_file,
)
from intersyn.errors import InputError
from intersyn.schema import Sample


def export(items: Iterable[tuple[Sample, list[bytes | None]]], out: Path, **_: Any) -> int:
    """Write ``out/answers.jsonl`` and ``out/images/``; returns the number of samples."""
    images_dir = out / "images"
    images_dir.mkdir()
    n = 0
    with open(out / "answers.jsonl", "w", encoding="utf-8") as fh:
        for sample, images in items:
            for t, data in zip(sample.turns, images, strict=True):
                image = None
                if data is not None:
                    name = image_name(sample.id, t.index, data)
                    (images_dir / name).write_bytes(data)
                    image = f"images/{name}"
                record = {
                    "id": sample.id,
                    "turn": t.index,
                    "question": t.question,
                    "answer": t.answer,
                    "image": image,
                    "caption": t.caption,
                }
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n


def read(
    src: Path, *, image_root: Path | None = None, **_: Any
) -> Iterator[ImportedSample | Problem]:
    """Samples of an answers JSONL, grouped by id (in order of first appearance).

    Two passes: the first indexes (id, turn) → line offset, the second reads each sample's
    lines, so memory holds the index, never the file.
    """
    path = src
    if src.is_dir():
        found = sorted(src.glob("*.jsonl"))
        if not found:
            raise InputError(f"{src}: no .jsonl file inside")
        path = found[0]
    root = image_root or path.parent
    index: dict[str, dict[int, tuple[int, int]]] = {}
    yield from _index(path, index)
    with open(path, "rb") as fh:
        for sid, turns in index.items():
            where = f"{path}:{min(line for _, line in turns.values())} (sample {sid})"
            expected = list(range(len(turns)))
            if sorted(turns) != expected:
                yield Problem(
                    where, f"turns {sorted(turns)} of sample {sid}; expected {expected} (no gaps)"
                )
                continue
            try:
                yield _sample(fh, path, sid, turns, root, where)
            except (ValueError, InputError) as e:
                yield Problem(where, str(e))


def _index(path: Path, index: dict[str, dict[int, tuple[int, int]]]) -> Iterator[Problem]:
    offset = 0
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            start, offset = offset, offset + len(raw)
            where = f"{path}:{n}"
            if not raw.strip():
                continue
            try:
                rec = decode_line(raw, where)
                sid, turn = _key(rec)
            except ValueError as e:
                yield Problem(where, str(e))
                continue
            turns = index.setdefault(sid, {})
            if turn in turns:
                yield Problem(
                    where,
                    f"duplicate id {sid!r} turn {turn} (first at line {turns[turn][1]}); "
                    "multi-turn answers need a 'turn' field",
                )
                continue
            turns[turn] = (start, n)


def _key(rec: Any) -> tuple[str, int]:
    if not isinstance(rec, dict):
        raise ValueError(f"a JSON {type(rec).__name__}, expected an object")
    sid = rec.get("id")
    if isinstance(sid, int) and not isinstance(sid, bool):
        sid = str(sid)
    if not isinstance(sid, str) or not sid:
        raise ValueError(f"'id' is {sid!r}; every record needs an id")
    turn = rec.get("turn", 0)
    if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
        raise ValueError(f"'turn' is {turn!r}; expected an integer >= 0")
    return sid, turn


def _sample(
    fh: Any,
    path: Path,
    sid: str,
    turns: dict[int, tuple[int, int]],
    root: Path,
    where: str,
) -> ImportedSample:
    out = []
    for t in range(len(turns)):
        offset, line = turns[t]
        fh.seek(offset)
        rec = json.loads(fh.readline())
        at = f"{path}:{line}"
        fields = {}
        for name in ("question", "answer", "caption"):
            value = rec.get(name)
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise ValueError(f"{at}: {name!r} is {type(value).__name__}, expected text")
            fields[name] = value
        image = rec.get("image")
        if image is not None and not isinstance(image, str):
            raise ValueError(f"{at}: 'image' must be a path or null")
        data = load_image_file(root, image, f"{at} (sample {sid})") if image else None
        out.append(ImportedTurn(fields["question"], fields["answer"], fields["caption"], data))
    return ImportedSample(id=sid, where=where, turns=out)


__all__ = ["export", "image_name", "read"]
