"""The public reference code's layout: ``data.jsonl`` plus an ``images/`` folder.

One line per sample::

    {"id": "s1", "topic": "red panda",
     "conversations": [{"from": "human", "value": "question"},
                       {"from": "gpt", "value": "answer", "caption": "...", "image": "s1_0.png"}]}

``image`` is a file name in ``images/`` beside the JSONL (on import, ``--image-root``
names another folder); an empty ``image`` means the turn has none.
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
    image_name,
    load_image_file,
    read_jsonl,
)
from intersyn.errors import InputError
from intersyn.schema import Sample


def export(items: Iterable[tuple[Sample, list[bytes | None]]], out: Path, **_: Any) -> int:
    """Write ``out/data.jsonl`` and ``out/images/``; returns the number of samples."""
    images_dir = out / "images"
    images_dir.mkdir()
    n = 0
    with open(out / "data.jsonl", "w", encoding="utf-8") as fh:
        for sample, images in items:
            conversations: list[dict[str, Any]] = []
            for t, data in zip(sample.turns, images, strict=True):
                name = ""
                if data is not None:
                    name = image_name(sample.id, t.index, data)
                    (images_dir / name).write_bytes(data)
                conversations.append({"from": "human", "value": t.question})
                conversations.append(
                    {"from": "gpt", "value": t.answer, "caption": t.caption, "image": name}
                )
            line = {"id": sample.id, "topic": sample.topic.topic, "conversations": conversations}
            fh.write(json.dumps(line, ensure_ascii=False) + "\n")
            n += 1
    return n


def read(
    src: Path, *, image_root: Path | None = None, **_: Any
) -> Iterator[ImportedSample | Problem]:
    """Samples of a reference JSONL file (or the ``*.jsonl`` files of a folder)."""
    files = sorted(src.glob("*.jsonl")) if src.is_dir() else [src]
    for path in files:
        root = image_root or path.parent / "images"
        for where, rec in read_jsonl(path):
            if isinstance(rec, Problem):
                yield rec
                continue
            try:
                yield _sample(rec, where, root)
            except (ValueError, InputError) as e:
                yield Problem(where, str(e))


def _sample(rec: dict[str, Any], where: str, root: Path) -> ImportedSample:
    sid = rec.get("id")
    if not isinstance(sid, str) or not sid:
        raise ValueError(f"'id' is {sid!r}; every line needs a non-empty string id")
    conv = rec.get("conversations")
    if not isinstance(conv, list):
        raise ValueError(f"sample {sid}: 'conversations' must be a list of {{from, value}}")
    turns: list[ImportedTurn] = []
    question: str | None = None
    for n, msg in enumerate(conv):
        if not isinstance(msg, dict) or not isinstance(msg.get("value"), str):
            raise ValueError(f"sample {sid}: conversations[{n}] needs a text 'value'")
        who = msg.get("from")
        if who == "human":
            if question is not None:
                raise ValueError(f"sample {sid}: conversations[{n}]: two human turns in a row")
            question = msg["value"]
        elif who == "gpt":
            if question is None:
                raise ValueError(f"sample {sid}: conversations[{n}]: a gpt turn with no question")
            caption = msg.get("caption") or ""
            if not isinstance(caption, str):
                raise ValueError(f"sample {sid}: conversations[{n}].caption must be text")
            image = msg.get("image") or None
            if image is not None and not isinstance(image, str):
                raise ValueError(f"sample {sid}: conversations[{n}].image must be a file name")
            data = load_image_file(root, image, f"{where} (sample {sid})") if image else None
            turns.append(ImportedTurn(question, msg["value"], caption, data))
            question = None
        else:
            raise ValueError(
                f"sample {sid}: conversations[{n}].from is {who!r}, expected 'human' or 'gpt'"
            )
    if question is not None:
        raise ValueError(f"sample {sid}: the last question has no gpt answer")
    topic = rec.get("topic")
    return ImportedSample(
        id=sid, where=where, turns=turns, topic=topic if isinstance(topic, str) else None
    )
