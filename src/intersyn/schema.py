"""The one definition of every record intersyn reads or writes.

Words follow DESIGN.md: a *sample* is a dialogue of turns; each turn has a question, answer
text, caption and image; a *round* is one evaluate → revise step of a refine loop and the
*trace* is every round; a *judgement* is SynJudge's four scores for one turn; a *rating* is a
human's four scores for one turn.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SCHEMA_VERSION = "1.0"

#: The four SynJudge dimensions, in the paper's order.
DIMENSIONS: tuple[str, ...] = ("tcc", "icc", "iq", "its")
DIMENSION_NAMES: dict[str, str] = {
    "tcc": "Text Content Completeness",
    "icc": "Image Content Completeness",
    "iq": "Image Quality",
    "its": "Image-Text Synergy",
}

Stage = Literal["question", "answer", "image"]
#: Why a refine loop stopped: the critic approved, K rounds were used, refinement was off,
#: or the loop could not continue (the reason is then in the round's ``note``).
StopReason = Literal["approved", "max_rounds", "no_refine", "error"]
Score = int


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class TopicPath(_Model):
    """A leaf of the hierarchy domain → category → topic."""

    domain: str
    category: str
    topic: str

    def __str__(self) -> str:
        return f"{self.domain} / {self.category} / {self.topic}"


class ImageRef(_Model):
    """An image of a dataset, stored as a file under the dataset root.

    ``path`` is relative to the root, with forward slashes; it never escapes the root.
    """

    path: str
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    #: True when drawn by the offline ``preview`` painter (text on a canvas, not a model).
    preview: bool = False
    painter: str | None = None


class Round(_Model):
    """One evaluate → revise step of a refine loop (QR, AR or IR).

    ``draft`` is the text the critic saw (question, answer text, or caption for IR);
    for AR ``draft_caption`` holds the temporary caption; for IR ``image`` is the image
    rendered from ``draft`` that the inspector looked at. ``revision`` /
    ``revision_caption`` hold what the writer made of the critique (None when the critic
    approved and nothing was revised).
    """

    stage: Stage
    k: int = Field(ge=1, description="1-based round number")
    draft: str
    draft_caption: str | None = None
    image: ImageRef | None = None
    critique: str = ""
    suggestions: list[str] = Field(default_factory=list)
    ok: bool = False
    revision: str | None = None
    revision_caption: str | None = None
    #: How the critic saw the draft: "vision" (a VLM saw the image) or "caption-proxy".
    critic_mode: str | None = None
    note: str | None = None


class Turn(_Model):
    """One turn of a dialogue: question, answer text, caption and image, plus the trace."""

    index: int = Field(ge=0)
    question: str
    answer: str
    caption: str
    image: ImageRef | None = None
    image_seed: int | None = None
    trace: list[Round] = Field(default_factory=list)
    stop_reasons: dict[str, StopReason] = Field(default_factory=dict)


class Sample(_Model):
    """One dialogue of 1..T turns, everything it was made from, and how it was made."""

    schema_version: str = SCHEMA_VERSION
    id: str = Field(min_length=1)
    topic: TopicPath
    template: str | None = None
    seed: int | None = None
    config_fingerprint: str | None = None
    turns: list[Turn] = Field(default_factory=list)
    status: Literal["ok", "failed"] = "ok"
    error: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=_utcnow)


class Judgement(_Model):
    """SynJudge's scores for one turn.

    Scores are integers 0–5 or None. ``status`` is ``ok`` when all four are present,
    ``unparsed`` when the judge's reply could not be parsed (never turned into numbers),
    ``error`` when the call failed. ``forced`` lists the hard rules applied in code
    (no text → TCC = ITS = 0; no image → ICC = IQ = ITS = 0).
    """

    sample_id: str
    turn: int = Field(ge=0)
    tcc: Score | None = Field(default=None, ge=0, le=5)
    icc: Score | None = Field(default=None, ge=0, le=5)
    iq: Score | None = Field(default=None, ge=0, le=5)
    its: Score | None = Field(default=None, ge=0, le=5)
    status: Literal["ok", "unparsed", "error"] = "ok"
    judge_model: str
    rubric_version: str
    mode: Literal["vision", "caption-proxy"] = "vision"
    raw: list[str] = Field(default_factory=list)
    #: Every parsed draw when judged k > 1 times: list of {dim: score}.
    draws: list[dict[str, int | None]] = Field(default_factory=list)
    #: Per-dimension population standard deviation over draws (None when k == 1).
    spread: dict[str, float] | None = None
    forced: list[str] = Field(default_factory=list)
    error: str | None = None
    created_at: datetime = Field(default_factory=_utcnow)

    def scores(self) -> dict[str, int | None]:
        return {d: getattr(self, d) for d in DIMENSIONS}


class Rating(_Model):
    """A human's four scores for one turn."""

    sample_id: str
    turn: int = Field(ge=0)
    annotator: str = Field(min_length=1)
    tcc: Score = Field(ge=0, le=5)
    icc: Score = Field(ge=0, le=5)
    iq: Score = Field(ge=0, le=5)
    its: Score = Field(ge=0, le=5)
    time: datetime = Field(default_factory=_utcnow)
    comment: str | None = None

    @field_validator("tcc", "icc", "iq", "its", mode="before")
    @classmethod
    def _strict_int(cls, v: Any) -> Any:
        # Ratings are integers; 3.5 or True are input errors, not values to round.
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError(f"score must be an integer 0-5, got {v!r}")
        return v

    def scores(self) -> dict[str, int]:
        return {d: getattr(self, d) for d in DIMENSIONS}
