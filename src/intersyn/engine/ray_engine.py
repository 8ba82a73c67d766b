"""The Ray engine: the same per-item coroutine as the local engine, run by a pool of Ray actors.

Shape (see docs/scale.md for why actors and not Ray Data)::

    driver ── streams items, ≤ max_in_flight outstanding ──► actor 0 … actor N-1
                                                             each: one long-lived context
                                                             (its own gate, RunStore part file)
                                                             running many items with asyncio

The driver never holds the dataset: it iterates ``items`` lazily, keeps only the items now in
flight (to re-submit them if their worker is lost), and counts outcomes. Workers make their
results durable themselves (``RunStore.commit`` / ``Journal.append`` to a shared path), so a
result is safe before the driver hears of it.

Faults. Actors are created with ``max_restarts`` and ``max_task_retries``: when a worker
process dies, Ray restarts the actor and re-runs its in-flight calls there. A restarted actor
(and any worker that gets an item re-submitted by the driver after Ray gave up) first reads
the ids already made durable (``done_ids(ctx)``) and skips them, so an item that was committed
just before the kill is not written twice.

Example::

    report = run_on_ray(
        seeds,                                   # any iterable, consumed lazily
        make_worker_ctx=open_worker,             # (WorkerInfo) -> ctx, sync or async
        process_item=make_one,                   # async (item, ctx) -> small result
        item_id=lambda s: s.id,
        done_ids=lambda ctx: ctx.store.done_ids(),
        workers=4, worker_in_flight=32,
    )
    report.done, report.failed
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import re
import socket
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from intersyn.errors import ConfigError, IntersynError

log = logging.getLogger("intersyn.engine.ray")
T = TypeVar("T")
C = TypeVar("C")

#: ok: made and durable; failed: the item's own error (recorded by the item function);
#: skipped: a previous attempt had already made it durable; lost: its worker died more often
#: than allowed; stopped: the item function asks to stop the run (budget reached).
OutcomeStatus = Literal["ok", "failed", "skipped", "lost", "stopped"]


class EngineError(IntersynError):
    """The Ray engine could not run (no cluster, no live worker left)."""


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker knows about itself when it builds its context."""

    index: int
    count: int
    pid: int
    node_ip: str
    node_id: str
    #: True when Ray restarted this actor after its process died.
    reconstructed: bool


@dataclass
class Outcome:
    """What a worker reports for one item: never the item's data, only its fate."""

    id: str
    status: OutcomeStatus
    worker: int = -1
    pid: int = 0
    error: str | None = None
    value: Any = None


