"""Reading model replies: structured JSON first, tolerant text parsing next.

Every parser either returns what it found or raises :class:`ParseError` — none invents an
empty field, and a sample's text only ever comes from a completely parsed reply: a JSON reply
that is cut off or malformed, or text that still looks like one
(:func:`intersyn.textcheck.raw_reply_problem`), is a ParseError, never field text. Schemas
are sent with each request so servers that support constrained decoding (vLLM, SGLang,
llama.cpp, OpenAI) return valid JSON; the tolerant paths cover prose replies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from intersyn.errors import ParseError
from intersyn.textcheck import raw_reply_problem

QUESTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"question": {"type": "string"}},
    "required": ["question"],
    "additionalProperties": False,
}
CRITIQUE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ok": {"type": "boolean"},
        "suggestions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["ok", "suggestions"],
    "additionalProperties": False,
}
#: Caption first: a reply cut off by a token limit then still has its (short) caption whole.
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"caption": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["caption", "answer"],
    "additionalProperties": False,
}
CAPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"caption": {"type": "string"}},
    "required": ["caption"],
    "additionalProperties": False,
}

#: Free-text critiques that mean "nothing to change".
_APPROVALS = re.compile(
    r"^\W*(none|no\s+(changes?|suggestions?|issues?|problems?)(\s+needed)?|nothing(\s+to\s+"
    r"(change|improve|fix))?|n/?a|ok(ay)?|approved?|looks\s+good|lgtm|no\s+further\s+"
    r"(changes?|suggestions?))\W*$",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (bare, fenced, or embedded in prose), else None."""
    candidates = [text.strip(), *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for c in candidates:
        try:
            value = json.loads(c)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch != "{":
            continue
        try:
            value, _ = decoder.raw_decode(text[i:])
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.strip("“”").strip()


def _strip_label(text: str, labels: tuple[str, ...]) -> str:
    pattern = r"^\s*(?:\*\*|#+\s*)?(?:" + "|".join(labels) + r")\s*(?:\*\*)?\s*[:：-]\s*"
    return re.sub(pattern, "", text, count=1, flags=re.IGNORECASE)


def _plain(value: str, what: str) -> str:
    """``value`` as field text, or ParseError when it looks like a raw or cut JSON reply."""
    problem = raw_reply_problem(value)
    if problem is not None:
        raise ParseError(f"the {what} {problem}: {excerpt(value)}")
    return value


def field_text(text: str, key: str, labels: tuple[str, ...] = ()) -> str:
    """One string field: ``{"<key>": "..."}`` first, else the reply itself (label stripped).

    A reply that starts as JSON but does not parse (cut off, malformed) is a ParseError, as is
    a field whose text is itself a raw reply."""
    obj = json_object(text)
    if obj is not None and isinstance(obj.get(key), str):
        return _plain(_clean(obj[key]), key)
    if obj is not None:
        raise ParseError(f"the reply is JSON without a string {key!r} field: {excerpt(text)}")
    return _plain(_clean(_strip_label(text, (key, *labels))), "reply")


@dataclass
class Critique:
    """A critic's verdict: approved (nothing to change) or a list of suggestions.

    One rule (PAPER.md: the loop stops when the critic has no suggestion): suggestions mean
    "revise", so ``ok`` is True exactly when there are none. ``said_ok`` keeps the reply's
    own ``"ok"`` flag (None when it gave none), so a reply that says ``"ok": true`` while
    listing suggestions is recorded as what it was.
    """

    ok: bool
    suggestions: list[str] = field(default_factory=list)
    text: str = ""
    said_ok: bool | None = None


def _is_approval(s: str) -> bool:
    return bool(_APPROVALS.match(s.strip()))


#: The suggestion a "not ok" critique cut off before any suggestion stands for.
CUT_CRITIQUE = (
    "The review was cut off before its suggestions; improve the draft where it is weakest."
)
_OK_FLAG = re.compile(r'"ok"\s*:\s*(true|false)', re.IGNORECASE)
_SUGGESTIONS = re.compile(r'"suggestions"\s*:\s*\[')
_ITEM = re.compile(r'\s*,?\s*"((?:[^"\\]|\\.)*)("?)')


def partial_critique(text: str) -> dict[str, Any] | None:
    """A critique object cut off before its end (a reply stopped by max_tokens): its ``ok``
    flag and the suggestions written so far (the last one kept even if cut mid-sentence, so a
    "not ok" verdict never turns into an approval for lack of a closing quote)."""
    ok = _OK_FLAG.search(text)
    start = _SUGGESTIONS.search(text)
    if ok is None and start is None:
        return None
    out: dict[str, Any] = {}
    if ok is not None:
        out["ok"] = ok.group(1).lower() == "true"
    if start is not None:
        items: list[str] = []
        pos = start.end()
        while (m := _ITEM.match(text, pos)) is not None:
            raw, closed = m.group(1), m.group(2)
            try:
                items.append(json.loads('"' + raw + '"'))
            except json.JSONDecodeError:
                items.append(raw)
            if not closed:
                break
            pos = m.end()
        out["suggestions"] = items
    if out.get("ok") is False and not out.get("suggestions"):
        out["suggestions"] = [CUT_CRITIQUE]
    return out


def critique(text: str) -> Critique:
    """``{"ok", "suggestions"}`` first; free text next ("None", "nothing to change", bullets).

    The critic approves exactly when it lists nothing to change (``"ok": true`` beside
    suggestions is not an approval); suggestions that only say "none" are dropped. A JSON
    reply cut off by a token limit keeps what it said so far.
    """
    obj = json_object(text)
    if obj is None and text.lstrip().startswith("{"):
        obj = partial_critique(text)
    if obj is not None and ("ok" in obj or "suggestions" in obj):
        raw = obj.get("suggestions") or []
        if isinstance(raw, str):
            raw = [raw]
        items = [" ".join(str(s).split()) for s in raw if isinstance(s, str | int | float)]
        items = [s for s in items if s and not _is_approval(s)]
        ok_flag = obj.get("ok")
        said = ok_flag if isinstance(ok_flag, bool) else None
        return Critique(ok=not items, suggestions=items, text=text, said_ok=said)
    body = text.strip()
    if not body or _is_approval(body):
        return Critique(ok=True, suggestions=[], text=text)
    lines = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", ln).strip() for ln in body.splitlines()]
    items = [ln for ln in lines if ln and not _is_approval(ln)]
    if not items:
        return Critique(ok=True, suggestions=[], text=text)
    return Critique(ok=False, suggestions=items, text=text)


_SECTION = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(answer|response|text|caption|image\s+caption|image\s+prompt|image)"
    r"\s*(?:\*\*)?\s*[:：]\s*(?:\*\*)?",
    re.IGNORECASE | re.MULTILINE,
)


