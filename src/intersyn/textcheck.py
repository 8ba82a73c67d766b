"""Checks on the *text* of a sample field that every layer shares: SEIR's rule checks, ``validate``
and ``curate`` call these, so one rule has one definition.

Each check returns ``None`` when the text is fine, else a short reason a person can read
("looks like raw JSON: starts with '{\"question\":'").

Example::

    raw_reply_problem('{"question": "question: full text pict')   # 'looks like a raw model reply ...'
    raw_reply_problem("Owls hunt at night.")                        # None
    is_refusal("As an AI language model, I cannot draw.")          # True
"""

from __future__ import annotations

import json
import re

_REFUSAL = re.compile(
    r"(\b(i|we)\s*(can\s*not|cannot|can['’]t|am\s+unable|['’]m\s+unable|am\s+not\s+able|"
    r"['’]m\s+not\s+able|do\s+not\s+have\s+the\s+ability|don['’]t\s+have\s+the\s+ability)\b"
    r"[^.!?\n]{0,60}\b(draw|create|generate|produce|make|render|show|provide|display|paint)\w*\b"
    r"[^.!?\n]{0,40}\b(image|images|picture|pictures|drawing|drawings|illustration|photo|"
    r"photos|visual|visuals)\b)"
    r"|\bas an ai (language )?model\b"
    r"|\bi['’]?m (sorry|afraid),? but i (can['’]?t|cannot)\b",
    re.IGNORECASE,
)

#: A JSON key as a model writes one: `"question":`, `'caption' :`, `"ok":`.
_JSON_KEY = re.compile(r"""["'][A-Za-z_][A-Za-z0-9_ ]{0,40}["']\s*:""")
#: The field names our own reply schemas use (and their close relatives): a text field that
#: contains one of them as a key is a reply that was stored instead of parsed.
_SCHEMA_KEY = re.compile(
    r"""["']?\b(question|answer|caption|suggestions|ok|tcc|icc|iq|its)\b["']?\s*:\s*["'\[{]""",
    re.IGNORECASE,
)


def is_refusal(text: str) -> bool:
    """True for replies such as "I can't draw images" or "As an AI model, ..."."""
    return bool(_REFUSAL.search(text))


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def raw_reply_problem(text: str) -> str | None:
    """Why ``text`` looks like a model reply stored as field text (raw or cut JSON), else None.

    Flags: text that starts like a JSON object or array (``{"…": …``, ``["…``), text that holds
    one of our reply schemas' keys (``"question": "…``), and text whose brackets or quotes open
    a JSON structure that never closes (a reply cut off by the token limit). Prose that merely
    mentions braces or a colon is not flagged.
    """
    s = text.strip()
    if not s:
        return None
    head = s[:40].replace("\n", " ")
    if s[0] in "{[" and (_JSON_KEY.search(s[:200]) or s[1:2] in ('"', "'", "{", "[")):
        state = "raw JSON" if _parses_as_json(s) else "a cut or malformed JSON reply"
        return f"looks like {state}: starts with {head!r}"
    m = _SCHEMA_KEY.search(s)
    if m:
        return f"looks like a raw model reply: holds the key {m.group(0).strip()!r}"
    if s.startswith("```"):
        return f"looks like a raw model reply in a code fence: starts with {head!r}"
    return None
