"""Topic hierarchy and template loading: counts, de-duplication, file+line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from intersyn.errors import ConfigError
from intersyn.seir.topics import load_hierarchy, load_templates, normalize
from tests.fixtures.seir.doubles import TEMPLATES, TOPICS

FIX = Path(__file__).parent / "fixtures" / "seir"


def test_small_hierarchy_counts_and_dedup() -> None:
    h = load_hierarchy(TOPICS)
    assert h.counts() == {"domains": 2, "categories": 3, "topics": 8}
    # "snowy   OWL" (line 9) duplicates "Snowy owl" after case/space normalisation.
    assert [(d.topic, d.line, d.first.topic) for d in h.duplicates] == [
        ("snowy OWL", 9, "Snowy owl")
    ]
    keys = [normalize(leaf.topic) for leaf in h.leaves()]
    assert len(keys) == len(set(keys))
    assert str(h.leaves()[0]) == "Animals / Birds / Red fox sparrow"


def test_templates_load_and_fill() -> None:
    t = load_templates(TEMPLATES)
    assert [x.id for x in t] == ["t001", "t002", "t003", "t004"]
    assert t.by_id("t002").form == "casual"
    assert t[0].fill("Naan") == "Explain Naan to me and draw it."


@pytest.mark.parametrize(
    ("name", "loader", "expected"),
    [
        ("topics_bad_missing_topics.yaml", load_hierarchy, ":6: category 'Birds' has no topics"),
        ("topics_bad_yaml.yaml", load_hierarchy, ":5: not valid YAML"),
        (
            "topics_bad_topic_type.yaml",
            load_hierarchy,
            ":8: a topic must be a non-empty string, got {'name': 'nested'}",
        ),
        ("templates_bad_slot.yaml", load_templates, ":6: template 't002' has no {topic} slot"),
        ("templates_bad_dup.yaml", load_templates, ":5: template id 'a' already used at line 3"),
    ],
)
def test_bad_files_name_file_and_line(name: str, loader, expected: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as e:
        loader(FIX / name)
    assert str(e.value).startswith(str(FIX / name))
    assert expected in str(e.value)


def test_missing_file_and_wrong_version(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_hierarchy(tmp_path / "nope.yaml")
    p = tmp_path / "v2.yaml"
    p.write_text("version: 2\ndomains: []\n")
    with pytest.raises(ConfigError, match=r"v2.yaml:1: unsupported version 2"):
        load_hierarchy(p)
    p.write_text(
        "version: 1\ndomains:\n  - name: A\n    categories:\n      - name: B\n        topic: [x]\n"
    )
    with pytest.raises(ConfigError, match=r":6: category: unknown key `topic`"):
        load_hierarchy(p)


def test_shipped_resources_load_with_the_paper_counts() -> None:
    h = load_hierarchy()
    assert h.counts() == {"domains": 8, "categories": 65, "topics": 3500}
    assert not h.duplicates
    assert len(load_templates()) >= 200
