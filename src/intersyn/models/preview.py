"""The offline ``preview`` painter: the caption drawn on a canvas, marked as a preview.

Not a model. It lets SEIR run end to end where no text-to-image model exists (this machine, a
quick demo), and it says so twice: a red ``PREVIEW`` banner in the pixels and
``PaintResult.preview = True`` in the metadata (which the dataset keeps on ``ImageRef``).
It is used only when a config says ``backend: preview`` — never as a silent fallback.

The image is a pure function of (prompt, seed, size): same inputs, same bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap
import time
from typing import Any

from intersyn.models.base import PaintResult, Usage

BANNER = "PREVIEW"


class PreviewPainter:
    """Draws the caption wrapped on a tinted canvas under a ``PREVIEW`` banner."""

    name = "preview"
    model = "preview"
    #: Redrawing is cheaper than a cache lookup of the PNG.
    cacheable = False

    def __init__(self, params: dict[str, Any] | None = None) -> None:
        self.params = dict(params or {})

    async def paint(
        self,
        prompt: str,
        *,
        size: tuple[int, int] = (512, 512),
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
    ) -> PaintResult:
        start = time.perf_counter()
        width, height = max(16, int(size[0])), max(16, int(size[1]))
        png = await asyncio.to_thread(render_preview, prompt, width, height, seed)
        return PaintResult(
            image=png,
            width=width,
            height=height,
            seed=seed,
            usage=Usage(images_made=1, latency_s=time.perf_counter() - start),
            preview=True,
            painter="preview",
        )

    async def aclose(self) -> None:
        return None


def render_preview(prompt: str, width: int, height: int, seed: int | None) -> bytes:
    """PNG bytes of the preview picture for (prompt, seed, size)."""
    from PIL import Image, ImageDraw, ImageFont

    digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
    # A light tint per (prompt, seed), so different images look different at a glance.
    background = tuple(200 + b % 56 for b in digest[:3])
    img = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(img)
    banner_h = max(10, height // 8)
    draw.rectangle((0, 0, width, banner_h), fill=(200, 30, 30))
    banner_font = ImageFont.load_default(size=max(8, int(banner_h * 0.7)))
    draw.text(
        (width / 2, banner_h / 2), BANNER, fill=(255, 255, 255), font=banner_font, anchor="mm"
    )
    font_size = max(8, min(width, height) // 22)
    font = ImageFont.load_default(size=font_size)
    chars = max(8, int(width / (font_size * 0.55)))
    lines = textwrap.wrap(prompt.strip() or "(empty caption)", width=chars)
    max_lines = max(1, (height - banner_h - 8) // int(font_size * 1.3))
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: chars - 1] + "…"]
    y = banner_h + 6
    for line in lines:
        draw.text((6, y), line, fill=(30, 30, 30), font=font)
        y += int(font_size * 1.3)
    # A thin frame in the banner colour: still visible when the banner is cropped away.
    draw.rectangle((0, 0, width - 1, height - 1), outline=(200, 30, 30), width=max(1, width // 128))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
