"""Images of a built site: each image copied once (named by content) plus a small thumbnail.

Images are stored under ``img/<xx>/<sha256>.<ext>`` and thumbnails under
``thumb/<xx>/<sha256>.jpg``, so an image shared by several pages is written once and a
rebuild skips what is already there.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from intersyn.report.render import write_file

THUMB_SIZE = (192, 192)

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def sniff_ext(data: bytes) -> str | None:
    """File extension from the image's first bytes; None when it is no image we show."""
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True)
class SiteImage:
    """Paths of an image and its thumbnail, relative to the site root."""

    src: str
    thumb: str
    width: int
    height: int


class ImageSink:
    """Copies images into a site folder and makes thumbnails (PIL, small JPEG)."""

    def __init__(self, site: Path, thumb_size: tuple[int, int] = THUMB_SIZE) -> None:
        self.site = site
        self.thumb_size = thumb_size
        self.written = 0
        self.rejected = 0

    def add(self, data: bytes | None) -> SiteImage | None:
        """Store ``data``; None when it is missing or not a readable image."""
        if not data:
            return None
        ext = sniff_ext(data)
        if ext is None:
            self.rejected += 1
            return None
        digest = hashlib.sha256(data).hexdigest()
        src = f"img/{digest[:2]}/{digest}.{ext}"
        thumb = f"thumb/{digest[:2]}/{digest}.jpg"
        try:
            size = self._thumbnail(data, self.site / thumb)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
            self.rejected += 1
            return None
        target = self.site / src
        if not target.exists():
            write_file(target, data)
            self.written += 1
        return SiteImage(src=src, thumb=thumb, width=size[0], height=size[1])

    def _thumbnail(self, data: bytes, target: Path) -> tuple[int, int]:
        with Image.open(io.BytesIO(data)) as im:
            size = im.size
            if target.exists():
                return size
            im.load()  # a truncated or corrupt file fails here, not in the browser
            small = im.convert("RGB")
            small.thumbnail(self.thumb_size)
            buf = io.BytesIO()
            small.save(buf, format="JPEG", quality=80)
        write_file(target, buf.getvalue())
        return size
