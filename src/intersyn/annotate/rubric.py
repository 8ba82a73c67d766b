"""The rubric annotators see beside each score: the judge's own rubric
(:mod:`intersyn.judge.rubric`, ``resources/rubric/``), so humans and SynJudge score against the
same words. A custom rubric file (``serve --rubric``) is read the same way."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from intersyn.judge.rubric import load_rubric as load_judge_rubric
from intersyn.schema import DIMENSIONS


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
    """The rubric for the rating page, in dimension order (``path`` or the shipped one)."""
    r = load_judge_rubric(Path(path) if path else None)
    return AnnotationRubric(
        label=r.label,
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
        source=r.source,
    )
