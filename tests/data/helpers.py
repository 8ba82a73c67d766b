"""Builders for dataset-layer tests: real PNGs, real run directories, real Hub Parquet."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from intersyn.data.store import RunStore
from intersyn.schema import Round, Sample, TopicPath, Turn


def png(seed: int, size: tuple[int, int] = (12, 9)) -> bytes:
    """A small PNG whose bytes differ with ``seed``."""
    buf = io.BytesIO()
    Image.new("RGB", size, (seed * 37 % 256, seed * 91 % 256, seed * 53 % 256)).save(buf, "PNG")
    return buf.getvalue()


def jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (10, 10), (seed % 256, 20, 200)).save(buf, "JPEG")
    return buf.getvalue()


def make_sample(store: RunStore, i: int, turns: int = 2, trace: bool = True) -> Sample:
    """A sample with ``turns`` turns, each with an image (and a trace image)."""
    sid = f"s{i:05d}"
    built = []
    for t in range(turns):
        ref = store.put_image(sid, f"t{t}", png(i * 10 + t), seed=i * 10 + t)
        rounds = []
        if trace:
            first = store.put_image(sid, f"t{t}_r1", png(i * 10 + t + 5000))
            rounds = [Round(stage="image", k=1, draft=f"draft caption {i}.{t}", image=first)]
        built.append(
            Turn(
                index=t,
                question=f"Question {i}.{t}: how does it work? Show me. ü",
                answer=f"Answer {i}.{t} with several words of text.",
                caption=f"caption {i}.{t}",
                image=ref,
                image_seed=i * 10 + t,
                trace=rounds,
                stop_reasons={"image": "approved"},
            )
        )
    return Sample(
        id=sid,
        topic=TopicPath(domain=f"d{i % 2}", category=f"c{i % 3}", topic=f"topic {i % 4}"),
        template="Explain {topic} with a picture.",
        seed=i,
        config_fingerprint="fp",
        turns=built,
        meta={"k": i},
    )


def make_run(root: Path, n: int, turns: int = 2) -> list[Sample]:
    store = RunStore(root)
    samples = []
    for i in range(n):
        s = make_sample(store, i, turns=1 + (i % turns))
        store.commit(s)
        samples.append(s)
    store.close()
    return samples


def hub_rows(n: int, *, absent: Any = None) -> list[dict[str, Any]]:
    """Rows in the InterSyn Hub layout (1..5 turns), images as {bytes, path} structs."""
    rows = []
    for k in range(n):
        sid = f"00000_{k:010d}"
        row: dict[str, Any] = {"id": sid, "topic": f"topic {k % 3}"}
        turns = k % 5 + 1
        for i in range(1, 6):
            if i <= turns:
                row[f"human{i}"] = f"Question {k}.{i}, naïve café?"
                row[f"gpt{i}"] = f"Answer {k}.{i}"
                row[f"caption{i}"] = f"Caption {k}.{i}"
                data = jpeg(k * 7 + i) if k == 3 else png(k * 7 + i)
                row[f"image{i}"] = {"bytes": data, "path": f"{sid}_caption_{i - 1}.png"}
            else:
                for kind in ("human", "gpt", "caption"):
                    row[f"{kind}{i}"] = absent
                row[f"image{i}"] = None
        rows.append(row)
    return rows


def write_hub_with_datasets(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write Hub-layout Parquet with the `datasets` library (not with intersyn)."""
    import datasets

    feats: dict[str, Any] = {"id": datasets.Value("string"), "topic": datasets.Value("string")}
    for kind in ("human", "gpt", "caption"):
        for i in range(1, 6):
            feats[f"{kind}{i}"] = datasets.Value("string")
    for i in range(1, 6):
        feats[f"image{i}"] = datasets.Image()
    datasets.Dataset.from_list(rows, features=datasets.Features(feats)).to_parquet(str(path))


def big_png(width: int, height: int) -> bytes:
    """A well-formed 1-bit greyscale PNG of ``width`` x ``height`` blank pixels, compressed to
    a few hundred KB at most (a "decompression bomb": tiny file, huge decoded image)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    parts, rows_per_step = [], max(1, (1 << 20) // len(row))
    for start in range(0, height, rows_per_step):
        parts.append(comp.compress(row * min(rows_per_step, height - start)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", b"".join(parts))
        + chunk(b"IEND", b"")
    )


def truncated(data: bytes) -> bytes:
    """``data`` cut in half: a file whose header reads but whose pixels stop short."""
    return data[: len(data) // 2]
