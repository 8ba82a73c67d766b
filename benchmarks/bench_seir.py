"""SEIR engine speed and memory against the scripted OpenAI-compatible server on 127.0.0.1.

    python benchmarks/bench_seir.py                    # the issue's sizes (several minutes)
    python benchmarks/bench_seir.py --quick            # small sizes, a smoke run

1. Throughput: chat latency 300 ms (capacity 64), images 1 s (capacity 16); 500 single-turn
   samples, K = 3. intersyn (many samples in flight) against a sequential runner that makes
   the same calls one at a time (one sample after another, each call awaited before the next,
   as the public reference scripts do: `max_in_flight: 1`), measured on a smaller n;
   intersyn runs with max_in_flight = chat capacity + 2 × image capacity (docs/seir.md); the ratio of their rates is
   the speedup. Efficiency = the server-bound ideal time (calls × latency / capacity, for the
   busier of the two servers, from the calls this run really made) / the measured time.
2. Memory: 20,000 single-turn samples against a zero-latency server with the preview painter;
   `intersyn generate` runs as its own process and its RSS is sampled as it runs: the peak,
   and the RSS at 20/50/90 % of the run (flat = streaming, memory does not grow with N).

Figures are printed and written to benchmarks/results/bench_seir.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
FIXTURES = ROOT / "tests" / "fixtures" / "seir"


def _resources() -> dict[str, str]:
    from intersyn.seir.topics import default_path

    out = {}
    for key, name in (("topics", "topics.yaml"), ("templates", "templates.yaml")):
        if not default_path(name).exists():  # shipped file not there yet: a small fixture
            out[key] = str(FIXTURES / f"{key}_small.yaml")
    return out


def critic_responder(body: dict[str, Any]) -> str | None:
    """Deterministic critiques (approve about half the time, by content); defaults otherwise."""
    rf = body.get("response_format") or {}
    schema = (rf.get("json_schema") or {}).get("schema") or rf.get("schema") or {}
    if "ok" not in schema.get("properties", {}):
        return None
    digest = hashlib.sha1(json.dumps(body.get("messages"), sort_keys=True).encode()).digest()
    ok = digest[0] % 2 == 0
    return json.dumps({"ok": ok, "suggestions": [] if ok else ["say more about the subject"]})


def _config(chat_url: str, painter: dict[str, Any], *, k: int, in_flight: int) -> dict[str, Any]:
    limits = {"concurrency": 64, "endpoint_concurrency": 64, "timeout_s": 60, "max_retries": 3}
    return {
        "writer": {
            "backend": "openai",
            "model": "scripted",
            "base_url": chat_url,
            "limits": limits,
        },
        "critic": {"use": "writer"},
        "painter": painter,
        "seir": {
            "k_question": k,
            "k_answer": k,
            "k_image": k,
            "turn_weights": [1.0],
            "image_size": [64, 64],
            **_resources(),
        },
        "max_in_flight": in_flight,
        "seed": 1,
    }


def _run(cfg: dict[str, Any], out: Path, n: int) -> tuple[float, dict[str, Any]]:
    """`intersyn generate` in its own process (the servers keep this one's CPU); returns the
    engine's own elapsed time (from run.json, start-up excluded) and the session counts."""
    cfg_path = out.with_suffix(".yaml")
    cfg_path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "intersyn", "generate", "-c", str(cfg_path), "-o", str(out)]
    cmd += ["-n", str(n), "--no-progress", "--no-finalize"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"generate failed:\n{done.stdout}\n{done.stderr}")
    session = json.loads((out / "run.json").read_text())["last_session"]
    # CPU seconds of the generate process: near its wall time means the client is CPU-bound.
    session["cpu_s"] = round(
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1
    )
    return float(session["elapsed_s"]), session


