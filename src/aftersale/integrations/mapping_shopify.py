"""Shopify webhook bodies mapped to our input models: pure functions, no database.

Fields follow Shopify's REST Admin API (the webhook body of orders/*, fulfillments/*,
fulfillment_events/*, refunds/create and customers/* is the REST resource). Missing or null
fields are read as "not known"; a value we cannot use (an e-mail that is not one, a country name
instead of a code) is dropped rather than failing the whole payload.

Totals: `subtotal` is the lines before discounts (total_line_items_price), `discount_total` is
Shopify's total_discounts, and `total` is Shopify's total_price as charged, so taxes included in
prices, duties and tips never make our total differ from the shop's.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from aftersale.customers.schemas import AddressIn, CustomerIn
from aftersale.integrations.mapping_common import (
    BodyRef,
    country,
    email,
    external_id,
    money,
    phone,
    tag_list,
    text,
    url,
    utc,
)
from aftersale.orders.schemas import OrderIn, OrderLineIn, RefundIn, RefundLineIn
from aftersale.tracking.models import ShipmentStatus
from aftersale.tracking.schemas import ShipmentIn, ShipmentLineIn, TrackingEventIn

SOURCE = "shopify"

FINANCIAL_STATUS = {
    "pending": "pending",
    "authorized": "authorized",
    "partially_paid": "partially_paid",
    "paid": "paid",
    "partially_refunded": "partially_refunded",
    "refunded": "refunded",
    "voided": "voided",
    "expired": "voided",  # an authorization that lapsed: no money will come
}

# Shopify's order fulfillment_status. null means "nothing shipped yet", but we send no value
# then, so that an orders/updated that overtakes a fulfillment does not undo what shipped.
FULFILLMENT_STATUS = {"fulfilled": "fulfilled", "partial": "partial"}

# A fulfillment's (and a fulfillment event's) shipment_status, where it means one of ours.
# "confirmed" and "delayed" say nothing about where the parcel is, so they map to no status.
SHIPMENT_STATUS = {
    "label_printed": ShipmentStatus.LABEL_CREATED,
    "label_purchased": ShipmentStatus.LABEL_CREATED,
    "carrier_picked_up": ShipmentStatus.PICKED_UP,
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "out_for_delivery": ShipmentStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": ShipmentStatus.ATTEMPT_FAILED,
    "ready_for_pickup": ShipmentStatus.READY_FOR_PICKUP,
    "picked_up": ShipmentStatus.DELIVERED,  # collected by the shopper at a pickup point
    "delivered": ShipmentStatus.DELIVERED,
    "failure": ShipmentStatus.EXCEPTION,
}

# Refund line restock types that put the goods back on the shelf.
RESTOCK_TYPES = {"return", "cancel", "legacy_restock"}


@dataclass(frozen=True)
class MappedRefund:
    order_external_id: str
    refund: RefundIn


@dataclass(frozen=True)
class MappedFulfillmentEvent:
    order_external_id: str
    fulfillment_external_id: str
    event: TrackingEventIn


def map_order(raw: dict) -> OrderIn:
    shipping_address = map_address(raw.get("shipping_address"))
    billing_address = map_address(raw.get("billing_address"))
    region = (shipping_address or billing_address or AddressIn()).country or None
    lines = [map_line(item) for item in raw.get("line_items") or [] if _quantity(item) > 0]
    line_sum = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    if raw.get("cancelled_at"):
        status = "cancelled"
    elif raw.get("closed_at"):
        status = "closed"
    else:
        status = "open"
    return OrderIn(
        external_id=str(raw["id"]),
        number=_order_number(raw),
        source=SOURCE,
        status=status,
        financial_status=FINANCIAL_STATUS.get(raw.get("financial_status") or "", "pending"),
        fulfillment_status=FULFILLMENT_STATUS.get(raw.get("fulfillment_status") or ""),
        channel="in_store" if raw.get("source_name") == "pos" else "online",
        currency=raw.get("currency") or None,
        subtotal=(
            money(raw["total_line_items_price"])
            if raw.get("total_line_items_price") is not None
            else line_sum
        ),
        discount_total=money(raw.get("total_discounts")),
        shipping_total=sum(
            (money(s.get("price")) for s in raw.get("shipping_lines") or []), Decimal(0)
        ),
        tax_total=money(raw.get("total_tax")),
        total=money(raw["total_price"]) if raw.get("total_price") is not None else None,
        discount_codes=[
            text(code.get("code"), 100)
            for code in raw.get("discount_codes") or []
            if text(code.get("code"), 100)
        ],
        placed_at=utc(raw.get("processed_at") or raw.get("created_at")),
        cancelled_at=utc(raw.get("cancelled_at")),
        cancel_reason=text(raw.get("cancel_reason"), 200),
        customer=_order_customer(raw.get("customer"), region),
        email=email(raw.get("email") or raw.get("contact_email")),
        shipping_address=shipping_address,
        billing_address=billing_address,
        tags=tag_list(raw.get("tags")),
        note=text(raw.get("note"), 5000),
        lines=lines,
    )


def _order_customer(raw: dict | None, region: str | None) -> dict | None:
    if not raw:
        return None
    # Handed on as a dict: a nested model instance would be re-validated with every field "set".
    return map_customer(raw, region=region).model_dump(exclude_unset=True)


def _order_number(raw: dict) -> str:
    name = text(raw.get("name"), 60)
    if name:
        return name.removeprefix("#")
    return str(raw.get("order_number") or raw["id"])


def _quantity(item: dict) -> int:
    try:
        return int(item.get("quantity") or 0)
    except (TypeError, ValueError):
        return 0


def map_line(item: dict) -> OrderLineIn:
    allocations = item.get("discount_allocations") or []
    if allocations:
        discount = sum((money(a.get("amount")) for a in allocations), Decimal(0))
    else:
        discount = money(item.get("total_discount"))
    return OrderLineIn(
        external_id=external_id(item.get("id")),
        sku=text(item.get("sku"), 100),
        title=text(item.get("title") or item.get("name"), 300) or "(untitled)",
        variant_title=text(item.get("variant_title"), 300),
        product_external_id=external_id(item.get("product_id")),
        variant_external_id=external_id(item.get("variant_id")),
        unit_price=money(item.get("price")),
        quantity=_quantity(item),
        discount=discount,
        requires_shipping=bool(item.get("requires_shipping", True)),
    )


def map_address(raw: dict | None) -> AddressIn | None:
    if not raw:
        return None
    name = text(raw.get("name"), 200) or text(
        f"{raw.get('first_name') or ''} {raw.get('last_name') or ''}", 200
    )
    return AddressIn(
        name=name,
        company=text(raw.get("company"), 200),
        line1=text(raw.get("address1"), 200),
        line2=text(raw.get("address2"), 200),
        city=text(raw.get("city"), 100),
        region=text(raw.get("province_code") or raw.get("province"), 100),
        postal_code=text(raw.get("zip"), 20),
        country=country(raw.get("country_code")),
        phone=text(raw.get("phone"), 32),
    )


def map_customer(raw: dict, *, region: str | None = None) -> CustomerIn:
    """Only what the body tells is set (model_fields_set), so an update never blanks a field the
    body left out: an order's customer often has no e-mail, phone or consent."""
    default_address = raw.get("default_address") or {}
    region = country(default_address.get("country_code")) or region
    fields: dict = {"external_id": external_id(raw.get("id"))}
    for key in ("first_name", "last_name"):
        if raw.get(key) is not None:
            fields[key] = text(raw[key], 100)
    if raw.get("tags") is not None:
        fields["tags"] = tag_list(raw["tags"])
    customer_email = email(raw.get("email"))
    if customer_email:
        fields["email"] = customer_email
    customer_phone = phone(raw.get("phone"), region)
    if customer_phone:
        fields["phone"] = customer_phone
    consent = raw.get("email_marketing_consent")
    if isinstance(consent, dict) and consent.get("state"):
        fields["accepts_marketing"] = consent["state"] == "subscribed"
    elif raw.get("accepts_marketing") is not None:
        fields["accepts_marketing"] = bool(raw["accepts_marketing"])
    if "accepts_marketing" in fields:
        fields["marketing_consent_source"] = SOURCE
    return CustomerIn(**fields)


