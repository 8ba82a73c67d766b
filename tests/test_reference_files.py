"""The authors' own files: their flat topic list and template list in (`generate`, `topics
show/stats/place`), their judge's score lines in (`import-scores`), their prompt by choice.

The lists under tests/fixtures/reference/ are the reference code's published inputs, used
here as test inputs only (see the README there)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from intersyn.cli import cli
from intersyn.data.store import RunStore
from intersyn.errors import ConfigError
from intersyn.seir.topics import (
    LAYOUT_LIST,
    LAYOUT_YAML,
    UNKNOWN,
    load_hierarchy,
    load_templates,
    slot_problem,
)
from intersyn.testing.server import ScriptedServer
from tests.test_seir_e2e import _config as _generate_config

REF = Path(__file__).parent / "fixtures" / "reference"
OBJECTS = REF / "object.json"
TEMPLATES = REF / "ques_temp.json"


# -- their topic list -----------------------------------------------------------------------


def test_authors_topic_list_is_read_under_unknown_with_its_duplicates_named() -> None:
    h = load_hierarchy(OBJECTS)
    assert h.layout == LAYOUT_LIST
    assert h.counts() == {"domains": 1, "categories": 1, "topics": 3496}
    leaf = h.leaves()[0]
    assert (leaf.domain, leaf.category, leaf.topic) == (UNKNOWN, UNKNOWN, "Panda")
    # Five names repeat another one up to case ("Hot Air Balloon" / "Hot air balloon").
    assert [(d.line, d.topic, d.first.topic) for d in h.duplicates] == [
        (3231, "Hot Air Balloon", "Hot air balloon"),
        (3234, "High-speed Rail", "High-speed rail"),
        (3240, "Cruise Ship", "Cruise ship"),
        (3247, "Balance Car", "Balance car"),
        (3249, "Recreational Vehicle (RV)", "Recreational vehicle (RV)"),
    ]
    assert not h.left_out


def test_authors_templates_are_read_with_their_slot_and_the_unusable_ones_named() -> None:
    t = load_templates(TEMPLATES)
    assert t.layout == LAYOUT_LIST and len(t) == 45
    assert t[0].id == "r001" and t[0].fill("Panda") == (
        "Do you know Panda? Can you draw a picture of it for me?"
    )
    # "***" twice is one slot used twice.
    assert t.by_id("r012").fill("Koi") == (
        "Can you draw a picture of Koi? Besides, can you give me some popular science "
        "knowledge about Koi?"
    )
    assert [(x.line, x.reason.split(";")[0]) for x in t.left_out] == [
        (15, "no slot (** is not a slot)"),
        (18, "two slots, *** and ** (a blank no topic fills)"),
        (27, "two slots, *** and ** (a blank no topic fills)"),
        (29, "two slots, *** and ** (a blank no topic fills)"),
        (32, "no slot (** is not a slot)"),
        (33, "two slots, *** and ** (a blank no topic fills)"),
        (34, "two slots, *** and ** (a blank no topic fills)"),
    ]


def test_the_shipped_yaml_files_keep_their_layout() -> None:
    assert load_hierarchy().layout == LAYOUT_YAML and load_templates().layout == LAYOUT_YAML


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Tell me about *** and draw it.", None),
        ("Tell me about {topic}, then draw {topic}.", None),
        ("Tell me about it and draw it.", "no slot"),
        ("Tell me about *** and {topic}.", "two slots, *** and {topic}"),
        ("Tell me about {topic} in the ** of **.", "two slots, {topic} and **"),
        ("Tell me about **** and draw it.", "no slot (**** is not a slot)"),
    ],
)
def test_a_template_needs_exactly_one_kind_of_slot(text: str, problem: str | None) -> None:
    got = slot_problem(text)
    assert got == problem if problem is None else (got or "").startswith(problem)


def test_flat_yaml_list_and_tab_indented_json_keep_their_lines(tmp_path: Path) -> None:
    y = tmp_path / "topics.yaml"
    y.write_text("# my topics\n- Panda\n- ''\n- 12\n- panda\n- Red fox\n", encoding="utf-8")
    h = load_hierarchy(y)
    assert [leaf.topic for leaf in h.leaves()] == ["Panda", "Red fox"]
    assert [(x.line, x.reason) for x in h.left_out] == [
        (3, "the topic is empty"),
        (4, "the topic is not text: 12"),
    ]
    assert [(d.line, d.topic) for d in h.duplicates] == [(5, "panda")]
    j = tmp_path / "templates.json"  # tabs: not YAML, still JSON
    j.write_text('[\n\t"Show me ***.",\n\t"No slot here.",\n\t"Draw \\/ ***"\n]\n')
    t = load_templates(j)
    assert [x.id for x in t] == ["r001", "r003"] and t[1].fill("X") == "Draw / X"
    assert [(x.line, x.reason.split(";")[0]) for x in t.left_out] == [(3, "no slot")]


@pytest.mark.parametrize(
    ("content", "loader", "message"),
    [
        (
            '["", "  "]',
            load_hierarchy,
            ":1: the list holds no usable topic name: line 1: the topic",
        ),
        ("- a\n- b\n", load_templates, ":1: the list holds no usable template: line 1: no slot"),
        ("[]", load_hierarchy, ":1: the list holds no usable topic name"),
        ('{"Animals": ["Panda"]}', load_hierarchy, "or a flat list of topics"),
        ("[1, 2", load_hierarchy, "not valid"),
    ],
)
def test_unusable_lists_are_errors_naming_the_file(
    tmp_path: Path,
    content: str,
    loader: Any,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    p = tmp_path / "list.json"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        loader(p)
    assert str(e.value).startswith(str(p)) and message in str(e.value)


def test_templates_repeated_in_a_list_are_left_out(tmp_path: Path) -> None:
    p = tmp_path / "t.json"
    p.write_text(json.dumps(["Show me ***.", "show  me ***.", "Draw ***."]), encoding="utf-8")
    t = load_templates(p)
    assert [x.id for x in t] == ["r001", "r003"]
    assert t.left_out[0].reason == "repeats the template of line 1"


def test_topics_show_and_stats_read_the_authors_lists() -> None:
    res = CliRunner().invoke(cli, ["topics", "show", "--path", str(OBJECTS), "--limit", "3"])
    assert res.exit_code == 0, res.output
    assert "a flat list of topics" in res.output
    assert "unknown (3496): Panda, Snow Leopard, Black Bear, … (+3493)" in res.output
    res = CliRunner().invoke(
        cli, ["topics", "stats", "--path", str(OBJECTS), "--templates", str(TEMPLATES)]
    )
    assert res.exit_code == 0, res.output
    assert "5 duplicate topics dropped" in res.output and "line 3231" in res.output
    assert "45 templates (list)" in res.output and "7 templates left out" in res.output
    assert "line 15:" in res.output


# -- generate on their files ----------------------------------------------------------------


def test_generate_on_the_authors_topics_and_templates(tmp_path: Path) -> None:
    with ScriptedServer() as srv:
        cfg = _generate_config(tmp_path, srv.base_url)
        run = tmp_path / "run"
        args = ["generate", "-c", str(cfg), "-o", str(run), "-n", "6", "--turns", "1-2"]
        args += ["--k", "1", "--no-progress", "--topics", str(OBJECTS)]
        res = CliRunner().invoke(cli, [*args, "--templates", str(TEMPLATES)])
        assert res.exit_code == 0, res.output
    assert f"{OBJECTS}: topics read as a flat list" in res.output
    assert f"{TEMPLATES}:15: template" in res.output and "left out" in res.output
    meta = json.loads((run / "run.json").read_text())
    resources = meta["resources"]
    assert resources["layouts"] == {"topics": "list", "templates": "list"}
    assert resources["topics"] == str(OBJECTS) and resources["templates"] == str(TEMPLATES)
    assert resources["counts"]["topics"] == 3496
    assert resources["left_out"]["topics"]["count"] == 5
    left = resources["left_out"]["templates"]
    assert left["count"] == 7 and [x["line"] for x in left["entries"]][:2] == [15, 18]
    names = {leaf.topic for leaf in load_hierarchy(OBJECTS).leaves()}
    ids = {x.id for x in load_templates(TEMPLATES)}
    samples = list(RunStore(run).iter_samples())
    assert len(samples) == 6
    for s in samples:
        assert s.topic.domain == UNKNOWN and s.topic.topic in names
        assert s.template in ids
        assert all(t.question and t.answer and t.image is not None for t in s.turns)


# -- topics place ---------------------------------------------------------------------------


def _truth(n: int) -> dict[str, str]:
    """``n`` topics of the shipped hierarchy and the `Domain / Category` each belongs to."""
    leaves = load_hierarchy().leaves()
    step = len(leaves) // n
    return {leaf.topic: f"{leaf.domain} / {leaf.category}" for leaf in leaves[::step][:n]}


def _placing_model(truth: dict[str, str], unsure: set[str]) -> Any:
    """A scripted writer that knows where each topic belongs: "none of these" for the topics in
    ``unsure``, a name outside the list for one topic, and junk for the batch holding it."""

    def respond(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        if not isinstance(text, str):
            text = " ".join(p.get("text", "") for p in text)
        topics = re.findall(r"^(\d+)\. (.+)$", text.split("Topics:", 1)[1], re.MULTILINE)
        names = [name for _, name in topics]
        if "JUNK" in names:
            return "I would rather not."
        answer = {}
        for number, name in topics:
            if name in unsure:
                answer[number] = "none of these"
            elif name == "ODD":
                answer[number] = "Animals / Dragons"
            else:
                answer[number] = truth[name]
        return json.dumps(answer)

    return respond


def test_topics_place_groups_200_topics_and_records_what_it_could_not_place(
    tmp_path: Path,
) -> None:
    truth = _truth(197)
    names = list(truth)
    unsure = set(names[5:8])
    topics = [*names[:50], "ODD", *names[50:]]
    topics.insert(119, "JUNK")  # its batch (topics 101-120) gets an unreadable reply
    topics.insert(150, "")  # left out by the loader, named with its line
    listed = tmp_path / "object.json"
    listed.write_text(json.dumps(topics, indent=2), encoding="utf-8")
    assert len(load_hierarchy(listed).leaves()) == 199
    with ScriptedServer(responder=_placing_model(truth, unsure)) as srv:
        cfg = _generate_config(tmp_path, srv.base_url)
        out = tmp_path / "placed.yaml"
        args = ["topics", "place", str(listed), "-c", str(cfg), "-o", str(out)]
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
        requests = list(srv.requests)
    assert len(requests) == 10  # 199 topics in batches of 20
    schema = requests[0]["response_format"]["json_schema"]["schema"]
    labels = schema["properties"]["1"]["enum"]
    assert len(labels) == 66 and labels[-1] == "none of these"  # 65 categories + none
    assert "Animals / Dragons" not in labels and set(schema["required"]) == {
        str(i) for i in range(1, 21)
    }
    assert "line 152: the topic is empty, left out" in res.output
    placed = load_hierarchy(out)  # a valid hierarchy file
    got = {leaf.topic: f"{leaf.domain} / {leaf.category}" for leaf in placed.leaves()}
    assert sorted(got) == sorted([*names, "ODD", "JUNK"])  # no topic lost
    loaded = [leaf.topic for leaf in load_hierarchy(listed).leaves()]
    batch_6 = set(loaded[100:120]) - {"JUNK"}
    assert "JUNK" in loaded[100:120]
    for name, where in got.items():
        if name in unsure or name in batch_6 or name in ("ODD", "JUNK"):
            assert where == "unknown / unknown", name
        else:
            assert where == truth[name], name
    report = json.loads((tmp_path / "placed.yaml.place.json").read_text())
    reasons = {u["topic"]: u["reason"] for u in report["unplaced"]}
    assert report["placed"] == 197 - len(unsure) - len(batch_6)
    assert report["unplaced_count"] == len(reasons) == len(unsure) + len(batch_6) + 2
    assert all(reasons[n] == "the model found no category for it" for n in unsure)
    assert reasons["ODD"] == "the reply names no category of the hierarchy: 'Animals / Dragons'"
    assert reasons["JUNK"].startswith("the reply is not a JSON object")
    assert f"{len(reasons)} not placed" in res.output

    # Inputs are sacred; an existing --out needs --overwrite.
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and "exists; choose another --out or pass --overwrite" in res.output
    res = CliRunner().invoke(cli, [*args[:-1], str(listed), "--overwrite"])
    assert res.exit_code == 2 and "is one of the inputs" in res.output
    assert json.loads(listed.read_text()) == topics


def test_topics_place_into_a_given_hierarchy(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    target.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "domains": [
                    {"name": "Nature", "categories": [{"name": "Birds", "topics": ["Owl"]}]},
                    {"name": "Food", "categories": [{"name": "Bread", "topics": ["Naan"]}]},
                ],
            }
        )
    )
    listed = tmp_path / "t.yaml"
    listed.write_text("- Robin\n- Bagel\n- Stapler\n")
    truth = {"Robin": "Nature / Birds", "Bagel": "Food / Bread"}
    with ScriptedServer(responder=_placing_model(truth, {"Stapler"})) as srv:
        cfg = _generate_config(tmp_path, srv.base_url)
        out = tmp_path / "placed.yaml"
        args = ["topics", "place", str(listed), "-c", str(cfg), "-o", str(out)]
        res = CliRunner().invoke(cli, [*args, "--hierarchy", str(target)])
        assert res.exit_code == 0, res.output
    placed = yaml.safe_load(out.read_text())
    assert placed["domains"] == [
        {"name": "Nature", "categories": [{"name": "Birds", "topics": ["Robin"]}]},
        {"name": "Food", "categories": [{"name": "Bread", "topics": ["Bagel"]}]},
        {"name": "unknown", "categories": [{"name": "unknown", "topics": ["Stapler"]}]},
    ]
    assert "2 of 3 topics placed in 2 categories (1 calls)" in res.output
