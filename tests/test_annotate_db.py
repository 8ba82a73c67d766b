"""The ratings database: set-up from a dataset, balanced assignment, submits and history."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from intersyn.annotate.assignment import assign
from intersyn.annotate.db import AnnotationDB, Submission, sniff_mime
from intersyn.annotate.prepare import prepare, ready_db, rotate_links
from intersyn.annotate.source import read_items
from intersyn.errors import DatasetError, InputError
from tests.test_annotate_support import HOSTILE, make_db, make_run, png

SCORES = {"tcc": 4, "icc": 3, "iq": 5, "its": 2}


# -- assignment ----------------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    turns=st.lists(st.integers(1, 3), min_size=1, max_size=40),
    n=st.integers(1, 6),
    overlap=st.integers(1, 7),
)
def test_assignment_every_item_to_r_annotators_balanced(
    turns: list[int], n: int, overlap: int
) -> None:
    samples = [(f"s{i}", t) for i, t in enumerate(turns)]
    names = [f"a{i}" for i in range(n)]
    queues = assign(samples, names, overlap)
    r = min(overlap, n)
    per_item = Counter(key for q in queues.values() for key in q)
    assert set(per_item) == {(s, t) for s, k in samples for t in range(k)}
    assert set(per_item.values()) == {r}  # every turn exactly r times, never twice to one person
    for q in queues.values():
        assert len(q) == len(set(q))
        # a sample's turns stay together and in order in one queue
        assert q == sorted(q, key=lambda k: (int(k[0][1:]), k[1]))
    loads = [len(q) for q in queues.values()]
    assert max(loads) - min(loads) <= max(turns)
    assert assign(samples, names, overlap) == queues  # deterministic


def test_assignment_equal_samples_is_exactly_balanced() -> None:
    queues = assign([(f"s{i}", 1) for i in range(10)], ["a", "b", "c"], 2)
    assert sorted(len(q) for q in queues.values()) == [6, 7, 7]
    pairs = Counter(frozenset(a for a, q in queues.items() if (f"s{i}", 0) in q) for i in range(10))
    assert len(pairs) == 3  # overlap spreads over every pair of annotators


def test_assignment_refuses_bad_input() -> None:
    with pytest.raises(InputError, match="no annotators"):
        assign([("s", 1)], [], 2)
    with pytest.raises(InputError, match="overlap"):
        assign([("s", 1)], ["a"], 0)


# -- set-up --------------------------------------------------------------------------------
def test_prepare_copies_items_and_images_into_a_self_contained_db(tmp_path: Path) -> None:
    db, links = make_db(tmp_path, samples=3, turns=2)
    assert set(links.tokens) == {"alice", "bob"} and links.admin
    assert db.item_count() == 6
    with db.connect() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # the dataset can go: every text and image is in the database
    import shutil

    shutil.rmtree(tmp_path / "run")
    item = db.item_at("alice", 1)
    assert item is not None and item.answer == HOSTILE
    found = db.image_for("alice", 1, 0)
    assert found is not None and found[0] == png((0, 0, 90)) and found[1] == "image/png"
    second = db.item_at("alice", 2)
    assert second is not None and second.turn == 1
    assert [t.turn for t in db.earlier_turns(second)] == [0]


def test_tokens_are_stored_only_hashed(tmp_path: Path) -> None:
    db, links = make_db(tmp_path)
    raw = (tmp_path / "ratings.sqlite").read_bytes()
    wal = tmp_path / "ratings.sqlite-wal"
    raw += wal.read_bytes() if wal.exists() else b""
    for token in [*links.tokens.values(), links.admin or ""]:
        assert token.encode() not in raw
    assert db.principal_for_token(links.tokens["bob"]).name == "bob"  # type: ignore[union-attr]
    assert db.principal_for_token("not-a-token") is None


def test_restart_keeps_setup_and_refuses_a_different_one(tmp_path: Path) -> None:
    db, _ = make_db(tmp_path)
    db.submit("alice", 1, Submission("rate", SCORES))
    assert prepare(db, None, None) is None  # already set up: no new links, nothing redone
    assert prepare(db, tmp_path / "run", ["alice", "bob"], 2) is None
    assert db.rating_of("alice", 1) is not None
    with pytest.raises(InputError, match="annotators alice,bob"):
        prepare(db, None, ["alice", "carol"])
    with pytest.raises(InputError, match="--overlap 2"):
        prepare(db, None, None, 3)
    other = make_run(tmp_path / "other", 1, 1)
    with pytest.raises(InputError, match="was set up from"):
        prepare(db, other, None)


def test_setup_killed_half_way_finishes_on_next_start(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", samples=3, turns=1)
    db = AnnotationDB(tmp_path / "r.sqlite")
    # simulate a kill after the first batch: meta written, some items copied, not ready
    from intersyn.annotate import prepare as prep

    prep._start(db, run, ["a", "b"], 1, None)
    db.add_items(list(read_items(run))[:1])
    assert not db.is_ready() and db.item_count() == 1
    links = prepare(db, None, None)
    assert links is not None and db.is_ready() and db.item_count() == 3
    assert sum(p.assigned for p in db.progress()) == 3


def test_setup_that_failed_on_a_wrong_input_starts_over_with_the_right_one(
    tmp_path: Path,
) -> None:
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not a dataset")
    db = AnnotationDB(tmp_path / "r.sqlite")
    with pytest.raises(InputError, match=r"notes\.txt"):
        prepare(db, wrong, ["a", "b"], 1)
    assert not db.is_ready() and db.item_count() == 0
    # the right input, annotators and overlap kept from the first try
    run = make_run(tmp_path / "run", 2, 1)
    links = prepare(db, run, None)
    assert links is not None and set(links.tokens) == {"a", "b"}
    assert db.is_ready() and db.item_count() == 2 and db.meta()["overlap"] == "1"
    assert db.meta()["source"] == str(run.resolve())


def test_setup_stopped_half_way_names_its_input(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", samples=3, turns=1)
    db = AnnotationDB(tmp_path / "r.sqlite")
    from intersyn.annotate import prepare as prep

    prep._start(db, run, ["a"], 1, None)
    db.add_items(list(read_items(run))[:1])
    other = make_run(tmp_path / "other", 1, 1)
    with pytest.raises(InputError, match="stopped half-way; start again with that INPUT"):
        prepare(db, other, None)


def test_new_db_needs_input_and_annotators(tmp_path: Path) -> None:
    db = AnnotationDB(tmp_path / "r.sqlite")
    with pytest.raises(InputError, match="pass the dataset"):
        prepare(db, None, ["a"])
    run = make_run(tmp_path / "run", 1, 1)
    with pytest.raises(InputError, match="name the annotators"):
        prepare(db, run, None)
    with pytest.raises(InputError, match="not allowed"):
        prepare(db, run, ["a b"])
    with pytest.raises(InputError, match="repeat"):
        prepare(db, run, ["a", "a"])
    with pytest.raises(InputError, match="no such"):
        prepare(db, tmp_path / "missing", ["a"])
    assert not (tmp_path / "r.sqlite").exists()  # refused before anything was written


def test_not_a_ratings_db_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.sqlite"
    bad.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatasetError, match="not an intersyn ratings database"):
        prepare(AnnotationDB(bad), make_run(tmp_path / "run", 1, 1), ["a"])
    with pytest.raises(InputError, match="no such ratings database"):
        ready_db(tmp_path / "none.sqlite")


def test_answers_jsonl_input(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "q1.png").write_bytes(png((1, 2, 3)))
    lines = [
        {"id": "q1", "question": "Q1?", "answer": "A1", "image": "imgs/q1.png"},
        {"id": "q2", "turn": 0, "question": "Q2?", "answer": "A2", "image": None},
        {"id": "q2", "turn": 1, "question": "Q2b?", "answer": "A2b", "image": None},
    ]
    src = tmp_path / "answers.jsonl"
    src.write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = AnnotationDB(tmp_path / "r.sqlite")
    assert prepare(db, src, ["a"], 1) is not None
    assert db.item_count() == 3
    assert db.image_for("a", 1, 0) == (png((1, 2, 3)), "image/png")
    assert db.item_at("a", 3).question == "Q2b?"  # type: ignore[union-attr]


def test_bad_answers_jsonl_names_file_and_line(tmp_path: Path) -> None:
    src = tmp_path / "answers.jsonl"
    src.write_text(
        '{"id": "q1", "question": "Q", "answer": "A"}\n{"id": "q2", "image": "../x.png"}\n'
    )
    with pytest.raises(InputError, match=r"answers\.jsonl:2"):
        prepare(AnnotationDB(tmp_path / "r.sqlite"), src, ["a"], 1)


def test_limit_takes_the_first_samples(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", samples=5, turns=2)
    db = AnnotationDB(tmp_path / "r.sqlite")
    prepare(db, run, ["a"], 1, limit=2)
    assert [s for s, _ in db.sample_turns()] == ["s000", "s001"]


# -- submits -------------------------------------------------------------------------------
def test_submit_keeps_one_current_rating_and_every_edit(tmp_path: Path) -> None:
    db, _ = make_db(tmp_path)
    db.submit("alice", 1, Submission("rate", SCORES))
    db.submit("alice", 1, Submission("rate", {**SCORES, "tcc": 1}, comment="changed my mind"))
    current = db.rating_of("alice", 1)
    assert current is not None and current.scores == {**SCORES, "tcc": 1} and current.edits == 2
    assert current.comment == "changed my mind"
    hist = [h for h in db.history() if h["annotator"] == "alice"]
    assert [(h["action"], h["tcc"]) for h in hist] == [("rate", 4), ("rate", 1)]
    [rating] = db.ratings()
    assert (rating.sample_id, rating.turn, rating.annotator, rating.tcc) == ("s000", 0, "alice", 1)


def test_skip_and_flag(tmp_path: Path) -> None:
    db, _ = make_db(tmp_path)
    db.submit("bob", 2, Submission("skip", None, comment="image broken", flagged=True))
    assert db.ratings() == []  # a skip is not a rating
    [flag] = db.flags()
    assert flag["annotator"] == "bob" and flag["comment"] == "image broken"
    p = db.progress_of("bob")
    assert (p.rated, p.skipped, p.flagged) == (0, 1, 1)


def test_next_pending_resumes_and_wraps(tmp_path: Path) -> None:
    db, _ = make_db(tmp_path, samples=2, turns=2)  # 4 items each
    assert db.next_pending("alice") == 1
    for pos in (1, 2, 4):
        db.submit("alice", pos, Submission("rate", SCORES))
    assert db.next_pending("alice") == 3
    assert db.next_pending("alice", after=3) == 3  # wraps around to the only one left
    db.submit("alice", 3, Submission("skip"))
    assert db.next_pending("alice") is None
    assert db.next_pending("bob") == 1  # bob's queue is his own


def test_database_refuses_out_of_range_scores_even_without_the_app(tmp_path: Path) -> None:
    db, _ = make_db(tmp_path)
    with pytest.raises(sqlite3.IntegrityError):
        db.submit("alice", 1, Submission("rate", {**SCORES, "iq": 6}))
    assert db.rating_of("alice", 1) is None and list(db.history()) == []  # nothing half-written


def test_submit_to_a_position_outside_the_queue(tmp_path: Path) -> None:
    db, _ = make_db(tmp_path)
    with pytest.raises(LookupError):
        db.submit("alice", 999, Submission("rate", SCORES))


def test_rotate_links_invalidates_old_tokens_only_for_those_named(tmp_path: Path) -> None:
    db, links = make_db(tmp_path)
    new = rotate_links(db, ["alice"], admin=False)
    assert db.principal_for_token(links.tokens["alice"]) is None
    assert db.principal_for_token(new.tokens["alice"]).name == "alice"  # type: ignore[union-attr]
    assert db.principal_for_token(links.tokens["bob"]).name == "bob"  # type: ignore[union-attr]
    assert db.principal_for_token(links.admin or "").role == "admin"  # type: ignore[union-attr]
    with pytest.raises(InputError, match="no annotator named"):
        rotate_links(db, ["zed"])


def test_sniff_mime_never_calls_svg_an_image() -> None:
    assert sniff_mime(png((0, 0, 0))) == "image/png"
    assert sniff_mime(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff_mime(b"<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>") == (
        "application/octet-stream"
    )


def test_judge_output_stands_for_the_dataset_it_judged(tmp_path: Path) -> None:
    from intersyn.judge.store import JudgementStore, SetInfo

    run = make_run(tmp_path / "run", samples=2, turns=1)
    out = tmp_path / "judged"
    JudgementStore(
        out, SetInfo(judge_model="m", rubric="synjudge@1", mode="vision", input=str(run))
    ).close()
    db = AnnotationDB(tmp_path / "r.sqlite")
    assert prepare(db, out, ["a"], 1) is not None
    assert [s for s, _ in db.sample_turns()] == ["s000", "s001"]
    assert db.meta()["source"] == str(run.resolve())
    assert prepare(db, out, None) is None  # the same input named either way
    JudgementStore(
        out, SetInfo(judge_model="m2", rubric="synjudge@1", mode="vision", input="gone")
    ).close()
    with pytest.raises(InputError, match="pass the dataset itself"):
        prepare(AnnotationDB(tmp_path / "r2.sqlite"), out, ["a"], 1)
