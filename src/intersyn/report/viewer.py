"""The static HTML viewer: ``intersyn view DATASET [--judgements J] --out SITE``.

Layout of a built site (opens from disk; ``intersyn serve SITE`` serves it on 127.0.0.1)::

    index.html                 filters + search over every sample (JavaScript)
    list/page-0001.html        the same list in static pages of 500 (works without JavaScript)
    data/meta.js               counts, facets (domain → category → topics), chunk names
    data/index-0001.js         one row per sample, 500 per chunk (loaded by <script>: file://
                               blocks fetch)
    s/<xx>/<id>.html           one page per sample: the dialogue, judgements, refinement trace
    img/, thumb/               every image once (named by content) and its JPEG thumbnail
    assets/                    CSS and JS, no CDN

The build streams: one sample is rendered at a time and index rows are flushed every 500
samples; judgements are streamed into a temporary SQLite index keyed by (sample id, turn)
(:class:`intersyn.judge.store.JudgementIndex`) and looked up per sample, so memory stays
flat whatever the size of the dataset and of its judgement set.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intersyn.data.dataset import Dataset
from intersyn.data.outputs import check_folder_output, claim_folder
from intersyn.errors import InputError
from intersyn.judge.store import JudgementIndex
from intersyn.report.diff import side_by_side
from intersyn.report.images import ImageSink, SiteImage
from intersyn.report.inputs import (
    Failure,
    JudgementsArg,
    failures_of,
    iter_judgement_arg,
    open_samples,
)
from intersyn.report.render import copy_assets, js_call, write_file, write_page
from intersyn.schema import DIMENSIONS, Judgement, Round, Sample

#: Everything a build writes at the top of a site (``--clean`` removes these and only these).
SITE_ENTRIES = ("index.html", "list", "data", "s", "img", "thumb", "assets")
CHUNK = 500
SEARCH_CHARS = 240
_STAGES = ("question", "answer", "image")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def sample_page(sample_id: str) -> str:
    """Path of a sample's page relative to the site root (stable, filesystem-safe)."""
    digest = hashlib.sha1(sample_id.encode("utf-8")).hexdigest()
    safe = _UNSAFE.sub("_", sample_id)[:80].lstrip(".")
    if safe != sample_id:
        safe = f"{safe}-{digest[:10]}"
    return f"s/{digest[:2]}/{safe}.html"


@dataclass
class _Stats:
    samples: int = 0
    failed: int = 0
    pages: int = 0
    chunks: list[str] = field(default_factory=list)
    facets: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    max_turns: int = 0


