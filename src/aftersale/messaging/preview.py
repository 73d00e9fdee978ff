"""What a template looks like for a real order of the store, before and after it is sent.

The preview builds an unsaved Message for a sample (the store's newest order, parcel or customer,
as the kind is about) and renders it through the sender's own `message_context`, so the back
office shows exactly what a shopper would get. Nothing here writes to the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.messaging import tokens
from aftersale.messaging.context import Formatter
from aftersale.messaging.kinds import MessageKind, get_kind
from aftersale.messaging.models import Category, Channel, Message
from aftersale.messaging.rendering import TemplateError, TemplateParts, render_email, render_sms
from aftersale.messaging.sending import build_email, message_context
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment

SAMPLE_EMAIL = "shopper@example.com"
SAMPLE_PHONE = "+15550100100"


@dataclass
class Sample:
    """An unsaved message about a real order (or the built-in sample) and what to tell the user."""

    message: Message
    notes: list[str] = field(default_factory=list)

    @property
    def order_number(self) -> str:
        return self.message.order.number if self.message.order is not None else ""


@dataclass
class Preview:
    sample: Sample | None = None
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str = ""
    sms: str = ""
    sms_chars: int = 0
    sms_segments: int = 0
    sms_encoding: str = ""
    exception: TemplateError | None = None

    @property
    def error(self) -> str:
        return str(self.exception) if self.exception is not None else ""

    @property
    def error_part(self) -> str:
        return self.exception.part if self.exception is not None else ""


# -- picking the sample ---------------------------------------------------------------------


def _find_order(store: Store, number: str) -> Order | None:
    number = number.strip()
    if not number:
        return None
    bare = number.lstrip("#")
    return (
        Order.objects.filter(store=store, number__in=[number, bare, f"#{bare}"])
        .select_related("customer")
        .order_by("-placed_at", "-id")
        .first()
    )


def _newest_order(store: Store) -> Order | None:
    with_lines = Order.objects.filter(store=store, lines__isnull=False)
    pk = with_lines.order_by("-placed_at", "-id").values_list("pk", flat=True).first()
    if pk is None:
        return None
    return Order.objects.select_related("customer").get(pk=pk)


def _newest_shipment(store: Store, order: Order | None = None) -> Shipment | None:
    shipments = Shipment.objects.filter(store=store).select_related("order", "order__customer")
    if order is not None:
        shipments = shipments.filter(order=order)
    return shipments.order_by("-created_at", "-id").first()


def _newest_customer(store: Store) -> Customer | None:
    return Customer.objects.filter(store=store).exclude(email="").order_by("-id").first()


def sample_message(
    *, store: Store, kind: str, channel: str, locale: str, order_number: str = ""
) -> Sample:
    """An unsaved Message like the one the kind would send, about a real object of the store.

    `about` on the kind decides what it is about: the newest order with lines, the newest parcel,
    or a customer. `order_number` picks another order. A store without orders gets the built-in
    sample order (plain data) instead, and the notes say so.
    """
    spec = get_kind(kind)
    notes: list[str] = []
    order: Order | None = None
    shipment: Shipment | None = None
    customer: Customer | None = None

    chosen = _find_order(store, order_number) if order_number.strip() else None
    if order_number.strip() and chosen is None:
        notes.append(f"This store has no order {order_number.strip()}; showing the newest one.")

    if spec.about == "shipment":
        shipment = _newest_shipment(store, chosen) if chosen else _newest_shipment(store)
        if shipment is not None:
            order = shipment.order
        else:
            order = chosen or _newest_order(store)
            if order is not None:
                notes.append(
                    f"Order {order.number} has no parcel yet; the preview uses a sample parcel."
                )
    else:
        order = chosen or _newest_order(store)

    if order is not None:
        customer = order.customer
    if spec.about == "customer":
        customer = customer or _newest_customer(store)
        order = None  # messages about a customer carry no order, like the real ones

    fmt = Formatter(locale, (customer.time_zone if customer else "") or store.time_zone)
    extra: dict = _sample_extra(spec, fmt, store, order)
    if spec.about != "customer" and order is None:
        notes.append(
            "This store has no orders yet, so the preview uses a built-in sample order. "
            "Once orders come in, it shows the newest one."
        )
        extra["order"] = sample_order(fmt, store.currency)
        sample_link = tokens.order_url("ord_sample")
        extra["links"] = {
            "order_url": sample_link,
            "feedback_url": sample_link,
            "review_url": sample_link,
        }
    if spec.about == "shipment" and shipment is None:
        extra["shipment"] = sample_shipment(fmt)

    if channel == Channel.SMS:
        recipient = (customer.phone if customer else "") or SAMPLE_PHONE
    else:
        recipient = (
            (customer.email if customer else "") or (order.email if order else "") or SAMPLE_EMAIL
        )
    message = Message(
        store=store,
        customer=customer,
        order=order,
        shipment=shipment,
        kind=spec.code,
        category=spec.category,
        channel=channel,
        recipient=recipient,
        locale=locale,
        time_zone=(customer.time_zone if customer else "") or store.time_zone,
        context=extra,
        priority=spec.priority,
        due_at=clock.now(),
    )
    return Sample(message=message, notes=notes)


def sample_order(fmt: Formatter, currency: str) -> dict:
    """The built-in order a store without orders previews with; shaped like order_context()."""
    lines = [
        ("Trail Mug", "", "MUG-1", 2, Decimal("19.90")),
        ("Wool Socks", "M", "SOCK-M", 1, Decimal("12.50")),
    ]
    subtotal = sum((price * qty for _, _, _, qty, price in lines), Decimal(0))
    shipping = Decimal("4.90")
    return {
        "id": "ord_sample",
        "number": "#1001",
        "placed_at": fmt.date(clock.now()),
        "currency": currency,
        "subtotal": fmt.money(subtotal, currency),
        "discount_total": fmt.money(Decimal(0), currency),
        "shipping_total": fmt.money(shipping, currency),
        "tax_total": fmt.money(Decimal(0), currency),
        "total": fmt.money(subtotal + shipping, currency),
        "has_discount": False,
        "has_tax": False,
        "discount_codes": [],
        "item_count": sum(qty for _, _, _, qty, _ in lines),
        "lines": [
            {
                "title": title,
                "variant_title": variant,
                "sku": sku,
                "quantity": qty,
                "unit_price": fmt.money(price, currency),
                "total": fmt.money(price * qty, currency),
                "image_url": "",
            }
            for title, variant, sku, qty, price in lines
        ],
    }


def sample_shipment(fmt: Formatter) -> dict:
    """A parcel for the preview; shaped like shipment_context()."""
    now = clock.now()
    return {
        "id": "shp_sample",
        "carrier": "DHL",
        "service": "Paket",
        "tracking_number": "00340434161094042557",
        "tracking_url": "https://www.dhl.de/en/privatkunden/pakete-empfangen/verfolgen.html",
        "status": "In transit",
        "shipped_at": fmt.date(now - dt.timedelta(days=1)),
        "estimated_delivery": fmt.date(now + dt.timedelta(days=2)),
        "delivered_at": fmt.datetime(now),
    }


def _sample_extra(spec: MessageKind, fmt: Formatter, store: Store, order: Order | None) -> dict:
    """What the flows that send a kind add to its context (a code, products, years)."""
    extra: dict = {}
    if spec.category == Category.OFFERS:
        extra["discount"] = {
            "code": "THANKS10",
            "description": "10% off your next order",
            "expires_on": fmt.date(clock.now() + dt.timedelta(days=14)),
        }
    if spec.code == "anniversary":
        extra["years"] = 1
        extra["first_order_date"] = fmt.date(clock.now() - dt.timedelta(days=365))
    if spec.code == "reorder_reminder":
        if order is not None:
            extra["products"] = [
                {
                    "title": line.title,
                    "price": fmt.money(line.unit_price, order.currency),
                    "url": store.website_url,
                    "image_url": "",
                }
                for line in order.lines.all()[:3]
            ]
        else:
            price = fmt.money(Decimal("19.90"), store.currency)
            extra["products"] = [{"title": "Trail Mug", "price": price, "url": "", "image_url": ""}]
    return extra


# -- rendering ------------------------------------------------------------------------------


GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> tuple[int, int, str]:
    """(characters, segments, encoding) as a carrier counts them: GSM-7 when every character is
    in the GSM alphabet (extension characters count twice), else UCS-2."""
    if all(c in GSM_BASIC or c in GSM_EXTENDED for c in text):
        units = sum(2 if c in GSM_EXTENDED else 1 for c in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = sum(2 if ord(c) > 0xFFFF else 1 for c in text)  # UTF-16 code units
        single, multi, encoding = 70, 67, "UCS-2"
    if units == 0:
        return 0, 0, encoding
    segments = 1 if units <= single else -(-units // multi)
    return len(text), segments, encoding


def render_sample(sample: Sample, parts: TemplateParts) -> Preview:
    """Render parts for the sample exactly as the sender would; never raises TemplateError."""
    message = sample.message
    preview = Preview(sample=sample)
    context = message_context(message, marketing=message.category != Category.TRANSACTIONAL)
    try:
        if message.channel == Channel.SMS:
            preview.sms = render_sms(parts.text_body, context)
            preview.sms_chars, preview.sms_segments, preview.sms_encoding = sms_segments(
                preview.sms
            )
        else:
            rendered = render_email(parts, context)
            preview.subject = rendered.subject
            preview.preheader = rendered.preheader
            preview.html = rendered.html
            preview.text = rendered.text
    except TemplateError as exc:
        preview.exception = exc
    return preview


def template_preview(
    *,
    store: Store,
    kind: str,
    channel: str,
    locale: str,
    parts: TemplateParts,
    order_number: str = "",
) -> Preview:
    try:
        sample = sample_message(
            store=store, kind=kind, channel=channel, locale=locale, order_number=order_number
        )
    except KeyError:
        return Preview(exception=TemplateError(f"{kind} is not a message kind aftersale knows"))
    return render_sample(sample, parts)


def template_check(
    *, store: Store, kind: str, channel: str, locale: str, parts: TemplateParts
) -> None:
    """Raises TemplateError (naming the part) when the parts cannot render for the sample."""
    preview = template_preview(store=store, kind=kind, channel=channel, locale=locale, parts=parts)
    if preview.exception is not None:
        raise preview.exception


def message_as_sent(message: Message) -> Preview:
    """An email message rendered through the sender's build_email, with today's template."""
    preview = Preview()
    try:
        _, rendered, _ = build_email(message)
    except TemplateError as exc:
        preview.exception = exc
        return preview
    preview.subject = rendered.subject
    preview.preheader = rendered.preheader
    preview.html = rendered.html
    preview.text = rendered.text
    return preview
