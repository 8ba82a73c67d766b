"""Make a valid instance of a JSON schema, deterministically from a seed.

The scripted server answers a structured request with such an instance, so every flow that
asks for JSON (SEIR's critiques, SynJudge's scores) runs end to end without a model. It covers
the schema keywords those flows use: ``type`` (one or a list), ``properties``/``required``,
``items``/``minItems``/``maxItems``, ``enum``/``const``, ``minimum``/``maximum`` (and the
exclusive forms), ``minLength``/``maxLength``, ``anyOf``/``oneOf``/``allOf`` and local
``$ref`` into ``$defs``/``definitions``.

>>> schema_instance({"type": "object", "properties": {"score": {"type": "integer",
...     "minimum": 0, "maximum": 5}}, "required": ["score"]}, seed=1)["score"] in range(6)
True
"""

from __future__ import annotations

import random
from typing import Any

_WORDS = [
    "clear",
    "answer",
    "with",
    "a",
    "concrete",
    "example",
    "that",
    "covers",
    "the",
    "question",
    "in",
    "full",
    "and",
    "keeps",
    "text",
    "and",
    "picture",
    "consistent",
    "with",
    "each",
    "other",
]


def schema_instance(schema: dict[str, Any], *, seed: int = 0) -> Any:
    """A value that validates against ``schema``; the same (schema, seed) gives the same value."""
    return _Maker(schema, random.Random(seed)).make(schema, "value", 0)


class _Maker:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = self.root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = {k: v for k, v in node.items() if k != "$ref"}
        return {**self.resolve(target), **merged}

    def make(self, node: Any, name: str, depth: int) -> Any:
        if not isinstance(node, dict):
            return "value"
        node = self.resolve(node)
        if "const" in node:
            return node["const"]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return self.rng.choice(node["enum"])
        for key in ("anyOf", "oneOf"):
            options = node.get(key)
            if isinstance(options, list) and options:
                # Prefer a non-null option so downstream code sees real content.
                real = [o for o in options if self.resolve(o).get("type") != "null"] or options
                return self.make(real[0], name, depth)
        if isinstance(node.get("allOf"), list):
            combined: dict[str, Any] = {}
            for part in node["allOf"]:
                part = self.resolve(part)
                for k, v in part.items():
                    if k in ("properties",) and k in combined:
                        combined[k] = {**combined[k], **v}
                    elif k == "required" and k in combined:
                        combined[k] = [*combined[k], *v]
                    else:
                        combined[k] = v
            return self.make(combined, name, depth)
        kind = node.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"] or kind
            kind = kinds[0] if kinds else None
        if kind is None:
            kind = "object" if "properties" in node else "string"
        return getattr(self, f"_{kind}", self._string)(node, name, depth)

    def _object(self, node: dict[str, Any], name: str, depth: int) -> dict[str, Any]:
        props = node.get("properties") or {}
        return {key: self.make(sub, key, depth + 1) for key, sub in props.items()}

    def _array(self, node: dict[str, Any], name: str, depth: int) -> list[Any]:
        lo = int(node.get("minItems", 0))
        hi = int(node.get("maxItems", max(lo, 3)))
        n = max(lo, min(hi, self.rng.randint(1, 3) if depth < 4 else lo))
        items = node.get("items", {"type": "string"})
        return [self.make(items, name, depth + 1) for _ in range(n)]

    def _integer(self, node: dict[str, Any], name: str, depth: int) -> int:
        lo, hi = _bounds(node, integer=True)
        return self.rng.randint(lo, hi)

    def _number(self, node: dict[str, Any], name: str, depth: int) -> float:
        lo, hi = _bounds(node, integer=False)
        return round(self.rng.uniform(lo, hi), 3)

    def _boolean(self, node: dict[str, Any], name: str, depth: int) -> bool:
        return self.rng.random() < 0.5

    def _null(self, node: dict[str, Any], name: str, depth: int) -> None:
        return None

    def _string(self, node: dict[str, Any], name: str, depth: int) -> str:
        lo = int(node.get("minLength", 0))
        hi = int(node.get("maxLength", 10_000))
        words = [self.rng.choice(_WORDS) for _ in range(self.rng.randint(4, 12))]
        text = f"{name.replace('_', ' ')}: {' '.join(words)}"
        while len(text) < lo:
            text += " " + self.rng.choice(_WORDS)
        return text[:hi] if hi >= lo else text[:lo]


def _bounds(node: dict[str, Any], *, integer: bool) -> tuple[Any, Any]:
    step = 1 if integer else 1e-6
    lo = node.get("minimum", 0)
    hi = node.get("maximum", max(lo, 0) + 100)
    if "exclusiveMinimum" in node and not isinstance(node["exclusiveMinimum"], bool):
        lo = node["exclusiveMinimum"] + step
    if "exclusiveMaximum" in node and not isinstance(node["exclusiveMaximum"], bool):
        hi = node["exclusiveMaximum"] - step
    if integer:
        import math

        lo, hi = math.ceil(lo), math.floor(hi)
    return lo, max(lo, hi)
