"""The returns portal with Django's test client: lookup (matching, gifts, limits, signed links),
each step (what is offered, what is refused), the confirm (one return per draft, tampering
refused with nothing created), the status page, its documents and the photos' signed URLs.
The browser tests are in test_portal_browser.py."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from aftersale.core.models import OutboxEvent
from aftersale.returns import portal
from aftersale.returns.models import ReturnLabel, ReturnPhoto, ReturnRequest
from aftersale.returns.portal import Draft, DraftItem
from aftersale.returns.selectors import return_status_token
from aftersale.tracking.models import TrackLookupAttempt
from tests.returns.test_portal_data import (
    jpeg_bytes,
    lines_of,
    make_order,
    make_shop,
    state_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Private files in a folder of this test's own."""
    from django.core.cache import cache
    from django.utils.functional import empty

    from aftersale.returns.models import private_storage

    settings.MEDIA_ROOT = tmp_path / "media"
    private_storage._wrapped = empty
    cache.clear()
    yield
    private_storage._wrapped = empty


@pytest.fixture
def shop(store):
    return make_shop(store)


@pytest.fixture
def order(store, shop):
    return make_order(store)


@pytest.fixture
def client():
    return Client()


def step(client, name, state, data=None, files=None):
    payload = {"s": state, **(data or {})}
    if files:
        payload.update(files)
    return client.post(reverse(f"returns:{name}"), payload)


def start(client, order, **kw) -> str:
    response = client.post(
        reverse("returns:lookup"), {"number": order.number, "contact": "ana@example.com", **kw}
    )
    assert response.status_code == 303, response.content[:500]
    return state_of(response)


def to_outcome(client, order, *, mug_qty=1, reason="changed_mind") -> str:
    """Lookup → items (mugs) → reason; returns the draft token at the outcome step."""
    lines = lines_of(order)
    state = start(client, order)
    response = step(client, "items", state, {f"qty-{lines['MUG-1']}": str(mug_qty)})
    assert response.status_code == 303
    response = step(client, "reason", state_of(response), {f"reason-{lines['MUG-1']}": reason})
    assert response.status_code == 303, response.content.decode()[:2000]
    return state_of(response)


# -- lookup ---------------------------------------------------------------------------------------


def test_lookup_by_number_and_email_or_postcode_starts_a_draft(client, order):
    for contact in ("ANA@example.com ", "10119", "101 19"):
        response = client.post(
            reverse("returns:lookup"), {"number": "1001", "contact": contact, "lang": "pt-br"}
        )
        assert response.status_code == 303
        assert urlsplit(response["Location"]).path == "/returns/items"
        draft = Draft.read(state_of(response))
        assert (draft.order, draft.gift, draft.lang, draft.items) == (
            order.public_id,
            False,
            "pt-br",
            [],
        )


def test_wrong_contact_and_wrong_number_answer_alike(client, order):
    wrong_email = client.post(reverse("returns:lookup"), {"number": "1001", "contact": "x@y.z"})
    wrong_number = client.post(
        reverse("returns:lookup"), {"number": "9999", "contact": "ana@example.com"}
    )
    assert wrong_email.status_code == wrong_number.status_code == 404
    # The same page, but for what was typed in, shown again.
    echoed = wrong_number.content.replace(b'value="9999"', b'value="1001"')
    assert wrong_email.content == echoed.replace(b'value="ana@example.com"', b'value="x@y.z"')
    assert b"We could not find an order" in wrong_email.content


def test_lookup_attempts_are_limited_with_the_tracking_lookup(client, order, settings):
    settings.AFTERSALE_TRACK_LOOKUPS_PER_CLIENT = 3
    for _ in range(3):
        client.post(reverse("returns:lookup"), {"number": "1001", "contact": "x@y.z"})
    response = client.post(
        reverse("returns:lookup"), {"number": "1001", "contact": "ana@example.com"}
    )
    assert response.status_code == 429
    assert response["Retry-After"] == "600"
    assert TrackLookupAttempt.objects.count() == 3  # the refused one is not even counted


