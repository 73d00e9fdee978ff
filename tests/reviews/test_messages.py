"""The review_reply message: default wording in en / pt-br / de, quoting the review and the reply
(escaped), and its back-office preview without a real review."""

from __future__ import annotations

import pytest

from aftersale.messaging.kinds import get_kind
from aftersale.messaging.models import Message
from aftersale.messaging.sending import build_email
from aftersale.reviews import services
from aftersale.reviews.kinds import write_url
from aftersale.reviews.models import Review
from tests.reviews.conftest import products_of

pytestmark = pytest.mark.django_db


def replied(store, order, locale):
    mug, _ = products_of(order)
    order.customer.locale = locale
    order.customer.save()
    services.review_request_submit(
        store,
        order=order,
        drafts=[services.ReviewDraft(mug, rating=5, title="<i>Top</i>", text="Hot <b>coffee</b>")],
    )
    review = Review.objects.get()
    services.review_reply_set(store, review=review, text="Thanks <script>x()</script>")
    return Message.objects.get(kind="review_reply")


@pytest.mark.parametrize(
    ("locale", "subject", "button"),
    [
        ("en", "Acme Outdoor replied to your review", "See or change your review"),
        ("pt-br", "Acme Outdoor respondeu à sua avaliação", "Ver ou alterar sua avaliação"),
        ("de", "Acme Outdoor hat auf Ihre Bewertung geantwortet", "Bewertung ansehen oder ändern"),
    ],
)
def test_the_reply_message_in_each_language(store, order, locale, subject, button):
    message = replied(store, order, locale)
    assert message.locale == locale

    _email, rendered, _ = build_email(message)

    assert rendered.subject == subject
    assert button in rendered.html
    assert "Trail Mug" in rendered.html and "★★★★★" in rendered.html
    assert "&lt;script&gt;x()&lt;/script&gt;" in rendered.html
    assert "<script>" not in rendered.html and "<b>coffee</b>" not in rendered.html
    assert "Thanks <script>x()</script>" in rendered.text  # plain text is not HTML
    assert write_url(order.public_id) in rendered.text


def test_the_kind_previews_without_a_review(store):
    kind = get_kind("review_reply")
    preview = Message(store=store, kind="review_reply", locale="en", context={})
    context = kind.context(preview)
    assert context["review"]["reply"].startswith("Thank you!")
    assert context["links"] == {}
    request_kind = get_kind("review_request")
    assert request_kind.context(preview)["links"]["review_url"] == write_url("ord_sample")
