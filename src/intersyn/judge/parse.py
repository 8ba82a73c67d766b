"""The parse-safe contract: a judge's reply becomes four integers 0–5, or nothing.

A reply is read in two ways, and everything found must agree:

* **JSON objects** — the whole reply, a fenced block, or an object inside prose — whose keys
  name a dimension in either vocabulary (``tcc`` / "Text Content Completeness" / the public
  prompt's "Text Response Quality", …), with integer values 0–5 (``4``, ``"4"``, ``4.0``), or
  ``{"score": 4, ...}`` per dimension, or all of it under ``"scores"``.
* **Labelled scores** — a label at the start of a line (after list markers, headings, bold) or
  after ``,`` ``;`` ``|``, a separator, then the value: ``TCC: 4``, ``**Image Quality** = 4/5``,
  ``Text-Image Synergy - 4 (aligned)``, ``| ICC | 3 |``, a label line followed by ``Score: 4``,
  or a table with labels in its header row and values in the row below. A whole line in square
  brackets is read as the line inside them: the public SynJudge prompt's one-line format
  ``[Text Response Quality: 4; Image Response Quality: 3; Image Aesthetic Quality: 5;
  Text-Image Synergy: 2]`` (and the same with the paper's names).

The reply is **unparsed** — never turned into numbers — when any dimension is missing, any
labelled value is not a whole number 0–5 (``4.5``, ``6``, ``-1``, ``4/10``, ``3-4``, ``3 or 4``),
the same dimension gets two different values (two conflicting score blocks), one JSON object
names a dimension twice (``{"tcc": 4, …, "tcc": 1}``: JSON would silently keep the last), a
JSON object holding scores is malformed or cut off, or the reply was cut off
(``finish_reason=length``). An unclosed ``[`` line is not read.
Numbers that are not attached to a label are never read: ``4, 3, 5, 4`` is unparsed. A
reasoning model's closed ``<think>…</think>`` block is dropped before reading.

>>> parse_reply("TCC: 4\\nICC: 3\\nIQ: 5\\nITS: 4").scores
{'tcc': 4, 'icc': 3, 'iq': 5, 'its': 4}
>>> parse_reply("Scores: 4, 3, 5, 4").error
'no labelled score for tcc, icc, iq, its'
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from intersyn.schema import DIMENSIONS

#: JSON schema sent to servers that support constrained output.
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    # Only the four integers: constrained decoding then spends a handful of tokens, and a
    # small token budget never cuts a reply in the middle of a free-text field.
    "properties": {d: {"type": "integer", "minimum": 0, "maximum": 5} for d in DIMENSIONS},
    "required": list(DIMENSIONS),
    "additionalProperties": False,
}

#: Every name a dimension goes by: the paper's abbreviations and full names, and the public
#: SynJudge prompt's names. Words may be joined by spaces, hyphens, dashes or underscores.
ALIASES: dict[str, tuple[str, ...]] = {
    "tcc": ("tcc", "text content completeness", "text response quality"),
    "icc": ("icc", "image content completeness", "image response quality"),
    "iq": ("iq", "image quality", "image aesthetic quality"),
    # "Text-Image Consistency" is the name the public judge scripts read for the fourth score.
    "its": ("its", "image text synergy", "text image synergy", "text image consistency"),
}

_WORD_JOIN = r"[\s\-‐‑‒–—_/]+"


def _alias_pattern(alias: str) -> str:
    return _WORD_JOIN.join(re.escape(w) for w in alias.split())


_ALL_ALIASES = sorted(
    ((a, d) for d, names in ALIASES.items() for a in names), key=lambda x: -len(x[0])
)
_LABEL_RE = "|".join(_alias_pattern(a) for a, _ in _ALL_ALIASES)
# A label, an optional "(TCC)" / "(4/5)" part, an optional "score", a separator.
_SEGMENT = re.compile(
    rf"(?P<label>{_LABEL_RE})(?![\w])"
    r"(?:\s*\((?P<paren>[^()]{0,60})\))?"
    r"(?:\s+(?:score|rating))?"
    r"\s*(?P<sep>[:=：→]|[-–—](?=\s)|)\s*",
    re.IGNORECASE,
)
_NUMBER = r"[+-]?\d+(?:[.,]\d+)?"
_VALUE = re.compile(
    rf"(?:(?:score|rating)\s*[:=]?\s*)?[\[(]?\s*(?P<num>{_NUMBER})\s*[\])]?"
    r"(?:\s*(?:/|out\s+of)\s*(?P<den>\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
# After a value: another number joined by "or", "to", a dash or an arrow ("3-4", "3 or 4",
# "4 -> 5") makes the value ambiguous, so the reply is unparsed.
_AMBIGUOUS_TRAILER = re.compile(
    r"\s*(?:or|to|and|~|-|–|—|,|/|->|=>|→|⇒)\s*\d|\s*\d|\s*[.,]\d", re.IGNORECASE
)
_LINE_PREFIX = re.compile(
    r"^\s*(?:>\s*)*(?:#{1,6}\s*)?(?:[-+•*]\s+|\d{1,2}[.)]\s+|[a-d][.)]\s+)?", re.IGNORECASE
)
_SCORES_HEADER = re.compile(r"^(?:final\s+)?(?:scores?|ratings?)\s*[:\-–]?\s*", re.IGNORECASE)
_BOUNDARY = re.compile(r"[\s,;|.]*")
_THINK = re.compile(r"<think>.*?</think>", re.IGNORECASE | re.DOTALL)
# A whole line in square brackets (an optional full stop after): the public prompt's format.
_BRACKETED = re.compile(r"\[(?P<inner>[^\[\]]*)\]\s*\.?")


def normalize_label(text: str) -> str | None:
    """The dimension a label names (``"Image-Text Synergy (ITS)"`` → ``"its"``), else None."""
    m = _SEGMENT.fullmatch(text.strip())
    if m is None or m.group("sep"):
        return None
    return _label_dim(m)


def _dim_of(alias_text: str) -> str | None:
    key = re.sub(_WORD_JOIN, " ", alias_text.strip().lower()).strip()
    for d, names in ALIASES.items():
        if key in names:
            return d
    return None


def _label_dim(m: re.Match[str]) -> str | None:
    dim = _dim_of(m.group("label"))
    paren = m.group("paren")
    if dim is not None and paren is not None and _VALUE.fullmatch(paren.strip()) is None:
        other = _dim_of(paren)
        if other is not None and other != dim:
            return None  # "ICC (TCC)" names two dimensions: not a label
    return dim


@dataclass
class ParseResult:
    """Scores when the reply parsed, else the reason it did not."""

    scores: dict[str, int] | None
    error: str | None = None
    #: Where scores were found: "json", "labels" or both.
    sources: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.scores is not None


class _Found:
    """Values found for each dimension across the reply, and the first problem seen."""

    def __init__(self) -> None:
        self.values: dict[str, list[int]] = {d: [] for d in DIMENSIONS}
        self.problems: list[str] = []
        self.sources: list[str] = []

    def add(self, dim: str, value: int, source: str) -> None:
        self.values[dim].append(value)
        if source not in self.sources:
            self.sources.append(source)

    def bad(self, message: str) -> None:
        self.problems.append(message)

    def count(self) -> int:
        return sum(len(v) for v in self.values.values()) + len(self.problems)


def parse_reply(
    text: str | None,
    *,
    finish_reason: str | None = None,
    required: Iterable[str] = DIMENSIONS,
) -> ParseResult:
    """Parse a judge reply under the parse-safe contract (see the module docstring).

    ``required`` lists the dimensions that must be present (dimensions forced by a hard rule
    may be left out by the caller); values given for other dimensions must still be valid.
    """
    if text is None or not text.strip():
        return ParseResult(None, "empty reply")
    if finish_reason == "length":
        return ParseResult(None, "the reply was cut off (finish_reason=length)")
    text = _THINK.sub("", text)  # a reasoning model's scratchpad is not its answer
    if not text.strip():
        return ParseResult(None, "the reply holds only reasoning, no scores")
    found = _Found()
    _read_json(text, found)
    _read_labels(text, found)
    if found.problems:
        return ParseResult(None, found.problems[0], found.sources)
    result = _decide(found, tuple(required))
    if result.scores is not None:
        clash = _mention_conflict(text, result.scores)
        if clash:
            return ParseResult(None, clash, result.sources)
    return result


# A labelled score anywhere in the text, even mid-sentence. Never a *source* of scores (that
# would be scraping); only a check that the reply does not also state a different value.
_MENTION = re.compile(
    rf"(?<![\w])(?P<label>{_LABEL_RE})(?![\w])(?:\s*\([^()]{{0,60}}\))?"
    r"(?:\s+(?:score|rating))?\s*\**\s*[:=：→]\s*\**\s*(?P<num>\d+)(?![.,]?\d)",
    re.IGNORECASE,
)


def _mention_conflict(text: str, scores: dict[str, int]) -> str | None:
    for m in _MENTION.finditer(text.replace("**", "")):
        dim = _dim_of(m.group("label"))
        if dim is None or dim not in scores:
            continue
        if int(m.group("num")) != scores[dim]:
            return f"conflicting scores for {dim}: {scores[dim]} and {m.group('num')}"
    return None


def _decide(found: _Found, required: tuple[str, ...]) -> ParseResult:
    scores: dict[str, int] = {}
    for d in DIMENSIONS:
        values = set(found.values[d])
        if len(values) > 1:
            vals = ", ".join(str(v) for v in found.values[d])
            return ParseResult(None, f"conflicting scores for {d}: {vals}", found.sources)
        if values:
            scores[d] = values.pop()
    missing = [d for d in required if d not in scores]
    if missing:
        return ParseResult(None, f"no labelled score for {', '.join(missing)}", found.sources)
    return ParseResult(scores, None, found.sources)


# -- JSON ------------------------------------------------------------------------------------
_KEY_HINT = re.compile(rf"\"\s*(?:{_LABEL_RE})\s*(?:\([^\"]*\))?\s*\"\s*:", re.IGNORECASE)


class _Object(dict[str, Any]):
    """A decoded JSON object that remembers the keys it was given more than once."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    seen: set[str] = set()
    obj.repeated = []
    for key, _ in pairs:
        if key in seen:
            obj.repeated.append(key)
        seen.add(key)
    return obj