def test_gift_lookup_needs_the_postcode_and_the_recipients_email(client, order):
    data = {"gift": "1", "number": "1001", "postcode": "10119", "email": "not-an-email"}
    response = client.post(reverse("returns:lookup"), data)
    assert response.status_code == 422
    assert b"Please enter your email address" in response.content
    assert TrackLookupAttempt.objects.count() == 0

    # The buyer's email is not a postcode: a gift is found by where it went.
    data.update(email="bia@example.com", postcode="ana@example.com", name="Bia")
    assert client.post(reverse("returns:lookup"), data).status_code == 404

    data.update(postcode="10119")
    response = client.post(reverse("returns:lookup"), data)
    assert response.status_code == 303
    draft = Draft.read(state_of(response))
    assert (draft.gift, draft.gift_email, draft.gift_name) == (True, "bia@example.com", "Bia")


def test_signed_start_link_opens_the_order_and_a_forged_one_does_not(client, order):
    url = portal.returns_start_url(order)
    assert url.startswith("http") and "/returns/o/" in url
    response = client.get(urlsplit(url).path)
    assert response.status_code == 303
    assert Draft.read(state_of(response)).order == order.public_id

    forged = client.get(urlsplit(url).path[:-3] + "abc")
    assert forged.status_code == 404
    assert b"This return link does not work" in forged.content


def test_an_altered_draft_is_refused(client, order):
    state = start(client, order)
    for bad in (state[:-2] + "xx", "", "garbage"):
        response = client.get(reverse("returns:items"), {"s": bad})
        assert response.status_code == 404


# -- items ----------------------------------------------------------------------------------------


def test_items_page_offers_returnable_lines_and_shows_the_rules_message(client, order):
    state = start(client, order)
    page = client.get(reverse("returns:items"), {"s": state, "lang": "en"})
    html = page.content.decode()
    lines = lines_of(order)
    assert page.status_code == 200
    assert f'name="qty-{lines["JKT-M"]}"' in html
    assert f'name="qty-{lines["MUG-1"]}"' in html
    # The final-sale cap: no quantity to choose, the rule's message instead.
    assert f'name="qty-{lines["CAP-1"]}"' not in html
    assert "This item was sold as final sale and cannot be returned." in html


def test_items_page_speaks_the_customers_language(client, order):
    state = start(client, order)
    draft = Draft.read(state)
    draft.lang = ""
    html = client.get(reverse("returns:items"), {"s": draft.sign()}).content.decode()
    assert '<html lang="de">' in html
    assert "Welche Artikel senden Sie zurück?" in html
    assert (
        "Dieser Artikel wurde als Final Sale verkauft und kann nicht zurückgegeben werden." in html
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("JKT-M", "2", "You can return at most 1"),
        ("MUG-1", "-1", "You can return at most 2"),
        ("CAP-1", "1", "sold as final sale"),
        ("lin_forged", "1", "not part of this order"),
    ],
)
def test_items_refuses_tampered_lines_and_quantities(client, order, field, value, message):
    state = start(client, order)
    line = lines_of(order).get(field, field)
    response = step(client, "items", state, {f"qty-{line}": value})
    assert response.status_code == 422
    assert message in response.content.decode()
    assert 'role="alert"' in response.content.decode()


def test_a_cached_items_page_changes_as_soon_as_the_order_does(
    client, order, django_assert_num_queries
):
    """The page is kept a minute, but a new return on the order shows at once."""
    from aftersale.returns.schemas import ReturnCreateIn
    from aftersale.returns.services import Actor, return_request_create

    mug = lines_of(order)["MUG-1"]
    state = start(client, order)
    first = client.get(reverse("returns:items"), {"s": state, "lang": "en"}).content.decode()
    with django_assert_num_queries(1):  # the version probe; the page comes from the cache
        again = client.get(reverse("returns:items"), {"s": state, "lang": "en"}).content.decode()
    unmasked = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')
    assert unmasked.sub("", first) == unmasked.sub("", again)
    assert f'name="qty-{mug}"' in first
    assert 'name="csrfmiddlewaretoken"' in first and "R2CSRFTOKENMARK" not in first
    assert f'name="s" value="{state}"' in first

    return_request_create(
        store=order.store,
        order=order,
        data=ReturnCreateIn(
            items=[{"line": mug, "quantity": 2, "reason": "changed_mind"}],
            outcome="refund",
            shipping_method="drop_off",
            idempotency_key="k-cache-1",
        ),
        actor=Actor.shopper(),
    )
    after = client.get(reverse("returns:items"), {"s": state, "lang": "en"}).content.decode()
    assert f'name="qty-{mug}"' not in after
    assert "This item has already been returned." in after
    assert "#1001-R1" in after  # listed under the returns already started


