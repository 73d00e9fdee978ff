"""The review page of an order (/reviews/w/<token>) as a browser without JavaScript uses it."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from aftersale.messaging.models import Message
from aftersale.messaging.sending import message_context
from aftersale.reviews import services
from aftersale.reviews.kinds import write_token, write_url
from aftersale.reviews.models import Review, ReviewPhoto, ReviewRevision
from tests.reviews.conftest import image_bytes, products_of

pytestmark = pytest.mark.django_db


def url(order) -> str:
    return f"/reviews/w/{write_token(order.public_id)}"


def form(order, **values) -> dict:
    """Field names of the page: rating-<prd_…|store>, title-…, text-…, photos-…."""
    mug, socks = products_of(order)
    keys = {"mug": mug.public_id, "socks": socks.public_id, "store": "store"}
    data = {}
    for name, value in values.items():
        field, block = name.split("_", 1)
        data[f"{field}-{keys[block]}"] = value
    return data


def test_the_page_lists_each_product_once_and_the_shop(client, order):
    response = client.get(url(order))

    html = response.content.decode()
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    mug, socks = products_of(order)
    assert html.count(f'name="rating-{mug.public_id}"') == 5
    assert html.count(f'name="rating-{socks.public_id}"') == 5
    assert html.count('name="rating-store"') == 5
    assert "Your experience with Acme Outdoor" in html
    assert 'value="Ana S."' in html  # the name shown, editable
    assert 'enctype="multipart/form-data"' in html


def test_posting_the_form_writes_reviews_and_redirects_to_the_thanks(client, order):
    mug, socks = products_of(order)
    photo = SimpleUploadedFile("mug.jpg", image_bytes(), content_type="image/jpeg")

    response = client.post(
        url(order),
        {
            **form(order, rating_mug="5", title_mug="Hot for hours", text_mug="Love it"),
            **form(order, rating_store="4", text_store="Quick delivery"),
            f"photos-{mug.public_id}": [photo],
            "author_name": "Ana from Berlin",
        },
    )

    assert response.status_code == 303
    assert response["Location"] == url(order) + "?done=1"
    review = Review.objects.get(product=mug)
    assert (review.rating, review.title, review.author_name) == (
        5,
        "Hot for hours",
        "Ana from Berlin",
    )
    assert review.locale == "en" and review.verified_buyer
    assert ReviewPhoto.objects.get().review == review
    assert Review.objects.get(product=None).text == "Quick delivery"
    assert not Review.objects.filter(product=socks).exists()
    thanks = client.get(response["Location"]).content.decode()
    assert "Thank you for your review!" in thanks
    assert "Your review is published." in thanks and "Update my review" in thanks


def test_sending_the_same_form_twice_creates_one_review_per_product(client, order):
    data = form(order, rating_mug="5", title_mug="Great", rating_store="5")
    client.post(url(order), data)
    client.post(url(order), data)
    client.post(url(order), {**data, **form(order, rating_mug="3")})

    assert Review.objects.count() == 2
    assert ReviewRevision.objects.get().rating == 5
    assert Review.objects.get(product__isnull=False).rating == 3


def test_bad_input_shows_the_form_again_and_writes_nothing(client, order):
    mug, _ = products_of(order)
    not_image = SimpleUploadedFile("cv.jpg", b"%PDF-1.4 not an image", content_type="image/jpeg")

    response = client.post(
        url(order),
        {
            **form(order, rating_mug="5", title_mug="<b>kept</b>", rating_store="4"),
            f"photos-{mug.public_id}": [not_image],
        },
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "cv.jpg: the file is not a readable image" in html
    assert 'aria-invalid="true"' in html
    assert 'value="&lt;b&gt;kept&lt;/b&gt;"' in html  # what was typed stays, escaped
    assert not Review.objects.exists() and not ReviewPhoto.objects.exists()


def test_a_rating_outside_the_scale_is_refused(client, order):
    response = client.post(url(order), form(order, rating_mug="7"))
    assert response.status_code == 422
    assert "choose from 1 to 5 stars" in response.content.decode()
    assert not Review.objects.exists()


def test_an_empty_form_is_refused(client, order):
    response = client.post(url(order), {"author_name": "Ana"})
    assert response.status_code == 422
    assert "rate at least one product or the shop" in response.content.decode()


def test_a_forged_or_altered_link_shows_a_friendly_page(client, order):
    token = write_token(order.public_id)
    for bad in (token[:-2] + "xx", "nonsense", token + "a"):
        response = client.get(f"/reviews/w/{bad}")
        assert response.status_code == 404
        assert "This link does not work" in response.content.decode()
    assert client.post(f"/reviews/w/{token[:-2]}xx", form(order, rating_mug="5")).status_code == 404
    assert not Review.objects.exists()


@pytest.mark.parametrize(
    ("locale", "heading", "star"),
    [
        ("pt-br", "Avalie seu pedido", "5 estrelas"),
        ("de", "Bewerten Sie Ihre Bestellung", "5 Sterne"),
    ],
)
def test_the_page_speaks_the_shoppers_language(client, order, locale, heading, star):
    order.customer.locale = locale
    order.customer.save()
    html = client.get(url(order)).content.decode()
    assert heading in html and star in html
    assert f'<html lang="{locale}">' in html
    response = client.post(url(order), form(order, rating_mug="9"))
    assert ("escolha de 1 a 5 estrelas" if locale == "pt-br" else "wählen Sie 1 bis 5 Sterne") in (
        response.content.decode()
    )


def test_a_configured_reward_is_shown_for_any_rating(client, store, order):
    services.review_settings_update(
        store, reward_code="THANKS10", reward_description="10% off your next order"
    )
    response = client.post(url(order), form(order, rating_mug="1", text_mug="Broke at once"))
    assert response["Location"].endswith("?done=1&reward=1")
    html = client.get(response["Location"]).content.decode()
    assert "THANKS10" in html and "10% off your next order" in html
    assert Review.objects.get().incentivised is True


def test_the_review_request_message_links_to_this_page(store, order, settings):
    message = Message(
        store=store,
        order=order,
        customer=order.customer,
        kind="review_request",
        category="feedback",
        channel="email",
        recipient="ana@example.com",
        locale="en",
    )
    context = message_context(message, marketing=False)
    assert context["links"]["review_url"] == write_url(order.public_id)
    assert context["links"]["review_url"].startswith(settings.PUBLIC_BASE_URL + "/reviews/w/")


def test_an_oversized_upload_is_refused_without_writing(client, order, settings):
    settings.AFTERSALE_REVIEW_PHOTO_MAX_BYTES = 2 * 1024 * 1024
    mug, _ = products_of(order)
    big = SimpleUploadedFile("huge.jpg", image_bytes() + b"\0" * (3 * 1024 * 1024))
    response = client.post(
        url(order), {**form(order, rating_mug="5"), f"photos-{mug.public_id}": [big]}
    )
    assert response.status_code == 422
    assert "huge.jpg: the file is larger than 2 MB" in response.content.decode()
    assert not Review.objects.exists() and not ReviewPhoto.objects.exists()