def map_fulfillment(raw: dict) -> ShipmentIn:
    numbers = [n for n in raw.get("tracking_numbers") or [] if n]
    urls = [u for u in raw.get("tracking_urls") or [] if u]
    if raw.get("status") == "cancelled":
        status = ShipmentStatus.CANCELLED
    else:
        status = SHIPMENT_STATUS.get(raw.get("shipment_status") or "")
    return ShipmentIn(
        order=str(raw["order_id"]),
        external_id=str(raw["id"]),
        source=SOURCE,
        carrier=text(raw.get("tracking_company"), 60),
        tracking_number=text(raw.get("tracking_number") or (numbers[0] if numbers else ""), 100),
        tracking_url=url(raw.get("tracking_url") or (urls[0] if urls else None)),
        status=status,
        shipped_at=utc(raw.get("created_at")),
        lines=[
            ShipmentLineIn(line=str(item["id"]), quantity=_quantity(item))
            for item in raw.get("line_items") or []
            if _quantity(item) > 0
        ],
    )


def map_fulfillment_event(raw: dict) -> MappedFulfillmentEvent:
    raw_status = text(raw.get("status"), 100)
    place = [text(raw.get(k), 60) for k in ("city", "province", "country")]
    return MappedFulfillmentEvent(
        order_external_id=str(raw["order_id"]),
        fulfillment_external_id=str(raw["fulfillment_id"]),
        event=TrackingEventIn(
            occurred_at=utc(raw.get("happened_at") or raw.get("created_at")),
            status=SHIPMENT_STATUS.get(raw_status),
            raw_status=raw_status,
            raw_text=text(raw.get("message"), 500),
            location=", ".join(p for p in place if p),
        ),
    )