def test_items_needs_at_least_one_item(client, order):
    response = step(client, "items", start(client, order), {})
    assert response.status_code == 422
    assert b"Please choose at least one item" in response.content


def test_closed_window_is_shown_and_nothing_can_be_chosen(client, store, shop):
    order = make_order(store, number="1002", delivered_days_ago=45)
    state = start(client, order)
    html = client.get(reverse("returns:items"), {"s": state, "lang": "en"}).content.decode()
    assert "The return window of 30 days for this item has closed." in html
    assert 'name="qty-' not in html


# -- reason and photos ----------------------------------------------------------------------------


def test_reason_must_be_a_leaf_the_rules_allow(client, order):
    lines = lines_of(order)
    state = start(client, order)
    state = state_of(step(client, "items", state, {f"qty-{lines['JKT-M']}": "1"}))
    for bad in ("", "fit", "nonsense"):
        response = step(client, "reason", state, {f"reason-{lines['JKT-M']}": bad})
        assert response.status_code == 422
    response = step(client, "reason", state, {f"reason-{lines['JKT-M']}": "too_small"})
    assert response.status_code == 303
    assert Draft.read(state_of(response)).items[0].reason == "too_small"


def test_a_reason_that_needs_photos_refuses_the_step_without_one(client, order):
    lines = lines_of(order)
    state = state_of(step(client, "items", start(client, order), {f"qty-{lines['MUG-1']}": "1"}))
    response = step(client, "reason", state, {f"reason-{lines['MUG-1']}": "damaged"})
    assert response.status_code == 422
    assert "Please add at least one photo" in response.content.decode()

    photo = SimpleUploadedFile("mug.jpg", jpeg_bytes(), content_type="image/jpeg")
    response = step(
        client,
        "reason",
        state,
        {f"reason-{lines['MUG-1']}": "damaged"},
        {f"photos-{lines['MUG-1']}": photo},
    )
    assert response.status_code == 303
    item = Draft.read(state_of(response)).items[0]
    assert (item.reason, len(item.photos), item.photos[0].content_type) == (
        "damaged",
        1,
        "image/jpeg",
    )


def test_an_upload_that_is_not_an_image_is_refused_and_nothing_is_stored(client, order):
    from aftersale.returns.models import private_storage

    lines = lines_of(order)
    state = state_of(step(client, "items", start(client, order), {f"qty-{lines['MUG-1']}": "1"}))
    fake = SimpleUploadedFile("mug.jpg", b"<script>alert(1)</script>", content_type="image/jpeg")
    response = step(
        client,
        "reason",
        state,
        {f"reason-{lines['MUG-1']}": "damaged"},
        {f"photos-{lines['MUG-1']}": fake},
    )
    assert response.status_code == 422
    assert "is not a photo we can read" in response.content.decode()
    folder = f"returns/{order.store_id}/drafts"
    assert not private_storage.exists(folder) or private_storage.listdir(folder)[1] == []


def test_an_oversized_upload_is_refused(client, order, settings):
    settings.AFTERSALE_RETURN_PHOTO_MAX_BYTES = 1000
    lines = lines_of(order)
    state = state_of(step(client, "items", start(client, order), {f"qty-{lines['MUG-1']}": "1"}))
    big = SimpleUploadedFile("big.jpg", jpeg_bytes(size=(400, 400)), content_type="image/jpeg")
    response = step(
        client,
        "reason",
        state,
        {f"reason-{lines['MUG-1']}": "damaged"},
        {f"photos-{lines['MUG-1']}": big},
    )
    assert response.status_code == 422
    assert "big.jpg is larger than 1000\xa0bytes. Please choose a smaller photo." in (
        response.content.decode()
    )


# -- outcome, method, confirm ---------------------------------------------------------------------


def test_outcome_page_shows_each_allowed_outcome_with_its_amount(client, order):
    state = to_outcome(client, order)
    html = client.get(reverse("returns:outcome"), {"s": state, "lang": "en"}).content.decode()
    # One mug (19.90 paid): refund 19.90; store credit +10% bonus = 21.89.
    assert 'value="refund"' in html and "€19.90" in html
    assert 'value="store_credit"' in html and "€21.89" in html
    assert 'value="keep_item"' not in html  # 19.90 is above the keep-it threshold


