"""Import and export: the InterSyn Hub layout, the public reference code's JSONL + images,
LLaVA / ShareGPT, LLaMA-Factory sharegpt, WebDataset tar shards and the answers JSONL.

Example::

    from intersyn.data.formats import export_dataset, import_dataset
    import_dataset("hub/", "datasets/intersyn", fmt="hub")          # a run dir + data/*.parquet
    export_dataset("datasets/intersyn", "hub", "out/hub")           # out/hub/data/*.parquet

An import writes a run directory (:class:`~intersyn.data.store.RunStore`) and finalises it;
an export writes into a temporary folder that is renamed into place at the end. Either way a
failure leaves nothing half-written and never touches what was there before.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intersyn.data.dataset import UNKNOWN, Dataset, describe_validation, open_dataset
from intersyn.data.formats._io import ImportedSample, Problem
from intersyn.data.images import decode_image
from intersyn.data.outputs import staged_output
from intersyn.data.parquet import DEFAULT_MAX_SHARD_BYTES, finalize
from intersyn.data.store import RunStore
from intersyn.errors import InputError
from intersyn.schema import Round, Sample, TopicPath, Turn

#: format name → (module, one-line description).
FORMATS: dict[str, tuple[str, str]] = {
    "hub": ("hub", "InterSyn Hub layout: id, topic, human1..5, gpt1..5, caption1..5, image1..5"),
    "reference": ("reference", "public reference code: JSONL (conversations) + images/ folder"),
    "llava": ("sharegpt", "LLaVA / ShareGPT JSON: conversations with <image> placeholders"),
    "llamafactory": ("sharegpt", "LLaMA-Factory multimodal sharegpt: messages + images"),
    "webdataset": ("webdataset", "WebDataset tar shards: <key>.json + <key>.<turn>.png"),
    "answers": ("answers", "answers JSONL for judging: {id, turn, question, answer, image}"),
}

_MAX_LISTED = 1000


@dataclass
class Report:
    """What an import or export did: where it wrote, how many samples, what it skipped."""

    out: Path
    samples: int = 0
    skipped: list[Problem] = field(default_factory=list)
    skipped_total: int = 0

    def skip(self, problem: Problem) -> None:
        self.skipped_total += 1
        if len(self.skipped) < _MAX_LISTED:
            self.skipped.append(problem)


def _module(fmt: str) -> Any:
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    return importlib.import_module(f"intersyn.data.formats.{FORMATS[fmt][0]}")


def _handle(problem: Problem, on_error: str, report: Report) -> None:
    if on_error == "skip":
        report.skip(problem)
        return
    raise InputError(
        f"{problem}\nNothing was written. Fix the record, or pass --on-error skip to leave "
        "such records out (each is listed)."
    )


# -- export ----------------------------------------------------------------------------------
def export_dataset(
    dataset: str | Path | Dataset,
    fmt: str,
    out: str | Path,
    *,
    overwrite: bool = False,
    on_error: str = "stop",
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> Report:
    """Export a dataset (any :func:`open_dataset` input) to ``fmt`` at ``out``."""
    ds = dataset if isinstance(dataset, Dataset) else open_dataset(dataset)
    module = _module(fmt)
    report = Report(Path(out))
    inputs = [] if isinstance(dataset, Dataset) else [dataset]
    with staged_output(Path(out), overwrite=overwrite, kind="export", inputs=inputs) as tmp:
        items = with_images(ds, on_error, report)
        report.samples = module.export(
            items, tmp, fmt=fmt, max_shard_bytes=max_shard_bytes, source=ds
        )
    return report


def with_images(
    ds: Dataset, on_error: str, report: Report
) -> Iterator[tuple[Sample, list[bytes | None]]]:
    """Each sample of ``ds`` with the encoded image of each turn (bad ones per ``on_error``)."""
    for rec in ds.records():
        if rec.sample is None:
            if not rec.warning:
                _handle(Problem(rec.where, rec.error or "unreadable"), on_error, report)
            continue
        try:
            images = [ds.image_bytes(rec.sample, i) for i in range(len(rec.sample.turns))]
            for i, data in enumerate(images):  # what validate calls decodable, export does too
                if data is not None:
                    decode_image(data, f"sample {rec.sample.id}, turn {i}")
        except InputError as e:
            _handle(Problem(rec.where, str(e)), on_error, report)
            continue
        yield rec.sample, images


# -- import ----------------------------------------------------------------------------------
def detect_format(src: str | Path) -> str:
    """Guess the format of ``src`` from its files (say ``--format`` when this guesses wrong)."""
    p = Path(src)
    if p.is_dir():
        if any(p.glob("*.tar")):
            return "webdataset"
        if (p / "dataset_info.json").is_file():
            return "llamafactory"
        candidates = sorted([*p.glob("*.parquet"), *p.glob("data/*.parquet")])
        if candidates:
            return "hub"
        for name in ("*.jsonl", "*.json"):
            found = sorted(x for x in p.glob(name) if x.name != "dataset_info.json")
            if found:
                return detect_format(found[0])
        raise InputError(f"{p}: cannot tell its format; pass --format ({', '.join(FORMATS)})")
    suffix = p.suffix.lower()
    if suffix == ".tar":
        return "webdataset"
    if suffix == ".parquet":
        return "hub"
    if suffix in (".jsonl", ".json"):
        return _detect_json(p)
    raise InputError(f"{p}: cannot tell its format; pass --format ({', '.join(FORMATS)})")


def _detect_json(p: Path) -> str:
    from intersyn.data.formats._io import read_json_records

    for _, rec in read_json_records(p):
        if isinstance(rec, Problem):
            raise InputError(f"{rec}; cannot tell the format (pass --format)")
        if "messages" in rec:
            return "llamafactory"
        if "conversations" in rec:
            return "reference" if p.suffix == ".jsonl" and "image" not in rec else "llava"
        if "question" in rec or "answer" in rec:
            return "answers"
        break
    raise InputError(f"{p}: cannot tell its format; pass --format ({', '.join(FORMATS)})")


def import_dataset(
    src: str | Path,
    out: str | Path,
    *,
    fmt: str | None = None,
    on_error: str = "stop",
    image_root: str | Path | None = None,
    overwrite: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> Report:
    """Import ``src`` into a new intersyn dataset at ``out`` (a run directory, finalised).

    Bad records stop the import with file and line (``on_error="skip"`` leaves them out and
    lists them in the report); duplicate ids, missing or corrupt images and paths that
    escape the image root are bad records.
    """
    src = Path(src)
    if not src.exists():
        raise InputError(f"{src}: no such file or directory")
    fmt = fmt or detect_format(src)
    module = _module(fmt)
    report = Report(Path(out))
    inputs = [src, image_root]
    with staged_output(Path(out), overwrite=overwrite, kind="import", inputs=inputs) as tmp:
        items = module.read(src, image_root=Path(image_root) if image_root else None, fmt=fmt)
        report.samples = write_run(items, tmp, on_error, report, source=src, fmt=fmt)
        finalize(tmp, max_shard_bytes=max_shard_bytes)
    return report


def write_run(
    items: Iterable[ImportedSample | Problem],
    run_dir: Path,
    on_error: str,
    report: Report,
    *,
    source: Path,
    fmt: str,
) -> int:
    """Commit imported samples to a run directory; returns how many were written."""
    store = RunStore(run_dir)
    store.write_meta(
        {
            "imported_from": str(source),
            "format": fmt,
            "created": datetime.now(timezone.utc).isoformat(),
        }
    )
    seen: set[str] = set()
    count = 0
    try:
        for item in items:
            if isinstance(item, Problem):
                _handle(item, on_error, report)
                continue
            if item.id in seen:
                _handle(Problem(item.where, f"duplicate id {item.id!r}"), on_error, report)
                continue
            try:
                sample = _to_sample(item, store)
            except InputError as e:
                _handle(Problem(item.where, str(e)), on_error, report)
                continue
            except ValidationError as e:
                _handle(Problem(item.where, describe_validation(e)), on_error, report)
                continue
            store.commit(sample)
            seen.add(item.id)
            count += 1
    finally:
        store.close()
    return count


def _to_sample(item: ImportedSample, store: RunStore) -> Sample:
    turns = []
    for i, t in enumerate(item.turns):
        ref = None
        if t.image is not None:
            ref = store.put_image(item.id, f"t{i}", t.image)
        turns.append((t, ref))
    if item.record is not None:
        rec = dict(item.record)
        rec["id"] = item.id
        sample = Sample.model_validate(rec)
        for turn, (_, ref) in zip(sample.turns, turns, strict=False):
            if ref is not None and turn.image is not None:
                ref = ref.model_copy(
                    update={
                        "seed": turn.image.seed,
                        "preview": turn.image.preview,
                        "painter": turn.image.painter,
                    }
                )
            turn.image = ref
            turn.trace = [_drop_image(r) for r in turn.trace]
        return sample
    return Sample(
        id=item.id,
        topic=TopicPath(domain=UNKNOWN, category=UNKNOWN, topic=item.topic or UNKNOWN),
        turns=[
            Turn(index=i, question=t.question, answer=t.answer, caption=t.caption, image=ref)
            for i, (t, ref) in enumerate(turns)
        ],
        meta=item.meta,
    )


def _drop_image(r: Round) -> Round:
    # Trace images are files of the run that made them; a foreign format does not carry them.
    if r.image is None:
        return r
    note = f"trace image {r.image.path} not carried by the import"
    return r.model_copy(update={"image": None, "note": (r.note + "; " if r.note else "") + note})


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


__all__ = [
    "FORMATS",
    "ImportedSample",
    "Problem",
    "Report",
    "detect_format",
    "export_dataset",
    "import_dataset",
]
