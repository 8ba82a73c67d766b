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
    assert res.exit_code == 1 and "already exists; choose another file or pass --overwrite" in (
        res.output
    )
    res = CliRunner().invoke(cli, [*args[:-1], str(listed), "--overwrite"])
    assert res.exit_code == 1 and "never writes over" in res.output
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


# -- the reference judge's score lines ------------------------------------------------------

#: (id, labels) as the reference judge scripts write them; -1s where their parser failed.
LABELS: list[tuple[str, Any]] = [
    ("q01", [4, 3, 5, 2]),
    ("q02", [5, 5, 4, 4]),
    ("q03", [-1, -1, -1, -1]),
    ("q04", [2, 0, 0, 0]),
    ("q05", [3, -1, 4, 2]),
    ("q06", None),
    ("q07", [1, 2, 3, 1]),
]


def _answers(folder: Path, n: int = 8) -> Path:
    """An answers JSONL in the public judge scripts' input layout ({id, question, answer, image})."""
    from tests.test_judge_runner import png

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.png").write_bytes(png("blue"))
    path = folder / "model_answer.jsonl"
    rows = [
        {
            "id": f"q{i:02d}",
            "question": f"Tell me about item {i} and draw it.",
            "answer": "Text.",
            "image": "a.png",
        }
        for i in range(1, n + 1)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _scores(path: Path, answers: Path, labels: list[tuple[str, Any]] = LABELS) -> Path:
    """The score file the reference scripts write: each answers line plus its `labels`."""
    rows = {r["id"]: r for r in map(json.loads, answers.read_text().splitlines())}
    lines = [json.dumps({**rows[i], "labels": lab}, ensure_ascii=False) for i, lab in labels]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _import(*args: str) -> Any:
    return CliRunner().invoke(cli, ["import-scores", *args])


def test_import_scores_counts_minus_one_as_unparsed_and_never_averages_it(tmp_path: Path) -> None:
    from intersyn.judge.store import load_set

    answers = _answers(tmp_path / "in")
    scores = _scores(tmp_path / "gpt4o_judge.jsonl", answers)
    out = tmp_path / "j-gpt4o"
    res = _import(
        str(scores), "--dataset", str(answers), "--out", str(out), "--judge-model", "gpt-4o"
    )
    assert res.exit_code == 0, res.output
    assert "4 scored, 3 unparsed (left out of every mean); 1 items of" in res.output
    js = load_set(out)
    assert js.info is not None and js.info.judge_model == "gpt-4o"
    assert js.info.imported_from == str(scores) and js.info.rubric == "reference-prompt@1"
    by_id = {j.sample_id: j for j in js.judgements}
    assert by_id["q01"].scores() == {"tcc": 4, "icc": 3, "iq": 5, "its": 2}
    assert by_id["q01"].status == "ok" and by_id["q01"].raw == ["[4, 3, 5, 2]"]
    for sid in ("q03", "q05", "q06"):
        j = by_id[sid]
        assert j.status == "unparsed" and j.scores() == dict.fromkeys(("tcc", "icc", "iq", "its"))
    assert "could not be parsed" in (by_id["q05"].error or "")
    assert by_id["q06"].error == "no labels on the line"
    res = CliRunner().invoke(cli, ["summary", str(out), "--json", str(tmp_path / "s.json")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n_unparsed"] == 3 and summary["n_ok"] == 4
    ok = [lab for _, lab in LABELS if lab is not None and -1 not in lab]
    for k, d in enumerate(("tcc", "icc", "iq", "its")):
        assert summary["dimensions"][d]["mean"] == pytest.approx(sum(x[k] for x in ok) / len(ok))
        assert summary["dimensions"][d]["n"] == 4


def test_imported_scores_sit_beside_another_judge_in_agree_report_and_leaderboard(
    tmp_path: Path,
) -> None:
    answers = _answers(tmp_path / "in")
    ref = _scores(tmp_path / "qwen_judge.jsonl", answers)
    ours = _scores(
        tmp_path / "ours.jsonl", answers, [(f"q{i:02d}", [4, 4, 4, 4]) for i in range(1, 9)]
    )
    for src, out, name in ((ref, "j-qwen", "qwen-vl"), (ours, "j-ours", "ours")):
        res = _import(
            str(src), "-d", str(answers), "-o", str(tmp_path / out), "--judge-model", name
        )
        assert res.exit_code == 0, res.output
    ratings = tmp_path / "ratings.csv"
    ratings.write_text(
        "sample_id,turn,annotator,tcc,icc,iq,its\n"
        + "".join(f"q{i:02d},0,ann1,4,3,5,2\n" for i in range(1, 9))
    )
    res = CliRunner().invoke(
        cli,
        [
            "agree",
            "--judge",
            str(tmp_path / "j-qwen"),
            str(tmp_path / "j-ours"),
            "--human",
            str(ratings),
            "--out",
            str(tmp_path / "agree"),
            "--n-boot",
            "20",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "agree" / "agreement.json").read_text())
    qwen, mine = result["judges"]["qwen-vl"], result["judges"]["ours"]
    assert qwen["n_items"] == 4 and mine["n_items"] == 8  # the 3 unparsed are not paired
    assert qwen["dimensions"]["tcc"]["exact"]["value"] == 0.25  # only q01 equals the human
    res = CliRunner().invoke(
        cli,
        [
            "report",
            str(answers),
            "--judgements",
            str(tmp_path / "j-qwen"),
            "--out",
            str(tmp_path / "report"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "report" / "index.html").is_file()
    res = CliRunner().invoke(
        cli,
        [
            "leaderboard",
            "--set",
            f"qwen-vl={tmp_path / 'j-qwen'}",
            "--set",
            f"ours={tmp_path / 'j-ours'}",
            "--out",
            str(tmp_path / "lb"),
            "--format",
            "csv",
        ],
    )
    assert res.exit_code == 0, res.output
    board = json.loads((tmp_path / "lb" / "leaderboard.json").read_text())
    rows = {e["name"]: e for e in board["entries"]}
    assert rows["qwen-vl"]["n"] == 4 and rows["qwen-vl"]["n_unparsed"] == 3
    assert rows["ours"]["means"]["tcc"] == 4.0


def test_bad_score_lines_are_named_per_line_and_nothing_is_written(tmp_path: Path) -> None:
    answers = _answers(tmp_path / "in")
    scores = tmp_path / "bad.jsonl"
    good = json.dumps({"id": "q01", "labels": [1, 2, 3, 4]})
    scores.write_text(
        "\n".join(
            [
                good,
                json.dumps({"id": "q02", "labels": [4, 3, 5]}),
                json.dumps({"id": "q03", "labels": [4, 3, 5, 7]}),
                json.dumps({"id": "q04", "labels": [4, 3.5, 5, 2]}),
                json.dumps({"labels": [4, 3, 5, 2]}),
                "{not json",
                json.dumps({"id": "q01", "labels": [2, 2, 2, 2]}),
                json.dumps({"id": "q05", "labels": "4,3,5,2"}),
            ]
        )
        + "\n"
    )
    out = tmp_path / "out"
    res = _import(str(scores), "--dataset", str(answers), "--out", str(out))
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert f"{scores}: 7 score lines cannot be read; nothing was written" in res.output
    for expected in (
        f"{scores}:2: 3 labels [4, 3, 5]; the reference judge writes four",
        f"{scores}:3: label 4 is 7, not a whole number from 0 to 5 (or -1)",
        f"{scores}:4: label 2 is 3.5",
        f"{scores}:5: no `id`",
        f"{scores}:6: not valid JSON",
        f"{scores}:7: id 'q01' turn 0 was scored already at {scores}:1",
        f"{scores}:8: `labels` must be a list of four integers",
    ):
        assert expected in res.output, expected
    assert not out.exists()


def test_score_lines_must_match_the_dataset(tmp_path: Path) -> None:
    answers = _answers(tmp_path / "in")
    scores = tmp_path / "s.jsonl"
    scores.write_text(
        json.dumps(
            {"id": "q01", "question": "Tell me about item 1 and draw it.", "labels": [1, 2, 3, 4]}
        )
        + "\n"
        + json.dumps({"id": "zz9", "labels": [1, 2, 3, 4]})
        + "\n"
        + json.dumps({"id": "q02", "turn": 3, "labels": [1, 2, 3, 4]})
        + "\n"
        + json.dumps({"id": "q03", "question": "Something else entirely?", "labels": [1, 1, 1, 1]})
        + "\n"
    )
    out = tmp_path / "out"
    res = _import(str(scores), "--dataset", str(answers), "--out", str(out))
    assert res.exit_code == 1, res.output
    assert "3 score lines do not match the dataset; nothing was written" in res.output
    assert f"{scores}:2: id 'zz9' turn 0 is not an item of {answers}" in res.output
    assert f"{scores}:3: id 'q02' turn 3 is not an item" in res.output
    assert f"{scores}:4: id 'q03' is in {answers} with another question" in res.output
    assert "Give --dataset the answers file or dataset the scores were made from" in res.output
    assert not (out / "judgements").exists() or not any((out / "judgements").iterdir())


def test_importing_again_needs_overwrite_and_replaces_the_set(tmp_path: Path) -> None:
    from intersyn.judge.store import load_set

    answers = _answers(tmp_path / "in")
    scores = _scores(tmp_path / "s.jsonl", answers)
    out = tmp_path / "out"
    args = [str(scores), "--dataset", str(answers), "--out", str(out)]
    assert _import(*args).exit_code == 0
    res = _import(*args)
    assert res.exit_code == 1 and "pass --overwrite to import again" in res.output
    _scores(scores, answers, [("q01", [0, 0, 0, 0])])
    assert _import(*args, "--overwrite").exit_code == 0
    js = load_set(out)
    assert [(j.sample_id, j.tcc) for j in js.judgements] == [("q01", 0)]
    assert [p.name for p in (out / "judgements").iterdir()] == [js.path.name]  # no leftovers


# -- the judge's own prompt file ------------------------------------------------------------


def test_judge_with_a_prompt_file_reads_the_bracketed_reply(tmp_path: Path) -> None:
    from intersyn.judge.store import load_set

    answers = _answers(tmp_path / "in", 6)
    prompt = tmp_path / "score_prompt.j2"
    prompt.write_text(
        "Rate the answer.\nQuestion: {{ question }}\nAnswer: {{ answer if has_text else 'null' }}"
        "\nImage: {{ 'attached' if has_image else 'null' }}\nAnswer in one line: "
        "[Text Response Quality: x; Image Response Quality: x; Image Aesthetic Quality: x; "
        "Text-Image Synergy: x]\n",
        encoding="utf-8",
    )

    def respond(body: dict[str, Any]) -> str:
        text = json.dumps(body["messages"])
        i = int(re.search(r"item (\d)", text).group(1))  # type: ignore[union-attr]
        if i == 2 and "could not be read" not in text:
            return "The answer is good."  # unreadable: one repair request follows
        return (
            f"[Text Response Quality: {i % 6}; Image Response Quality: 3; "
            "Image Aesthetic Quality: 5; Text-Image Synergy: 2]"
        )

    cfg = tmp_path / "judge.yaml"
    with ScriptedServer(responder=respond) as srv:
        cfg.write_text(
            "judge:\n  backend: openai\n  model: synjudge-ft\n"
            f"  base_url: {srv.base_url}\n  vision: true\n  limits: {{max_retries: 1}}\n"
        )
        out = tmp_path / "judged"
        args = ["judge", str(answers), "-c", str(cfg), "-o", str(out)]
        res = CliRunner().invoke(cli, [*args, "--prompt-file", str(prompt)])
        assert res.exit_code == 0, res.output
        requests = list(srv.requests)
    assert len(requests) == 7  # 6 turns + one repair
    assert all("response_format" not in r for r in requests)  # the prompt asks its own format
    first = requests[0]["messages"]
    assert [m["role"] for m in first] == ["user"]
    parts = first[0]["content"]
    assert any(p.get("type") == "image_url" for p in parts)
    assert "Question: Tell me about item 1 and draw it." in json.dumps(parts)
    repair = [r for r in requests if "could not be read" in json.dumps(r["messages"])]
    assert "exactly the format" in repair[0]["messages"][-1]["content"]
    js = load_set(out)
    assert js.info is not None and js.info.prompt.startswith("score_prompt.j2@")
    assert {j.sample_id: j.tcc for j in js.judgements} == {f"q{i:02d}": i % 6 for i in range(1, 7)}
    assert all(j.status == "ok" and j.its == 2 for j in js.judgements)
    res = CliRunner().invoke(cli, ["judge", "--prompt-file", str(tmp_path / "nope.j2"), *args[1:]])
    assert res.exit_code == 1 and "prompt file not found" in res.output


def test_import_scores_and_leaderboard_sets_never_write_into_their_inputs(tmp_path: Path) -> None:
    answers = _answers(tmp_path / "in")
    scores = _scores(tmp_path / "s.jsonl", answers)
    before = sorted(p.name for p in (tmp_path / "in").iterdir())
    res = _import(str(scores), "--dataset", str(answers), "--out", str(answers))
    assert res.exit_code == 1 and "never writes over" in res.output
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == before
    assert (
        _import(str(scores), "--dataset", str(answers), "--out", str(tmp_path / "j")).exit_code == 0
    )
    inside = tmp_path / "j" / "lb"
    res = CliRunner().invoke(
        cli, ["leaderboard", "--set", f"a={tmp_path / 'j'}", "--out", str(inside)]
    )
    assert res.exit_code == 1 and "never writes over" in res.output and not inside.exists()
