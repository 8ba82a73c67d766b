"""``topics place``: group a flat list of topics into the categories of a hierarchy.

A flat list (the reference code's ``object.json``) has no domains or categories, so intersyn
reads it under one ``unknown`` domain and category. ``place_topics`` asks the writer model to
put each topic into one category of a given hierarchy (the shipped one by default): topics go
in numbered batches, and the reply is constrained by a JSON schema whose every field is an
enum of the hierarchy's ``Domain / Category`` names plus ``none of these``. Nothing is
guessed: a topic the model calls ``none of these``, a value outside the list, a reply that is
cut off, unreadable or never came stays unplaced, with the reason; the result keeps such
topics under ``unknown`` / ``unknown``, so no topic is lost.

Example::

    placed = await place_topics(models, Prompts(), load_hierarchy("object.json"),
                                load_hierarchy())
    placed.hierarchy.counts(); placed.unplaced[:3]
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from intersyn.errors import ModelError
from intersyn.models.base import ChatMessage
from intersyn.models.gate import Models
from intersyn.seir.parse import json_object
from intersyn.seir.prompts import Prompts
from intersyn.seir.seeds import derive_seed
from intersyn.seir.topics import UNKNOWN, Category, Domain, Hierarchy

#: The answer for a topic that fits no category of the hierarchy.
NONE_OF_THESE = "none of these"
#: Topics per request: enough to keep the calls few, few enough that a reply stays short.
BATCH = 20
#: The prompt template (``resources/prompts/topics_place.j2``).
PROMPT = "topics_place"


def category_labels(h: Hierarchy) -> list[str]:
    """Every category of ``h`` as ``"Domain / Category"``, in file order."""
    return [f"{d.name} / {c.name}" for d in h.domains for c in d.categories]


def place_schema(n: int, labels: Sequence[str]) -> dict[str, Any]:
    """The reply schema for ``n`` numbered topics: each an enum of ``labels`` + none."""
    choice = {"type": "string", "enum": [*labels, NONE_OF_THESE]}
    keys = [str(i) for i in range(1, n + 1)]
    return {
        "type": "object",
        "properties": dict.fromkeys(keys, choice),
        "required": keys,
        "additionalProperties": False,
    }


@dataclass(frozen=True)
class Unplaced:
    """A topic the model did not place, and why."""

    topic: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"topic": self.topic, "reason": self.reason}


@dataclass
class Placement:
    """The grouped hierarchy (unplaced topics under ``unknown`` / ``unknown``), what could
    not be placed, and how many calls it took."""

    hierarchy: Hierarchy
    unplaced: list[Unplaced] = field(default_factory=list)
    calls: int = 0

    @property
    def placed(self) -> int:
        return self.hierarchy.counts()["topics"] - len(self.unplaced)

    def report(self) -> dict[str, Any]:
        """What ``topics place`` writes beside the hierarchy: counts per category, unplaced."""
        per_category = {
            f"{d.name} / {c.name}": len(c.topics)
            for d in self.hierarchy.domains
            for c in d.categories
        }
        return {
            "placed": self.placed,
            "unplaced_count": len(self.unplaced),
            "calls": self.calls,
            "per_category": per_category,
            "unplaced": [u.to_json() for u in self.unplaced],
        }


async def place_topics(
    models: Models,
    prompts: Prompts,
    topics: Hierarchy,
    target: Hierarchy,
    *,
    batch: int = BATCH,
    role: str = "writer",
) -> Placement:
    """Place every topic of ``topics`` into a category of ``target``; see the module doc."""
    names = [leaf.topic for leaf in topics.leaves()]
    labels = category_labels(target)
    batches = [names[i : i + batch] for i in range(0, len(names), batch)]
    answers = await asyncio.gather(
        *(_ask(models, prompts, role, labels, b, i) for i, b in enumerate(batches))
    )
    chosen: dict[str, list[str]] = {label: [] for label in labels}
    unplaced: list[Unplaced] = []
    for group, answer in zip(batches, answers, strict=True):
        for topic, (label, reason) in zip(group, answer, strict=True):
            if label is None:
                unplaced.append(Unplaced(topic, reason))
            else:
                chosen[label].append(topic)
    domains: list[Domain] = []
    for d in target.domains:
        cats = [
            Category(c.name, chosen[f"{d.name} / {c.name}"])
            for c in d.categories
            if chosen[f"{d.name} / {c.name}"]
        ]
        if cats:
            domains.append(Domain(d.name, cats))
    if unplaced:
        domains.append(Domain(UNKNOWN, [Category(UNKNOWN, [u.topic for u in unplaced])]))
    placed = Hierarchy(domains, source=f"<placed from {topics.source}>")
    return Placement(placed, unplaced, calls=len(batches))


Answer = list[tuple[str | None, str]]


async def _ask(
    models: Models, prompts: Prompts, role: str, labels: list[str], topics: list[str], i: int
) -> Answer:
    """One batch: a category label per topic, or None and the reason."""
    text = prompts.render(PROMPT, categories=labels, topics=topics, none_label=NONE_OF_THESE)
    try:
        reply = await models.chat(
            role,
            [ChatMessage("user", text)],
            schema=place_schema(len(topics), labels),
            seed=derive_seed("place", i, *topics),
        )
    except ModelError as e:  # retries spent: these topics stay unplaced; a budget stop is not
        return [(None, f"the call failed: {e}")] * len(topics)
    if reply.finish_reason == "length":
        return [(None, "the reply was cut off (finish_reason=length)")] * len(topics)
    obj = json_object(reply.text)
    if obj is None:
        return [(None, f"the reply is not a JSON object: {reply.text[:60]!r}")] * len(topics)
    allowed = set(labels)
    out: Answer = []
    for n, _topic in enumerate(topics, start=1):
        value = obj.get(str(n))
        if value == NONE_OF_THESE:
            out.append((None, "the model found no category for it"))
        elif isinstance(value, str) and value in allowed:
            out.append((value, ""))
        elif value is None:
            out.append((None, f"the reply has no answer for topic {n}"))
        else:
            out.append((None, f"the reply names no category of the hierarchy: {value!r}"))
    return out
