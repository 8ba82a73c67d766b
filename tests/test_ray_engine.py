"""The Ray engine on a real two-node local Ray cluster: completeness, spreading, faults.

The per-item function here is a stand-in for SEIR's ``make_sample``: it commits a Sample to
the run's RunStore from inside the worker, exactly as the generate wiring does.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from intersyn.data.journal import read_jsonl_tolerant
from intersyn.data.store import RunStore
from intersyn.schema import Sample, TopicPath

pytestmark = pytest.mark.ray


@dataclass
class _Ctx:
    store: RunStore
    trap_marker: Path | None


def _open(run_dir: str, trap_marker: str | None, info: object) -> _Ctx:
    return _Ctx(RunStore(Path(run_dir)), Path(trap_marker) if trap_marker else None)


def _close(ctx: _Ctx) -> dict[str, object]:
    ctx.store.close()
    return {"writer": {"calls": 1, "p95_latency_s": 0.5}}


def _sid(i: int) -> str:
    return f"s{i:05d}"


TRAP = 7


async def _make(i: int, ctx: _Ctx) -> str:
    """Commit sample i; the trap item then hangs (first time only) so the test can kill it."""
    await asyncio.sleep(0.002)
    if i % 50 == 49:
        raise ValueError(f"writer returned empty text for {_sid(i)}")
    ctx.store.commit(Sample(id=_sid(i), topic=TopicPath(domain="d", category="c", topic=str(i))))
    if i == TRAP and ctx.trap_marker is not None and not ctx.trap_marker.exists():
        ctx.trap_marker.write_text(str(os.getpid()))
        await asyncio.sleep(3600)  # committed, not yet reported: the kill lands here
    return _sid(i)


def _done(ctx: _Ctx) -> set[str]:
    return ctx.store.done_ids()


def _raw_ids(run_dir: Path) -> Counter[str]:
    ids: Counter[str] = Counter()
    for part in sorted((run_dir / "samples").glob("samples-*.jsonl")):
        ids.update(rec["id"] for rec in read_jsonl_tolerant(part))
    return ids


def _expected(n: int) -> set[str]:
    return {_sid(i) for i in range(n) if i % 50 != 49}


def test_every_item_done_once_across_two_nodes(ray_cluster, tmp_path: Path) -> None:
    from intersyn.engine.ray_engine import run_on_ray

    infos = []
    outcomes = Counter()
    report = run_on_ray(
        range(300),
        functools.partial(_open, str(tmp_path), None),
        _make,
        item_id=_sid,
        done_ids=_done,
        close_worker_ctx=_close,
        workers=2,
        worker_in_flight=8,
        on_workers=infos.extend,
        on_outcome=lambda o: outcomes.update([o.status]),
    )
    raw = _raw_ids(tmp_path)
    assert set(raw) == _expected(300)
    assert max(raw.values()) == 1
    assert (report.done, report.failed, report.lost) == (294, 6, 0)
    assert outcomes == Counter({"ok": 294, "failed": 6})
    # one worker per node, each writing its own journal part file
    assert len({i.node_id for i in infos}) == 2
    assert len(list((tmp_path / "samples").glob("samples-*.jsonl"))) == 2
    # worker usage reports are merged: counts add up, percentiles keep the worst
    assert report.usage == {"writer": {"calls": 2, "p95_latency_s": 0.5}}


def test_failed_item_reason_reaches_the_driver(ray_cluster, tmp_path: Path) -> None:
    from intersyn.engine.ray_engine import run_on_ray

    failed = []
    run_on_ray(
        range(50),
        functools.partial(_open, str(tmp_path), None),
        _make,
        item_id=_sid,
        workers=1,
        on_outcome=lambda o: failed.append(o) if o.status == "failed" else None,
    )
    assert [o.id for o in failed] == ["s00049"]
    assert (failed[0].error or "").startswith("ValueError: writer returned empty text for s00049")


def _kill_when_marked(marker: Path, killed: list[int]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text():
            pid = int(marker.read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


@pytest.mark.parametrize("ray_retries", [3, 0], ids=["ray-retries", "driver-resubmits"])
def test_worker_killed_mid_run(ray_cluster, tmp_path: Path, ray_retries: int) -> None:
    """SIGKILL a worker while it holds a committed-but-unreported item and others in flight:
    the run completes, nothing is missing, nothing is written twice."""
    from intersyn.engine.ray_engine import run_on_ray

    run_dir = tmp_path / "run"
    marker = tmp_path / "trap.pid"
    killed: list[int] = []
    watcher = threading.Thread(target=_kill_when_marked, args=(marker, killed), daemon=True)
    watcher.start()
    statuses: dict[str, str] = {}
    report = run_on_ray(
        range(200),
        functools.partial(_open, str(run_dir), str(marker)),
        _make,
        item_id=_sid,
        done_ids=_done,
        close_worker_ctx=_close,
        workers=2,
        worker_in_flight=8,
        max_task_retries=ray_retries,
        on_outcome=lambda o: statuses.__setitem__(o.id, o.status),
    )
    watcher.join(5)
    assert len(killed) == 1
    raw = _raw_ids(run_dir)
    assert set(raw) == _expected(200)
    assert max(raw.values()) == 1, [k for k, v in raw.items() if v > 1]
    # the trap was committed by the killed process; its retry saw that and skipped it
    assert statuses[_sid(TRAP)] == "skipped"
    assert report.worker_restarts >= 1
    assert report.lost == 0
    assert report.done + report.skipped == len(_expected(200))
    if ray_retries == 0:
        assert report.resubmitted >= 1


def test_resume_skips_what_is_done(ray_cluster, tmp_path: Path) -> None:
    """A second run over the same ids, filtered by done_ids like --resume, writes only the rest."""
    from intersyn.engine.ray_engine import run_on_ray

    opener = functools.partial(_open, str(tmp_path), None)
    run_on_ray(range(0, 60), opener, _make, item_id=_sid, workers=2)
    done = RunStore(tmp_path).done_ids()
    rest = (i for i in range(120) if _sid(i) not in done)
    report = run_on_ray(rest, opener, _make, item_id=_sid, workers=2)
    raw = _raw_ids(tmp_path)
    assert set(raw) == _expected(120)
    assert max(raw.values()) == 1
    assert report.submitted == 60 + 1  # s00049 failed in the first run and is tried again


def test_nothing_to_do_starts_no_workers(tmp_path: Path) -> None:
    """A fully resumed run has no items: no cluster is joined and no worker is made."""
    from intersyn.engine.ray_engine import run_on_ray

    def opener(info: object) -> None:
        raise AssertionError("no worker should be started")

    report = run_on_ray(iter(()), opener, _make, item_id=_sid, address="ray://unreachable:1")
    assert (report.workers, report.submitted) == (0, 0)


def test_probe_address_names_what_is_wrong() -> None:
    import socket

    from intersyn.engine.ray_engine import EngineError, probe_address
    from intersyn.errors import ConfigError

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert probe_address(f"127.0.0.1:{port}") == ("127.0.0.1", port)
        assert probe_address(f"ray://127.0.0.1:{port}/") == ("127.0.0.1", port)
    with pytest.raises(EngineError, match=r"no Ray cluster \(GCS\) answers at '127.0.0.1:\d+'"):
        probe_address(f"127.0.0.1:{port}")  # closed now
    with pytest.raises(EngineError, match="no Ray Client server answers"):
        probe_address(f"ray://127.0.0.1:{port}")
    for bad in ("headnode", "ray://:10001", "head:port"):
        with pytest.raises(ConfigError, match="expected auto, HOST:PORT"):
            probe_address(bad)


def test_output_must_be_a_mounted_path_not_a_url(tmp_path: Path) -> None:
    from intersyn.engine.ray_engine import local_output_dir
    from intersyn.errors import ConfigError

    for url in ("s3://bucket/run", "s3:/bucket/run", "gcs://b/x", "file:///tmp/x"):
        with pytest.raises(ConfigError, match="mount the bucket"):
            local_output_dir(url)
    assert local_output_dir(tmp_path / "a:b") == tmp_path / "a:b"
    assert local_output_dir("rel/run").is_absolute()
