"""Fixtures for the report area's tests: small run directories and judgements.

Built with RunStore and Judgement objects directly (the real writers), with tiny PNG images.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from intersyn.data.store import RunStore
from intersyn.schema import ImageRef, Judgement, Round, Sample, TopicPath, Turn

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'
DOMAINS = (
    ("Animals", "Birds", "kingfisher"),
    ("Food", "Bread", "sourdough"),
    ("Space", "Planets", "Mars"),
)


def png(color: tuple[int, int, int], size: tuple[int, int] = (24, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def _trace(store: RunStore, sid: str, t: int) -> list[Round]:
    ir1 = store.put_image(sid, f"t{t}_ir1", png((200, 30, 30)), seed=11)
    ir2 = store.put_image(sid, f"t{t}_ir2", png((30, 200, 30)), seed=12)
    return [
        Round(
            stage="question",
            k=1,
            draft="Tell me about a kingfisher",
            critique="too short",
            suggestions=["ask for a picture"],
            revision="Tell me about a kingfisher and draw one",
        ),
        Round(
            stage="question",
            k=2,
            draft="Tell me about a kingfisher and draw one",
            ok=True,
            critique="nothing to change",
        ),
        Round(
            stage="answer",
            k=1,
            draft="A small bird.",
            draft_caption="a bird",
            critique="incomplete",
            revision="A small blue bird that dives for fish.",
            revision_caption="a blue kingfisher diving into a river",
        ),
        Round(
            stage="image",
            k=1,
            draft="a blue kingfisher diving into a river",
            image=ir1,
            critique="the bird is red",
            revision="a bright blue kingfisher diving",
            critic_mode="vision",
        ),
        Round(stage="image", k=2, draft="a bright blue kingfisher diving", image=ir2, ok=True),
    ]


def make_run(
    root: Path, n: int = 6, *, xss_in: str | None = "s0001", with_failure: bool = True
) -> Path:
    """A run directory with ``n`` samples over three domains, 1–3 turns, traces and images."""
    store = RunStore(root, fsync=False)
    for i in range(n):
        sid = f"s{i:04d}"
        domain, category, topic = DOMAINS[i % len(DOMAINS)]
        turns = []
        for t in range((i % 3) + 1):
            ref: ImageRef | None = store.put_image(
                sid, f"t{t}", png((i * 30 % 255, 90, 160 + t)), seed=i
            )
            answer = f"Answer {t} about {topic}."
            if sid == xss_in and t == 0:
                answer = f"Here is code: {XSS}"
            if i == 4 and t == 1:
                ref = None  # a turn with no image
            turns.append(
                Turn(
                    index=t,
                    question=f"Question {t}: explain {topic} and show it",
                    answer=answer,
                    caption=f"caption of {topic} {t}",
                    image=ref,
                    image_seed=i,
                    trace=_trace(store, sid, t) if t == 0 else [],
                    stop_reasons={
                        "question": "approved",
                        "answer": "max_rounds",
                        "image": "approved",
                    }
                    if t == 0
                    else {},
                )
            )
        store.commit(
            Sample(
                id=sid,
                topic=TopicPath(domain=domain, category=category, topic=topic),
                template="Explain {topic} and draw it",
                seed=i,
                turns=turns,
            )
        )
    if with_failure:
        store.fail("s9999", "writer timed out after 6 retries", seed=99)
    store.close()
    return root


def make_judgements(
    root: Path, *, model: str = "judge-x", unparsed: set[str] = frozenset({"s0002"})
) -> list[Judgement]:
    """One judgement per turn of the run; scores vary by sample; some unparsed."""
    out = []
    store = RunStore(root, fsync=False)
    for s in store.iter_samples():
        i = int(s.id[1:])
        for t in s.turns:
            if s.id in unparsed:
                out.append(
                    Judgement(
                        sample_id=s.id,
                        turn=t.index,
                        status="unparsed",
                        judge_model=model,
                        rubric_version="1",
                        raw=["I think it is good"],
                    )
                )
                continue
            base = (i + t.index) % 6
            out.append(
                Judgement(
                    sample_id=s.id,
                    turn=t.index,
                    tcc=base,
                    icc=min(5, base + 1),
                    iq=4,
                    its=max(0, base - 1),
                    judge_model=model,
                    rubric_version="1",
                    raw=[f"TCC: {base} <b>bold</b>"],
                    spread={"tcc": 0.5, "icc": 0.0, "iq": 0.0, "its": 0.0},
                    draws=[{"tcc": base}, {"tcc": base if i % 2 else min(5, base + 1)}],
                )
            )
    return out