def map_refund(raw: dict) -> MappedRefund:
    transactions = [
        t
        for t in raw.get("transactions") or []
        if t.get("kind") == "refund" and t.get("status") in ("success", None)
    ]
    amount = sum((money(t.get("amount")) for t in transactions), Decimal(0))
    currencies = {t["currency"] for t in transactions if t.get("currency")}
    lines = []
    for item in raw.get("refund_line_items") or []:
        if _quantity(item) <= 0:
            continue
        restock_type = item.get("restock_type")
        lines.append(
            RefundLineIn(
                line=str(item["line_item_id"]),
                quantity=_quantity(item),
                amount=money(item["subtotal"]) if item.get("subtotal") is not None else None,
                restock=(
                    restock_type in RESTOCK_TYPES
                    if restock_type is not None
                    else bool(raw.get("restock"))
                ),
            )
        )
    return MappedRefund(
        order_external_id=str(raw["order_id"]),
        refund=RefundIn(
            external_id=str(raw["id"]),
            source=SOURCE,
            amount=amount if amount > 0 else None,
            currency=currencies.pop() if len(currencies) == 1 else None,
            note=text(raw.get("note"), 5000),
            processed_at=utc(raw.get("processed_at") or raw.get("created_at")),
            lines=lines,
        ),
    )


def body_ref(topic: str, raw: dict) -> BodyRef:
    """What a body is about, for search, links and putting versions of an order in order."""
    own_id = str(raw.get("id") or "")[:100]
    resource = topic.split("/", 1)[0]
    try:
        updated_at = utc(raw.get("updated_at"))
    except ValueError:
        updated_at = None
    if resource == "orders":
        return BodyRef(f"order:{SOURCE}:{own_id}", own_id, updated_at)
    if resource in ("fulfillments", "fulfillment_events", "refunds") and raw.get("order_id"):
        return BodyRef(f"order:{SOURCE}:{raw['order_id']}", own_id, updated_at)
    if resource == "customers":
        return BodyRef(f"customer:{SOURCE}:{own_id}", own_id, updated_at)
    return BodyRef("", own_id, updated_at)