def test_tampered_outcome_is_refused(client, order):
    state = to_outcome(client, order)
    response = step(client, "outcome", state, {"outcome": "free_money"})
    assert response.status_code == 422
    response = step(client, "outcome", state, {"outcome": "exchange_same"})
    assert response.status_code == 422  # the mug has no other variant


def test_exchange_for_another_size_offers_only_sizes_in_stock(client, order, shop):
    lines = lines_of(order)
    state = start(client, order)
    state = state_of(step(client, "items", state, {f"qty-{lines['JKT-M']}": "1"}))
    state = state_of(step(client, "reason", state, {f"reason-{lines['JKT-M']}": "too_small"}))
    html = client.get(reverse("returns:outcome"), {"s": state, "lang": "en"}).content.decode()
    assert shop.jacket_l.public_id in html and shop.jacket_s.public_id in html
    assert shop.jacket_m.public_id not in html  # the one bought, and out of stock anyway

    response = step(
        client,
        "outcome",
        state,
        {"outcome": "exchange_same", f"exchange_same-{lines['JKT-M']}": shop.jacket_l.public_id},
    )
    assert response.status_code == 303
    draft = Draft.read(state_of(response))
    assert (draft.outcome, draft.variants) == (
        "exchange_same",
        {lines["JKT-M"]: shop.jacket_l.public_id},
    )


def happy_path(client, order, *, method="drop_off") -> tuple[str, str]:
    state = to_outcome(client, order)
    state = state_of(step(client, "outcome", state, {"outcome": "store_credit"}))
    page = client.get(reverse("returns:method"), {"s": state, "lang": "en"})
    assert page.status_code == 200
    state = state_of(step(client, "method", state, {"method": method}))
    page = client.get(reverse("returns:confirm"), {"s": state, "lang": "en"})
    assert page.status_code == 200
    return state, page.content.decode()


def test_confirm_creates_one_return_and_shows_its_status_page(client, order):
    state, html = happy_path(client, order)
    assert "€21.89" in html
    response = step(client, "confirm", state, {"expected_total": "21.89"})
    assert response.status_code == 303
    ret = ReturnRequest.objects.get()
    assert (ret.outcome, ret.shipping_method, ret.total_amount, ret.bonus_amount) == (
        "store_credit",
        "drop_off",
        Decimal("21.89"),
        Decimal("1.99"),
    )
    assert [(line.order_line.sku, line.quantity, line.reason_code) for line in ret.lines.all()] == [
        ("MUG-1", 1, "changed_mind")
    ]
    assert response["Location"] == reverse("returns:status", args=[return_status_token(ret)])

    # A double submit (the same draft again) is the same return.
    again = step(client, "confirm", state, {"expected_total": "21.89"})
    assert again.status_code == 303 and again["Location"] == response["Location"]
    assert ReturnRequest.objects.count() == 1
    assert OutboxEvent.objects.filter(name="return.requested").count() == 1


def test_a_tampered_amount_is_refused_and_nothing_is_created(client, order):
    state, _ = happy_path(client, order)
    response = step(client, "confirm", state, {"expected_total": "99.00"})
    assert response.status_code == 422
    assert "The amounts changed" in response.content.decode()
    response = step(client, "confirm", state, {"expected_total": "NaN"})
    assert response.status_code == 422
    assert ReturnRequest.objects.count() == 0
    assert not OutboxEvent.objects.filter(name__startswith="return.").exists()


def test_a_quantity_above_what_was_bought_posted_directly_creates_nothing(client, order):
    """A draft signed by us but carrying 5 mugs (as if the steps were skipped): the create
    service refuses it."""
    state, _ = happy_path(client, order)
    draft = Draft.read(state)
    draft.items = [DraftItem(line=lines_of(order)["MUG-1"], quantity=5, reason="changed_mind")]
    response = step(client, "confirm", draft.sign(), {"expected_total": "21.89"})
    assert response.status_code == 422
    assert "more of an item than you can return" in response.content.decode()
    assert ReturnRequest.objects.count() == 0


