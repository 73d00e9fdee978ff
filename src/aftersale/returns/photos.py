"""Photos a shopper attaches to a return: checked by their content, cleaned, stored privately.

An upload is accepted when Pillow recognises it as a JPEG, PNG, WebP or GIF image (whatever the
file's name or the browser's Content-Type claim), it is no larger than
AFTERSALE_RETURN_PHOTO_MAX_BYTES (8 MB) and no more than 40 megapixels (decompression bombs).
It is then re-encoded: the location and camera data in its EXIF block are dropped, the picture is
turned upright, and whatever else the file carried (a script glued behind the image data, a
polyglot) does not survive. Files live under MEDIA_ROOT/private/returns/, named by a random
token, and are only ever served by the signed view (views.return_photo), never by a path.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from PIL import Image, ImageOps, UnidentifiedImageError

from aftersale.core import clock
from aftersale.core.services import DomainError
from aftersale.returns.models import private_storage

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
MAX_SIDE = 4096  # larger pictures are scaled down: enough to judge a scratch, small to store
MAX_PHOTOS = 5
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif"}


def max_bytes() -> int:
    return int(getattr(settings, "AFTERSALE_RETURN_PHOTO_MAX_BYTES", DEFAULT_MAX_BYTES))


@dataclass(frozen=True)
class CleanPhoto:
    content: bytes
    content_type: str  # image/jpeg or image/png, as re-encoded
    extension: str
    width: int
    height: int
    original_name: str


def _size(size: int) -> str:
    return filesizeformat(size)


def clean_photo(upload, *, field: str = "photos") -> CleanPhoto:
    """The upload as a clean image, or DomainError naming the field and what is wrong."""
    name = (getattr(upload, "name", "") or "photo")[:200]
    size = getattr(upload, "size", None)
    limit = max_bytes()
    if size is not None and size > limit:
        raise DomainError(
            _("%(name)s is larger than %(limit)s. Please choose a smaller photo.")
            % {"name": name, "limit": _size(limit)},
            field=field,
        )
    raw = upload.read(limit + 1)
    if len(raw) > limit:
        raise DomainError(
            _("%(name)s is larger than %(limit)s. Please choose a smaller photo.")
            % {"name": name, "limit": _size(limit)},
            field=field,
        )
    not_image = DomainError(
        _("%(name)s is not a photo we can read. Please upload a JPEG, PNG or WebP image.")
        % {"name": name},
        field=field,
    )
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format
            width, height = probe.size
            probe.verify()  # structure and checksums, without decoding every pixel
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise not_image from None
    if kind not in FORMATS:
        raise not_image
    if width * height > MAX_PIXELS:
        raise DomainError(
            _("%(name)s has too many pixels. Please upload a smaller photo.") % {"name": name},
            field=field,
        )
    try:
        with Image.open(io.BytesIO(raw)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((MAX_SIDE, MAX_SIDE))
            keep_alpha = upright.mode in ("RGBA", "LA", "P") and kind in ("PNG", "GIF", "WEBP")
            out = io.BytesIO()
            if keep_alpha:
                upright.convert("RGBA").save(out, format="PNG", optimize=True)
                content_type, extension = "image/png", "png"
            else:
                upright.convert("RGB").save(out, format="JPEG", quality=88, optimize=True)
                content_type, extension = "image/jpeg", "jpg"
            width, height = upright.size
    except (OSError, ValueError, Image.DecompressionBombError):
        raise not_image from None
    return CleanPhoto(
        content=out.getvalue(),
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        original_name=name,
    )


def clean_photos(uploads: list, *, field: str = "photos") -> list[CleanPhoto]:
    if len(uploads) > MAX_PHOTOS:
        raise DomainError(
            ngettext(
                "Please attach at most %(count)d photo.",
                "Please attach at most %(count)d photos.",
                MAX_PHOTOS,
            )
            % {"count": MAX_PHOTOS},
            field=field,
        )
    return [clean_photo(upload, field=field) for upload in uploads]


DRAFT_MAX_AGE = timedelta(days=2)


def draft_save(store_id: int, photo: CleanPhoto) -> str:
    """Keep a photo of a return that is not confirmed yet (the draft carries its name, signed);
    returns the storage name. Drafts older than two days are swept now and then."""
    folder = f"returns/{store_id}/drafts"
    name = private_storage.save(
        f"{folder}/{secrets.token_urlsafe(24)}.{photo.extension}", io.BytesIO(photo.content)
    )
    if secrets.randbelow(20) == 0:
        draft_sweep(folder)
    return name


def draft_sweep(folder: str) -> int:
    cutoff = clock.now() - DRAFT_MAX_AGE
    removed = 0
    try:
        _, files = private_storage.listdir(folder)
    except FileNotFoundError:
        return 0
    for file in files:
        path = f"{folder}/{file}"
        if private_storage.get_modified_time(path) < cutoff:
            private_storage.delete(path)
            removed += 1
    return removed


def draft_name_ok(store_id: int, name: str) -> bool:
    """Only names this module made for this store (the draft is signed, but be strict)."""
    prefix = f"returns/{store_id}/drafts/"
    rest = name[len(prefix) :] if name.startswith(prefix) else ""
    return bool(rest) and "/" not in rest and ".." not in rest


def draft_read(name: str) -> bytes | None:
    try:
        with private_storage.open(name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError):
        return None


def draft_delete(names: list[str]) -> None:
    for name in names:
        private_storage.delete(name)
