"""Photo uploads: checked by content (not by name or claimed type), cleaned, size-limited."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.functional import empty
from PIL import Image

from aftersale.core.services import DomainError
from aftersale.returns import photos
from aftersale.returns.models import private_storage
from tests.returns.test_portal_data import jpeg_bytes, png_bytes


def upload(content: bytes, name="photo.jpg", content_type="image/jpeg"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def exif_with_gps() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to view
    exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.0)  # GPSLatitude
    return exif.tobytes()


def test_a_jpeg_is_re_encoded_upright_without_its_exif():
    cleaned = photos.clean_photo(upload(jpeg_bytes(size=(80, 40), exif=exif_with_gps())))
    assert (cleaned.content_type, cleaned.extension) == ("image/jpeg", "jpg")
    # Orientation 6 applied: the 80×40 picture stands upright as 40×80.
    assert (cleaned.width, cleaned.height) == (40, 80)
    with Image.open(io.BytesIO(cleaned.content)) as image:
        assert image.format == "JPEG"
        assert image.size == (40, 80)
        assert dict(image.getexif()) == {}


def test_a_png_with_transparency_stays_a_png():
    cleaned = photos.clean_photo(upload(png_bytes(), name="x.png", content_type="image/png"))
    assert (cleaned.content_type, cleaned.width, cleaned.height) == ("image/png", 32, 32)


def test_the_type_comes_from_the_content_not_the_name():
    # A PNG called .jpg and claimed as text is still a PNG.
    cleaned = photos.clean_photo(upload(png_bytes(), name="x.jpg", content_type="text/plain"))
    assert cleaned.content_type == "image/png"


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.4 not a photo",
        b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>",
        b"GIF89a" + b"\x00" * 10,  # a truncated GIF
        jpeg_bytes()[:200],  # a truncated JPEG
        b"",
    ],
)
def test_anything_that_is_not_a_readable_image_is_refused(content):
    with pytest.raises(DomainError) as caught:
        photos.clean_photo(upload(content, name="evil.jpg"), field="photos-lin_1")
    assert caught.value.field == "photos-lin_1"
    assert caught.value.message == (
        "evil.jpg is not a photo we can read. Please upload a JPEG, PNG or WebP image."
    )


def test_an_image_format_we_do_not_take_is_refused():
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="BMP")
    with pytest.raises(DomainError):
        photos.clean_photo(upload(out.getvalue(), name="x.bmp"))


def test_a_file_over_the_limit_is_refused_before_it_is_read(settings):
    settings.AFTERSALE_RETURN_PHOTO_MAX_BYTES = 2048
    with pytest.raises(DomainError) as caught:
        photos.clean_photo(upload(b"x" * 4096, name="big.jpg"))
    assert (
        caught.value.message == "big.jpg is larger than 2.0\xa0KB. Please choose a smaller photo."
    )


def test_an_upload_lying_about_its_size_is_still_cut_off(settings):
    settings.AFTERSALE_RETURN_PHOTO_MAX_BYTES = 100
    lying = upload(jpeg_bytes(size=(100, 100)))
    lying.size = 10
    with pytest.raises(DomainError):
        photos.clean_photo(lying)


def test_too_many_pixels_are_refused(monkeypatch):
    monkeypatch.setattr(photos, "MAX_PIXELS", 1000)
    with pytest.raises(DomainError) as caught:
        photos.clean_photo(upload(png_bytes(size=(40, 40)), name="huge.png"))
    assert "too many pixels" in caught.value.message


def test_big_pictures_are_scaled_down(monkeypatch):
    monkeypatch.setattr(photos, "MAX_SIDE", 50)
    cleaned = photos.clean_photo(upload(jpeg_bytes(size=(200, 100))))
    assert (cleaned.width, cleaned.height) == (50, 25)


def test_at_most_five_photos():
    many = [upload(jpeg_bytes()) for _ in range(6)]
    with pytest.raises(DomainError) as caught:
        photos.clean_photos(many)
    assert caught.value.message == "Please attach at most 5 photos."
    assert len(photos.clean_photos(many[:5])) == 5


def test_drafts_live_privately_under_random_names_and_are_swept(settings, tmp_path):
    import os
    import time

    settings.MEDIA_ROOT = tmp_path / "media"
    private_storage._wrapped = empty
    try:
        cleaned = photos.clean_photo(upload(jpeg_bytes()))
        first = photos.draft_save(7, cleaned)
        second = photos.draft_save(7, cleaned)
        assert first != second
        assert first.startswith("returns/7/drafts/") and first.endswith(".jpg")
        assert (tmp_path / "media" / "private" / first).read_bytes() == cleaned.content
        assert photos.draft_name_ok(7, first)
        assert not photos.draft_name_ok(8, first)
        assert not photos.draft_name_ok(7, "returns/7/drafts/../../8/x.jpg")
        assert photos.draft_read(first) == cleaned.content

        old = time.time() - 3 * 24 * 3600
        os.utime(tmp_path / "media" / "private" / first, (old, old))
        assert photos.draft_sweep("returns/7/drafts") == 1
        assert photos.draft_read(first) is None
        assert photos.draft_read(second) == cleaned.content
    finally:
        private_storage._wrapped = empty
