"""The return messages: one per return.* event (queued once however often the event comes), to
the gift recipient for gift returns, rendered in en / pt-br / de with the status page link; the
back office preview works for a store without returns."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils.functional import empty

from aftersale.core.events import dispatch_pending
from aftersale.messaging.kinds import get_kind
from aftersale.messaging.message_templates import default_template
from aftersale.messaging.models import Category, Message
from aftersale.messaging.preview import message_as_sent, template_preview
from aftersale.returns.kinds import KINDS
from aftersale.returns.models import private_storage
from aftersale.returns.schemas import ReturnCreateIn
from aftersale.returns.selectors import return_status_token
from aftersale.returns.services import (
    Actor,
    return_approve,
    return_reject,
    return_request_create,
    rules_save,
)
from tests.returns.test_portal_data import lines_of, make_order, make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    private_storage._wrapped = empty
    yield
    private_storage._wrapped = empty


def create(store, order, *, key="k-messages-1", method="drop_off", **extra):
    data = ReturnCreateIn(
        items=[{"line": lines_of(order)["MUG-1"], "quantity": 1, "reason": "changed_mind"}],
        outcome=extra.pop("outcome", "store_credit"),
        shipping_method=method,
        idempotency_key=key,
        **extra,
    )
    return return_request_create(store=store, order=order, data=data, actor=Actor.shopper()).request


def test_every_kind_is_transactional_about_the_order_with_wording_in_three_languages():
    for code in KINDS:
        kind = get_kind(code)
        assert (kind.category, kind.about, kind.context is not None) == (
            Category.TRANSACTIONAL,
            "order",
            True,
        )
        for locale in ("en", "pt-br", "de"):
            parts = default_template(code, "email", locale)
            assert parts is not None, (code, locale)
            assert parts.subject and parts.html_body and parts.text_body
            assert "links.return_url" in parts.html_body + parts.text_body or code == (
                "return_credited"
            )


def test_a_return_approved_on_the_spot_is_one_message_with_the_qr_code_page(store):
    make_shop(store)
    order = make_order(store)
    ret = create(store, order)

    for _ in range(3):  # requested + approved, then label_issued, then a redelivery: nothing new
        dispatch_pending()

    assert list(Message.objects.values_list("kind", flat=True)) == ["return_label"]
    message = Message.objects.get()
    assert (message.recipient, message.order_id, message.context) == (
        "ana@example.com",
        order.pk,
        {"return_id": ret.public_id},
    )
    assert message.idempotency_key == f"return:{ret.public_id}:return_label"
    preview = message_as_sent(message)
    assert preview.exception is None
    # Ana reads German.
    assert preview.subject == f"Ihr Rücksendeetikett für {ret.reference}"
    assert "Abgabe mit QR-Code" in preview.text
    status_path = "/returns/s/" + return_status_token(ret)
    assert status_path in preview.text
    link = next(w for w in preview.text.split() if "/returns/s/" in w)
    assert Client().get(urlsplit(link).path).status_code == 200


def test_a_return_sent_to_review_is_told_when_requested_and_when_approved(store):
    make_shop(store)
    order = make_order(store)
    rules_save(store=store, definition={"defaults": {"review": "review"}, "rules": []})
    ret = create(store, order, method="drop_off")
    dispatch_pending()
    requested = Message.objects.get()
    preview = message_as_sent(requested)
    assert preview.subject == f"Ihre Rücksendung {ret.reference} ist eingegangen"
    assert "1 × Trail Mug" in preview.text
    assert "19,90\xa0€" in preview.text  # these rules give no credit bonus

    return_approve(store=store, ret=ret, actor=Actor.system("staff"))
    for _ in range(3):
        dispatch_pending()
    assert sorted(Message.objects.values_list("kind", flat=True)) == [
        "return_label",
        "return_requested",
    ]


def test_a_keep_the_item_return_is_told_by_the_approval(store):
    from aftersale.orders.schemas import OrderIn
    from aftersale.orders.services import order_upsert

    make_shop(store)
    order = make_order(store, locale="en")
    # A cheap line (under 10): the default rules let the shopper keep it.
    order_upsert(
        store=store,
        data=OrderIn(
            external_id=f"o-{order.number[1:]}",
            number=order.number,
            placed_at=order.placed_at.isoformat(),
            email=order.email,
            lines=[
                {
                    "external_id": "l-sticker",
                    "title": "Sticker",
                    "unit_price": "4.00",
                    "quantity": 1,
                }
            ],
        ),
    )
    sticker = order.lines.get(title="Sticker").public_id
    data = ReturnCreateIn(
        items=[{"line": sticker, "quantity": 1, "reason": "changed_mind"}],
        outcome="keep_item",
        shipping_method="none",
        idempotency_key="k-keep-1",
    )
    return_request_create(store=store, order=order, data=data, actor=Actor.shopper())
    for _ in range(3):
        dispatch_pending()
    kinds = list(Message.objects.values_list("kind", flat=True))
    assert "return_approved" in kinds and "return_label" not in kinds
    approved = message_as_sent(Message.objects.get(kind="return_approved"))
    assert "You do not need to send anything back." in approved.text


def test_label_message_links_the_qr_code_page(store):
    make_shop(store)
    order = make_order(store, locale="pt-br")
    ret = create(store, order)
    dispatch_pending()  # requested, approved: the approval issues the drop-off code
    dispatch_pending()  # label_issued
    preview = message_as_sent(Message.objects.get(kind="return_label"))
    assert preview.subject == f"Sua etiqueta de devolução {ret.reference}"
    assert "Entrega com QR code" in preview.text
    assert "mostre o QR code da página da sua devolução no ponto de entrega" in preview.text


def test_rejection_says_why(store):
    make_shop(store)
    order = make_order(store, locale="en")
    rules_save(store=store, definition={"defaults": {"review": "review"}, "rules": []})
    ret = create(store, order)
    dispatch_pending()
    return_reject(store=store, ret=ret, actor=Actor.system("t"), reason="Worn and washed.")
    dispatch_pending()
    assert sorted(Message.objects.values_list("kind", flat=True)) == [
        "return_rejected",
        "return_requested",
    ]
    preview = message_as_sent(Message.objects.get(kind="return_rejected"))
    assert preview.subject == f"About your return {ret.reference}"
    assert "Why: Worn and washed." in preview.text


def test_gift_returns_are_told_to_the_recipient(store):
    make_shop(store)
    order = make_order(store, locale="en")
    create(
        store,
        order,
        gift=True,
        gift_recipient_email="bia@example.com",
        gift_recipient_name="Bia",
    )
    for _ in range(3):
        dispatch_pending()
    recipients = set(Message.objects.values_list("recipient", flat=True))
    assert recipients == {"bia@example.com"}


@pytest.mark.parametrize("locale", ["en", "pt-br", "de"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_back_office_preview_renders_for_a_store_without_returns(store, kind, locale):
    preview = template_preview(
        store=store,
        kind=kind,
        channel="email",
        locale=locale,
        parts=default_template(kind, "email", locale),
    )
    assert preview.exception is None, preview.exception
    assert preview.subject and "{{" not in preview.subject
    assert "/returns/s/" in preview.text or kind == "return_credited"
