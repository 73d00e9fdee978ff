"""WooCommerce webhook bodies mapped to our input models: pure functions, no database.

The body of order.* and customer.* webhooks is the REST API (v3) resource. Times are read from
the *_gmt fields, which WooCommerce documents as UTC without an offset.

Totals follow the same convention as Shopify's mapping: `subtotal` is the lines before coupons
(each line's `subtotal`), `discount_total` the coupons, and `total` what WooCommerce charged.
"""

from __future__ import annotations

import html
from decimal import Decimal

from aftersale.customers.schemas import AddressIn, CustomerIn
from aftersale.integrations.mapping_common import (
    BodyRef,
    country,
    email,
    external_id,
    money,
    phone,
    text,
    utc,
)
from aftersale.orders.schemas import OrderIn, OrderLineIn, RefundIn

SOURCE = "woocommerce"

# WooCommerce order status → (our status, financial status, fulfilment status or None to keep).
# "failed" (payment declined) stays open and pending: the shopper can pay again, which moves it
# to processing, and calling it cancelled would tell the shopper their order was cancelled.
ORDER_STATUS: dict[str, tuple[str, str, str | None]] = {
    "pending": ("open", "pending", None),
    "checkout-draft": ("open", "pending", None),
    "on-hold": ("open", "pending", None),
    "failed": ("open", "pending", None),
    "processing": ("open", "paid", None),
    "completed": ("closed", "paid", "fulfilled"),
    "cancelled": ("cancelled", "voided", None),
    "refunded": ("closed", "refunded", None),
    "trash": ("cancelled", "voided", None),
}
UNKNOWN_STATUS = ("open", "pending", None)  # custom statuses added by plugins


def map_order(raw: dict) -> OrderIn:
    currency = text(raw.get("currency"), 3) or None
    status, financial_status, fulfillment_status = ORDER_STATUS.get(
        raw.get("status") or "", UNKNOWN_STATUS
    )
    total = money(raw.get("total"))
    refunded = sum((r.amount or Decimal(0) for r in map_refunds(raw)), Decimal(0))
    if refunded > 0 and financial_status == "paid":
        financial_status = "refunded" if refunded >= total else "partially_refunded"
    billing = raw.get("billing") or {}
    lines = [map_line(item) for item in raw.get("line_items") or [] if _quantity(item) > 0]
    return OrderIn(
        external_id=str(raw["id"]),
        number=text(raw.get("number"), 60) or str(raw["id"]),
        source=SOURCE,
        status=status,
        financial_status=financial_status,
        fulfillment_status=fulfillment_status,
        channel="in_store" if text(raw.get("created_via"), 60).startswith("pos") else "online",
        currency=currency,
        subtotal=sum(
            (money(item.get("subtotal")) for item in raw.get("line_items") or []), Decimal(0)
        ),
        discount_total=money(raw.get("discount_total")),
        shipping_total=money(raw.get("shipping_total")),
        tax_total=money(raw.get("total_tax")),
        total=total,
        discount_codes=[
            text(c.get("code"), 100) for c in raw.get("coupon_lines") or [] if c.get("code")
        ],
        placed_at=utc(raw.get("date_created_gmt"), naive_is_utc=True),
        customer=_order_customer(raw, billing),
        email=email(billing.get("email")),
        shipping_address=map_address(raw.get("shipping"), fallback_phone=billing.get("phone")),
        billing_address=map_address(billing),
        note=text(raw.get("customer_note"), 5000),
        lines=lines,
    )


def _quantity(item: dict) -> int:
    try:
        return int(item.get("quantity") or 0)
    except (TypeError, ValueError):
        return 0


def map_line(item: dict) -> OrderLineIn:
    quantity = _quantity(item)
    subtotal = money(item.get("subtotal"))
    line_total = money(item.get("total"))
    return OrderLineIn(
        external_id=external_id(item.get("id")),
        sku=text(item.get("sku"), 100),
        title=text(html.unescape(str(item.get("name") or "")), 300) or "(untitled)",
        variant_title=_variant_title(item),
        product_external_id=external_id(item.get("product_id")),
        variant_external_id=external_id(item.get("variation_id")),
        unit_price=(subtotal / quantity).quantize(Decimal("0.0001")),
        quantity=quantity,
        discount=max(subtotal - line_total, Decimal(0)),
    )


