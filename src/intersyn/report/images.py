"""Images of a built site: each image copied once (named by content) plus a small thumbnail.

Images are stored under ``img/<xx>/<sha256>.<ext>`` and thumbnails under
``thumb/<xx>/<sha256>.jpg``, so an image shared by several pages is written once and a
rebuild skips what is already there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from intersyn.data.images import ImageProblem, image_header, thumbnail_jpeg
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
        """Store ``data``; None when there is none. An image a browser cannot show, or one
        that is not decodable (:mod:`intersyn.data.images`: truncated, damaged, over the
        pixel limit) raises :class:`~intersyn.data.images.ImageProblem` saying why."""
        if not data:
            return None
        ext = sniff_ext(data)
        if ext is None:
            self.rejected += 1
            raise ImageProblem(
                "not an image a browser shows (PNG, JPEG, GIF or WebP)", "not_an_image"
            )
        digest = hashlib.sha256(data).hexdigest()
        src = f"img/{digest[:2]}/{digest}.{ext}"
        thumb = f"thumb/{digest[:2]}/{digest}.jpg"
        try:
            size = self._thumbnail(data, self.site / thumb)
        except ImageProblem:
            self.rejected += 1
            raise
        target = self.site / src
        if not target.exists():
            write_file(target, data)
            self.written += 1
        return SiteImage(src=src, thumb=thumb, width=size[0], height=size[1])

    def _thumbnail(self, data: bytes, target: Path) -> tuple[int, int]:
        if target.exists():  # made by an earlier build from the same bytes (same digest)
            return image_header(data, "image").size
        # Decoded at reduced scale where the format allows: memory stays bounded.
        small = thumbnail_jpeg(data, self.thumb_size, "image")
        write_file(target, small)
        return image_header(data, "image").size
