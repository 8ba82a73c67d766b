"""Journal group commit: a batch is one write and one fsync; appends made while an fsync runs
share the next one; nobody returns before their record is durable; a failed write is
reported to every caller it held and leaves the journal readable."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from intersyn.data import journal as journal_mod
from intersyn.data.journal import Journal, read_jsonl_located

WAIT_S = 30  # only a bound for a broken build; the tests never sleep on timing


class GatedFsync:
    """os.fsync that blocks the first call until released, and counts calls."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_first = fail_first

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            assert self.release.wait(WAIT_S)
            if self.fail_first:
                raise OSError(28, "No space left on device")


def _wait_until(cond: Any) -> None:
    done = threading.Event()
    for _ in range(WAIT_S * 1000):
        if cond():
            return
        done.wait(0.001)
    raise AssertionError("condition never held")


def test_append_many_is_one_write_and_all_read_back(tmp_path: Path) -> None:
    j = Journal(tmp_path, "x")
    j.append_many([{"id": str(i)} for i in range(100)])
    j.append_many([])
    assert j.writes == 1
    j.append({"id": "last"})
    j.close()
    assert [r["id"] for r in j.read()] == [*map(str, range(100)), "last"]


def test_appends_during_an_fsync_share_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = Journal(tmp_path, "x")
    j._open()  # the part file and its folder fsync happen before the gate is armed
    gate = GatedFsync()
    monkeypatch.setattr(os, "fsync", gate)
    returned: list[str] = []

    def add(i: int) -> None:
        j.append({"id": f"r{i}"})
        returned.append(f"r{i}")

    first = threading.Thread(target=add, args=(0,))
    first.start()
    assert gate.entered.wait(WAIT_S)
    others = [threading.Thread(target=add, args=(i,)) for i in range(1, 10)]
    for t in others:
        t.start()
    _wait_until(lambda: len(j._open_batch.lines) == 9)
    assert returned == []  # nobody returns while its record is not yet durable
    gate.release.set()
    for t in [first, *others]:
        t.join(WAIT_S)
    assert sorted(returned) == sorted(f"r{i}" for i in range(10))
    assert j.writes == 2 and gate.calls == 2  # ten records, two fsyncs
    j.close()
    assert sorted(r["id"] for r in j.read()) == sorted(f"r{i}" for i in range(10))


def test_a_failed_write_fails_every_caller_it_held_and_the_journal_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = Journal(tmp_path, "x")
    j._open()
    gate = GatedFsync(fail_first=True)
    monkeypatch.setattr(os, "fsync", gate)
    errors: dict[str, BaseException] = {}

    def add(name: str, records: list[dict[str, Any]]) -> None:
        try:
            j.append_many(records)
        except BaseException as e:
            errors[name] = e

    leader = threading.Thread(target=add, args=("leader", [{"id": "a"}]))
    leader.start()
    assert gate.entered.wait(WAIT_S)
    gate.release.set()
    leader.join(WAIT_S)
    assert isinstance(errors["leader"], OSError) and errors["leader"].errno == 28
    j.append({"id": "b"})  # a new write after the failure: on its own line
    j.close()
    ids = [r["id"] for r in j.read()]
    assert ids == ["a", "b"]  # the bytes reached the file even though fsync failed
    assert j.path is not None
    assert [x.error for x in read_jsonl_located(j.path)] == [None, None]


def test_a_follower_gets_an_error_naming_the_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    j = Journal(tmp_path, "x")
    j._open()
    entered, release = threading.Event(), threading.Event()
    real_write = j._write
    calls = [0]

    def write(lines: list[bytes]) -> None:
        calls[0] += 1
        if calls[0] == 1:
            entered.set()
            assert release.wait(WAIT_S)
            return real_write(lines)
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(j, "_write", write)
    errors: dict[str, BaseException] = {}

    def add(name: str) -> None:
        try:
            j.append({"id": name})
        except BaseException as e:
            errors[name] = e

    threads = [threading.Thread(target=add, args=(n,)) for n in ("first", "f1", "f2")]
    threads[0].start()
    assert entered.wait(WAIT_S)
    threads[1].start()
    threads[2].start()
    _wait_until(lambda: len(j._open_batch.lines) == 2)
    release.set()
    for t in threads:
        t.join(WAIT_S)
    assert "first" not in errors and len(errors) == 2
    # f1 and f2 shared one write: its leader sees the disk's error, the other is told its
    # record is not durable (and why).
    texts = sorted(str(e) for e in errors.values())
    assert "[Errno 5] Input/output error" in texts
    [told] = [t for t in texts if "not durable" in t]
    assert "Input/output error" in told
    assert all(isinstance(e, OSError) for e in errors.values())


def test_module_exports_encoder() -> None:
    assert journal_mod.encode_record({"a": "é"}) == '{"a":"é"}\n'.encode()


def test_run_store_commit_many_is_one_write(tmp_path: Path) -> None:
    from intersyn.data.store import RunStore
    from intersyn.errors import DatasetError
    from intersyn.schema import Sample, TopicPath, Turn

    topic = TopicPath(domain="d", category="c", topic="t")
    samples = [
        Sample(id=f"s{i}", topic=topic, turns=[Turn(index=0, question="q", answer="a", caption="")])
        for i in range(5)
    ]
    store = RunStore(tmp_path / "run")
    store.commit_many(samples)
    assert store._samples.writes == 1
    with pytest.raises(DatasetError, match="s9: commit_many"):
        store.commit_many([Sample(id="s9", topic=topic, status="failed")])
    store.close()
    assert [s.id for s in store.iter_samples()] == [f"s{i}" for i in range(5)]