def _read_json(text: str, found: _Found) -> None:
    decoder = json.JSONDecoder(object_pairs_hook=_object)
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            close = text.find("}", i + 1)
            chunk = text[i : close + 1 if close != -1 else len(text)]
            if _KEY_HINT.search(chunk):
                found.bad("a JSON object with scores is malformed or cut off")
                return
            i = text.find("{", i + 1)
            continue
        if isinstance(obj, dict):
            _json_scores(obj, found)
        i = text.find("{", end)


def _json_scores(obj: dict[str, Any], found: _Found, depth: int = 0) -> None:
    named: dict[str, str] = {}  # dimension -> the key that named it in this object
    for key in getattr(obj, "repeated", ()):
        dim = normalize_label(key) or _dim_of(key)
        if dim is not None:
            found.bad(f"the JSON object gives the key {key!r} twice")
            return
    for key, value in obj.items():
        if not isinstance(key, str):
            continue
        dim = normalize_label(key) or _dim_of(key)
        if dim is None:
            if isinstance(value, dict) and depth == 0:
                _json_scores(value, found, depth + 1)  # {"scores": {...}}
            continue
        if dim in named:
            found.bad(f"the JSON object names {dim} twice ({named[dim]!r} and {key!r})")
            return
        named[dim] = key
        if isinstance(value, dict):
            value = next((value[k] for k in ("score", "value", "rating") if k in value), _MISSING)
        score = _json_value(value)
        if score is None:
            found.bad(f"{dim} value {value!r} is not a whole number 0-5")
        else:
            found.add(dim, score, "json")


