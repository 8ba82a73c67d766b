"""``topics expand``: build or grow a hierarchy with the writer model.

Domains first, then categories per domain, then topics per category, each asked for in
batches and de-duplicated after case and space normalisation (across the whole hierarchy for
topics), stopping at the target counts. The hierarchy is saved after every category, so an
interrupted expansion keeps its work and a rerun with ``--from`` the same file continues it.

Example::

    h = await expand_hierarchy(models, Prompts(), domains=8, categories=65, topics=3500,
                               save=lambda h: write_hierarchy(h, Path("topics.yaml")))
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import yaml

from intersyn.data.journal import atomic_write_text
from intersyn.models.base import ChatMessage
from intersyn.models.gate import Models
from intersyn.seir.parse import json_object
from intersyn.seir.prompts import Prompts
from intersyn.seir.seeds import derive_seed
from intersyn.seir.topics import Category, Domain, Hierarchy, normalize

ITEMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {"type": "string"}}},
    "required": ["items"],
    "additionalProperties": False,
}
MAX_WORDS = 8
#: Calls in a row that add nothing before a node is given up (the model ran dry).
STALL_LIMIT = 3


def parse_items(text: str) -> list[str]:
    """``{"items": [...]}`` first, else one item per line (bullets and numbers stripped)."""
    obj = json_object(text)
    raw: list[Any]
    if obj is not None and isinstance(obj.get("items"), list):
        raw = obj["items"]
    else:
        raw = [re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", ln) for ln in text.splitlines()]
    out = []
    for item in raw:
        if not isinstance(item, str):
            continue
        clean = " ".join(item.strip().strip("\"'").split()).rstrip(".,;")
        if clean and len(clean.split()) <= MAX_WORDS:
            out.append(clean)
    return out


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible (first parts get the extra)."""
    base, extra = divmod(total, parts) if parts else (0, 0)
    return [base + (i < extra) for i in range(parts)]


def write_hierarchy(h: Hierarchy, path: Any) -> None:
    atomic_write_text(path, yaml.safe_dump(h.to_dict(), sort_keys=False, allow_unicode=True))


class Expander:
    def __init__(self, models: Models, prompts: Prompts, role: str = "writer", batch: int = 25):
        self.models = models
        self.prompts = prompts
        self.role = role
        self.batch = batch
        self.calls = 0

    async def ask(self, prompt: str, key: str, **variables: Any) -> list[str]:
        text = self.prompts.render(prompt, **variables)
        self.calls += 1
        reply = await self.models.chat(
            self.role,
            [ChatMessage("user", text)],
            schema=ITEMS_SCHEMA,
            seed=derive_seed("expand", key, variables.get("existing_count", 0), self.calls),
        )
        return parse_items(reply.text)

    async def grow(
        self, names: list[str], target: int, prompt: str, key: str, taken: set[str], **v: Any
    ) -> None:
        """Append new distinct names until ``target`` (or the model stops adding any)."""
        stalls = 0
        while len(names) < target and stalls < STALL_LIMIT:
            want = min(self.batch, target - len(names))
            got = await self.ask(
                prompt, key, count=want, existing=names[-60:], existing_count=len(names), **v
            )
            added = 0
            for item in got:
                k = normalize(item)
                if k in taken or len(names) >= target:
                    continue
                taken.add(k)
                names.append(item)
                added += 1
            stalls = 0 if added else stalls + 1


async def expand_hierarchy(
    models: Models,
    prompts: Prompts,
    *,
    base: Hierarchy | None = None,
    domains: int = 8,
    categories: int = 65,
    topics: int = 3500,
    save: Callable[[Hierarchy], None] | None = None,
    role: str = "writer",
) -> Hierarchy:
    """Grow ``base`` (or an empty hierarchy) towards the target counts; see module doc."""
    ex = Expander(models, prompts, role)
    h = base or Hierarchy([], source="<expand>")
    dnames = [d.name for d in h.domains]
    await ex.grow(dnames, domains, "topics_domains", "domains", {normalize(n) for n in dnames})
    by_name = {d.name: d for d in h.domains}
    h.domains = [by_name.get(n) or Domain(n, []) for n in dnames]

    for d, want in zip(h.domains, split(categories, len(h.domains)), strict=True):
        cnames = [c.name for c in d.categories]
        await ex.grow(
            cnames,
            want,
            "topics_categories",
            f"c/{d.name}",
            {normalize(n) for n in cnames},
            domain=d.name,
        )
        have = {c.name: c for c in d.categories}
        d.categories = [have.get(n) or Category(n, []) for n in cnames]

    cats = [(d, c) for d in h.domains for c in d.categories]
    taken = {normalize(t) for _, c in cats for t in c.topics}
    targets = split(topics, len(cats))

    async def fill(d: Domain, c: Category, want: int) -> None:
        await ex.grow(
            c.topics,
            want,
            "topics_topics",
            f"t/{d.name}/{c.name}",
            taken,
            domain=d.name,
            category=c.name,
        )
        h._leaves = None
        if save is not None:
            save(_without_empty(h))

    await asyncio.gather(*(fill(d, c, w) for (d, c), w in zip(cats, targets, strict=True)))
    result = _without_empty(h)
    if save is not None:
        save(result)
    return result


def _without_empty(h: Hierarchy) -> Hierarchy:
    domains = []
    for d in h.domains:
        cats = [Category(c.name, list(c.topics)) for c in d.categories if c.topics]
        if cats:
            domains.append(Domain(d.name, cats))
    return Hierarchy(domains, source=h.source)
