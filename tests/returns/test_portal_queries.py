"""What a portal page costs when it is rendered afresh (not from the page cache): a fixed, small
number of queries whatever the order holds, eligibility worked out once per request however many
outcomes or methods the page prices, and the same answers as before it was made cheap.

Counts per fresh GET: the page-version query of the page cache (items without choices, outcome,
method, confirm), the order with its store, customer and address, then return_eligibility's
five — the order's delivery, customer history and rules fingerprint; the lines with their
products, variants and units already returned or refunded; the store's reasons; the order's
returns; the variants of the order's products — and, on the outcome page, the exchange catalogue.
"""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from aftersale.catalog.models import Product, Variant
from aftersale.orders.schemas import OrderIn, RefundIn, RefundLineIn
from aftersale.orders.services import order_upsert, refund_create
from aftersale.returns import selectors
from aftersale.returns.models import ReturnRequest
from aftersale.returns.portal import Draft, DraftItem, draft_input
from aftersale.returns.selectors import return_eligibility, returned_quantities
from aftersale.returns.services import Actor, return_cancel, return_quote, return_request_create
from tests.returns.test_portal_data import lines_of, make_order, make_shop

pytestmark = pytest.mark.django_db

# The most queries each page may make when rendered afresh (see the module's docstring).
ITEMS = 7  # version + order + eligibility (5)
ITEMS_CHOSEN = 6  # never cached: no version query
OUTCOME = 8  # version + order + eligibility (5) + the exchange catalogue
METHOD = 7
CONFIRM = 7


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shop(store):
    return make_shop(store)


@pytest.fixture
def order(store, shop):
    return make_order(store)


def drafts(order) -> dict[str, Draft]:
    """A draft at each step: the mugs (changed mind), store credit, drop-off."""
    mug = lines_of(order)["MUG-1"]
    found = {"items": Draft.start(order.public_id)}
    draft = Draft.start(order.public_id)
    draft.items = [DraftItem(line=mug, quantity=1, reason="changed_mind")]
    found["outcome"] = Draft(**{**draft.__dict__})
    draft.outcome = "store_credit"
    found["method"] = Draft(**{**draft.__dict__})
    draft.method = "drop_off"
    found["confirm"] = Draft(**{**draft.__dict__})
    return found


def get_fresh(client, page: str, draft: Draft):
    cache.clear()
    response = client.get(reverse(f"returns:{page}"), {"s": draft.sign(), "lang": "en"})
    assert response.status_code == 200, response.content.decode()[:1000]
    return response.content.decode()


@pytest.mark.parametrize(
    ("page", "most"),
    [("items", ITEMS), ("outcome", OUTCOME), ("method", METHOD), ("confirm", CONFIRM)],
)
def test_each_page_rendered_afresh_makes_a_fixed_small_number_of_queries(
    order, page, most, django_assert_max_num_queries
):
    client = Client()
    draft = drafts(order)[page]
    get_fresh(client, page, draft)  # the first request of a process compiles what it keeps
    with django_assert_max_num_queries(most):
        get_fresh(client, page, draft)


def test_the_items_page_with_choices_is_never_cached_and_as_cheap(
    order, django_assert_max_num_queries
):
    draft = drafts(order)["outcome"]  # back on the items page with the mug chosen
    client = Client()
    get_fresh(client, "items", draft)
    with django_assert_max_num_queries(ITEMS_CHOSEN):
        html = get_fresh(client, "items", draft)
    assert '<option value="1" selected>1</option>' in html


def test_an_exchange_outcome_and_its_confirm_cost_no_more(
    order, shop, django_assert_max_num_queries
):
    jacket = lines_of(order)["JKT-M"]
    draft = Draft.start(order.public_id)
    draft.items = [DraftItem(line=jacket, quantity=1, reason="too_small")]
    client = Client()
    get_fresh(client, "outcome", draft)
    with django_assert_max_num_queries(OUTCOME):
        html = get_fresh(client, "outcome", draft)
    assert shop.jacket_l.public_id in html and shop.jacket_s.public_id in html
    draft.outcome = "exchange_same"
    draft.variants = {jacket: shop.jacket_l.public_id}
    draft.method = "drop_off"
    # One more for the replacement variants asked for, read together whatever their number.
    with django_assert_max_num_queries(CONFIRM + 1):
        html = get_fresh(client, "confirm", draft)
    assert "Trail Jacket" in html


def big_order(store, lines: int):
    for n in range(lines):
        product = Product.objects.create(store=store, external_id=f"p-big-{n}", title=f"Item {n}")
        for size in ("S", "M"):
            Variant.objects.create(
                store=store,
                product=product,
                external_id=f"v-big-{n}-{size}",
                title=size,
                price="10.00",
                currency=store.currency,
                inventory_quantity=3,
            )
    order = make_order(store, number="2002")
    order_upsert(
        store=store,
        data=OrderIn(
            external_id="o-2002",
            number="#2002",
            placed_at=order.placed_at.isoformat(),
            email="ana@example.com",
            customer={"email": "ana@example.com", "locale": "de"},
            lines=[
                {
                    "external_id": f"l-big-{n}",
                    "title": f"Item {n}",
                    "variant_title": "S",
                    "sku": f"BIG-{n}",
                    "product_external_id": f"p-big-{n}",
                    "variant_external_id": f"v-big-{n}-S",
                    "unit_price": "10.00",
                    "quantity": 2,
                }
                for n in range(lines)
            ],
        ),
    )
    order.refresh_from_db()
    return order