class SiteBuilder:
    """Builds a site sample by sample; :meth:`finish` writes the index files."""

    def __init__(
        self,
        out_dir: Path,
        dataset: Dataset | None,
        judgements: Iterable[Judgement] | JudgementIndex,
    ) -> None:
        self.out = out_dir
        self.dataset = dataset
        self.images = ImageSink(out_dir)
        # Judgements live on disk (SQLite), looked up per sample: memory does not grow.
        self._own_index = not isinstance(judgements, JudgementIndex)
        self._index = (
            judgements if isinstance(judgements, JudgementIndex) else JudgementIndex(judgements)
        )
        self.judged = len(self._index) > 0
        self._rows: list[list[Any]] = []
        self.stats = _Stats()

    # -- per sample -------------------------------------------------------------------------
    def add_sample(self, sample: Sample, prev_id: str | None, next_id: str | None) -> None:
        page = sample_page(sample.id)
        judged = self._index.for_sample(sample.id) if self.judged else {}
        turns = [self._turn_context(sample, t, judged.get(t)) for t in range(len(sample.turns))]
        write_page(
            self.out / page,
            "sample.html",
            root="../..",
            sample=sample,
            turns=turns,
            failure=None,
            prev_page=sample_page(prev_id) if prev_id else None,
            next_page=sample_page(next_id) if next_id else None,
            dimensions=DIMENSIONS,
        )
        thumb = next((t["image"].thumb for t in turns if t["image"] is not None), "")
        self._add_row(sample, page, list(judged.values()), thumb)

    def add_failure(self, failure: Failure) -> None:
        page = sample_page(failure.id)
        write_page(
            self.out / page,
            "sample.html",
            root="../..",
            sample=None,
            turns=[],
            failure=failure,
            prev_page=None,
            next_page=None,
            dimensions=DIMENSIONS,
        )
        raw_topic = failure.info.get("topic")
        topic: dict[str, str] = raw_topic if isinstance(raw_topic, dict) else {}
        row: list[Any] = [failure.id, page, topic.get("domain", ""), topic.get("category", ""), ""]
        row += [0, 1, "", None, None, None, None, None, failure.error[:SEARCH_CHARS], ""]
        self._push_row(row, topic.get("domain", ""), topic.get("category", ""), "")

    def _turn_context(
        self, sample: Sample, index: int, judgement: Judgement | None
    ) -> dict[str, Any]:
        turn = sample.turns[index]
        image, image_note = None, None
        if turn.image is not None:
            problem: list[str] = []
            image = self._image(lambda: self._main_image(sample, index), problem)
            if image is None:
                why = problem[0] if problem else "it is missing"
                image_note = f"image {turn.image.path} is missing or not a readable image: {why}"
        return {
            "turn": turn,
            "image": image,
            "image_note": image_note,
            "judgement": judgement,
            "stages": self._stages(turn.trace, turn.stop_reasons),
        }

    def _main_image(self, sample: Sample, index: int) -> bytes | None:
        assert self.dataset is not None
        return self.dataset.image_bytes(sample, index)

    def _image(self, read: Any, problem: list[str] | None = None) -> SiteImage | None:
        """The image ``read()`` returns, stored in the site; None (and why, in ``problem``)
        when it is missing or not decodable."""
        try:
            return self.images.add(read())
        except (OSError, InputError) as e:
            if problem is not None:
                problem.append(str(e).removeprefix("image: "))
            return None

    def _stages(self, trace: list[Round], stop_reasons: Mapping[str, str]) -> list[dict[str, Any]]:
        stages = []
        for stage in _STAGES:
            rounds = [r for r in trace if r.stage == stage]
            if not rounds and stage not in stop_reasons:
                continue
            stages.append(
                {
                    "stage": stage,
                    "stop_reason": stop_reasons.get(stage),
                    "rounds": [self._round_context(r) for r in sorted(rounds, key=lambda r: r.k)],
                }
            )
        return stages

    def _round_context(self, r: Round) -> dict[str, Any]:
        revised = r.revision is not None
        draft, revision = side_by_side(r.draft, r.revision if r.revision is not None else r.draft)
        caption = None
        if r.draft_caption is not None:
            new_caption = r.revision_caption if r.revision_caption is not None else r.draft_caption
            caption = side_by_side(r.draft_caption, new_caption)
        image = None
        if r.image is not None and self.dataset is not None:
            ref = r.image
            dataset = self.dataset
            image = self._image(lambda: dataset.read_image(ref))
        return {
            "round": r,
            "revised": revised,
            "draft": draft,
            "revision": revision,
            "caption": caption,
            "image": image,
            "image_missing": r.image is not None and image is None,
        }

    # -- index rows -------------------------------------------------------------------------
    def _add_row(self, sample: Sample, page: str, judged: list[Judgement], thumb: str) -> None:
        means: list[float | None] = []
        for d in DIMENSIONS:
            values = [
                getattr(j, d) for j in judged if j.status == "ok" and getattr(j, d) is not None
            ]
            means.append(round(sum(values) / len(values), 3) if values else None)
        overall = (
            round(sum(m for m in means if m is not None) / 4, 3)
            if all(m is not None for m in means)
            else None
        )
        status = ""
        if judged:
            bad = [j.status for j in judged if j.status != "ok"]
            status = bad[0] if bad else "ok"
        text = " ".join(t.question for t in sample.turns)[:SEARCH_CHARS]
        failed = 1 if sample.status == "failed" else 0
        t = sample.topic
        row = [sample.id, page, t.domain, t.category, t.topic, len(sample.turns), failed, status]
        row += [*means, overall, text, thumb]
        self.stats.max_turns = max(self.stats.max_turns, len(sample.turns))
        self._push_row(row, t.domain, t.category, t.topic)

    def _push_row(self, row: list[Any], domain: str, category: str, topic: str) -> None:
        self.stats.samples += 1
        self.stats.failed += row[6]
        if domain:
            topics = self.stats.facets.setdefault(domain, {}).setdefault(category, set())
            if topic:
                topics.add(topic)
        self._rows.append(row)
        if len(self._rows) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if not self._rows:
            return
        n = len(self.stats.chunks) + 1
        name = f"data/index-{n:04d}.js"
        write_file(self.out / name, js_call("INTERSYN_CHUNK", self._rows).encode("utf-8"))
        self.stats.chunks.append(name)
        write_page(
            self.out / f"list/page-{n:04d}.html",
            "list.html",
            root="..",
            rows=self._rows,
            page=n,
            dimensions=DIMENSIONS,
        )
        self.stats.pages += 1
        self._rows = []

    # -- end --------------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the judgement index this builder made (its temporary file)."""
        if self._own_index:
            self._index.close()

    def finish(self, title: str) -> Path:
        self.close()
        self._flush()
        pages = self.stats.pages
        for n in range(1, pages + 1):  # rewrite navigation now that the page count is known
            _patch_list_nav(self.out / f"list/page-{n:04d}.html", n, pages)
        facets = {
            d: {c: sorted(ts) for c, ts in sorted(cats.items())}
            for d, cats in sorted(self.stats.facets.items())
        }
        meta = {
            "title": title,
            "count": self.stats.samples,
            "failed": self.stats.failed,
            "judged": self.judged,
            "chunks": self.stats.chunks,
            "facets": facets,
            "max_turns": self.stats.max_turns,
            "dimensions": list(DIMENSIONS),
        }
        write_file(self.out / "data/meta.js", js_call("INTERSYN_META", meta).encode("utf-8"))
        copy_assets(self.out)
        index = self.out / "index.html"
        write_page(index, "index.html", root=".", title=title, meta=meta, pages=pages)
        return index


