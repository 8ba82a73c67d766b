"""What a decodable image is: the one definition that import, export, validate, finalize,
judge, view and stats share.

An image is *decodable* when PIL recognises its format, it has at most :func:`max_pixels`
pixels, and every pixel decodes (a truncated or damaged file fails). Anything else is an
:class:`ImageProblem` that says which of the three went wrong; no PIL exception (and no
``DecompressionBombError`` traceback) leaves this module.

The pixel limit keeps memory bounded: a 420 KB PNG may declare 20000×20000 pixels (1.2 GB
decoded). It is ``DEFAULT_MAX_PIXELS`` unless the environment variable
``INTERSYN_MAX_IMAGE_PIXELS`` says otherwise (a positive integer), and it is checked from the
header, before any pixel is decoded.

Example::

    info = decode_image(png_bytes, where="sample s1, turn 0")   # ImageProblem if not decodable
    info.width, info.height, info.ext                           # 512, 512, "png"
    image_header(png_bytes).size                                # header only (sizes, stats)
"""

from __future__ import annotations

import io
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from intersyn.errors import ConfigError, InputError

if TYPE_CHECKING:
    from PIL.Image import Image

#: Default pixel limit: 50 megapixels (a 7000×7000 image; a 4K frame has 8.3 MP).
DEFAULT_MAX_PIXELS = 50_000_000
#: The environment variable that sets the pixel limit.
MAX_PIXELS_ENV = "INTERSYN_MAX_IMAGE_PIXELS"

_EXT = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif"}

ProblemKind = Literal["not_an_image", "too_large", "corrupt"]


class ImageProblem(InputError):
    """Bytes that are not a decodable image; ``kind`` says why."""

    def __init__(self, message: str, kind: ProblemKind) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ImageInfo:
    width: int
    height: int
    #: PIL's format name (``PNG``, ``JPEG``, …).
    format: str
    #: The usual file extension (``png``, ``jpg``, …).
    ext: str

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def max_pixels() -> int:
    """The pixel limit now: ``INTERSYN_MAX_IMAGE_PIXELS`` if set, else the default."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(f"{MAX_PIXELS_ENV}={raw!r}: give a positive number of pixels")
    return value


def _pil() -> None:
    from PIL import Image

    # Our own limit is checked from the header (opened_image); PIL's bomb check is set to the
    # same number, so its error (twice the limit) is caught there and its warning is noise.
    # (Set each time: an idempotent filter, and test runners reset the filters.)
    Image.MAX_IMAGE_PIXELS = max_pixels()
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _too_large(where: str, w: int | None, h: int | None, detail: str = "") -> ImageProblem:
    limit = max_pixels()
    size = f"{w}x{h} = {w * h:,} pixels" if w is not None and h is not None else detail
    return ImageProblem(
        f"{where}: the image is too large ({size}; the limit is {limit:,} pixels, "
        f"set by {MAX_PIXELS_ENV}); shrink the image, or raise the limit if you trust the file",
        "too_large",
    )


@contextmanager
def opened_image(data: bytes, where: str = "image", *, decode: bool = True) -> Iterator[Image]:
    """The PIL image of ``data``, checked (format, pixel limit, and with ``decode`` every
    pixel); raises :class:`ImageProblem`. Use it to convert or thumbnail a checked image."""
    _pil()
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:  # over twice the limit: PIL's own check
        found = re.search(r"\((\d+) pixels\)", str(e))
        detail = f"{int(found.group(1)):,} pixels" if found else "more than twice the limit"
        raise _too_large(where, None, None, detail) from None
    except UnidentifiedImageError:
        raise ImageProblem(
            f"{where}: the bytes are not a readable image (no image format intersyn reads); "
            "re-create or remove it",
            "not_an_image",
        ) from None
    except (OSError, ValueError, SyntaxError) as e:  # a known format whose header is damaged
        raise _corrupt(where, e) from None
    with im:
        w, h = im.size
        if w * h > max_pixels():
            raise _too_large(where, w, h)
        if decode:
            _load(im, where)
        yield im


def _corrupt(where: str, e: BaseException) -> ImageProblem:
    return ImageProblem(
        f"{where}: not a readable image: it cannot be decoded ({type(e).__name__}: {e}), "
        "the file is truncated or damaged; re-create or remove it",
        "corrupt",
    )


def _load(im: Image, where: str) -> None:
    try:
        im.load()
    except Exception as e:  # PIL raises many kinds for damaged pixel data
        raise _corrupt(where, e) from None


def decode_image(data: bytes, where: str = "image") -> ImageInfo:
    """Check that ``data`` is a decodable image (format, pixel limit, every pixel) and
    return its size and format; :class:`ImageProblem` says what is wrong."""
    with opened_image(data, where) as im:
        return _info(im)


def image_header(data: bytes, where: str = "image") -> ImageInfo:
    """Size and format from the header, within the pixel limit; pixels are not decoded (for
    bytes already checked by :func:`decode_image`, or figures that need no pixels)."""
    with opened_image(data, where, decode=False) as im:
        return _info(im)


def _info(im: Image) -> ImageInfo:
    fmt = im.format or "PNG"
    return ImageInfo(im.width, im.height, fmt, _EXT.get(fmt, fmt.lower()))


def thumbnail_jpeg(data: bytes, size: tuple[int, int], where: str = "image") -> bytes:
    """A JPEG thumbnail of a decodable image, at most ``size``. JPEGs are decoded at reduced
    scale (``draft``), so memory stays near the thumbnail's size; other formats are bounded
    by the pixel limit."""
    with opened_image(data, where, decode=False) as im:
        if im.format == "JPEG":
            im.draft("RGB", size)
        _load(im, where)
        im.thumbnail(size)
        small = im.convert("RGB")
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=80)
    return buf.getvalue()
