"""Training formats: LLaVA / ShareGPT conversations and LLaMA-Factory's multimodal sharegpt.

Both put an ``<image>`` placeholder where an image belongs; in intersyn data the image is
part of the *answer* (interleaved generation), so the placeholder ends the assistant's
message and the images are listed in order of their placeholders. Layout of an export::

    data.json            a JSON array, one element per sample (streamed, never all in memory)
    images/<id>_<turn>.png
    dataset_info.json    (llamafactory only) the entry that registers data.json

LLaVA element::

    {"id": "s1", "image": ["s1_0.png"], "captions": ["..."],
     "conversations": [{"from": "human", "value": "question"},
                       {"from": "gpt", "value": "answer\\n<image>"}]}

LLaMA-Factory element::

    {"id": "s1", "images": ["images/s1_0.png"],
     "messages": [{"role": "user", "content": "question"},
                  {"role": "assistant", "content": "answer<image>"}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from intersyn.data.formats._io import (
    ImportedSample,
    ImportedTurn,
    JsonArrayWriter,
    Problem,
    image_name,
    load_image_file,
    read_json_records,
)
from intersyn.errors import InputError
from intersyn.schema import Sample

PLACEHOLDER = "<image>"
DATASET_NAME = "intersyn"


def export(
    items: Iterable[tuple[Sample, list[bytes | None]]], out: Path, *, fmt: str, **_: Any
) -> int:
    """Write ``data.json`` + ``images/`` (and ``dataset_info.json`` for llamafactory)."""
    images_dir = out / "images"
    images_dir.mkdir()
    writer = JsonArrayWriter(out / "data.json")
    n = 0
    try:
        for sample, images in items:
            names = []
            for t, data in zip(sample.turns, images, strict=True):
                name = image_name(sample.id, t.index, data) if data is not None else None
                if data is not None and name is not None:
                    (images_dir / name).write_bytes(data)
                names.append(name)
            element = _llava(sample, names) if fmt == "llava" else _factory(sample, names)
            writer.write(element)
            n += 1
    finally:
        writer.close()
    if fmt == "llamafactory":
        (out / "dataset_info.json").write_text(
            json.dumps({DATASET_NAME: dataset_info_entry("data.json")}, indent=2) + "\n",
            encoding="utf-8",
        )
    return n


def dataset_info_entry(file_name: str) -> dict[str, Any]:
    """LLaMA-Factory's ``dataset_info.json`` entry for an exported ``file_name``."""
    return {
        "file_name": file_name,
        "formatting": "sharegpt",
        "columns": {"messages": "messages", "images": "images"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
        },
    }


def _llava(sample: Sample, names: list[str | None]) -> dict[str, Any]:
    conv: list[dict[str, str]] = []
    for t, name in zip(sample.turns, names, strict=True):
        conv.append({"from": "human", "value": t.question})
        value = f"{t.answer}\n{PLACEHOLDER}" if name else t.answer
        conv.append({"from": "gpt", "value": value})
    element: dict[str, Any] = {"id": sample.id}
    present = [n for n in names if n]
    if present:
        element["image"] = present
    element["conversations"] = conv
    element["captions"] = [t.caption for t in sample.turns]
    element["topic"] = sample.topic.topic
    return element


def _factory(sample: Sample, names: list[str | None]) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    for t, name in zip(sample.turns, names, strict=True):
        messages.append({"role": "user", "content": t.question})
        content = f"{t.answer}{PLACEHOLDER}" if name else t.answer
        messages.append({"role": "assistant", "content": content})
    return {
        "id": sample.id,
        "messages": messages,
        "images": [f"images/{n}" for n in names if n],
        "captions": [t.caption for t in sample.turns],
        "topic": sample.topic.topic,
    }


