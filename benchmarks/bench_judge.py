"""SynJudge figures: judging throughput against the scripted server, and the messy-reply corpus.

    python benchmarks/bench_judge.py            # the issue's sizes (about three minutes)
    python benchmarks/bench_judge.py --quick    # a smoke run

1. Throughput: the scripted OpenAI-compatible server on 127.0.0.1, in its own process as a
   real model server would be, answers each chat request after 1 s and serves at most 64 at
   once (capacity 64), so no client can make more than 64 calls/s — the server-bound rate.
   ``run_judge`` (the real runner, gate, openai backend, response cache and fsync'ed journal)
   judges 1,920 single-turn answers with images, with the judge's concurrency at 2x the
   server's capacity (requests queue at the server, as with vLLM) and at 1x; the figure is
   measured calls/s / server-bound calls/s, after a warm-up run (imports, connections).
   Also run with ``--samples 3`` (three draws per turn: 3 calls per turn), and the same calls
   from a bare ``httpx`` client (no gate, parsing or journal; 64 in flight) as a second
   baseline. Client and server share this machine's 2 cores, so figures vary with other
   load; run it on a quiet machine.
2. Corpus: every reply of tests/data/judge_replies/corpus.jsonl parsed; counts of well-formed
   replies parsed right, ill-formed replies left unparsed, and replies parsed wrong.
3. Statistics: seconds for ``intersyn agree``'s numbers (8 metrics x 5 groups with 1,000
   bootstrap resamples) on 4,000 turns x 3 annotators, and for the summary.

Figures are printed and written to benchmarks/results/bench_judge.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = ROOT / "tests" / "data" / "judge_replies" / "corpus.jsonl"


def _answers(folder: Path, n: int) -> Path:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "green").save(buf, "PNG")
    (folder / "img.png").write_bytes(buf.getvalue())
    path = folder / "answers.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            row = {
                "id": f"a{i:06d}",
                "question": f"Explain and draw thing {i}",
                "answer": "Some text.",
                "image": "img.png",
            }
            f.write(json.dumps(row) + "\n")
    return path


@contextlib.contextmanager
def scripted_server(latency: float, capacity: int) -> Iterator[str]:
    """The scripted server in its own process (as a real vLLM server would be); its base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "intersyn", "models", "scripted-server", "--port", str(port)]
    cmd += ["--latency", str(latency), "--capacity", str(capacity)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the scripted server did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def throughput(
    url: str, n: int, samples: int, concurrency: int, latency: float, capacity: int
) -> dict[str, Any]:
    from intersyn.config import load_config
    from intersyn.judge.runner import run_judge
    from intersyn.judge.store import load_judgements

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        answers = _answers(t, n)
        cfg = load_config(
            None,
            {
                "judge": {
                    "backend": "openai",
                    "model": "scripted-vlm",
                    "base_url": url,
                    "vision": True,
                    "limits": {"concurrency": concurrency, "timeout_s": 60},
                },
                "max_in_flight": concurrency,
            },
        )
        start = time.perf_counter()
        set_dir = run_judge(answers, cfg, t / "out", samples=samples)
        wall = time.perf_counter() - start
        js = load_judgements(set_dir)
        ok = sum(1 for j in js if j.status == "ok")
    calls = n * samples
    bound_calls_per_s = capacity / latency
    return {
        "turns": n,
        "samples_per_turn": samples,
        "client_concurrency": concurrency,
        "calls": calls,
        "judged_ok": ok,
        "wall_s": round(wall, 2),
        "calls_per_s": round(calls / wall, 2),
        "turns_per_s": round(n / wall, 2),
        "server_bound_calls_per_s": bound_calls_per_s,
        "ratio_to_server_bound": round(calls / wall / bound_calls_per_s, 3),
    }


def bare_client(
    url: str, n: int, concurrency: int, latency: float, capacity: int
) -> dict[str, Any]:
    """The same number of chat calls from a bare ``httpx.AsyncClient`` (no gate, no parsing,
    no journal), same image and JSON schema: what a minimal client gets from this server."""
    import asyncio
    import base64

    from intersyn.judge.parse import SCORE_SCHEMA

    buf = io.BytesIO()
    from PIL import Image

    Image.new("RGB", (64, 64), "green").save(buf, "PNG")
    image = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    fmt = {"type": "json_schema", "json_schema": {"name": "scores", "schema": SCORE_SCHEMA}}

    async def go() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
            slots = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                content = [
                    {"type": "text", "text": f"Judge answer {i}"},
                    {"type": "image_url", "image_url": {"url": image}},
                ]
                body = {
                    "model": "scripted-vlm",
                    "messages": [{"role": "user", "content": content}],
                    "response_format": fmt,
                }
                async with slots:
                    r = await client.post("/chat/completions", json=body)
                    r.raise_for_status()

            await asyncio.gather(*(one(i) for i in range(min(n, concurrency))))  # warm-up
            start = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            return time.perf_counter() - start

    wall = asyncio.run(go())
    return {
        "calls": n,
        "client_concurrency": concurrency,
        "wall_s": round(wall, 2),
        "calls_per_s": round(n / wall, 2),
        "ratio_to_server_bound": round(n / wall / (capacity / latency), 3),
    }


def agreement_speed(n: int = 4000, annotators: int = 3, n_boot: int = 1000) -> dict[str, Any]:
    """Seconds for ``compare`` (8 metrics x 5 groups, bootstrap CIs) and the summary."""
    import numpy as np

    from intersyn.judge.agreement import compare
    from intersyn.judge.summary import summarize
    from intersyn.schema import DIMENSIONS, Judgement, Rating

    rng = np.random.default_rng(0)
    js = [
        Judgement(
            sample_id=f"s{i}",
            turn=0,
            judge_model="m",
            rubric_version="r@1",
            **{d: int(rng.integers(0, 6)) for d in DIMENSIONS},
        )
        for i in range(n)
    ]
    rs = [
        Rating(
            sample_id=f"s{i}",
            turn=0,
            annotator=f"a{a}",
            **{d: int(rng.integers(0, 6)) for d in DIMENSIONS},
        )
        for i in range(n)
        for a in range(annotators)
    ]
    start = time.perf_counter()
    compare({"m": js}, rs, n_boot=n_boot)
    agree_s = time.perf_counter() - start
    start = time.perf_counter()
    summarize(js, n_boot=n_boot)
    summary_s = time.perf_counter() - start
    return {
        "turns": n,
        "annotators": annotators,
        "n_boot": n_boot,
        "agree_s": round(agree_s, 2),
        "summary_s": round(summary_s, 2),
    }


def corpus() -> dict[str, Any]:
    from intersyn.judge.parse import parse_reply

    rows = [json.loads(x) for x in CORPUS.read_text("utf-8").splitlines() if x.strip()]
    well = [r for r in rows if r["expected"] is not None]
    ill = [r for r in rows if r["expected"] is None]
    right = wrong = unparsed_well = parsed_ill = 0
    for r in rows:
        got = parse_reply(r["reply"], finish_reason=r.get("finish_reason")).scores
        if r["expected"] is not None:
            right += got == r["expected"]
            unparsed_well += got is None
            wrong += got is not None and got != r["expected"]
        else:
            parsed_ill += got is not None
            wrong += got is not None
    start = time.perf_counter()
    reps = 20
    for _ in range(reps):
        for r in rows:
            parse_reply(r["reply"], finish_reason=r.get("finish_reason"))
    per_reply_us = (time.perf_counter() - start) / (reps * len(rows)) * 1e6
    return {
        "replies": len(rows),
        "well_formed": len(well),
        "well_formed_parsed_right": right,
        "well_formed_left_unparsed": unparsed_well,
        "ill_formed": len(ill),
        "ill_formed_unparsed": len(ill) - parsed_ill,
        "parsed_wrong": wrong,
        "parse_us_per_reply": round(per_reply_us, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    args = ap.parse_args()
    n = 192 if args.quick else 1920
    latency, capacity = 1.0, 64
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {platform.python_version()}, 2 cores",
        "corpus": corpus(),
        "agreement_speed": agreement_speed(),
    }
    with scripted_server(latency, capacity) as url:
        throughput(url, 64, 1, capacity, latency, capacity)  # warm-up: imports, connections
        runs = {
            "k1_concurrency_2x_capacity": (n, 1, 2 * capacity),
            "k1_concurrency_eq_capacity": (n, 1, capacity),
            "k3_concurrency_2x_capacity": (n // 3, 3, 2 * capacity),
        }
        for key, (turns, k, conc) in runs.items():
            result[key] = throughput(url, turns, k, conc, latency, capacity)
        # At the server's capacity: more in flight only queues at the server (and costs a
        # bare httpx pool more than it gains), so this is the best a minimal client gets.
        bare = bare_client(url, n, capacity, latency, capacity)
        result["bare_httpx_client"] = bare
        for key in runs:
            result[key]["ratio_to_bare_client"] = round(
                result[key]["calls_per_s"] / bare["calls_per_s"], 3
            )
    c = result["corpus"]
    print(
        f"corpus: {c['replies']} replies; well-formed parsed right {c['well_formed_parsed_right']}"
        f"/{c['well_formed']}; ill-formed unparsed {c['ill_formed_unparsed']}/{c['ill_formed']}; "
        f"parsed wrong {c['parsed_wrong']}; {c['parse_us_per_reply']} µs per reply"
    )
    a = result["agreement_speed"]
    print(
        f"agree: {a['turns']} turns x {a['annotators']} annotators, {a['n_boot']} bootstrap "
        f"resamples: {a['agree_s']} s; summary {a['summary_s']} s"
    )
    for key in runs:
        r = result[key]
        print(
            f"{key}: {r['turns']} turns x {r['samples_per_turn']} draws = {r['calls']} calls in "
            f"{r['wall_s']} s = {r['calls_per_s']} calls/s; server-bound "
            f"{r['server_bound_calls_per_s']:.0f}/s; ratio {r['ratio_to_server_bound']}; "
            f"vs a bare httpx client {r['ratio_to_bare_client']}"
        )
    b = result["bare_httpx_client"]
    print(
        f"bare httpx client: {b['calls']} calls in {b['wall_s']} s = {b['calls_per_s']} calls/s; "
        f"ratio to server-bound {b['ratio_to_server_bound']}"
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_judge.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
