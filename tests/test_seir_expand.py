"""`topics expand`: grow a hierarchy with the writer, de-duplicated, stopping at the targets."""

from __future__ import annotations

import json
from pathlib import Path

from intersyn.models.gate import Models
from intersyn.seir.expand import expand_hierarchy, parse_items, split, write_hierarchy
from intersyn.seir.prompts import Prompts
from intersyn.seir.topics import load_hierarchy, normalize
from tests.fixtures.seir.doubles import TOPICS, Call, ScriptedChat


def _writer(call: Call) -> str:
    text = call.user
    want = int(text.split("List ", 1)[1].split()[0])
    if "broad domains" in text:
        stem = "Domain"
    elif "categories within" in text:
        stem = text.split("Domain: ", 1)[1].split("\n")[0] + " group"
    else:
        stem = text.split("category: ", 1)[1].split("\n")[0] + " thing"
    # Every reply repeats one old name with other case/spacing, to exercise de-duplication.
    items = [f"{stem} {call.n}-{i}" for i in range(want)] + [f"  {stem.upper()}  {call.n}-0 "]
    return json.dumps({"items": items})


async def test_expand_reaches_targets_without_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "topics.yaml"
    saves: list[int] = []

    def save(h):  # type: ignore[no-untyped-def]
        saves.append(h.counts()["topics"])
        write_hierarchy(h, out)

    models = Models(chat={"writer": ScriptedChat(_writer)})
    h = await expand_hierarchy(models, Prompts(), domains=3, categories=7, topics=100, save=save)
    assert h.counts() == {"domains": 3, "categories": 7, "topics": 100}
    keys = [normalize(leaf.topic) for leaf in h.leaves()]
    assert len(keys) == len(set(keys))
    loaded = load_hierarchy(out)  # what was saved is a valid hierarchy file
    assert loaded.counts() == h.counts() and not loaded.duplicates
    assert len(saves) >= 7 and saves[-1] == 100


async def test_expand_grows_an_existing_hierarchy_and_stops_when_dry(tmp_path: Path) -> None:
    base = load_hierarchy(TOPICS)

    def dry(call: Call) -> str:  # a model that only repeats what exists
        return json.dumps({"items": ["Snowy owl", "snowy  owl", "Naan"]})

    writer = ScriptedChat(dry)
    h = await expand_hierarchy(
        Models(chat={"writer": writer}), Prompts(), base=base, domains=2, categories=3, topics=20
    )
    assert h.counts() == base.counts()  # nothing new, nothing lost
    assert len(writer.calls) <= 3 * 3  # three fruitless calls per category, then it gives up


def test_parse_items_and_split() -> None:
    assert parse_items('{"items": ["A", " b ", "", 3]}') == ["A", "b"]
    assert parse_items("1. Owls\n- Bees\n* " + "w " * 12) == ["Owls", "Bees"]
    assert split(65, 8) == [9, 8, 8, 8, 8, 8, 8, 8] and sum(split(3500, 65)) == 3500