_MISSING = object()


def _json_value(value: Any) -> int | None:
    if isinstance(value, bool) or value is _MISSING:
        return None
    if isinstance(value, str) and re.fullmatch(r"\s*\d\s*", value):
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and 0 <= value <= 5:
        return value
    return None


# -- labelled scores -------------------------------------------------------------------------
def _clean(line: str) -> str:
    line = line.replace("**", "").replace("__", "").replace("`", "").replace("*", "")
    line = _LINE_PREFIX.sub("", line, count=1).strip()
    m = _BRACKETED.fullmatch(line)
    if m is not None and _SEGMENT.match(m.group("inner").strip()):
        return m.group("inner").strip()  # "[TCC: 4; ICC: 3; …]" reads as "TCC: 4; ICC: 3; …"
    return line


def _read_labels(text: str, found: _Found) -> None:
    header: list[str | None] | None = None
    # A label alone on its line ("### Image Quality") waits for its value below: the next
    # line if it is only a value ("4/5"), or a later "Score: 4" line. Another label, a
    # heading or a table ends the wait, so "### Overall / Score: 3" is never taken for it.
    pending: str | None = None
    direct = False
    for raw in text.splitlines():
        line = _clean(raw)
        if not line:
            continue
        if line.startswith("|"):
            header = _table_row(line, header, found)
            pending = None
            continue
        header = None
        if pending is not None and _value_line(line, pending, found, direct=direct):
            pending = None
            continue
        before = found.count()
        lone = _line(line, found)
        if lone is not None:
            pending, direct = lone, True
        elif found.count() != before or _is_heading(raw, line):
            pending = None
        else:
            direct = False  # prose between the label and its "Score:" line


