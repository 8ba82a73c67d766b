"""The SynJudge rubric: four dimensions with level descriptions 0–5, versioned, from a YAML file.

The shipped rubric is ``resources/rubric/synjudge-v1.yaml``; a user points to their own file
with ``rubric:`` in the run config or ``--rubric``. The rubric's ``id`` and ``version`` go into
every judgement and into the judgement-set key, so judgements made with different rubrics are
never mixed. It is the one rubric type: the judge's prompt and the annotation app's rating
page (``annotate serve --rubric``) both read it, so humans and SynJudge score against the same
words.

>>> r = load_rubric()
>>> r.version, r.dimensions["tcc"].name
('1', 'Text Content Completeness')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from intersyn.errors import ConfigError
from intersyn.schema import DIMENSIONS


@dataclass(frozen=True)
class Dimension:
    """One dimension: its key (``tcc``), name, the question it asks and what each level 0–5
    means."""

    key: str
    name: str
    question: str
    levels: dict[int, str]


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    dimensions: dict[str, Dimension]
    rules: list[str]
    #: sha256 of the file's bytes: a changed text under an unchanged version is detected.
    sha256: str
    source: str

    @property
    def label(self) -> str:
        """``id@version``, as recorded in ``Judgement.rubric_version``."""
        return f"{self.id}@{self.version}"

    def ordered(self) -> tuple[Dimension, ...]:
        """The dimensions in the fixed order TCC, ICC, IQ, ITS."""
        return tuple(self.dimensions[k] for k in DIMENSIONS)

    def render(self) -> str:
        """The rubric as prompt text: each dimension, its question and its six levels."""
        blocks = []
        for d in self.ordered():
            lines = [f"### {d.key.upper()} - {d.name}", d.question]
            lines += [f"  {level}: {text}" for level, text in sorted(d.levels.items())]
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks)


def default_rubric_path() -> Path:
    return Path(str(resources.files("intersyn.resources").joinpath("rubric/synjudge-v1.yaml")))


def load_rubric(path: str | Path | None = None) -> Rubric:
    """Load and check a rubric file (default: the shipped SynJudge rubric v1)."""
    p = Path(path) if path else default_rubric_path()
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"{p}: rubric file cannot be read ({e.strerror})") from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: rubric is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a rubric is a mapping with id, version, dimensions")
    return _build(data, p, hashlib.sha256(raw).hexdigest())


def _build(data: dict[str, object], p: Path, sha: str) -> Rubric:
    for key in ("id", "version", "dimensions"):
        if key not in data:
            raise ConfigError(f"{p}: rubric lacks the field {key!r}")
    dims_raw = data["dimensions"]
    if not isinstance(dims_raw, dict) or set(dims_raw) != set(DIMENSIONS):
        got = sorted(dims_raw) if isinstance(dims_raw, dict) else dims_raw
        raise ConfigError(f"{p}: dimensions must be exactly {list(DIMENSIONS)}, got {got}")
    dims = {k: _dimension(k, dims_raw[k], p) for k in DIMENSIONS}
    rules = data.get("rules") or []
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ConfigError(f"{p}: rules must be a list of sentences")
    return Rubric(
        id=str(data["id"]),
        version=str(data["version"]),
        dimensions=dims,
        rules=list(rules),
        sha256=sha,
        source=str(p),
    )


def _dimension(key: str, raw: object, p: Path) -> Dimension:
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: dimensions.{key} must be a mapping with name, question, levels")
    levels = raw.get("levels")
    keys = {str(k).strip() for k in levels} if isinstance(levels, dict) else set()
    if not isinstance(levels, dict) or keys != {str(i) for i in range(6)}:
        raise ConfigError(f"{p}: dimensions.{key}.levels must describe each level 0, 1, 2, 3, 4, 5")
    return Dimension(
        key=key,
        name=str(raw.get("name") or key.upper()),
        question=str(raw.get("question") or ""),
        levels={int(k): str(v) for k, v in levels.items()},
    )
