"""Judgement sets read as a stream: every record in write order, the same set resolution as
load_judgements, and a SQLite index that keeps one judgement per turn off the heap."""

from __future__ import annotations

from pathlib import Path

import pytest

from intersyn.errors import InputError
from intersyn.judge.store import (
    JudgementIndex,
    JudgementStore,
    SetInfo,
    iter_judgements,
    load_judgements,
    prefer,
)
from intersyn.schema import Judgement


def J(sid: str, turn: int = 0, status: str = "ok", tcc: int | None = 3) -> Judgement:
    scores = dict.fromkeys(("tcc", "icc", "iq", "its"), tcc if status == "ok" else None)
    return Judgement.model_validate(
        {
            "sample_id": sid,
            "turn": turn,
            "status": status,
            "judge_model": "m",
            "rubric_version": "r@1",
            **scores,
        }
    )


def write_set(out: Path, judgements: list[Judgement], model: str = "m") -> Path:
    store = JudgementStore(out, SetInfo(judge_model=model, rubric="r@1", mode="vision"))
    for j in judgements:
        store.append(j)
    store.close()
    return store.root


RECORDS = [J("a", 0, tcc=1), J("b", 0, "error"), J("a", 0, "error"), J("b", 0, tcc=5), J("c", 1)]


def test_iter_judgements_streams_every_record_in_write_order(tmp_path: Path) -> None:
    write_set(tmp_path / "out", RECORDS)
    stream = iter_judgements(tmp_path / "out")
    assert not isinstance(stream, list)
    got = [(j.sample_id, j.status, j.tcc) for j in stream]
    assert got == [
        ("a", "ok", 1),
        ("b", "error", None),
        ("a", "error", None),
        ("b", "ok", 5),
        ("c", "ok", 3),
    ]


def test_index_keeps_what_load_judgements_keeps(tmp_path: Path) -> None:
    root = write_set(tmp_path / "out", RECORDS)
    loaded = {(j.sample_id, j.turn): j.model_dump() for j in load_judgements(root)}
    with JudgementIndex(iter_judgements(root), folder=tmp_path) as index:
        assert len(index) == 3
        indexed = {
            (sid, t): j.model_dump() for sid in "abc" for t, j in index.for_sample(sid).items()
        }
        assert indexed == loaded
        assert index.for_sample("a")[0].tcc == 1  # an error never replaces a judgement
        assert index.for_sample("b")[0].tcc == 5  # a real judgement replaces an error
        assert index.for_sample("zzz") == {}
        files = list(tmp_path.glob("intersyn-judgements-*/*"))
        assert files  # the index is on disk ...
    assert not list(tmp_path.glob("intersyn-judgements-*"))  # ... and removed when closed


def test_prefer_rule() -> None:
    assert prefer(None, J("a", status="error"))
    assert prefer(J("a"), J("a", tcc=4)) and prefer(J("a", status="error"), J("a"))
    assert not prefer(J("a"), J("a", status="error"))


def test_same_resolution_and_errors_as_load_judgements(tmp_path: Path) -> None:
    write_set(tmp_path / "one", [J("a")])
    [set_dir] = (tmp_path / "one" / "judgements").iterdir()
    for p in (tmp_path / "one", set_dir):
        assert [j.sample_id for j in iter_judgements(p)] == ["a"]
    write_set(tmp_path / "one", [J("b")], model="other")
    with pytest.raises(InputError, match="holds 2 judgement sets"):
        list(iter_judgements(tmp_path / "one"))
    with pytest.raises(InputError, match="no such judgement set"):
        list(iter_judgements(tmp_path / "none"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"sample_id": "a", "turn": 0}\n')
    with pytest.raises(InputError, match="record 1 is not a judgement"):
        list(iter_judgements(bad))