def _is_heading(raw: str, line: str) -> bool:
    stripped = raw.strip()
    bold_only = re.fullmatch(r"(\*\*|__)[^*_]+(\*\*|__)\s*:?", stripped) is not None
    return stripped.startswith("#") or bold_only or line.endswith(":")


def _line(line: str, found: _Found) -> str | None:
    """Read the labelled scores of one line; return a dimension whose value is on the next line."""
    pos = 0
    hm = _SCORES_HEADER.match(line)
    if hm and _SEGMENT.match(line, hm.end()):
        pos = hm.end()
    first = True
    while pos < len(line):
        m = _SEGMENT.match(line, pos)
        if m is None:
            return None
        dim = _label_dim(m)
        if dim is None:
            return None
        paren = (m.group("paren") or "").strip()
        if paren and _VALUE.fullmatch(paren):
            end = _take_value(paren, 0, dim, found)
            if end is None:
                return None
            pos = m.end()
        else:
            rest_at = m.end()
            if rest_at >= len(line):
                return dim if first else None
            if not m.group("sep") and not _bare_ok(m.group("label")):
                return None
            end = _take_value(line, rest_at, dim, found)
            if end is None:
                return None
            pos = end
        first = False
        b = _BOUNDARY.match(line, pos)
        nxt = b.end() if b else pos
        if nxt == pos and pos < len(line) and not line[pos - 1].isspace():
            return None
        pos = nxt
    return None


def _bare_ok(label: str) -> bool:
    """A label without a separator ("TCC 4") counts only as an upper-case abbreviation or a
    multi-word name, so English "its 4 legs" is never read as a score."""
    return label.isupper() or len(label.split()) > 1


def _take_value(s: str, at: int, dim: str, found: _Found) -> int | None:
    """Read the value at ``s[at:]``; record it or a problem. Returns the end index, or None
    when there is no number there (the line is prose, not a score)."""
    m = _VALUE.match(s, at)
    if m is None:
        return None
    num, den = m.group("num"), m.group("den")
    end = m.end()
    problem = None
    if den is not None and float(den) != 5:
        problem = f"{dim} is given as {num}/{den}, not on the 0-5 scale"
    elif not re.fullmatch(r"\d+(?:\.0+)?", num):
        problem = f"{dim} value {num} is not a whole number 0-5"
    elif not 0 <= int(float(num)) <= 5:
        problem = f"{dim} value {num} is outside 0-5"
    elif _AMBIGUOUS_TRAILER.match(s, end):
        problem = f"{dim} has an ambiguous value {s[m.start() :].strip()[:20]!r}"
    if problem:
        found.bad(problem)
    else:
        found.add(dim, int(float(num)), "labels")
    return end


def _value_line(line: str, dim: str, found: _Found, *, direct: bool) -> bool:
    """The value of a lone label: a ``Score: 4`` / ``Rating = 4 (reason)`` line, or — right
    under the label — a line that is only the value (``4``, ``4/5``, ``[4]``)."""
    m = re.match(r"(?:score|rating)\s*[:=：]?\s*", line, re.IGNORECASE)
    if m is not None:
        if not re.match(r"[\[(]?\s*[+-]?\d", line[m.end() :]):
            return False
        return _take_value(line, m.end(), dim, found) is not None
    v = _VALUE.fullmatch(line.rstrip(" ."))
    if not direct or v is None:
        return False
    return _take_value(line, 0, dim, found) is not None


def _table_row(
    line: str, header: list[str | None] | None, found: _Found
) -> list[str | None] | None:
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if all(re.fullmatch(r":?-{2,}:?", c) or not c for c in cells):
        return header  # the |---|---| separator keeps the header
    labels = [normalize_label(c) if c else None for c in cells]
    if header is not None and any(header):
        for dim, cell in zip(header, cells, strict=False):
            if dim is not None and _VALUE.fullmatch(cell):
                _take_value(cell, 0, dim, found)
        return None
    if sum(1 for d in labels if d) >= 2 and all(
        d or not c for d, c in zip(labels, cells, strict=False)
    ):
        return labels  # labels across the header: values in the next row
    dim = labels[0] if labels else None
    if dim is not None and len(cells) > 1 and re.match(r"[\[(]?\s*[+-]?\d", cells[1]):
        end = _take_value(cells[1], 0, dim, found)
        if end is not None and cells[1][end:].strip():
            found.bad(f"{dim} has an ambiguous value {cells[1]!r}")
    return None