def test_a_forged_draft_at_confirm_creates_nothing(client, order):
    state, _ = happy_path(client, order)
    payload = signing.loads(state, salt="aftersale.returns.draft")
    payload["outcome"] = "refund"
    forged = signing.dumps(payload, salt="wrong-salt", compress=True)
    response = step(client, "confirm", forged, {"expected_total": "21.89"})
    assert response.status_code == 404
    assert ReturnRequest.objects.count() == 0


# -- status page, documents, photos ---------------------------------------------------------------


def test_status_page_shows_the_qr_and_slip_for_a_drop_off(client, order):
    state, _ = happy_path(client, order)
    location = step(client, "confirm", state, {"expected_total": "21.89"})["Location"]
    ret = ReturnRequest.objects.get()
    page = client.get(location, {"lang": "en"})
    html = page.content.decode()
    assert page.status_code == 200
    assert f"Return {ret.reference}" in html
    label = ReturnLabel.objects.get(request=ret)
    assert (label.provider, label.qr_payload, ret.status) == (
        "aftersale_pdf",
        ret.public_id,
        "approved",
    ) or ret.status == "label_issued"
    assert 'class="qr"' in html
    slip = portal.document_path(ret, "slip")
    assert slip in html
    pdf = client.get(slip)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf["Content-Disposition"] == f'attachment; filename="return-slip-{ret.public_id}.pdf"'
    # Behind the status page's token: a changed token opens nothing.
    assert slip == location + "/slip.pdf"
    assert client.get(location[:-3] + "abc/slip.pdf").status_code == 404
    assert client.get(portal.document_path(ret, "label")).status_code == 404  # no carrier PDF


def test_status_page_with_a_forged_token_is_the_friendly_404(client):
    response = client.get(reverse("returns:status", args=["nope"]))
    assert response.status_code == 404
    assert b"This return link does not work" in response.content


def test_photos_are_served_only_by_their_signed_url(client, order):
    lines = lines_of(order)
    state = state_of(step(client, "items", start(client, order), {f"qty-{lines['MUG-1']}": "1"}))
    photo = SimpleUploadedFile("mug.jpg", jpeg_bytes(), content_type="image/jpeg")
    state = state_of(
        step(
            client,
            "reason",
            state,
            {f"reason-{lines['MUG-1']}": "damaged"},
            {f"photos-{lines['MUG-1']}": photo},
        )
    )
    state = state_of(step(client, "outcome", state, {"outcome": "refund"}))
    state = state_of(step(client, "method", state, {"method": "drop_off"}))
    response = step(client, "confirm", state, {"expected_total": "19.90"})
    assert response.status_code == 303, response.content.decode()[:3000]
    stored = ReturnPhoto.objects.get()
    assert stored.content_type == "image/jpeg"
    url = portal.photo_path(stored.public_id)
    served = client.get(url)
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served.streaming_content).startswith(b"\xff\xd8")
    # The public id alone, or a changed signature, opens nothing.
    assert client.get(reverse("returns:photo", args=[stored.public_id])).status_code == 404
    assert client.get(url[:-2] + "xx").status_code == 404
    # The draft copy is gone once the return holds the photo.
    from aftersale.returns.models import private_storage

    assert private_storage.listdir(f"returns/{order.store_id}/drafts")[1] == []


def test_a_gift_return_offers_only_store_credit_for_the_recipient(client, order):
    data = {"gift": "1", "number": "1001", "postcode": "10119", "email": "Bia@Example.com"}
    state = state_of(client.post(reverse("returns:lookup"), data))
    mug = lines_of(order)["MUG-1"]
    state = state_of(step(client, "items", state, {f"qty-{mug}": "1"}))
    state = state_of(step(client, "reason", state, {f"reason-{mug}": "changed_mind"}))
    html = client.get(reverse("returns:outcome"), {"s": state, "lang": "en"}).content.decode()
    assert 'value="store_credit"' in html
    assert 'value="refund"' not in html
    assert step(client, "outcome", state, {"outcome": "refund"}).status_code == 422

    state = state_of(step(client, "outcome", state, {"outcome": "store_credit"}))
    state = state_of(step(client, "method", state, {"method": "in_store"}))
    html = client.get(reverse("returns:confirm"), {"s": state, "lang": "en"}).content.decode()
    assert "Store credit you receive" in html
    response = step(client, "confirm", state, {"expected_total": "21.89"})
    assert response.status_code == 303
    ret = ReturnRequest.objects.get()
    assert (ret.is_gift, ret.gift_recipient_email, ret.outcome, ret.shipping_method) == (
        True,
        "bia@example.com",
        "store_credit",
        "in_store",
    )


