"""Rating app under load: 20 concurrent scripted annotators against a real uvicorn server on
127.0.0.1, submitting for a bounded time; then the same with the server killed (SIGKILL) mid-load.

    python benchmarks/bench_annotate.py                   # 20 annotators, 20 s + 8 s kill phase
    python benchmarks/bench_annotate.py --annotators 20 --seconds 30

Each annotator is its own HTTP client (Bearer token) that asks for its next item, submits four
scores with a unique comment, and, once its queue is done, keeps editing earlier ratings. Every
acknowledged submit (HTTP 200) is recorded client-side and checked against the database:

- clean phase: the edit history holds exactly the acknowledged submits (none lost, none
  duplicated) and each current rating is the last acknowledged one;
- kill phase: the server is SIGKILLed while submits are in flight, restarted from the database,
  and every acknowledged submit is still there; at most the in-flight ones (≤ one per
  annotator) may have been committed without an acknowledgement.

Prints submit latency (p50/p95/p99), throughput, and the p95 ratio of 20 annotators to one
(same run, same machine). Results go to benchmarks/results/bench_annotate.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DIMS = ("tcc", "icc", "iq", "its")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_dataset(root: Path, samples: int) -> Path:
    sys.path.insert(0, str(ROOT))
    from tests.test_annotate_support import make_run

    return make_run(root, samples=samples, turns=2)


class Server:
    def __init__(self, db: Path, port: int, log: Path) -> None:
        self.port = port
        self.log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "intersyn",
                "annotate",
                "serve",
                "--db",
                str(db),
                "--port",
                str(port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited: {log.read_text()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit("server did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.log.close()


@dataclass
class Annotator:
    name: str
    token: str
    rng: random.Random
    acked: list[dict[str, Any]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    in_flight: dict[str, Any] | None = None
    errors: Counter[str] = field(default_factory=Counter)


async def annotate(a: Annotator, base: str, deadline: float, size: int) -> None:
    """Submit until ``deadline``: next unrated item first, then edits of random earlier ones."""
    headers = {"authorization": f"Bearer {a.token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        k = 0
        while time.perf_counter() < deadline:
            try:
                me = (await client.get("/api/me")).json()
                pos = me["next"] or a.rng.randint(1, size)
                scores = {d: a.rng.randint(0, 5) for d in DIMS}
                comment = f"{a.name}#{k}"
                k += 1
                a.in_flight = {"position": pos, "comment": comment, **scores}
                t0 = time.perf_counter()
                r = await client.post(
                    f"/api/items/{pos}", json={"action": "rate", **scores, "comment": comment}
                )
                dt = time.perf_counter() - t0
            except (httpx.HTTPError, ValueError) as e:
                a.errors[type(e).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            if r.status_code == 200:
                a.latencies.append(dt)
                a.acked.append(a.in_flight)
            else:
                a.errors[f"http {r.status_code}"] += 1
            a.in_flight = None


async def load(annotators: list[Annotator], base: str, seconds: float, size: int) -> float:
    deadline = time.perf_counter() + seconds
    t0 = time.perf_counter()
    await asyncio.gather(*(annotate(a, base, deadline, size) for a in annotators))
    return time.perf_counter() - t0


def fsync_ms(folder: Path, n: int = 100) -> float:
    """Median time of one 4 KiB write + fsync here: the floor of a durable commit."""
    times = []
    fd = os.open(folder / "fsync.probe", os.O_WRONLY | os.O_CREAT)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            times.append(time.perf_counter() - t0)
    finally:
        os.close(fd)
    return round(1000 * pct(times, 0.5), 2)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def check(db: Any, annotators: list[Annotator], *, allow_unacked: bool) -> dict[str, Any]:
    """Compare the database with what clients saw acknowledged."""
    history = list(db.history())
    stored = Counter(h["comment"] for h in history)
    acked = [c["comment"] for a in annotators for c in a.acked]
    lost = [c for c in acked if stored[c] == 0]
    duplicated = [c for c, n in stored.items() if n > 1]
    unacked = sorted(set(stored) - set(acked))
    in_flight = {a.in_flight["comment"] for a in annotators if a.in_flight}
    # current rating of each (annotator, item) = its last stored submit
    last: dict[tuple[str, str, int], str] = {}
    for h in history:
        last[(h["annotator"], h["sample_id"], h["turn"])] = h["comment"]
    current = {(r.annotator, r.sample_id, r.turn): r.comment for r in db.ratings()}
    return {
        "acknowledged": len(acked),
        "stored": len(history),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "committed_unacknowledged": len(unacked),
        "unacknowledged_were_in_flight": set(unacked) <= in_flight,
        "current_is_last_submit": current == last,
        "ok": not lost
        and not duplicated
        and current == last
        and (set(unacked) <= in_flight if allow_unacked else not unacked),
    }


def run_phase(
    db_path: Path, tokens: dict[str, str], n: int, seconds: float, port: int, log: Path, seed: int
) -> tuple[list[Annotator], float, int]:
    from intersyn.annotate.db import AnnotationDB

    db = AnnotationDB(db_path)
    names = sorted(tokens)[:n]
    size = min(db.queue_size(a) for a in names)
    annotators = [Annotator(a, tokens[a], random.Random(f"{seed}:{a}")) for a in names]
    server = Server(db_path, port, log)
    try:
        wall = asyncio.run(load(annotators, server.base, seconds, size))
    finally:
        server.stop()
    return annotators, wall, size


def summary(annotators: list[Annotator], wall: float) -> dict[str, Any]:
    lat = [x for a in annotators for x in a.latencies]
    return {
        "annotators": len(annotators),
        "submits": len(lat),
        "submits_per_s": round(len(lat) / wall, 1),
        "p50_ms": round(1000 * pct(lat, 0.50), 2),
        "p95_ms": round(1000 * pct(lat, 0.95), 2),
        "p99_ms": round(1000 * pct(lat, 0.99), 2),
        "errors": dict(sum((a.errors for a in annotators), Counter())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--annotators", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--kill-after", type=float, default=8.0)
    ap.add_argument("--samples", type=int, default=150, help="dialogues of 2 turns")
    ap.add_argument("--overlap", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from intersyn.annotate.db import AnnotationDB
    from intersyn.annotate.prepare import prepare

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        run = make_dataset(tmp / "run", args.samples)
        names = [f"ann{i:02d}" for i in range(args.annotators)]
        results: dict[str, Any] = {
            "config": vars(args),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
            "fsync_ms_median": fsync_ms(tmp),
        }

        def fresh(tag: str) -> tuple[Path, dict[str, str]]:
            db = AnnotationDB(tmp / f"{tag}.sqlite")
            links = prepare(db, run, names, args.overlap)
            assert links is not None
            return db.path, links.tokens

        # one annotator alone: the latency floor on this machine, for the ratio
        path, tokens = fresh("single")
        solo, wall, _ = run_phase(
            path, tokens, 1, min(args.seconds, 10), free_port(), tmp / "s.log", args.seed
        )
        results["single"] = summary(solo, wall) | {
            "check": check(AnnotationDB(path), solo, allow_unacked=False)
        }

        # N concurrent annotators, clean stop
        path, tokens = fresh("load")
        many, wall, size = run_phase(
            path, tokens, args.annotators, args.seconds, free_port(), tmp / "l.log", args.seed
        )
        results["load"] = summary(many, wall) | {
            "queue_size": size,
            "check": check(AnnotationDB(path), many, allow_unacked=False),
        }
        results["p95_ratio_load_vs_single"] = round(
            results["load"]["p95_ms"] / results["single"]["p95_ms"], 2
        )

        # N concurrent annotators, server SIGKILLed mid-load, restarted from the database
        path, tokens = fresh("kill")
        killed = [Annotator(a, tokens[a], random.Random(f"k{args.seed}:{a}")) for a in names]
        port = free_port()
        server = Server(path, port, tmp / "k.log")
        size = min(AnnotationDB(path).queue_size(a) for a in names)

        async def load_then_kill() -> float:
            task = asyncio.ensure_future(load(killed, server.base, args.kill_after + 30, size))
            await asyncio.sleep(args.kill_after)
            server.kill()  # submits are in flight right now
            await asyncio.sleep(0.5)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            return args.kill_after

        wall = asyncio.run(load_then_kill())
        server.stop()
        restarted = Server(path, port, tmp / "k2.log")  # must come back with everything
        restarted.stop()
        results["kill"] = summary(killed, wall) | {
            "check": check(AnnotationDB(path), killed, allow_unacked=True)
        }

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_annotate.json").write_text(json.dumps(results, indent=2) + "\n")
    for phase in ("single", "load", "kill"):
        r = results[phase]
        c = r["check"]
        print(
            f"{phase:>6}: {r['annotators']:>2} annotators  {r['submits']:>6} submits"
            f"  {r['submits_per_s']:>7}/s  p50 {r['p50_ms']:>7} ms  p95 {r['p95_ms']:>7} ms"
            f"  p99 {r['p99_ms']:>7} ms  lost {c['lost']}  duplicated {c['duplicated']}"
            f"  committed-unacknowledged {c['committed_unacknowledged']}  ok {c['ok']}"
        )
    print(
        f"p95 submit latency, {args.annotators} annotators vs 1: x{results['p95_ratio_load_vs_single']}"
    )
    print(
        f"(one 4 KiB write+fsync on this disk: {results['fsync_ms_median']} ms median; every"
        " submit is committed with synchronous=FULL before it is acknowledged)"
    )
    if not all(results[p]["check"]["ok"] for p in ("single", "load", "kill")):
        raise SystemExit("a rating was lost or duplicated")


if __name__ == "__main__":
    main()