def test_the_count_does_not_grow_with_the_orders_lines(store, shop, django_assert_max_num_queries):
    order = big_order(store, 12)
    assert order.lines.count() == 12
    lines = [line.public_id for line in order.lines.order_by("id")]
    draft = Draft.start(order.public_id)
    client = Client()
    get_fresh(client, "items", draft)
    with django_assert_max_num_queries(ITEMS):
        html = get_fresh(client, "items", draft)
    assert html.count('name="qty-') == 12
    draft.items = [DraftItem(line=line, quantity=1, reason="too_small") for line in lines]
    with django_assert_max_num_queries(OUTCOME):
        html = get_fresh(client, "outcome", draft)
    assert 'value="exchange_same"' in html
    draft.outcome = "exchange_same"
    draft.variants = {
        line.public_id: Variant.objects.get(external_id=f"v-big-{n}-M").public_id
        for n, line in enumerate(order.lines.order_by("id"))
    }
    draft.method = "drop_off"
    with django_assert_max_num_queries(CONFIRM + 1):
        get_fresh(client, "confirm", draft)


def test_a_page_works_out_eligibility_once_however_many_quotes_it_shows(order):
    client = Client()
    for page in ("outcome", "method", "confirm"):
        cache.clear()
        with mock.patch(
            "aftersale.returns.selectors.return_eligibility", wraps=return_eligibility
        ) as spy:
            get_fresh(client, page, drafts(order)[page])
        assert spy.call_count == 1, page


def test_a_quote_from_the_pages_eligibility_is_the_quote_the_service_makes_alone(order):
    store = order.store
    mug = lines_of(order)["MUG-1"]
    draft = Draft.start(order.public_id)
    draft.items = [DraftItem(line=mug, quantity=2, reason="changed_mind")]
    eligibility = return_eligibility(store=store, order=order)
    for outcome in ("refund", "store_credit"):
        data = draft_input(draft, order, outcome=outcome, method="drop_off")
        alone = return_quote(store=store, order=order, data=data, now=eligibility.now)
        shared = return_quote(store=store, order=order, data=data, eligibility=eligibility)
        assert (shared.total_amount, shared.fee_amount, shared.bonus_amount) == (
            alone.total_amount,
            alone.fee_amount,
            alone.bonus_amount,
        )
        assert shared.shipping_methods == alone.shipping_methods
        assert shared.matched_rules == alone.matched_rules
        assert shared.facts == alone.facts
    # A gift draft is another eligibility: the quote works its own out rather than reuse it.
    gift = draft_input(
        Draft(**{**draft.__dict__, "gift": True, "gift_email": "bo@example.com"}),
        order,
        outcome="store_credit",
        method="drop_off",
    )
    quote = return_quote(store=store, order=order, data=gift, eligibility=eligibility)
    assert quote.facts.gift is True


def test_units_already_returned_or_refunded_count_as_before(order):
    """The lines' query adds up what returned_quantities adds up: live returns of the order and
    platform refunds outside a return; a cancelled return gives its units back."""
    store = order.store
    lines = lines_of(order)
    draft = Draft.start(order.public_id)
    draft.items = [DraftItem(line=lines["MUG-1"], quantity=1, reason="changed_mind")]
    draft.outcome, draft.method = "refund", "drop_off"
    first = return_request_create(
        store=store, order=order, data=draft_input(draft, order), actor=Actor.shopper()
    ).request
    refund_create(
        store=store,
        order=order,
        data=RefundIn(
            external_id="r-1",
            amount=Decimal("120.00"),
            lines=[RefundLineIn(line=lines["JKT-M"], quantity=1)],
        ),
    )

    def units():
        found = return_eligibility(store=store, order=order)
        return {le.sku: (le.quantity_returned, le.returnable_qty) for le in found.lines}

    by_sku = {line.sku: line.pk for line in order.lines.all()}
    assert units() == {"JKT-M": (1, 0), "MUG-1": (1, 1), "CAP-1": (0, 0)}
    assert returned_quantities(order) == {by_sku["MUG-1"]: 1, by_sku["JKT-M"]: 1}
    assert [r.public_id for r in return_eligibility(store=store, order=order).returns] == [
        first.public_id
    ]

    return_cancel(store=store, ret=ReturnRequest.objects.get(pk=first.pk), actor=Actor.shopper())
    assert units() == {"JKT-M": (1, 0), "MUG-1": (0, 2), "CAP-1": (0, 0)}
    found = return_eligibility(store=store, order=order)
    assert found.open_returns == [] and [r.public_id for r in found.returns] == [first.public_id]


def test_the_rules_are_read_again_when_they_change(order):
    """The compiled rules are kept by fingerprint; a saved change is a new fingerprint."""
    from aftersale.returns.rules import DEFAULT_DEFINITION
    from aftersale.returns.services import rules_save

    store = order.store
    mug = next(le for le in return_eligibility(store=store, order=order).lines if le.sku == "MUG-1")
    assert mug.eligible is True
    definition = {
        **DEFAULT_DEFINITION,
        "rules": [
            {
                "id": "no-mugs",
                "name": "Mugs stay",
                "conditions": [{"field": "sku", "op": "eq", "value": "mug-1"}],
                "actions": {"allow": False, "deny_message": "Mugs cannot come back."},
            },
            *DEFAULT_DEFINITION.get("rules", []),
        ],
    }
    rules_save(store=store, definition=definition)
    mug = next(le for le in return_eligibility(store=store, order=order).lines if le.sku == "MUG-1")
    assert (mug.eligible, mug.deny_message) == (False, "Mugs cannot come back.")
    assert selectors._compiled_cache  # kept by fingerprint