def _variant_title(item: dict) -> str:
    """The variation's attributes (meta entries without a leading underscore), e.g. "black / M"."""
    if not item.get("variation_id"):
        return ""
    values = []
    for meta in item.get("meta_data") or []:
        key = str(meta.get("key") or "")
        value = meta.get("display_value", meta.get("value"))
        if key and not key.startswith("_") and isinstance(value, str | int | float):
            values.append(html.unescape(str(value)))
    return text(" / ".join(values), 300)


def map_address(raw: dict | None, *, fallback_phone: object = None) -> AddressIn | None:
    if not raw or not any(raw.get(k) for k in ("address_1", "city", "postcode", "country")):
        return None
    name = f"{raw.get('first_name') or ''} {raw.get('last_name') or ''}"
    return AddressIn(
        name=text(name, 200),
        company=text(raw.get("company"), 200),
        line1=text(raw.get("address_1"), 200),
        line2=text(raw.get("address_2"), 200),
        city=text(raw.get("city"), 100),
        region=text(raw.get("state"), 100),
        postal_code=text(raw.get("postcode"), 20),
        country=country(raw.get("country")),
        phone=text(raw.get("phone") or fallback_phone, 32),
    )


def _order_customer(raw: dict, billing: dict) -> dict | None:
    """As a dict of what is known: a nested model instance would be re-validated with every
    field marked as sent, and blank out what the customer record already holds."""
    customer_id = external_id(raw.get("customer_id"))
    address = email(billing.get("email"))
    if customer_id is None and address is None:
        return None
    fields: dict = {
        "external_id": customer_id,
        "first_name": text(billing.get("first_name"), 100),
        "last_name": text(billing.get("last_name"), 100),
    }
    if address:
        fields["email"] = address
    customer_phone = phone(billing.get("phone"), country(billing.get("country")) or None)
    if customer_phone:
        fields["phone"] = customer_phone
    return CustomerIn(**fields).model_dump(exclude_unset=True)


def map_refunds(raw: dict) -> list[RefundIn]:
    """The refunds listed inside an order (id, reason, total as a negative amount)."""
    currency = text(raw.get("currency"), 3) or None
    refunds = []
    for item in raw.get("refunds") or []:
        amount = abs(money(item.get("total")))
        if item.get("id") is None or amount == 0:
            continue
        refunds.append(
            RefundIn(
                external_id=str(item["id"]),
                source=SOURCE,
                amount=amount,
                currency=currency,
                reason=text(item.get("reason"), 200),
            )
        )
    return refunds


def map_customer(raw: dict) -> CustomerIn:
    billing = raw.get("billing") or {}
    fields: dict = {
        "external_id": external_id(raw.get("id")),
        "first_name": text(raw.get("first_name") or billing.get("first_name"), 100),
        "last_name": text(raw.get("last_name") or billing.get("last_name"), 100),
    }
    address = email(raw.get("email") or billing.get("email"))
    if address:
        fields["email"] = address
    customer_phone = phone(billing.get("phone"), country(billing.get("country")) or None)
    if customer_phone:
        fields["phone"] = customer_phone
    return CustomerIn(**fields)


def body_ref(topic: str, raw: dict) -> BodyRef:
    """What a body is about, for search, links and putting versions of an order in order."""
    own_id = str(raw.get("id") or "")[:100]
    resource = topic.split(".", 1)[0]
    try:
        updated_at = utc(raw.get("date_modified_gmt"), naive_is_utc=True)
    except ValueError:
        updated_at = None
    if resource in ("order", "customer") and own_id:
        return BodyRef(f"{resource}:{SOURCE}:{own_id}", own_id, updated_at)
    return BodyRef("", own_id, updated_at)