def test_exchange_for_a_dearer_product_shows_the_difference_to_pay(client, order, shop):
    jacket = lines_of(order)["JKT-M"]
    state = start(client, order)
    state = state_of(step(client, "items", state, {f"qty-{jacket}": "1"}))
    state = state_of(step(client, "reason", state, {f"reason-{jacket}": "not_as_described"}))
    html = client.get(
        reverse("returns:outcome"), {"s": state, "lang": "en", "q": "boots"}
    ).content.decode()
    assert shop.boots.public_id in html and "Hiking Boots" in html
    response = step(
        client,
        "outcome",
        state,
        {"outcome": "exchange_other", f"exchange_other-{jacket}": shop.boots.public_id},
    )
    assert response.status_code == 303
    state = state_of(step(client, "method", state_of(response), {"method": "drop_off"}))
    html = client.get(reverse("returns:confirm"), {"s": state, "lang": "en"}).content.decode()
    assert "Replacement: Hiking Boots 42 (€150.00)" in html
    assert "You pay the difference" in html and "€30.00" in html


def test_the_shopper_can_cancel_from_the_status_page_until_the_parcel_moves(client, order):
    state, _ = happy_path(client, order)
    location = step(client, "confirm", state, {"expected_total": "21.89"})["Location"]
    assert ReturnRequest.objects.get().status == "label_issued"
    assert "Cancel this return" in client.get(location, {"lang": "en"}).content.decode()

    response = client.post(location, {"action": "cancel"})

    assert response.status_code == 303
    ret = ReturnRequest.objects.get()
    assert ret.status == "cancelled"
    assert ReturnLabel.objects.get(request=ret).voided_at is not None
    assert client.get(portal.document_path(ret, "slip")).status_code == 404  # voided with it
    html = client.get(response["Location"] + "&lang=en").content.decode()
    assert "Your return has been cancelled." in html
    assert "Cancel this return" not in html
    # Again (a second tab): refused, nothing changes.
    again = client.post(location, {"action": "cancel", "lang": "en"})
    assert again.status_code == 409
    assert ReturnRequest.objects.get().status == "cancelled"


def test_the_exchange_search_answers_htmx_with_the_list_only(client, order, shop):
    jacket = lines_of(order)["JKT-M"]
    state = start(client, order)
    state = state_of(step(client, "items", state, {f"qty-{jacket}": "1"}))
    state = state_of(step(client, "reason", state, {f"reason-{jacket}": "not_as_described"}))
    response = client.get(
        reverse("returns:outcome"), {"s": state, "q": "mug", "lang": "en"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith('<div id="catalog">')
    assert "<html" not in html
    assert "Trail Mug" in html and "Hiking Boots" not in html


def test_a_store_branded_lookup_finds_only_that_stores_orders(client, order, other_store):
    page = client.get(reverse("returns:lookup"), {"store": "brisa"})
    assert b"Brisa Casa" in page.content
    response = client.post(
        reverse("returns:lookup") + "?store=brisa", {"number": "1001", "contact": "10119"}
    )
    assert response.status_code == 404
    response = client.post(
        reverse("returns:lookup") + "?store=acme", {"number": "1001", "contact": "10119"}
    )
    assert response.status_code == 303


@pytest.mark.parametrize("locale", ["de", "pt_BR"])
def test_every_portal_text_is_translated(locale):
    from pathlib import Path

    from babel.messages.pofile import read_po

    import aftersale.returns

    folder = Path(aftersale.returns.__file__).parent / "locale" / locale / "LC_MESSAGES"
    with open(folder / "django.po", "rb") as handle:
        catalog = read_po(handle)
    untranslated = [
        m.id
        for m in catalog
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert untranslated == []
    assert not any(m.fuzzy for m in catalog if m.id)
    assert (folder / "django.mo").stat().st_mtime >= (folder / "django.po").stat().st_mtime - 5
