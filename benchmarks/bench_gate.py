"""Benchmark of the model gate against the scripted OpenAI-compatible server.

The server runs in its own process (``intersyn models scripted-server``) so the CPU time this
process uses is the client's alone. Three parts:

1. throughput: 500 ms latency, capacity 64 → ideal 128 calls/s; achieved rate / ideal, and
   client CPU time per call;
2. cache hits: cost per call of a reply replayed from the SQLite cache;
3. faults: 10% 5xx, 5% 429, 2% hangs — every call ends in a result or a named error, retries
   are counted, nothing hangs (each call is bounded by the role's timeout and max_retries).

Run: ``python benchmarks/bench_gate.py [--quick]``; writes benchmarks/results/bench_gate.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from intersyn.config import Limits
from intersyn.errors import ModelError
from intersyn.models import ChatMessage, Models
from intersyn.models.openai_backend import OpenAIChat

RESULTS = Path(__file__).resolve().parent / "results" / "bench_gate.json"


@contextmanager
def scripted_server(*args: str) -> Iterator[str]:
    """Run ``intersyn models scripted-server`` in a subprocess; yield its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "intersyn", "models", "scripted-server", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("scripted server did not start")
            try:
                httpx.get(f"{base}/models", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _msg(i: int) -> list[ChatMessage]:
    return [ChatMessage("user", f"Question number {i}: what is shown in the picture?")]


async def _throughput(base: str, n: int) -> dict[str, Any]:
    limits = Limits(concurrency=128, timeout_s=30, max_retries=2)
    models = Models(chat={"writer": OpenAIChat("scripted", [base])}, limits={"writer": limits})
    await models.chat("writer", _msg(-1))  # connection warm-up, not counted
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(models.chat("writer", _msg(i)) for i in range(n)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    report = models.usage_report()["roles"]["writer"]
    await models.aclose()
    ideal = 64 / 0.5
    return {
        "calls": n,
        "wall_s": round(wall, 3),
        "calls_per_s": round(n / wall, 2),
        "ideal_calls_per_s": ideal,
        "ratio_to_ideal": round(n / wall / ideal, 3),
        "client_cpu_ms_per_call": round(cpu / n * 1000, 3),
        "latency_p50_s": report["latency_s"]["p50"],
        "latency_p99_s": report["latency_s"]["p99"],
    }


async def _cache_hits(base: str, n: int, folder: Path) -> dict[str, Any]:
    models = Models(chat={"writer": OpenAIChat("scripted", [base])}, cache=folder / "c.sqlite")
    t0 = time.perf_counter()
    for i in range(n):
        await models.chat("writer", _msg(i), seed=i)
    miss_s = (time.perf_counter() - t0) / n
    cpu0, t0 = time.process_time(), time.perf_counter()
    for i in range(n):
        await models.chat("writer", _msg(i), seed=i)
    hit_s, hit_cpu = (time.perf_counter() - t0) / n, (time.process_time() - cpu0) / n
    hits = models.usage_report()["roles"]["writer"]["cache_hits"]
    await models.aclose()
    return {
        "calls": n,
        "hits": hits,
        "hit_ms_per_call": round(hit_s * 1000, 3),
        "hit_cpu_ms_per_call": round(hit_cpu * 1000, 3),
        "uncached_ms_per_call_zero_latency_server": round(miss_s * 1000, 3),
        "hit_vs_uncached": round(hit_s / miss_s, 3),
    }


async def _faults(base: str, n: int, max_retries: int) -> dict[str, Any]:
    limits = Limits(
        concurrency=64,
        timeout_s=1.5,
        max_retries=max_retries,
        backoff_base_s=0.05,
        backoff_max_s=1.0,
    )
    models = Models(chat={"writer": OpenAIChat("scripted", [base])}, limits={"writer": limits})
    outcomes: dict[str, int] = {"ok": 0, "named_error": 0, "other_error": 0}
    named: list[str] = []

    async def one(i: int) -> None:
        try:
            await models.chat("writer", _msg(i), sample_id=f"s{i}")
            outcomes["ok"] += 1
        except ModelError as e:
            outcomes["named_error"] += 1
            named.append(str(e))
        except Exception:
            outcomes["other_error"] += 1

    # Bound per call: (max_retries + 1) × timeout + backoff ≤ about 12 s; the guard is far above.
    t0 = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout=600)
    wall = time.perf_counter() - t0
    report = models.usage_report()["roles"]["writer"]
    await models.aclose()
    every_error_named = all(
        "writer" in m and "scripted" in m and base in m and "sample s" in m for m in named
    )
    return {
        "calls": n,
        "max_retries": max_retries,
        **outcomes,
        "ended": sum(outcomes.values()),
        "every_call_ended": sum(outcomes.values()) == n,
        "every_error_names_role_model_endpoint_sample": every_error_named,
        "retries": report["retries"],
        "errors_by_kind": report["errors"],
        "wall_s": round(wall, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    args = parser.parse_args()
    n_tp, n_cache, n_fault = (384, 200, 200) if args.quick else (1280, 1000, 500)
    out: dict[str, Any] = {"benchmark": "bench_gate", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    with scripted_server("--latency", "0.5", "--capacity", "64") as base:
        out["throughput"] = asyncio.run(_throughput(base, n_tp))
    with scripted_server() as base, tempfile.TemporaryDirectory() as tmp:
        out["cache"] = asyncio.run(_cache_hits(base, n_cache, Path(tmp)))
    fault_args = ["--latency", "0.05", "--capacity", "64", "--retry-after", "0.2", "--seed", "1"]
    fault_args += ["--rate-500", "0.05", "--rate-503", "0.05", "--rate-429", "0.05"]
    fault_args += ["--rate-hang", "0.02"]
    with scripted_server(*fault_args) as base:
        out["faults"] = asyncio.run(_faults(base, n_fault, max_retries=4))
    # Again with one retry only, so some calls run out of retries and must end in named errors.
    with scripted_server(*fault_args) as base:
        out["faults_one_retry"] = asyncio.run(_faults(base, n_fault, max_retries=1))
    tp, cache = out["throughput"], out["cache"]
    print(
        f"throughput: {tp['calls_per_s']} calls/s of ideal {tp['ideal_calls_per_s']} "
        f"(ratio {tp['ratio_to_ideal']}), client CPU {tp['client_cpu_ms_per_call']} ms/call"
    )
    print(
        f"cache hit: {cache['hit_ms_per_call']} ms/call wall, {cache['hit_cpu_ms_per_call']} ms "
        f"CPU ({cache['hit_vs_uncached']} of an uncached call to a zero-latency server)"
    )
    for key in ("faults", "faults_one_retry"):
        f = out[key]
        print(
            f"{key} (max_retries {f['max_retries']}): {f['calls']} calls → {f['ok']} ok, "
            f"{f['named_error']} named errors, {f['other_error']} other; retries {f['retries']}; "
            f"errors {f['errors_by_kind']}; all ended: {f['every_call_ended']} in {f['wall_s']} s; "
            f"errors name role/model/endpoint/sample: "
            f"{f['every_error_names_role_model_endpoint_sample']}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
