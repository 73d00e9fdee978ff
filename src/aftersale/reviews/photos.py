"""Checking and cleaning uploaded review photos (pure: bytes in, cleaned bytes out).

An upload is accepted only when Pillow can decode it as a JPEG, PNG or WebP image within the size
and pixel limits, whatever its name or declared content type says. The stored copy is re-encoded:
turned upright by its EXIF orientation, scaled to at most 2048 px, and without metadata (no GPS
position of the shopper's home leaks through a review photo).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

ALLOWED_FORMATS = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": None}
MAX_SIDE = 2048
MAX_PIXELS = 40_000_000


def max_photo_bytes() -> int:
    return int(getattr(settings, "AFTERSALE_REVIEW_PHOTO_MAX_BYTES", 5 * 1024 * 1024))


class PhotoError(ValueError):
    pass


@dataclass(frozen=True)
class PhotoUpload:
    """What the shopper sent: a file name (for messages only) and its bytes."""

    name: str
    data: bytes
    # The declared size when the bytes were not read (an upload already known to be too large).
    size: int | None = None


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    sha256: str  # of the original upload, so the same file twice is one photo


def clean_photo(upload: PhotoUpload) -> CleanPhoto:
    """The stored version of an upload, or PhotoError saying why it is refused."""
    limit = max_photo_bytes()
    size = upload.size if upload.size is not None else len(upload.data)
    if size > limit:
        raise PhotoError(_("the file is larger than %(mb)d MB") % {"mb": limit // (1024 * 1024)})
    if not upload.data:
        raise PhotoError(_("the file is empty"))
    if len(upload.data) > limit:
        raise PhotoError(_("the file is larger than %(mb)d MB") % {"mb": limit // (1024 * 1024)})
    try:
        with Image.open(io.BytesIO(upload.data)) as probe:
            fmt = probe.format
            if fmt not in ALLOWED_FORMATS:
                raise PhotoError(_("the file is not a JPEG, PNG or WebP image"))
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError(_("the image has too many pixels"))
            probe.verify()
        with Image.open(io.BytesIO(upload.data)) as image:
            image.load()
            image = ImageOps.exif_transpose(image)
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            keep_alpha = fmt == "PNG" and image.mode in ("RGBA", "LA", "P")
            out = io.BytesIO()
            if keep_alpha:
                image = image.convert("RGBA")
                image.save(out, format="PNG", optimize=True)
                content_type, extension = "image/png", "png"
            else:
                image = image.convert("RGB")
                image.save(out, format="JPEG", quality=85, optimize=True)
                content_type, extension = "image/jpeg", "jpg"
            width, height = image.size
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise PhotoError(_("the file is not a readable image")) from None
    return CleanPhoto(
        data=out.getvalue(),
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        sha256=hashlib.sha256(upload.data).hexdigest(),
    )