def throughput(n: int, n_seq: int, work: Path) -> dict[str, Any]:
    from intersyn.testing.server import ScriptedServer

    chat_lat, img_lat, chat_cap, img_cap = 0.3, 1.0, 64, 16
    with (
        ScriptedServer(latency_s=chat_lat, capacity=chat_cap, responder=critic_responder) as chat,
        ScriptedServer(latency_s=img_lat, capacity=img_cap) as images,
    ):
        painter = {
            "backend": "openai-images",
            "model": "scripted-image",
            "base_url": images.base_url,
            "limits": {"concurrency": img_cap, "timeout_s": 60},
        }
        cfg = _config(chat.base_url, painter, k=3, in_flight=chat_cap + 2 * img_cap)
        c0, i0 = chat.stats.served, images.stats.served
        t_par, r_par = _run(cfg, work / "parallel", n)
        chat_calls, img_calls = chat.stats.served - c0, images.stats.served - i0
        peak_chat, peak_img = chat.stats.peak_concurrency, images.stats.peak_concurrency
        seq = dict(cfg, max_in_flight=1)
        c1, i1 = chat.stats.served, images.stats.served
        t_seq, r_seq = _run(seq, work / "sequential", n_seq)
        seq_calls = (chat.stats.served - c1, images.stats.served - i1)
    ideal = max(chat_calls * chat_lat / chat_cap, img_calls * img_lat / img_cap)
    rate_par, rate_seq = r_par["done"] / t_par, r_seq["done"] / t_seq
    return {
        "n": n,
        "n_sequential": n_seq,
        "k": 3,
        "seconds": round(t_par, 2),
        "seconds_sequential": round(t_seq, 2),
        "samples_per_s": round(rate_par, 3),
        "samples_per_s_sequential": round(rate_seq, 4),
        "speedup": round(rate_par / rate_seq, 1),
        "chat_calls": chat_calls,
        "image_calls": img_calls,
        "calls_sequential": list(seq_calls),
        "server_bound_ideal_s": round(ideal, 2),
        "efficiency": round(ideal / t_par, 3),
        "peak_concurrency": {"chat": peak_chat, "images": peak_img},
        "failed": r_par["failed"],
        "generate_cpu_s": r_par["cpu_s"],
        "load_average_1m": round(__import__("os").getloadavg()[0], 2),
    }


def memory(n: int, work: Path, k: int) -> dict[str, Any]:
    import psutil

    from intersyn.testing.server import ScriptedServer

    with ScriptedServer(latency_s=0.0, capacity=64, record_requests=False) as chat:
        cfg = _config(chat.base_url, {"backend": "preview"}, k=k, in_flight=64)
        cfg_path = work / "mem.yaml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        out = work / "mem-run"
        cmd = [sys.executable, "-m", "intersyn", "generate", "-c", str(cfg_path), "-o", str(out)]
        cmd += ["-n", str(n), "--no-progress", "--no-finalize"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        ps = psutil.Process(proc.pid)
        trace: list[tuple[float, int]] = []
        while proc.poll() is None:
            try:
                trace.append((time.perf_counter() - t0, ps.memory_info().rss))
            except psutil.Error:
                break
            time.sleep(0.25)
        output = proc.stdout.read().decode() if proc.stdout else ""
        elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"generate failed:\n{output}")
    mib = 1024 * 1024

    def at(frac: float) -> float:
        t = frac * elapsed
        return round(min(trace, key=lambda p: abs(p[0] - t))[1] / mib, 1)

    return {
        "n": n,
        "k": k,
        "seconds": round(elapsed, 1),
        "samples_per_s": round(n / elapsed, 1),
        "peak_rss_mib": round(max(r for _, r in trace) / mib, 1),
        "rss_mib_at": {"20%": at(0.2), "50%": at(0.5), "90%": at(0.9)},
        "growth_20_to_90_mib": round(at(0.9) - at(0.2), 1),
        "output": output.strip().splitlines()[-3:],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--n-seq", type=int, default=6)
    ap.add_argument("--n-mem", type=int, default=20_000)
    ap.add_argument("--mem-k", type=int, default=0, help="K of the memory run (0: fewest calls)")
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.n, args.n_seq, args.n_mem = 100, 3, 1000
    out: dict[str, Any] = {"machine": f"{__import__('os').cpu_count()} cores"}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            out["throughput"] = tp = throughput(args.n, args.n_seq, work)
            print(
                f"throughput: {tp['samples_per_s']} samples/s ({tp['n']} samples, K=3, "
                f"{tp['seconds']} s) vs sequential {tp['samples_per_s_sequential']} samples/s "
                f"({tp['n_sequential']} samples): speedup {tp['speedup']}x; server-bound ideal "
                f"{tp['server_bound_ideal_s']} s → efficiency {tp['efficiency']}"
            )
        if not args.skip_memory:
            out["memory"] = mem = memory(args.n_mem, work, args.mem_k)
            print(
                f"memory: {mem['n']} samples in {mem['seconds']} s, peak RSS "
                f"{mem['peak_rss_mib']} MiB; RSS at 20/50/90 %: {mem['rss_mib_at']} "
                f"(growth {mem['growth_20_to_90_mib']} MiB)"
            )
    RESULTS.mkdir(exist_ok=True)
    name = "bench_seir_quick.json" if args.quick else "bench_seir.json"
    path = RESULTS / name
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.update(out)  # a --skip-* run keeps the other part's last figures
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"wrote {RESULTS / name}")


if __name__ == "__main__":
    main()