def answer_caption(text: str, *, allow_empty_caption: bool = False) -> tuple[str, str]:
    """Split an AR reply into (answer text, caption): JSON first, labelled sections next.

    Raises ParseError when either part is missing or empty (never a silently empty field).
    ``allow_empty_caption`` accepts an empty caption beside a real answer, for a caller that
    then asks for the caption on its own (AR does, and fails the sample if that fails too).
    """
    obj = json_object(text)
    if obj is not None:
        answer, caption = obj.get("answer"), obj.get("caption")
        if isinstance(answer, str) and isinstance(caption, str):
            answer, caption = _plain(answer.strip(), "answer"), _plain(_clean(caption), "caption")
            if answer and (caption or allow_empty_caption):
                return answer, caption
            missing = "answer" if not answer else "caption"
            raise ParseError(f"the reply's {missing} is empty")
    marks = list(_SECTION.finditer(text))
    parts: dict[str, str] = {}
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        label = m.group(1).lower()
        kind = "caption" if label.startswith(("caption", "image")) else "answer"
        parts.setdefault(kind, text[m.end() : end].strip())
    answer, caption = parts.get("answer", ""), _clean(parts.get("caption", ""))
    if "caption" in parts and "answer" not in parts and marks:
        answer = text[: marks[0].start()].strip()  # prose first, then "Caption: ..."
    if answer and caption:
        return _plain(answer, "answer"), _plain(caption, "caption")
    if not marks:
        raise ParseError(f"no answer/caption found in the reply: {excerpt(text)}")
    missing = "answer" if not answer else "caption"
    raise ParseError(f"the reply has no {missing}: {excerpt(text)}")


def excerpt(text: str, n: int = 160) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= n else flat[: n - 1] + "…")
