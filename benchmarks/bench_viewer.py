"""Viewer build at scale: time, pages and peak memory for 10k and 100k samples.

Each size is built in its own process (so peak RSS is that build's alone) from a run
directory of tiny images written with RunStore. Prints the figures and the 100k/10k ratios
and writes benchmarks/results/bench_viewer.json.

    python benchmarks/bench_viewer.py            # 10k and 100k (several minutes on 2 cores)
    python benchmarks/bench_viewer.py --sizes 2000 20000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def make_dataset(root: Path, n: int) -> None:
    from PIL import Image

    from intersyn.data.store import RunStore
    from intersyn.schema import Judgement, Round, Sample, TopicPath, Turn

    store = RunStore(root, fsync=False)
    palette = []
    for c in range(64):  # 64 distinct tiny images, shared: the build still handles every turn
        buf = io.BytesIO()
        Image.new("RGB", (16, 16), (c * 4, 255 - c * 4, 128)).save(buf, format="PNG")
        palette.append(buf.getvalue())
    # Judgements are written as they are made: the parent stays small (see _peak_rss_mb).
    jfile = open(root / "judgements.jsonl", "w", encoding="utf-8")  # noqa: SIM115
    for i in range(n):
        sid = f"s{i:07d}"
        ref = store.put_image(sid, "t0", palette[i % 64], seed=i)
        trace = [
            Round(
                stage="answer",
                k=1,
                draft="A short answer.",
                critique="add detail",
                revision="A short answer with one more detail.",
            )
        ]
        turn = Turn(
            index=0,
            question=f"Explain topic {i % 3500} and draw it.",
            answer=f"Answer number {i} " * 5,
            caption="a tiny picture",
            image=ref,
            trace=trace,
        )
        store.commit(
            Sample(
                id=sid,
                topic=TopicPath(domain=f"D{i % 8}", category=f"C{i % 65}", topic=f"T{i % 3500}"),
                turns=[turn],
            )
        )
        judgement = Judgement(
            sample_id=sid,
            turn=0,
            tcc=i % 6,
            icc=(i + 1) % 6,
            iq=4,
            its=(i + 2) % 6,
            judge_model="bench",
            rubric_version="1",
        )
        jfile.write(judgement.model_dump_json() + "\n")
    jfile.close()
    store.close()


def _peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's ru_maxrss also counts the RSS of the parent the
    child was spawned from (the high-water mark of the old address space survives exec), so
    read the current address space's VmHWM when /proc has it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_child(dataset: str, site: str, judgements: str) -> None:
    from intersyn.report.viewer import build_site

    t0 = time.perf_counter()
    build_site(dataset, site, judgements=Path(judgements))
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "peak_rss_mb": _peak_rss_mb()}))


def measure(n: int, work: Path) -> dict[str, float]:
    data = work / f"run-{n}"
    t0 = time.perf_counter()
    make_dataset(data, n)
    make_s = time.perf_counter() - t0
    site = work / f"site-{n}"
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data), str(site), str(data / "judgements.jsonl")],
        check=True,
        capture_output=True,
        text=True,
    )
    child = json.loads(out.stdout.strip().splitlines()[-1])
    pages = sum(1 for _ in (site / "s").rglob("*.html"))
    chunks = len(list((site / "data").glob("index-*.js")))
    sizes = [p.stat().st_size for p in site.rglob("*.html")] + [
        p.stat().st_size for p in (site / "data").glob("*.js")
    ]
    result = {
        "samples": n,
        "build_s": round(child["seconds"], 2),
        "samples_per_s": round(n / child["seconds"], 1),
        "peak_rss_mb": round(child["peak_rss_mb"], 1),
        "sample_pages": pages,
        "index_chunks": chunks,
        "largest_file_kb": round(max(sizes) / 1024, 1),
        "dataset_write_s": round(make_s, 1),
    }
    shutil.rmtree(data)
    shutil.rmtree(site)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        build_child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-viewer-") as tmp:
        rows = [measure(n, Path(tmp)) for n in args.sizes]
    for r in rows:
        print(
            f"{r['samples']:>7} samples: build {r['build_s']} s ({r['samples_per_s']}/s), "
            f"peak RSS {r['peak_rss_mb']} MB, {r['sample_pages']} sample pages, "
            f"{r['index_chunks']} index chunks, largest file {r['largest_file_kb']} KB"
        )
    small, big = rows[0], rows[-1]
    ratios = {
        "size_ratio": big["samples"] / small["samples"],
        "time_ratio": round(big["build_s"] / small["build_s"], 2),
        "rss_ratio": round(big["peak_rss_mb"] / small["peak_rss_mb"], 2),
    }
    print(
        f"{big['samples']}/{small['samples']}: time x{ratios['time_ratio']}, peak RSS x{ratios['rss_ratio']}"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "runs": rows,
        "ratios": ratios,
        "cpus": os.cpu_count(),
        "peak_rss": "the build process's own VmHWM (ru_maxrss also counted the parent's RSS)",
    }
    (RESULTS / "bench_viewer.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