@dataclass
class EngineReport:
    """Counts of one run; the results themselves are in the output store."""

    workers: int = 0
    submitted: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    lost: int = 0
    stopped: int = 0
    resubmitted: int = 0
    worker_restarts: int = 0
    elapsed_s: float = 0.0
    usage: dict[str, Any] = field(default_factory=dict)
    worker_reports: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Items finished (ok or failed) per second."""
        return (self.done + self.failed) / self.elapsed_s if self.elapsed_s > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# The worker (a plain class; made a Ray actor at run time so importing this module is cheap)
# ---------------------------------------------------------------------------------------------


class RayWorker(Generic[T, C]):
    """One long-lived worker: its own context (gate, store), many items at once via asyncio."""

    def __init__(
        self,
        index: int,
        count: int,
        make_worker_ctx: Callable[[WorkerInfo], C | Awaitable[C]],
        process_item: Callable[[T, C], Awaitable[Any]],
        item_id: Callable[[T], str],
        done_ids: Callable[[C], Container[str]] | None,
        close_worker_ctx: Callable[[C], Any] | None,
    ) -> None:
        import ray

        runtime = ray.get_runtime_context()
        with warnings.catch_warnings():  # Ray's own property warns about its internals
            warnings.simplefilter("ignore")
            reconstructed = bool(runtime.was_current_actor_reconstructed)
        self.info = WorkerInfo(
            index=index,
            count=count,
            pid=os.getpid(),
            node_ip=ray.util.get_node_ip_address(),
            node_id=runtime.get_node_id(),
            reconstructed=reconstructed,
        )
        self._make_ctx = make_worker_ctx
        self._process = process_item
        self._item_id = item_id
        self._done_ids_fn = done_ids
        self._close_ctx = close_worker_ctx
        self._ctx: Any = None
        self._ctx_lock: asyncio.Lock | None = None
        # Ids made durable before this worker saw its item again: loaded only after a fault.
        self._done: Container[str] | None = None
        self._done_epoch = -1
        self._counts = {"ok": 0, "failed": 0, "skipped": 0}

    def ready(self) -> WorkerInfo:
        return self.info

    async def _context(self) -> Any:
        if self._ctx_lock is None:
            self._ctx_lock = asyncio.Lock()
        async with self._ctx_lock:
            if self._ctx is None:
                ctx = self._make_ctx(self.info)
                if inspect.isawaitable(ctx):
                    ctx = await ctx
                self._ctx = ctx
        return self._ctx

    async def _already_done(self, key: str, epoch: int, ctx: Any) -> bool:
        """After a fault, skip items whose result a previous attempt already made durable."""
        if self._done_ids_fn is None:
            return False
        needed = self.info.reconstructed or epoch > 0
        if not needed:
            return False
        if self._done is None or epoch > self._done_epoch:
            # Reading the store is blocking file I/O: keep the event loop (other items) running.
            self._done = await asyncio.to_thread(self._done_ids_fn, ctx)
            self._done_epoch = epoch
        return key in self._done

    async def process(self, item: T, epoch: int = 0) -> Outcome:
        """Run one item; exceptions become a ``failed`` outcome (the item function records why)."""
        key = self._item_id(item)
        try:
            ctx = await self._context()
            if await self._already_done(key, epoch, ctx):
                return self._outcome(Outcome(id=key, status="skipped"))
            value = await self._process(item, ctx)
        except Exception as e:  # the item's own failure: report it, keep the worker alive
            detail = f"{type(e).__name__}: {e}"
            if not isinstance(e, IntersynError):
                detail += "\n" + "".join(traceback.format_exception(e)[-3:])
            return self._outcome(Outcome(id=key, status="failed", error=detail))
        if isinstance(value, Outcome):  # the item function may decide its own status
            return self._outcome(value)
        return self._outcome(Outcome(id=key, status="ok", value=value))

    def _outcome(self, outcome: Outcome) -> Outcome:
        outcome.worker, outcome.pid = self.info.index, self.info.pid
        self._counts[outcome.status] = self._counts.get(outcome.status, 0) + 1
        return outcome

    async def close(self) -> dict[str, Any]:
        """Close the context (flush stores, close connection pools) and report this worker."""
        report: dict[str, Any] = {"worker": self.info.index, "pid": self.info.pid, **self._counts}
        if self._ctx is not None and self._close_ctx is not None:
            res = self._close_ctx(self._ctx)
            if inspect.isawaitable(res):
                res = await res
            if isinstance(res, dict):
                report["usage"] = res
        self._ctx = None
        return report


# ---------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------


def connect(address: str | None, *, num_cpus: int | None = None) -> bool:
    """Join a Ray cluster (``auto``, ``host:port``, ``ray://host:port``) or start a local one.

    Returns True when this call started Ray (so the caller shuts it down afterwards). An
    address that nothing answers at is an :class:`EngineError` within seconds (Ray itself
    would wait for a GCS at ``host:port`` indefinitely).
    """
    try:
        import ray
    except ModuleNotFoundError:
        raise ConfigError(
            "--engine ray needs the Ray package: pip install 'intersyn[ray]'"
        ) from None
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
    if address in (None, "", "local"):
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
        address = None
    elif address != "auto":
        probe_address(address)
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise EngineError(
            f"could not reach a Ray cluster at {address!r} ({e}); start one with "
            "`ray start --head` or leave --address out to start a local one"
        ) from None
    except (ValueError, RuntimeError) as e:  # e.g. Ray Client without the ray[client] extra
        raise EngineError(
            f"could not join the Ray cluster at {address!r}: {e}; "
            "reinstall with pip install 'intersyn[ray]'"
        ) from None
    return True


#: ``s3://…``, ``gs://…`` (also as a click Path has already turned it into ``s3:/…``).
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def local_output_dir(out_dir: str | Path) -> Path:
    """``out_dir`` as an absolute path; a URL (``s3://…``) is a ConfigError saying what to do.

    Workers append to journals with fsync and write images by atomic rename: that needs a
    filesystem every node mounts (NFS, Lustre, a bucket mounted with s3fs/gcsfuse), not an
    fsspec URL.
    """
    text = str(out_dir)
    if _URL.match(text):
        raise ConfigError(
            f"--out {text}: the Ray engine writes to a filesystem path every node sees, not a "
            "URL (journals are appended with fsync, images renamed into place); mount the "
            "bucket or share on every node (NFS, s3fs, gcsfuse) and pass the mount path"
        )
    return Path(out_dir).absolute()


#: Ray Client's default port (``ray start --head`` serves it), used when ray:// gives none.
RAY_CLIENT_PORT = 10001


def probe_address(address: str, timeout_s: float = 10.0) -> tuple[str, int]:
    """Check that something listens at a ``HOST:PORT`` or ``ray://HOST[:PORT]`` address.

    Raises ConfigError for a malformed address and EngineError when nothing answers.
    """
    client = address.startswith("ray://")
    rest = address[len("ray://") :] if client else address
    host, sep, port_text = rest.rstrip("/").rpartition(":")
    if not sep:
        host, port_text = rest.rstrip("/"), str(RAY_CLIENT_PORT) if client else ""
    host = host.strip("[]")
    if not host or not port_text.isdigit():
        raise ConfigError(
            f"--address {address!r}: expected auto, HOST:PORT (the cluster's GCS, port 6379 "
            "by default) or ray://HOST:PORT (Ray Client, port 10001 by default)"
        )
    port = int(port_text)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        what = "Ray Client server" if client else "Ray cluster (GCS)"
        raise EngineError(
            f"no {what} answers at {address!r} ({e.strerror or type(e).__name__}); check host "
            "and port, start one there with `ray start --head`, or leave --address out to "
            "start a local Ray"
        ) from None
    return host, port


@dataclass
class _Flight:
    item: Any
    worker: int
    epoch: int
    attempts: int


_NOTHING: Any = object()


def run_on_ray(
    items: Iterable[T],
    make_worker_ctx: Callable[[WorkerInfo], C | Awaitable[C]],
    process_item: Callable[[T, C], Awaitable[Any]],
    *,
    item_id: Callable[[T], str],
    done_ids: Callable[[C], Container[str]] | None = None,
    close_worker_ctx: Callable[[C], Any] | None = None,
    workers: int | None = None,
    worker_in_flight: int = 16,
    address: str | None = None,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    resources: dict[str, float] | None = None,
    max_restarts: int = -1,
    max_task_retries: int = 3,
    max_item_attempts: int = 3,
    placement_timeout_s: float = 300.0,
    on_outcome: Callable[[Outcome], bool | None] | None = None,
    on_workers: Callable[[list[WorkerInfo]], None] | None = None,
) -> EngineReport:
    """Run ``process_item`` over ``items`` on a pool of Ray actors; return the counts.

    ``make_worker_ctx(info)`` builds each worker's long-lived context (its gate, its store) in
    the worker process; ``close_worker_ctx(ctx)`` closes it and may return a usage dict.
    ``done_ids(ctx)`` lists ids already made durable; a worker consults it only after a fault
    (restarted actor, re-submitted item) to skip work a killed attempt finished.
    ``on_outcome`` is called on the driver for every outcome (progress display, failure log);
    when it returns False no new item is started (items in flight still finish).

    An item whose worker is lost beyond Ray's own retries is re-submitted by the driver to a
    live worker, up to ``max_item_attempts`` times, then reported as ``lost``. Workers the
    cluster cannot place within ``placement_timeout_s`` are dropped (the run goes on with the
    others); none placed is an :class:`EngineError` naming the resources asked for.
    """
    import itertools

    import ray

    stream = iter(items)
    first = next(stream, _NOTHING)
    if first is _NOTHING:
        return EngineReport()  # nothing to do (a fully resumed run): start no cluster, no workers
    stream = itertools.chain([first], stream)
    started = connect(address)
    report = EngineReport()
    t0 = time.perf_counter()
    actors: list[Any] = []
    try:
        n = workers or _default_workers(num_cpus)
        actor_cls = ray.remote(RayWorker).options(
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            resources=resources or {},
            max_restarts=max_restarts,
            max_task_retries=max_task_retries,
            max_concurrency=worker_in_flight + 4,  # + control calls (ready, close)
            scheduling_strategy="SPREAD",
        )
        actors = [
            actor_cls.remote(
                i, n, make_worker_ctx, process_item, item_id, done_ids, close_worker_ctx
            )
            for i in range(n)
        ]
        actors, infos = _place(ray, actors, placement_timeout_s, num_cpus, num_gpus)
        n = report.workers = len(actors)
        if on_workers is not None:
            on_workers(infos)
        pids: dict[int, set[int]] = {i.index: {i.pid} for i in infos}
        _drive(
            ray,
            actors,
            stream,
            item_id,
            worker_in_flight,
            max_item_attempts,
            report,
            pids,
            on_outcome,
        )
        report.worker_restarts = sum(len(p) - 1 for p in pids.values())
        closing = [a.close.remote() for a in actors]
        report.worker_reports = [r for r in _get_all(ray, closing) if isinstance(r, dict)]
        report.usage = merge_usage([r.get("usage", {}) for r in report.worker_reports])
    finally:
        for a in actors:
            ray.kill(a, no_restart=True)
        report.elapsed_s = time.perf_counter() - t0
        if started:
            ray.shutdown()
    return report


def _place(
    ray: Any, actors: list[Any], timeout_s: float, num_cpus: float, num_gpus: float
) -> tuple[list[Any], list[WorkerInfo]]:
    """Wait until the workers are up; keep those the cluster placed in time."""
    refs = [a.ready.remote() for a in actors]
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
    placed = [(a, ref) for a, ref in zip(actors, refs, strict=True) if ref in set(ready)]
    for a, ref in zip(actors, refs, strict=True):
        if ref not in set(ready):
            ray.kill(a, no_restart=True)
    if not placed:
        raise EngineError(
            f"no Ray worker could be placed within {timeout_s:.0f} s (each asks for "
            f"{num_cpus} CPU, {num_gpus} GPU; the cluster has "
            f"{ray.cluster_resources()}); lower --workers or ray.num_cpus, or add nodes"
        )
    if len(placed) < len(actors):
        log.warning(
            "only %d of %d Ray workers could be placed (cluster resources %s); going on with them",
            len(placed),
            len(actors),
            ray.cluster_resources(),
        )
    live = [a for a, _ in placed]
    infos: list[WorkerInfo] = ray.get([ref for _, ref in placed])
    return live, infos


def _default_workers(num_cpus: float) -> int:
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(1, int(cpus // max(num_cpus, 1e-9)))


def _get_all(ray: Any, refs: list[Any]) -> list[Any]:
    out = []
    for ref in refs:
        try:
            out.append(ray.get(ref))
        except Exception as e:  # a worker lost at close: its results are already durable
            out.append({"error": f"{type(e).__name__}: {e}"})
    return out


def _drive(
    ray: Any,
    actors: list[Any],
    items: Iterator[Any],
    item_id: Callable[[Any], str],
    per_worker: int,
    max_attempts: int,
    report: EngineReport,
    pids: dict[int, set[int]],
    on_outcome: Callable[[Outcome], bool | None] | None,
) -> None:
    """Feed items to the least-loaded worker, ≤ ``per_worker`` each; collect outcomes."""
    load = [0] * len(actors)
    flights: dict[Any, _Flight] = {}
    retry_queue: list[_Flight] = []
    epoch = 0
    exhausted = False

    def submit(flight: _Flight) -> None:
        w = min(range(len(actors)), key=load.__getitem__)
        flight.worker = w
        load[w] += 1
        flights[actors[w].process.remote(flight.item, flight.epoch)] = flight

    while True:
        while retry_queue and min(load) < per_worker:
            submit(retry_queue.pop())
        while not exhausted and min(load) < per_worker:
            try:
                item = next(items)
            except StopIteration:
                exhausted = True
                break
            report.submitted += 1
            submit(_Flight(item, -1, 0, 1))
        if not flights:
            if retry_queue:
                continue
            return
        ready, _ = ray.wait(list(flights), num_returns=1)
        more, _ = ray.wait(list(flights), num_returns=len(flights), timeout=0)
        for ref in {*ready, *more}:
            flight = flights.pop(ref)
            load[flight.worker] -= 1
            try:
                outcome: Outcome = ray.get(ref)
            except ray.exceptions.RayError as e:
                # Ray gave up on this call (actor lost beyond its retries): the driver re-submits.
                epoch += 1
                if flight.attempts < max_attempts:
                    report.resubmitted += 1
                    retry_queue.append(_Flight(flight.item, -1, epoch, flight.attempts + 1))
                    continue
                outcome = Outcome(
                    id=item_id(flight.item),
                    status="lost",
                    worker=flight.worker,
                    error=f"worker lost {flight.attempts} times: {type(e).__name__}: {e}",
                )
            _count(report, outcome)
            if outcome.pid:
                pids.setdefault(outcome.worker, set()).add(outcome.pid)
            if on_outcome is not None and on_outcome(outcome) is False:
                exhausted = True  # stop feeding; what is in flight still finishes


def _count(report: EngineReport, outcome: Outcome) -> None:
    if outcome.status == "ok":
        report.done += 1
    elif outcome.status == "skipped":
        report.skipped += 1
    elif outcome.status == "lost":
        report.lost += 1
    elif outcome.status == "stopped":
        report.stopped += 1
    else:
        report.failed += 1


_NON_ADDITIVE = ("p50", "p90", "p95", "p99", "mean", "avg", "max", "min", "rate", "model")


def merge_usage(reports: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Sum per-worker usage reports: counts, tokens, images and cost add up; percentiles don't
    (the merged report keeps the largest of them, a conservative bound)."""
    out: dict[str, Any] = {}
    for rep in reports:
        _merge_into(out, rep)
    return out


def _merge_into(out: dict[str, Any], rep: dict[str, Any]) -> None:
    for k, v in rep.items():
        if isinstance(v, dict):
            _merge_into(out.setdefault(k, {}), v)
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            out.setdefault(k, v)
        elif any(tag in k.lower() for tag in _NON_ADDITIVE):
            out[k] = max(out.get(k, v), v)
        else:
            out[k] = out.get(k, 0) + v
