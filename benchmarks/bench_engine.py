"""Local engine vs Ray engine, same scripted server settings, on this machine.

    python benchmarks/bench_engine.py            # the issue's sizes (~12 min; 20,000 samples is 10)
    python benchmarks/bench_engine.py --quick    # small sizes, a smoke run
    python benchmarks/bench_engine.py --only overhead   # one part (~1 min); the other is kept

1. Overhead: `intersyn generate` with the local engine and with `--engine ray` (2 worker
   actors on an already running local Ray cluster, as on a real cluster) against the same
   scripted server (chat latency 100 ms, capacity 64; preview painter), single-turn, K = 1,
   the same samples in flight in total. Rate = samples / the engine's own elapsed time
   (run.json; process and Ray start-up excluded). Overhead = 1 - rate_ray / rate_local, from
   the median rates of ``--repeats`` pairs run in alternating order (one pair swings by
   ±30 % on this shared 2-core machine; every pair is in the results).
2. Driver memory: `intersyn generate --engine ray` for 2,000 and for 20,000 samples against a
   zero-latency server; the driver process's RSS is sampled as it runs (Ray's worker
   processes are not the driver). Flat = the driver does not hold the dataset.

Each generate runs as its own process (the servers keep this one's CPU). Figures are printed
and written to benchmarks/results/bench_engine.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
FIXTURES = ROOT / "tests" / "fixtures" / "seir"


def _config(chat_url: str, in_flight: int) -> dict[str, Any]:
    limits = {"concurrency": 64, "timeout_s": 60, "max_retries": 3}
    return {
        "writer": {
            "backend": "openai",
            "model": "scripted",
            "base_url": chat_url,
            "limits": limits,
        },
        "critic": {"use": "writer"},
        "painter": {"backend": "preview"},
        "seir": {
            "k_question": 1,
            "k_answer": 1,
            "k_image": 1,
            "turn_weights": [1.0],
            "image_size": [64, 64],
            "topics": str(FIXTURES / "topics_small.yaml"),
            "templates": str(FIXTURES / "templates_small.yaml"),
        },
        "max_in_flight": in_flight,
        "seed": 1,
    }


def _generate(
    cfg: dict[str, Any], out: Path, n: int, extra: list[str]
) -> tuple[dict[str, Any], list[float]]:
    """Run `intersyn generate` as its own process; its session counts and RSS samples (MiB)."""
    import psutil

    cfg_path = out.with_suffix(".yaml")
    cfg_path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "intersyn", "generate", "-c", str(cfg_path), "-o", str(out)]
    cmd += ["-n", str(n), "--no-progress", "--no-finalize", *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    rss: list[float] = []
    ps = psutil.Process(proc.pid)

    def sample() -> None:
        while proc.poll() is None:
            try:
                rss.append(ps.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(0.2)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    stdout, stderr = proc.communicate()
    t.join()
    if proc.returncode != 0:
        raise SystemExit(f"generate failed:\n{stdout.decode()}\n{stderr.decode()[-4000:]}")
    return json.loads((out / "run.json").read_text())["last_session"], rss


def overhead(
    address: str, n: int, work: Path, repeats: int = 1, workers: int = 2
) -> dict[str, Any]:
    """Local vs Ray rates, ``repeats`` pairs in alternating order (local first, then Ray first,
    ...) so drifting load on a shared machine hits both engines alike; medians are reported."""
    from statistics import median

    from intersyn.testing.server import ScriptedServer

    in_flight = 64
    pairs: list[dict[str, float]] = []
    with ScriptedServer(latency_s=0.1, capacity=64, record_requests=False) as srv:
        cfg = _config(srv.base_url, in_flight)
        cfg_ray = dict(cfg, ray={"worker_in_flight": in_flight // workers})
        ray_args = ["--engine", "ray", "--address", address, "--workers", str(workers)]
        for r in range(repeats):
            runs: dict[str, dict[str, Any]] = {}
            for engine in ("local", "ray") if r % 2 == 0 else ("ray", "local"):
                out = work / f"{engine}-{r}"
                if engine == "local":
                    runs[engine], _ = _generate(cfg, out, n, ["--engine", "local"])
                else:
                    runs[engine], _ = _generate(cfg_ray, out, n, ray_args)
            local, ray = runs["local"], runs["ray"]
            if (local["done"], ray["done"]) != (n, n):
                raise SystemExit(f"incomplete run: local {local['done']}, ray {ray['done']}")
            rate_local = local["done"] / local["elapsed_s"]
            rate_ray = ray["done"] / ray["elapsed_s"]
            pairs.append(
                {
                    "local": round(rate_local, 2),
                    "ray": round(rate_ray, 2),
                    "overhead": round(1 - rate_ray / rate_local, 3),
                }
            )
    rate_local = median(p["local"] for p in pairs)
    rate_ray = median(p["ray"] for p in pairs)
    return {
        "n": n,
        "server": {"chat_latency_s": 0.1, "capacity": 64, "painter": "preview"},
        "in_flight_total": in_flight,
        "ray_workers": workers,
        "repeats": repeats,
        "local_samples_per_s": round(rate_local, 2),
        "ray_samples_per_s": round(rate_ray, 2),
        "ray_overhead": round(1 - rate_ray / rate_local, 3),
        "pairs": pairs,
        "load_average_1m_at_end": round(os.getloadavg()[0], 2),
    }


def driver_memory(address: str, sizes: list[int], work: Path) -> dict[str, Any]:
    from intersyn.testing.server import ScriptedServer

    out: dict[str, Any] = {}
    with ScriptedServer(latency_s=0.0, capacity=64, record_requests=False) as srv:
        cfg = dict(_config(srv.base_url, 64), ray={"worker_in_flight": 32})
        for n in sizes:
            args = ["--engine", "ray", "--address", address, "--workers", "2"]
            session, rss = _generate(cfg, work / f"mem-{n}", n, args)
            k = len(rss)
            out[str(n)] = {
                "done": session["done"],
                "failed": session["failed"],
                "seconds": session["elapsed_s"],
                "driver_peak_rss_mib": round(max(rss), 1),
                "driver_rss_mib_at_20_50_90pct": [
                    round(rss[int(k * f)], 1) for f in (0.2, 0.5, 0.9)
                ],
            }
    small, large = out[str(sizes[0])], out[str(sizes[-1])]
    out["peak_ratio_large_vs_small"] = round(
        large["driver_peak_rss_mib"] / small["driver_peak_rss_mib"], 3
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument(
        "--n", type=int, help="overhead: samples per run (default 400); kept as overhead_n<N>"
    )
    ap.add_argument(
        "--repeats", type=int, default=5, help="overhead: local/Ray pairs (median reported)"
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=2,
        help="overhead: Ray workers (in-flight split among them); kept as overhead_w<N> if not 2",
    )
    ap.add_argument(
        "--only",
        choices=["overhead", "driver_memory"],
        help="measure one part; the other keeps its figures from the results file",
    )
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    n = args.n or (60 if args.quick else 400)
    key = f"overhead_n{args.n}" if args.n else "overhead"
    if args.workers != 2:
        key += f"_w{args.workers}"
    sizes = [200, 1000] if args.quick else [2000, 20000]
    name = "bench_engine_quick.json" if args.quick else "bench_engine.json"
    path = RESULTS / name
    result: dict[str, Any] = {"machine": "2 CPU cores, no GPU"}
    if args.only and path.exists():
        result = json.loads(path.read_text())
    # A running cluster (one 2-CPU node: this machine), joined by each generate process.
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            if args.only in (None, "overhead"):
                result[key] = overhead(cluster.address, n, work, args.repeats, args.workers)
            if args.only in (None, "driver_memory"):
                result["driver_memory"] = driver_memory(cluster.address, sizes, work)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