_NAV = "<!--NAV-->"


def _patch_list_nav(path: Path, n: int, pages: int) -> None:
    prev_link = f'<a href="page-{n - 1:04d}.html" rel="prev">← previous</a>' if n > 1 else ""
    next_link = f'<a href="page-{n + 1:04d}.html" rel="next">next →</a>' if n < pages else ""
    nav = f'<nav class="pager">{prev_link} <span>page {n} of {pages}</span> {next_link}</nav>'
    text = path.read_text(encoding="utf-8").replace(_NAV, nav)
    write_file(path, text.encode("utf-8"))


def _lookahead(items: Iterable[Sample]) -> Iterator[tuple[str | None, Sample, str | None]]:
    prev: str | None = None
    it = iter(items)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield prev, current, following.id if following is not None else None
        prev = current.id
        current = following


def build_site(
    dataset_path: str | Path,
    out_dir: str | Path,
    judgements: JudgementsArg = None,
    *,
    title: str | None = None,
    clean: bool = False,
    on_error: str = "stop",
    on_skip: Callable[[str], None] | None = None,
) -> Path:
    """Build the static viewer for a dataset (and its judgements); returns ``index.html``.

    ``on_error="skip"`` passes over records that are not valid samples (the default stops
    with an error naming the file and line). ``out_dir`` must be new, empty or a site built
    before (:func:`intersyn.data.outputs.claim_folder`), and never an input or inside one;
    ``clean`` first removes what an earlier build wrote there (and nothing else).
    ``on_skip`` hears ``"<where>: <why>"`` for each record left out (the site has no page
    for it).

    >>> build_site("runs/a", "site", judgements="runs/a-judged")  # doctest: +SKIP
    PosixPath('site/index.html')
    """
    inputs = [dataset_path, judgements if isinstance(judgements, str | Path) else None]
    check_folder_output(out_dir, "view", inputs=inputs)  # refused before anything is read
    dataset = open_samples(dataset_path)
    out = claim_folder(out_dir, "view", inputs=inputs, clean=clean, owned=SITE_ENTRIES)
    builder = SiteBuilder(out, dataset, iter_judgement_arg(judgements))
    try:
        skip = None if on_skip is None else lambda rec: on_skip(f"{rec.where}: {rec.error}")
        samples = dataset.samples(on_error=on_error, on_skip=skip)
        for prev_id, sample, next_id in _lookahead(samples):
            builder.add_sample(sample, prev_id, next_id)
        for failure in failures_of(dataset):  # ids that never finished
            builder.add_failure(failure)
        return builder.finish(title or f"intersyn · {Path(dataset_path).name}")
    finally:
        builder.close()
