"""The rubric annotators see beside each score: the judge's own rubric, so humans and SynJudge
score against the same words (``resources/rubric/``, read by :mod:`intersyn.judge.rubric`).

``resources/annotate/rubric.yaml`` is used only where the judge package is not installed.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from intersyn.errors import ConfigError
from intersyn.schema import DIMENSION_NAMES, DIMENSIONS

_FALLBACK = "annotate/rubric.yaml"


@dataclass(frozen=True)
class DimensionRubric:
    """One dimension: its key (``tcc``), name, the question it asks and what each score means."""

    key: str
    name: str
    question: str
    scale: dict[int, str]


@dataclass(frozen=True)
class AnnotationRubric:
    label: str
    dimensions: tuple[DimensionRubric, ...]
    rules: tuple[str, ...]
    source: str


@functools.cache
def load_rubric(path: str | None = None) -> AnnotationRubric:
    """The rubric for the rating page: the judge's (``path`` or its default), else the fallback."""
    try:
        judge_rubric: Any = importlib.import_module("intersyn.judge.rubric")
    except ImportError:
        judge_rubric = None
    if judge_rubric is not None:
        r = judge_rubric.load_rubric(Path(path) if path else None)
        return AnnotationRubric(
            label=str(r.label),
            dimensions=tuple(
                DimensionRubric(
                    key=k,
                    name=r.dimensions[k].name,
                    question=r.dimensions[k].question,
                    scale=dict(r.dimensions[k].levels),
                )
                for k in DIMENSIONS
            ),
            rules=tuple(r.rules),
            source=str(r.source),
        )
    if path:
        text, source = Path(path).read_text(encoding="utf-8"), str(path)
    else:
        file = resources.files("intersyn.resources").joinpath(_FALLBACK)
        text, source = file.read_text(encoding="utf-8"), f"intersyn/resources/{_FALLBACK}"
    return parse_rubric(yaml.safe_load(text), source=source)


def parse_rubric(data: Any, *, source: str) -> AnnotationRubric:
    """Validate the fallback rubric; every dimension of schema.DIMENSIONS must be described."""
    if not isinstance(data, dict) or not isinstance(data.get("dimensions"), list):
        raise ConfigError(f"{source}: expected a mapping with a 'dimensions' list")
    by_key: dict[str, DimensionRubric] = {}
    for i, d in enumerate(data["dimensions"]):
        if not isinstance(d, dict) or d.get("key") not in DIMENSIONS:
            raise ConfigError(f"{source}: dimensions[{i}] needs a key among {list(DIMENSIONS)}")
        scale = d.get("scale") or {}
        if not isinstance(scale, dict) or sorted(int(k) for k in scale) != list(range(6)):
            raise ConfigError(f"{source}: dimensions[{i}] ({d['key']}) needs scale entries 0-5")
        by_key[d["key"]] = DimensionRubric(
            key=d["key"],
            name=str(d.get("name") or DIMENSION_NAMES[d["key"]]),
            question=str(d.get("question") or ""),
            scale={int(k): str(v) for k, v in scale.items()},
        )
    missing = [k for k in DIMENSIONS if k not in by_key]
    if missing:
        raise ConfigError(f"{source}: no rubric for {missing}")
    return AnnotationRubric(
        label=f"annotate-fallback@{data.get('version', '1')}",
        dimensions=tuple(by_key[k] for k in DIMENSIONS),
        rules=tuple(str(r) for r in data.get("rules") or []),
        source=source,
    )
