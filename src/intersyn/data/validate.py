"""Check a dataset: schema, unique ids, turn order, text that is a raw or cut model reply,
decodable images, missing files, paths that escape the root. Every problem names the sample
(or file and line) and what is wrong.

Example::

    report = validate_dataset("runs/a")
    for p in report.problems:
        print(p)                  # sample s000042: turn 1: image 'images/..' is missing (...)
    report.ok                     # False when any error was found
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from intersyn.data.dataset import Dataset, RunDataset, open_dataset
from intersyn.data.images import ImageProblem, decode_image
from intersyn.errors import InputError
from intersyn.schema import ImageRef, Sample
from intersyn.textcheck import raw_reply_problem


@dataclass
class Issue:
    """One problem: which sample (when known), where, what is wrong."""

    where: str
    message: str
    sample: str | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        who = f"sample {self.sample}: " if self.sample else ""
        tag = "" if self.severity == "error" else "warning: "
        return f"{tag}{who}{self.message} ({self.where})"

    def to_json(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "sample": self.sample,
            "where": self.where,
            "message": self.message,
        }


@dataclass
class ValidationReport:
    dataset: str
    kind: str = "unknown"
    samples: int = 0
    problems: list[Issue] = field(default_factory=list)
    errors: int = 0
    warnings: int = 0

    @property
    def ok(self) -> bool:
        return self.errors == 0

    def add(self, issue: Issue, limit: int | None) -> None:
        if issue.severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if limit is None or len(self.problems) < limit:
            self.problems.append(issue)

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "kind": self.kind,
            "samples": self.samples,
            "ok": self.ok,
            "errors": self.errors,
            "warnings": self.warnings,
            "problems": [p.to_json() for p in self.problems],
        }


def validate_dataset(
    path: str | Path | Dataset,
    *,
    check_images: bool = True,
    limit: int | None = None,
    image_root: str | Path | None = None,
) -> ValidationReport:
    """Validate a dataset; ``limit`` caps how many problems are kept (all are counted).
    ``image_root``: the folder an answers JSONL's image paths are relative to (as for
    ``import`` and ``judge``; default: the file's folder)."""
    report = ValidationReport(str(path.root if isinstance(path, Dataset) else path))
    try:
        ds = path if isinstance(path, Dataset) else open_dataset(path, image_root=image_root)
    except InputError as e:
        report.add(Issue(str(path), str(e)), limit)
        return report
    report.kind = ds.kind
    seen: set[str] = set()
    for rec in ds.records():
        if rec.sample is None:
            severity: Literal["error", "warning"] = "warning" if rec.warning else "error"
            report.add(Issue(rec.where, rec.error or "unreadable", None, severity), limit)
            continue
        s = rec.sample
        report.samples += 1
        if s.id in seen:
            report.add(Issue(rec.where, f"duplicate id {s.id!r}", s.id), limit)
        seen.add(s.id)
        for issue in _check_sample(ds, s, rec.where, check_images):
            report.add(issue, limit)
    return report


def _check_sample(ds: Dataset, s: Sample, where: str, check_images: bool) -> Iterator[Issue]:
    if not s.turns:
        yield Issue(where, "has no turns", s.id)
    for n, t in enumerate(s.turns):
        if t.index != n:
            yield Issue(
                where, f"turn {n} has index {t.index}; turns must be numbered 0, 1, …", s.id
            )
        if not t.question.strip():
            yield Issue(where, f"turn {n}: the question is empty", s.id)
        if not t.answer.strip():
            yield Issue(where, f"turn {n}: the answer text is empty", s.id, "warning")
        for name in ("question", "answer", "caption"):
            raw = raw_reply_problem(getattr(t, name))
            if raw is not None:  # a model reply stored instead of parsed: bad data, not text
                yield Issue(
                    where,
                    f"turn {n}: the {name} {raw}; a raw or cut model reply is not text "
                    "(regenerate the sample, or fix or drop it)",
                    s.id,
                )
        if t.image is None:
            yield Issue(where, f"turn {n}: no image", s.id, "warning")
        elif check_images:
            try:
                data = ds.image_bytes(s, n)
            except InputError as e:
                yield Issue(where, f"turn {n}: {_strip(str(e), s.id, n)}", s.id)
                continue
            if data is not None:
                for msg in _check_image(data, t.image):
                    yield Issue(where, f"turn {n}: image {t.image.path!r}: {msg}", s.id)
        if isinstance(ds, RunDataset) and check_images:
            for r in t.trace:
                if r.image is None:
                    continue
                try:
                    ds.read_image(r.image)
                except InputError as e:
                    yield Issue(where, f"turn {n}, {r.stage} round {r.k}: {e}", s.id)


def _strip(message: str, sid: str, n: int) -> str:
    prefix = f"sample {sid}, turn {n}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def _check_image(data: bytes, ref: ImageRef) -> Iterator[str]:
    try:
        size = decode_image(data, "the image").size  # every pixel, within the pixel limit
    except ImageProblem as e:
        yield str(e).removeprefix("the image: ")
        return
    if ref.sha256 and hashlib.sha256(data).hexdigest() != ref.sha256:
        yield "its bytes do not match the recorded sha256 (changed or damaged)"
    if ref.width is not None and ref.height is not None and size != (ref.width, ref.height):
        yield f"is {size[0]}x{size[1]}, recorded as {ref.width}x{ref.height}"
