"""Fixtures for the rating-app tests: small run directories written with the real RunStore,
and ready ratings databases made from them."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from intersyn.annotate.db import AnnotationDB
from intersyn.annotate.prepare import Links, prepare
from intersyn.data.store import RunStore
from intersyn.schema import Sample, TopicPath, Turn

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def png(color: tuple[int, int, int], size: tuple[int, int] = (48, 32)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def make_run(root: Path, samples: int = 4, turns: int = 2) -> Path:
    """A run directory of ``samples`` dialogues of ``turns`` turns, written by RunStore.

    Sample 0 turn 0 answers with hostile HTML; the last turn of sample 1 has no image.
    """
    store = RunStore(root, fsync=False)
    for s in range(samples):
        sid = f"s{s:03d}"
        made = []
        for t in range(turns):
            image = None
            if not (s == 1 and t == turns - 1):
                image = store.put_image(sid, f"t{t}", png((40 * s % 255, 60 * t % 255, 90)))
            answer = HOSTILE if (s, t) == (0, 0) else f"Answer {t} of {sid}: a long explanation."
            made.append(
                Turn(
                    index=t,
                    question=f"Question {t} of {sid}: explain and draw it.",
                    answer=answer,
                    caption=f"caption {t} of {sid}",
                    image=image,
                )
            )
        store.commit(
            Sample(
                id=sid, topic=TopicPath(domain="d", category="c", topic=f"topic {s}"), turns=made
            )
        )
    store.close()
    return root


def make_db(
    tmp: Path,
    *,
    samples: int = 4,
    turns: int = 2,
    annotators: tuple[str, ...] = ("alice", "bob"),
    overlap: int = 2,
) -> tuple[AnnotationDB, Links]:
    run = make_run(tmp / "run", samples, turns)
    db = AnnotationDB(tmp / "ratings.sqlite")
    links = prepare(db, run, list(annotators), overlap)
    assert links is not None
    return db, links


def test_fixture_run_reads_back(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", samples=3, turns=2)
    got = list(RunStore(run).iter_samples())
    assert [s.id for s in got] == ["s000", "s001", "s002"]
    assert got[1].turns[1].image is None
    assert got[0].turns[0].answer == HOSTILE
