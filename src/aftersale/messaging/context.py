"""What a template can say: plain data about the store, shopper, order and parcel, formatted in
the recipient's locale and time zone."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from functools import lru_cache
from types import MappingProxyType

from babel.core import Locale
from babel.dates import format_date, format_datetime
from django.conf import settings

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.money import format_money
from aftersale.customers.models import Customer
from aftersale.messaging.locales import FOOTER, LABELS, babel_locale
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment


@lru_cache(maxsize=256)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@lru_cache(maxsize=64)
def _labels(locale: str) -> MappingProxyType:
    return MappingProxyType(dict(LABELS[locale]))


@lru_cache(maxsize=64)
def _babel(tag: str) -> Locale:
    return Locale.parse(tag)


# Prices and dates repeat across a batch of messages; babel's formatting is the slow part.
@lru_cache(maxsize=4096)
def _money(amount: Decimal, currency: str, locale: Locale) -> str:
    return format_money(amount, currency, locale)


@lru_cache(maxsize=1024)
def _long_date(value: dt.date, locale: Locale) -> str:
    return format_date(value, format="long", locale=locale)


class Formatter:
    def __init__(self, locale: str, time_zone: str):
        self.locale = locale
        self.babel = _babel(babel_locale(locale))
        self.zone = _zone(time_zone)

    def money(self, amount: Decimal, currency: str) -> str:
        return _money(amount, currency, self.babel)

    def date(self, value: dt.date | dt.datetime | None) -> str:
        if value is None:
            return ""
        if isinstance(value, dt.datetime):
            value = value.astimezone(self.zone).date()
        return _long_date(value, self.babel)

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        return format_datetime(value, format="medium", tzinfo=self.zone, locale=self.babel)


def store_context(store: Store) -> dict:
    return {
        "name": store.name,
        "logo_url": store.logo_url,
        "brand_color": store.brand_color,
        "accent_color": store.accent_color,
        "website_url": store.website_url,
        "support_email": store.support_email,
        "support_phone": store.support_phone,
        "postal_address": store.postal_address,
    }


def customer_context(customer: Customer | None, email: str = "") -> dict:
    if customer is None:
        return {"first_name": "", "last_name": "", "name": "", "email": email}
    return {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "name": customer.full_name,
        "email": customer.email or email,
        "id": customer.public_id,
    }


def order_context(order: Order, fmt: Formatter, lines=None) -> dict:
    currency = order.currency
    lines = list(order.lines.all()) if lines is None else lines
    image_by_variant = {}
    for line in lines:
        variant = getattr(line, "variant", None) if line.variant_id else None
        product = getattr(line, "product", None) if line.product_id else None
        image_by_variant[line.pk] = (
            variant.image_url if variant and variant.image_url else ""
        ) or (product.image_url if product else "")
    return {
        "id": order.public_id,
        "number": order.number,
        "placed_at": fmt.date(order.placed_at),
        "currency": currency,
        "subtotal": fmt.money(order.subtotal, currency),
        "discount_total": fmt.money(order.discount_total, currency),
        "shipping_total": fmt.money(order.shipping_total, currency),
        "tax_total": fmt.money(order.tax_total, currency),
        "total": fmt.money(order.total, currency),
        "has_discount": order.discount_total > 0,
        "has_tax": order.tax_total > 0,
        "discount_codes": list(order.discount_codes or []),
        "item_count": sum(line.quantity for line in lines),
        "lines": [
            {
                "title": line.title,
                "variant_title": line.variant_title,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": fmt.money(line.unit_price, currency),
                "total": fmt.money(line.total, currency),
                "image_url": image_by_variant.get(line.pk, ""),
            }
            for line in lines
        ],
    }


def shipment_context(shipment: Shipment, fmt: Formatter) -> dict:
    return {
        "id": shipment.public_id,
        "carrier": shipment.carrier,
        "service": shipment.service,
        "tracking_number": shipment.tracking_number,
        "tracking_url": shipment.tracking_url,
        "status": shipment.get_status_display(),
        "shipped_at": fmt.date(shipment.shipped_at),
        "estimated_delivery": fmt.date(shipment.promised_delivery_date),
        "delivered_at": fmt.datetime(shipment.delivered_at),
        # The current estimate (revised as scans come in) and the newest scan, for the messages
        # about a parcel's day and its problems (delivery_delayed, delivery_exception …).
        "estimate": {
            "date": fmt.date(shipment.estimated_delivery_date),
            "earliest": fmt.date(shipment.estimated_earliest),
            "latest": fmt.date(shipment.estimated_latest),
        },
        "latest_event": _latest_event_context(shipment, fmt),
    }


def _latest_event_context(shipment: Shipment, fmt: Formatter) -> dict:
    event = shipment.events.order_by("-occurred_at", "-id").first() if shipment.pk else None
    if event is None:
        return {"status": "", "reason": "", "text": "", "location": "", "at": ""}
    return {
        "status": event.status,
        "reason": event.reason,
        "text": event.raw_text,
        "location": event.location,
        "at": fmt.datetime(event.occurred_at),
    }


def build_context(
    *,
    store: Store,
    locale: str,
    time_zone: str,
    marketing: bool,
    customer: Customer | None = None,
    email: str = "",
    order: Order | None = None,
    order_lines=None,
    shipment: Shipment | None = None,
    links: dict | None = None,
    extra: dict | None = None,
    footer_note: str = "",
) -> dict:
    fmt = Formatter(locale, time_zone)
    footer = dict(FOOTER[locale])
    why_key = "why_marketing" if marketing else "why_transactional"
    footer["why"] = footer[why_key].format(store=store.name)
    footer["note"] = footer_note
    context: dict = {
        "lang": locale,
        "store": store_context(store),
        "customer": customer_context(customer, email),
        "labels": _labels(locale),
        "footer": footer,
        "links": dict(links or {}),
        "now": fmt.date(clock.now()),
        "public_url": settings.PUBLIC_BASE_URL,
    }
    if order is not None:
        context["order"] = order_context(order, fmt, order_lines)
    if shipment is not None:
        context["shipment"] = shipment_context(shipment, fmt)
    for key, value in (extra or {}).items():
        context.setdefault(key, value)
    return context
