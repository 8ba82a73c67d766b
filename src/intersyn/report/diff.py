"""Word-level changes between a draft and its revision, for the refinement trace.

>>> [(s.op, s.text) for s in word_diff("a red fox", "a brown fox")]
[('equal', 'a '), ('delete', 'red'), ('insert', 'brown'), ('equal', ' fox')]
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

_TOKEN = re.compile(r"\s+|[^\s]+")


@dataclass(frozen=True)
class Segment:
    """A run of text that is unchanged (``equal``), removed (``delete``) or added (``insert``)."""

    op: str
    text: str


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def word_diff(old: str, new: str) -> list[Segment]:
    """Segments that turn ``old`` into ``new``, compared word by word (whitespace kept)."""
    a, b = _tokens(old), _tokens(new)
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    out: list[Segment] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            _push(out, "equal", "".join(a[i1:i2]))
            continue
        if tag in ("delete", "replace"):
            _push(out, "delete", "".join(a[i1:i2]))
        if tag in ("insert", "replace"):
            _push(out, "insert", "".join(b[j1:j2]))
    return out


def _push(out: list[Segment], op: str, text: str) -> None:
    if not text:
        return
    if out and out[-1].op == op:
        out[-1] = Segment(op, out[-1].text + text)
    else:
        out.append(Segment(op, text))


def side_by_side(old: str, new: str) -> tuple[list[Segment], list[Segment]]:
    """The draft with deletions marked and the revision with insertions marked."""
    segments = word_diff(old, new)
    left = [s for s in segments if s.op != "insert"]
    right = [s for s in segments if s.op != "delete"]
    return left, right