# -- import ----------------------------------------------------------------------------------
def read(
    src: Path, *, fmt: str, image_root: Path | None = None, **_: Any
) -> Iterator[ImportedSample | Problem]:
    """Samples of a LLaVA / LLaMA-Factory JSON (array or JSONL) file, or its folder."""
    path = _data_file(src, fmt)
    # LLaVA names images inside an image folder; LLaMA-Factory relative to the data file.
    root = image_root or (path.parent / "images" if fmt == "llava" else path.parent)
    for where, rec in read_json_records(path):
        if isinstance(rec, Problem):
            yield rec
            continue
        try:
            yield _sample(rec, where, root, fmt)
        except (ValueError, InputError) as e:
            yield Problem(where, str(e))


def _data_file(src: Path, fmt: str) -> Path:
    if src.is_file():
        return src
    info = src / "dataset_info.json"
    if info.is_file():
        try:
            entries = json.loads(info.read_text(encoding="utf-8"))
            first = next(iter(entries.values()))
            return src / str(first["file_name"])
        except (ValueError, StopIteration, KeyError, TypeError, AttributeError) as e:
            raise InputError(f"{info}: not a LLaMA-Factory dataset_info.json ({e})") from None
    for name in ("data.json", "data.jsonl"):
        if (src / name).is_file():
            return src / name
    raise InputError(f"{src}: no data.json (or dataset_info.json) inside; name the file")


def _sample(rec: dict[str, Any], where: str, root: Path, fmt: str) -> ImportedSample:
    sid = rec.get("id")
    if not isinstance(sid, str) or not sid:
        raise ValueError(f"'id' is {sid!r}; every element needs a non-empty string id")
    if fmt == "llava":
        raw_images = rec.get("image", [])
        msgs = rec.get("conversations")
        role, content = "from", "value"
        user: tuple[str, ...] = ("human", "user")
        assistant: tuple[str, ...] = ("gpt", "assistant")
    else:
        raw_images = rec.get("images", [])
        msgs = rec.get("messages")
        role, content, user, assistant = "role", "content", ("user",), ("assistant",)
    images = [raw_images] if isinstance(raw_images, str) else raw_images
    if not isinstance(images, list) or not all(isinstance(x, str) for x in images):
        raise ValueError(f"sample {sid}: images must be a list of file names")
    if not isinstance(msgs, list):
        raise ValueError(f"sample {sid}: no list of messages")
    captions = rec.get("captions") or []
    turns: list[ImportedTurn] = []
    question: str | None = None
    pending = list(images)
    for n, msg in enumerate(msgs):
        if not isinstance(msg, dict) or not isinstance(msg.get(content), str):
            raise ValueError(f"sample {sid}: message {n} needs text in {content!r}")
        text: str = msg[content]
        who = msg.get(role)
        if who == "system":
            continue
        if who in user:
            if PLACEHOLDER in text:
                raise ValueError(
                    f"sample {sid}: message {n} holds an input image ({PLACEHOLDER}); "
                    "intersyn turns carry images in the answer only"
                )
            question = text
        elif who in assistant and question is not None:
            count = text.count(PLACEHOLDER)
            if count > 1:
                raise ValueError(f"sample {sid}: message {n} has {count} images; one per turn")
            data = None
            if count:
                if not pending:
                    raise ValueError(f"sample {sid}: more {PLACEHOLDER} than images")
                data = load_image_file(root, pending.pop(0), f"{where} (sample {sid})")
                text = text.replace(f"\n{PLACEHOLDER}", "").replace(PLACEHOLDER, "")
            caption = captions[len(turns)] if len(turns) < len(captions) else ""
            turns.append(ImportedTurn(question, text, caption if isinstance(caption, str) else ""))
            turns[-1].image = data
            question = None
        else:
            raise ValueError(f"sample {sid}: message {n} has role {who!r} out of order")
    if pending:
        raise ValueError(f"sample {sid}: {len(pending)} image(s) without an {PLACEHOLDER}")
    topic = rec.get("topic")
    return ImportedSample(
        id=sid, where=where, turns=turns, topic=topic if isinstance(topic, str) else None
    )
