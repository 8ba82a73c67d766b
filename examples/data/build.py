"""Rebuild the shipped example dataset (a finalised run directory) in this folder.

    python examples/data/build.py

Four samples (1–3 turns) with small drawn PNG images. The images are drawn with Pillow, not
by a model, so they are marked ``preview`` (as the offline preview painter marks its own);
one failed sample shows how failures are recorded.
"""

from __future__ import annotations

import io
import shutil
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, ImageDraw

from intersyn.data.parquet import finalize
from intersyn.data.store import RunStore
from intersyn.schema import Round, Sample, TopicPath, Turn

HERE = Path(__file__).resolve().parent
WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)

SAMPLES = [
    (
        "ex-0001",
        ("Animals", "Mammals of Asia", "red panda"),
        [
            (
                "What does a red panda eat in the wild? Please show one feeding.",
                "Red pandas eat mostly bamboo leaves and shoots, adding fruit, acorns and "
                "eggs when they find them. The picture shows one holding a bamboo stalk.",
                "a red panda sitting on a branch holding green bamboo, soft daylight",
                ((200, 80, 40), (60, 140, 60)),
            )
        ],
    ),
    (
        "ex-0002",
        ("Science", "Astronomy", "phases of the moon"),
        [
            (
                "Why does the Moon change shape during the month? Draw the phases.",
                "The Moon does not change shape: we see different parts of its sunlit half "
                "as it orbits Earth. The drawing shows new, crescent, half and full.",
                "four moon phases in a row on a dark blue sky, new to full",
                ((20, 30, 80), (230, 230, 200)),
            ),
            (
                "How long does one full cycle take?",
                "About 29.5 days from one new moon to the next, the synodic month.",
                "a calendar page with moon phase icons across 29 days",
                ((240, 240, 240), (40, 40, 90)),
            ),
        ],
    ),
    (
        "ex-0003",
        ("Food", "Baking", "sourdough bread"),
        [
            (
                "How do I keep a sourdough starter alive? Show a healthy one.",
                "Feed it equal weights of flour and water once a day at room temperature; "
                "a healthy starter doubles and smells pleasantly sour.",
                "a glass jar of bubbly sourdough starter on a wooden table",
                ((235, 220, 190), (120, 90, 60)),
            ),
            (
                "When is the dough ready to bake?",
                "When it has risen by about half and springs back slowly when pressed.",
                "a round proofed dough in a floured basket, finger dent visible",
                ((220, 200, 160), (90, 70, 50)),
            ),
            (
                "What should the crust look like?",
                "Deep brown and crackly, with an open ear where the loaf was scored.",
                "a baked sourdough loaf with a dark crust and a raised ear",
                ((150, 90, 40), (60, 40, 20)),
            ),
        ],
    ),
    (
        "ex-0004",
        ("Travel", "Landmarks", "Eiffel Tower"),
        [
            (
                "When was the Eiffel Tower built, and what does it look like at night?",
                "It was built for the 1889 World's Fair in Paris. At night it is lit in "
                "gold, with a sparkle show at the start of each hour.",
                "the Eiffel Tower lit in gold against a night sky over Paris",
                ((15, 15, 40), (240, 190, 60)),
            )
        ],
    ),
]


def draw(size: tuple[int, int], colors: tuple[tuple[int, int, int], ...], label: str) -> bytes:
    bg, fg = colors
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)
    w, h = size
    d.ellipse((w // 4, h // 5, 3 * w // 4, 4 * h // 5), fill=fg)
    d.text((4, h - 14), label[:28], fill=(255, 255, 255))
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def build(root: Path = HERE) -> None:
    for name in ("samples", "failed", "images", "data", "run.json", "README.md"):
        p = root / name
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    store = RunStore(root)
    store.write_meta({"example": True, "created": WHEN.isoformat(), "seed": 7})
    for n, (sid, (domain, category, topic), turns) in enumerate(SAMPLES):
        built = []
        for t, (q, a, caption, colors) in enumerate(turns):
            png = draw((96, 72), colors, caption)
            ref = store.put_image(
                sid, f"t{t}", png, seed=100 * n + t, preview=True, painter="preview"
            )
            first = store.put_image(
                sid, f"t{t}_r1", draw((96, 72), colors[::-1], caption), seed=100 * n + t
            )
            trace = [
                Round(stage="question", k=1, draft=q, ok=True, critic_mode="caption-proxy"),
                Round(stage="answer", k=1, draft=a, draft_caption=caption, ok=True),
                Round(
                    stage="image",
                    k=1,
                    draft=caption,
                    image=first,
                    ok=True,
                    critic_mode="caption-proxy",
                ),
            ]
            built.append(
                Turn(
                    index=t,
                    question=q,
                    answer=a,
                    caption=caption,
                    image=ref,
                    image_seed=100 * n + t,
                    trace=trace,
                    stop_reasons={
                        "question": "approved",
                        "answer": "approved",
                        "image": "approved",
                    },
                )
            )
        store.commit(
            Sample(
                id=sid,
                topic=TopicPath(domain=domain, category=category, topic=topic),
                template="Explain {topic} and show a picture of it.",
                seed=n,
                config_fingerprint="example",
                turns=built,
                created_at=WHEN,
            )
        )
    store.fail("ex-0005", "ModelError: painter timed out after 6 retries", seed=4)
    store.close()
    # Stable file names, so a rebuild gives the same files.
    for sub, prefix in (("samples", "samples"), ("failed", "failed")):
        (part,) = (root / sub).glob(f"{prefix}-*.jsonl")
        part.rename(root / sub / f"{prefix}-example.jsonl")
    finalize(root)


if __name__ == "__main__":
    build()
