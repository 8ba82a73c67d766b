"""Statistics of a dataset, in one streaming pass: samples, turns, topic coverage, word
lengths of questions / answers / captions, image sizes and failures.

Example::

    from intersyn.data.stats import compute_stats, render_stats
    stats = compute_stats(open_dataset("runs/a"))
    print(stats["samples"], stats["turns"]["histogram"])
"""

from __future__ import annotations

from collections import Counter
from importlib import resources
from typing import Any

from intersyn.data.dataset import Dataset
from intersyn.data.images import decode_image
from intersyn.errors import InputError

TOP = 10


def _distribution(counts: Counter[int]) -> dict[str, float | int]:
    """min / mean / p50 / p90 / max of values held as a histogram (memory: distinct values)."""
    total = sum(counts.values())
    if total == 0:
        return {"count": 0}
    ordered = sorted(counts.items())

    def quantile(q: float) -> int:
        rank = q * (total - 1)
        seen = 0
        for value, c in ordered:
            seen += c
            if seen > rank:
                return value
        return ordered[-1][0]

    mean = sum(v * c for v, c in ordered) / total
    return {
        "count": total,
        "min": ordered[0][0],
        "mean": round(mean, 2),
        "p50": quantile(0.5),
        "p90": quantile(0.9),
        "max": ordered[-1][0],
    }


def _hierarchy_size() -> dict[str, int] | None:
    """Sizes of the shipped topic hierarchy, when it is installed (for coverage)."""
    try:
        import yaml

        text = resources.files("intersyn.resources").joinpath("topics.yaml").read_text("utf-8")
        data = yaml.safe_load(text)
        domains = data["domains"]
        categories = [c for d in domains for c in d["categories"]]
        topics = {
            (d["name"], c["name"], t) for d in domains for c in d["categories"] for t in c["topics"]
        }
        return {"domains": len(domains), "categories": len(categories), "topics": len(topics)}
    except Exception:  # no hierarchy shipped yet, or not the documented shape
        return None


def compute_stats(ds: Dataset) -> dict[str, Any]:
    """Every figure of ``intersyn stats`` as a JSON-ready dict."""
    turns_hist: Counter[int] = Counter()
    domains: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    words = {k: Counter[int]() for k in ("question", "answer", "caption")}
    sizes: Counter[str] = Counter()
    images = {"present": 0, "absent": 0, "preview": 0, "unreadable": 0}
    samples = 0
    bad_records = 0
    for rec in ds.records():
        s = rec.sample
        if s is None:
            bad_records += 0 if rec.warning else 1
            continue
        samples += 1
        turns_hist[len(s.turns)] += 1
        domains[s.topic.domain] += 1
        categories[f"{s.topic.domain} / {s.topic.category}"] += 1
        topics[str(s.topic)] += 1
        for i, t in enumerate(s.turns):
            words["question"][len(t.question.split())] += 1
            words["answer"][len(t.answer.split())] += 1
            words["caption"][len(t.caption.split())] += 1
            if t.image is None:
                images["absent"] += 1
                continue
            images["present"] += 1
            images["preview"] += int(t.image.preview)
            w, h = t.image.width, t.image.height
            if w is None or h is None:
                try:
                    data = ds.image_bytes(s, i)
                    w, h = decode_image(data).size if data else (None, None)
                except (InputError, OSError):
                    images["unreadable"] += 1
                    continue
            sizes[f"{w}x{h}"] += 1
    failures = ds.failures()
    reasons = Counter(str(f.get("error", "")).split("\n")[0][:120] for f in failures.values())
    out: dict[str, Any] = {
        "dataset": str(ds.path),
        "kind": ds.kind,
        "samples": samples,
        "bad_records": bad_records,
        "turns": {
            "total": sum(n * c for n, c in turns_hist.items()),
            "histogram": {str(k): v for k, v in sorted(turns_hist.items())},
        },
        "coverage": {
            "domains": len(domains),
            "categories": len(categories),
            "topics": len(topics),
            "top_domains": dict(domains.most_common(TOP)),
            "top_categories": dict(categories.most_common(TOP)),
            "top_topics": dict(topics.most_common(TOP)),
        },
        "words": {k: _distribution(v) for k, v in words.items()},
        "images": {**images, "sizes": dict(sizes.most_common(TOP)), "sizes_top": TOP},
        "failures": {"count": len(failures), "top_reasons": dict(reasons.most_common(5))},
    }
    shipped = _hierarchy_size()
    if shipped is not None:
        out["coverage"]["of_shipped_hierarchy"] = shipped
    return out


def render_stats(stats: dict[str, Any]) -> Any:
    """A rich renderable: a few small tables a person can read at a glance."""
    from rich.console import Group
    from rich.table import Table

    head = Table(title=f"{stats['kind']} dataset {stats['dataset']}", show_header=False)
    head.add_row("samples", str(stats["samples"]))
    head.add_row("turns", str(stats["turns"]["total"]))
    head.add_row(
        "turns per sample", ", ".join(f"{k}: {v}" for k, v in stats["turns"]["histogram"].items())
    )
    cov = stats["coverage"]
    shipped = cov.get("of_shipped_hierarchy") or {}
    for level in ("domains", "categories", "topics"):
        of = f" (shipped hierarchy: {shipped[level]})" if level in shipped else ""
        head.add_row(level, f"{cov[level]}{of}")
    img = stats["images"]
    head.add_row(
        "images",
        f"{img['present']} present, {img['absent']} absent, {img['preview']} preview"
        + (f", {img['unreadable']} unreadable" if img["unreadable"] else ""),
    )
    head.add_row(
        f"image sizes (top {TOP})", ", ".join(f"{k}: {v}" for k, v in img["sizes"].items()) or "-"
    )
    head.add_row("failed samples", str(stats["failures"]["count"]))
    if stats["bad_records"]:
        head.add_row("unreadable records", f"{stats['bad_records']} (run `intersyn validate`)")

    words = Table(title="words per turn")
    for col in ("", "min", "mean", "p50", "p90", "max"):
        words.add_column(col, justify="right" if col else "left")
    for name, d in stats["words"].items():
        words.add_row(name, *(str(d.get(k, "-")) for k in ("min", "mean", "p50", "p90", "max")))

    top = Table(title="top domains / topics")
    top.add_column("domain")
    top.add_column("samples", justify="right")
    top.add_column("topic")
    top.add_column("samples", justify="right")
    d_items = list(cov["top_domains"].items())
    t_items = list(cov["top_topics"].items())
    for i in range(max(len(d_items), len(t_items))):
        d = d_items[i] if i < len(d_items) else ("", "")
        t = t_items[i] if i < len(t_items) else ("", "")
        top.add_row(str(d[0]), str(d[1]), str(t[0]), str(t[1]))
    parts: list[Any] = [head, words, top]
    if stats["failures"]["count"]:
        fail = Table(title="failure reasons")
        fail.add_column("reason")
        fail.add_column("samples", justify="right")
        for reason, n in stats["failures"]["top_reasons"].items():
            fail.add_row(reason, str(n))
        parts.append(fail)
    return Group(*parts)
