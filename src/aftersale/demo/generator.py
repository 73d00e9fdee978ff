"""The demo stores: a seeded generator of realistic post-purchase history.

Deterministic for a given seed. Historical rows are written with bulk inserts and fire no events
(a demo import must not look like thousands of fresh orders); a few recent changes go through the
real services afterwards, so the event history and webhooks have something to show.
"""

from __future__ import annotations

import random
import re
import string
import time
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count
from tqdm import tqdm

from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.core.models import ApiKey, Store, StoreMember
from aftersale.core.money import quantize
from aftersale.core.services import api_key_create, store_create
from aftersale.customers.models import Address, Customer
from aftersale.demo import catalog_data as words
from aftersale.demo import feedback_seed, returns_seed, reviews_seed
from aftersale.demo.messages import seed_message_history
from aftersale.journeys.builtin import ensure_builtin_flows
from aftersale.orders.models import Order, OrderLine, Refund, RefundLine
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import order_upsert
from aftersale.tracking.models import Shipment, ShipmentLine, ShipmentStatus, TrackingEvent
from aftersale.tracking.schemas import ShipmentIn
from aftersale.tracking.services import shipment_upsert
from aftersale.tracking.tokens import tracking_path

DEMO_STORE_SLUG = "northwind-outdoor"
SECOND_STORE_SLUG = "casa-brisa"


@dataclass(frozen=True)
class Carrier:
    code: str
    name: str
    share: float
    transit_days: tuple[int, int]  # typical range, business days
    late_rate: float
    url: str

    def tracking_number(self, rng: random.Random) -> str:
        digits = string.digits
        if self.code == "ups":
            alnum = string.ascii_uppercase + digits
            return "1Z" + "".join(rng.choices(alnum, k=6)) + "".join(rng.choices(digits, k=10))
        if self.code == "correios":
            return (
                "".join(rng.choices(string.ascii_uppercase, k=2))
                + "".join(rng.choices(digits, k=9))
                + "BR"
            )
        length = {"dhl": 12, "dpd": 14, "hermes": 14, "gls": 11, "jadlog": 14}[self.code]
        return "".join(rng.choices(digits, k=length))


EUR_CARRIERS = [
    Carrier(
        "dhl",
        "DHL",
        0.55,
        (1, 2),
        0.06,
        "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?piececode={}",
    ),
    Carrier("dpd", "DPD", 0.15, (1, 3), 0.09, "https://tracking.dpd.de/status/de_DE/parcel/{}"),
    Carrier(
        "hermes",
        "Hermes",
        0.15,
        (2, 4),
        0.14,
        "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation/#{}",
    ),
    Carrier(
        "gls", "GLS", 0.10, (1, 3), 0.08, "https://gls-group.com/DE/de/paketverfolgung?match={}"
    ),
    Carrier("ups", "UPS", 0.05, (1, 2), 0.04, "https://www.ups.com/track?tracknum={}"),
]
BRL_CARRIERS = [
    Carrier(
        "correios",
        "Correios",
        0.6,
        (4, 10),
        0.15,
        "https://rastreamento.correios.com.br/app/index.php?objeto={}",
    ),
    Carrier(
        "jadlog",
        "Jadlog",
        0.4,
        (3, 7),
        0.10,
        "https://www.jadlog.com.br/siteInstitucional/tracking.jsf?cte={}",
    ),
]

# Relative order volume by month (Jan..Dec): summer trips and the Christmas season.
SEASON = [0.7, 0.65, 0.8, 0.95, 1.05, 1.2, 1.25, 1.1, 0.9, 0.85, 1.45, 1.9]


@dataclass
class StoreSpec:
    slug: str
    name: str
    currency: str
    time_zone: str
    locale: str
    country: str
    categories: dict
    carriers: list[Carrier]
    cities: list
    streets: list
    phone_prefix: str
    customers: int
    orders: int
    email_domains: tuple[str, ...]
    free_shipping_over: Decimal
    shipping_fee: Decimal
    vat_rate: Decimal
    locales: tuple[tuple[str, float], ...]
    branding: dict = field(default_factory=dict)


@dataclass
class SeedInfo:
    seconds: float = 0.0
    created: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    messages: dict[str, dict[str, int]] = field(default_factory=dict)
    # What the feature seeders added per store: {"reviews": {"reviews": 310, …}, …}
    features: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)

    def summary(self) -> str:
        lines = []
        for slug, counts in self.created.items():
            parts = ", ".join(f"{n:,} {name}" for name, n in counts.items())
            lines.append(f"  {slug}: {parts}")
            sent = self.messages.get(slug, {})
            if sent:
                parts = ", ".join(f"{n:,} {status}" for status, n in sorted(sent.items()))
                lines.append(f"    messages: {parts}")
            for feature, counts in self.features.get(slug, {}).items():
                parts = ", ".join(f"{n:,} {name}" for name, n in counts.items())
                lines.append(f"    {feature}: {parts}")
        for slug in self.skipped:
            lines.append(f"  {slug}: already there, left as it is")
        lines.append(f"  generated in {self.seconds:.1f}s")
        return "\n".join(lines)


def _specs(customers: int, orders: int) -> list[StoreSpec]:
    return [
        StoreSpec(
            slug=DEMO_STORE_SLUG,
            name="Northwind Outdoor",
            currency="EUR",
            time_zone="Europe/Berlin",
            locale="de",
            country="DE",
            categories=words.OUTDOOR_CATEGORIES,
            carriers=EUR_CARRIERS,
            cities=words.GERMAN_CITIES,
            streets=words.STREETS_DE,
            phone_prefix="+49151",
            customers=customers,
            orders=orders,
            email_domains=("example.com", "example.org", "example.net"),
            free_shipping_over=Decimal("50"),
            shipping_fee=Decimal("4.95"),
            vat_rate=Decimal("0.19"),
            locales=(("de", 0.7), ("en", 0.25), ("pt-br", 0.05)),
            branding={
                "brand_color": "#1d4d3a",
                "accent_color": "#e0a526",
                "support_email": "service@northwind-outdoor.example",
                "support_phone": "+49 30 901820",
                "website_url": "https://northwind-outdoor.example",
                "postal_address": "Northwind Outdoor GmbH, Torstraße 12, 10119 Berlin",
            },
        ),
        StoreSpec(
            slug=SECOND_STORE_SLUG,
            name="Casa Brisa",
            currency="BRL",
            time_zone="America/Sao_Paulo",
            locale="pt-br",
            country="BR",
            categories=words.CASA_CATEGORIES,
            carriers=BRL_CARRIERS,
            cities=words.BRAZIL_CITIES,
            streets=words.STREETS_BR,
            phone_prefix="+5511",
            customers=max(30, customers * 3 // 20),
            orders=max(80, orders * 2 // 15),
            email_domains=("example.com.br", "example.com"),
            free_shipping_over=Decimal("299"),
            shipping_fee=Decimal("19.90"),
            vat_rate=Decimal("0"),
            locales=(("pt-br", 0.95), ("en", 0.05)),
            branding={
                "brand_color": "#9c4a2f",
                "accent_color": "#2f6f9c",
                "support_email": "atendimento@casabrisa.example",
                "support_phone": "+55 11 4002-8922",
                "website_url": "https://casabrisa.example",
                "postal_address": "Casa Brisa Ltda., Rua Oscar Freire 900, São Paulo",
            },
        ),
    ]


# Each feature's demo data, seeded in this order on top of the orders and messages: a module with
# seed(store, rng, now) -> counts and highlights(store, base_url) -> lines to print.
FEATURE_SEEDERS = [
    ("returns", returns_seed),
    ("reviews", reviews_seed),
    ("feedback", feedback_seed),
]


def seed_demo(
    *, customers: int = 2000, orders: int = 6000, seed: int = 20260101, progress: bool = True
) -> SeedInfo:
    """Creates the demo stores that do not exist yet; leaves existing ones untouched."""
    info = SeedInfo()
    started = time.perf_counter()
    now = clock.now()
    for spec in _specs(customers, orders):
        if Store.objects.filter(slug=spec.slug).exists():
            info.skipped.append(spec.slug)
            continue
        rng = random.Random(f"{seed}:{spec.slug}")
        with transaction.atomic():
            info.created[spec.slug] = _StoreBuilder(spec, rng, now, progress).build()
        store = Store.objects.get(slug=spec.slug)
        # The flows are on before the live changes, so these orders go through them.
        ensure_builtin_flows(store)
        _live_changes(store, rng, now)
        with transaction.atomic():
            info.messages[spec.slug] = seed_message_history(store, rng, now)
        for name, seeder in FEATURE_SEEDERS:
            with transaction.atomic():
                counts = seeder.seed(store, random.Random(f"{seed}:{spec.slug}:{name}"), now)
            info.features.setdefault(spec.slug, {})[name] = counts
    info.seconds = time.perf_counter() - started
    return info


def _placeholder_image(category: str) -> str:
    """A drawing of the category (catalog/static/catalog/placeholders/), as an absolute URL so it
    shows in emails too."""
    ascii_name = unicodedata.normalize("NFKD", category).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return f"{settings.PUBLIC_BASE_URL}/static/catalog/placeholders/{slug}.svg"


class _StoreBuilder:
    def __init__(self, spec: StoreSpec, rng: random.Random, now: datetime, progress: bool):
        self.spec = spec
        self.rng = rng
        self.now = now
        self.zone = ZoneInfo(spec.time_zone)
        self.progress = progress

    def build(self) -> dict[str, int]:
        spec = self.spec
        self.store = store_create(
            slug=spec.slug,
            name=spec.name,
            currency=spec.currency,
            time_zone=spec.time_zone,
            default_locale=spec.locale,
            country=spec.country,
            **spec.branding,
        )
        self.variants = self._catalog()
        self.customers, self.addresses = self._customers()
        counts = self._orders()
        return {
            "products": len({v.product_id for v in self.variants}),
            "variants": len(self.variants),
            "customers": len(self.customers),
            **counts,
        }

    # -- catalog ---------------------------------------------------------------------------
    def _catalog(self) -> list[Variant]:
        rng, store = self.rng, self.store
        products, variant_specs = [], []
        for category, (adjectives, nouns, (low, high), options) in self.spec.categories.items():
            for noun, adjective in (
                (noun, adjective)
                for noun in nouns
                for adjective in rng.sample(adjectives, min(2, len(adjectives)))
            ):
                title = f"{adjective} {noun}"
                handle = title.lower().replace(" ", "-").replace("°", "")
                product = Product(
                    store=store,
                    source="demo",
                    external_id=f"p-{len(products) + 1}",
                    title=title,
                    handle=handle,
                    vendor=self.spec.name,
                    category=category,
                    tags=sorted({category.lower(), adjective.lower()}),
                    image_url=_placeholder_image(category),
                    final_sale=rng.random() < 0.08,
                )
                products.append(product)
                price = Decimal(rng.randrange(low, high)) + Decimal("0.90")
                for option in options:
                    variant_specs.append((product, option, price))
        Product.objects.bulk_create(products)
        variants = [
            Variant(
                store=store,
                product=product,
                source="demo",
                external_id=f"v-{i + 1}",
                sku=f"{product.handle[:10].upper()}-{option.upper()[:6]}".replace(" ", ""),
                title=option,
                price=price,
                currency=self.spec.currency,
                image_url=product.image_url,
                inventory_quantity=rng.randrange(0, 120),
            )
            for i, (product, option, price) in enumerate(variant_specs)
        ]
        Variant.objects.bulk_create(variants)
        # Popularity follows a long tail: a few bestsellers, many slow movers.
        self.popularity = [1 / (rank + 1) ** 0.8 for rank in range(len(variants))]
        rng.shuffle(self.popularity)
        return variants

    # -- customers -------------------------------------------------------------------------
    def _customers(self):
        rng, spec, store = self.rng, self.spec, self.store
        customers, addresses = [], []
        start = self.now - timedelta(days=548)
        for n in range(spec.customers):
            first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
            local = f"{first}.{last}".lower()
            for a, b in (
                ("ü", "ue"),
                ("ö", "oe"),
                ("ä", "ae"),
                ("ã", "a"),
                ("é", "e"),
                ("ß", "ss"),
            ):
                local = local.replace(a, b)
            locale = rng.choices([code for code, _ in spec.locales], [w for _, w in spec.locales])[
                0
            ]
            consent = rng.random() < 0.55
            signed_up = start + timedelta(days=rng.uniform(0, 540))
            customer = Customer(
                store=store,
                source="demo",
                external_id=f"c-{n + 1}",
                email=f"{local}{n + 1}@{rng.choice(spec.email_domains)}",
                phone=f"{spec.phone_prefix}{rng.randrange(1000000, 9999999)}",
                first_name=first,
                last_name=last,
                locale=locale,
                time_zone=spec.time_zone if rng.random() < 0.95 else "Europe/London",
                birthday=(
                    date(rng.randrange(1955, 2005), rng.randrange(1, 13), rng.randrange(1, 29))
                    if rng.random() < 0.6
                    else None
                ),
                accepts_marketing=consent,
                marketing_consent_at=signed_up if consent else None,
                marketing_consent_source=rng.choice(["checkout", "newsletter form", "in store"])
                if consent
                else "",
                tags=["wholesale"] if rng.random() < 0.01 else [],
            )
            customers.append(customer)
            city, region, postal_prefix = rng.choice(spec.cities)
            addresses.append(
                Address(
                    store=store,
                    customer=customer,
                    name=f"{first} {last}",
                    line1=f"{rng.choice(spec.streets)} {rng.randrange(1, 180)}",
                    city=city,
                    region=region,
                    postal_code=f"{postal_prefix}{rng.randrange(100, 999)}",
                    country=spec.country,
                    phone=customer.phone,
                )
            )
        Customer.objects.bulk_create(customers, batch_size=500)
        for address in addresses:
            address.customer = address.customer
        Address.objects.bulk_create(addresses, batch_size=500)
        return customers, addresses

    # -- orders ----------------------------------------------------------------------------
    def _order_times(self) -> list[datetime]:
        """Order times over 18 months with seasonality, Black Friday and weekday rhythm."""
        rng, days = self.rng, 548
        start = (self.now - timedelta(days=days)).astimezone(self.zone)
        weights = []
        for d in range(days):
            day = start + timedelta(days=d)
            w = SEASON[day.month - 1] * (1.15 if day.weekday() in (0, 6) else 1.0)
            if day.month == 11 and 23 <= day.day <= 30 and day.weekday() == 4:
                w *= 4.0  # Black Friday
            w *= 1 + d / days * 0.35  # the shop grows
            weights.append(w)
        chosen = rng.choices(range(days), weights, k=self.spec.orders)
        times = []
        for d in chosen:
            hour = rng.choices(
                range(24),
                [1, 0.5, 0.3, 0.2, 0.2, 0.4, 1, 2, 3, 4, 4, 5, 6, 5, 5, 5, 5, 6, 7, 9, 10, 9, 6, 3],
            )[0]
            local = (start + timedelta(days=d)).replace(
                hour=hour, minute=rng.randrange(60), second=rng.randrange(60)
            )
            times.append(min(local.astimezone(UTC), self.now - timedelta(minutes=30)))
        times.sort()
        return times

    def _orders(self) -> dict[str, int]:
        rng, spec = self.rng, self.spec
        # Repeat buying: most shoppers buy once or twice, a loyal core comes back 5–10 times.
        appetite = [
            rng.choices([0.35, 1.0, 2.6], [0.5, 0.4, 0.1])[0] * rng.uniform(0.8, 1.2)
            for _ in self.customers
        ]
        buyers = rng.choices(range(len(self.customers)), appetite, k=spec.orders)
        orders, lines, shipments, ship_lines, events, refunds, refund_lines = ([] for _ in range(7))
        counts = {
            "orders": 0,
            "order lines": 0,
            "shipments": 0,
            "tracking events": 0,
            "refunds": 0,
            "late deliveries": 0,
            "in transit": 0,
        }
        times = self._order_times()
        iterator = tqdm(
            range(spec.orders),
            desc=f"{spec.slug} orders",
            disable=not self.progress,
            unit="order",
            leave=False,
        )
        for n in iterator:
            placed = times[n]
            customer = self.customers[buyers[n]]
            address = self.addresses[buyers[n]]
            order, order_lines = self._order(n, placed, customer, address)
            orders.append(order)
            lines.extend(order_lines)
            if order.channel == Order.Channel.ONLINE and order.status != Order.Status.CANCELLED:
                shipment, s_lines, s_events = self._shipment(order, order_lines, placed, address)
                shipments.append(shipment)
                ship_lines.extend(s_lines)
                events.extend(s_events)
                if (
                    shipment.delivered_at
                    and shipment.promised_delivery_date
                    and (
                        shipment.delivered_at.astimezone(self.zone).date()
                        > shipment.promised_delivery_date
                    )
                ):
                    counts["late deliveries"] += 1
                if shipment.status not in (ShipmentStatus.DELIVERED,):
                    counts["in transit"] += 1
            if order.status != Order.Status.CANCELLED and rng.random() < 0.045:
                refund, r_lines = self._refund(order, order_lines, placed)
                refunds.append(refund)
                refund_lines.extend(r_lines)
        Order.objects.bulk_create(orders, batch_size=500)
        for line in lines:
            line.order = line.order
        OrderLine.objects.bulk_create(lines, batch_size=500)
        for shipment in shipments:
            shipment.order = shipment.order
        Shipment.objects.bulk_create(shipments, batch_size=500)
        for row in (*ship_lines, *events):
            row.shipment = row.shipment
        for row in ship_lines:
            row.order_line = row.order_line
        ShipmentLine.objects.bulk_create(ship_lines, batch_size=500)
        TrackingEvent.objects.bulk_create(events, batch_size=500)
        for refund in refunds:
            refund.order = refund.order
        Refund.objects.bulk_create(refunds, batch_size=500)
        for row in refund_lines:
            row.refund = row.refund
            row.order_line = row.order_line
        RefundLine.objects.bulk_create(refund_lines, batch_size=500)
        counts.update(
            {
                "orders": len(orders),
                "order lines": len(lines),
                "shipments": len(shipments),
                "tracking events": len(events),
                "refunds": len(refunds),
            }
        )
        return counts

    def _order(self, n, placed, customer, address):
        rng, spec, store = self.rng, self.spec, self.store
        currency = spec.currency
        in_store = rng.random() < 0.08
        picks = rng.choices(
            self.variants, self.popularity, k=rng.choices([1, 2, 3, 4], [55, 28, 12, 5])[0]
        )
        order = Order(
            store=store,
            source="demo",
            external_id=f"{n + 1:06d}",
            number=f"{1000 + n + 1}",
            channel=Order.Channel.IN_STORE if in_store else Order.Channel.ONLINE,
            currency=currency,
            customer=customer,
            email=customer.email,
            shipping_address=None if in_store else address,
            billing_address=address,
            placed_at=placed,
            financial_status=Order.FinancialStatus.PAID,
            tags=["pos"] if in_store else [],
        )
        order_lines, subtotal = [], Decimal(0)
        for variant in dict.fromkeys(picks):
            quantity = rng.choices([1, 2, 3], [85, 12, 3])[0]
            unit = variant.price
            discount = (
                quantize(unit * quantity * Decimal("0.1"), currency)
                if (rng.random() < 0.07)
                else Decimal(0)
            )
            total = quantize(unit * quantity - discount, currency)
            subtotal += total
            order_lines.append(
                OrderLine(
                    store=store,
                    order=order,
                    external_id=str(len(order_lines) + 1),
                    product_id=variant.product_id,
                    variant=variant,
                    sku=variant.sku,
                    title=variant.product.title,
                    variant_title=variant.title,
                    unit_price=unit,
                    quantity=quantity,
                    discount=discount,
                    total=total,
                    requires_shipping=True,
                )
            )
        code_discount = Decimal(0)
        if rng.random() < 0.12:
            order.discount_codes = [rng.choice(["WELCOME10", "SUMMER15", "BLACKFRIDAY20"])]
            code_discount = quantize(subtotal * Decimal("0.1"), currency)
        shipping = (
            Decimal(0) if in_store or subtotal >= spec.free_shipping_over else (spec.shipping_fee)
        )
        total = subtotal - code_discount + shipping
        order.subtotal = subtotal
        order.discount_total = code_discount
        order.shipping_total = shipping
        order.tax_total = quantize(total * spec.vat_rate / (1 + spec.vat_rate), currency)
        order.total = total
        age = self.now - placed
        if rng.random() < 0.015 and not in_store:
            order.status = Order.Status.CANCELLED
            order.cancelled_at = placed + timedelta(hours=rng.uniform(1, 20))
            order.cancel_reason = rng.choice(
                ["customer changed their mind", "out of stock", "payment declined"]
            )
            order.financial_status = Order.FinancialStatus.VOIDED
        else:
            order.status = Order.Status.CLOSED if age > timedelta(days=30) else (Order.Status.OPEN)
            order.fulfillment_status = Order.FulfillmentStatus.FULFILLED
        return order, order_lines

    def _business_days(self, start: datetime, days: int) -> datetime:
        current = start
        while days > 0:
            current += timedelta(days=1)
            if current.astimezone(self.zone).weekday() < 5:
                days -= 1
        return current

    def _shipment(self, order, order_lines, placed, address):
        rng, store = self.rng, self.store
        carrier = rng.choices(self.spec.carriers, [c.share for c in self.spec.carriers])[0]
        number = carrier.tracking_number(rng)
        shipped = self._business_days(placed, rng.choice([0, 1, 1, 1, 2]))
        shipped = shipped.replace(hour=rng.randrange(14, 19)) if shipped.hour < 14 else shipped
        low, high = carrier.transit_days
        promised = self._business_days(shipped, high).astimezone(self.zone).date()
        transit = rng.randint(low, high)
        if rng.random() < carrier.late_rate:
            transit = high + rng.choice([1, 1, 2, 3, 5])
        delivered = (
            self._business_days(shipped, transit)
            .astimezone(self.zone)
            .replace(hour=rng.randrange(9, 19), minute=rng.randrange(60))
            .astimezone(UTC)
        )
        shipment = Shipment(
            store=store,
            order=order,
            source="demo",
            external_id=f"f-{order.external_id}",
            carrier=carrier.name,
            service="Standard",
            tracking_number=number,
            tracking_url=carrier.url.format(number),
            shipped_at=shipped,
            promised_delivery_date=promised,
            origin_city="Berlin" if self.spec.currency == "EUR" else "São Paulo",
            origin_country=self.spec.country,
            destination_city=address.city,
            destination_region=address.region,
            destination_postal_code=address.postal_code,
            destination_country=address.country,
        )
        hub = rng.choice(self.spec.cities)[0]
        timeline = [
            (
                placed + timedelta(hours=2),
                ShipmentStatus.LABEL_CREATED,
                "Label created",
                "Shipment information received",
                "",
            ),
            (
                shipped,
                ShipmentStatus.PICKED_UP,
                "Picked up",
                "Picked up by the carrier",
                shipment.origin_city,
            ),
            (
                shipped + (delivered - shipped) * 0.4,
                ShipmentStatus.IN_TRANSIT,
                "In transit",
                "Arrived at the sorting centre",
                hub,
            ),
            (
                delivered - timedelta(hours=rng.uniform(2, 6)),
                ShipmentStatus.OUT_FOR_DELIVERY,
                "Out for delivery",
                "The parcel is out for delivery",
                address.city,
            ),
            (
                delivered,
                ShipmentStatus.DELIVERED,
                "Delivered",
                "Delivered to the recipient",
                address.city,
            ),
        ]
        if transit > high and rng.random() < 0.5:
            timeline.insert(
                3,
                (
                    delivered - timedelta(days=1),
                    ShipmentStatus.ATTEMPT_FAILED,
                    "Delivery attempt failed",
                    "Recipient not at home",
                    address.city,
                ),
            )
        seen = [step for step in timeline if step[0] <= self.now]
        status = seen[-1][1] if seen else ShipmentStatus.LABEL_CREATED
        shipment.status = status
        shipment.delivered_at = delivered if status == ShipmentStatus.DELIVERED else None
        if status != ShipmentStatus.DELIVERED:
            order.fulfillment_status = Order.FulfillmentStatus.FULFILLED
        events = [
            TrackingEvent(
                store=store,
                shipment=shipment,
                occurred_at=when,
                status=code,
                raw_status=raw,
                raw_text=text,
                location=where,
                source="demo",
                fingerprint=f"{shipment.external_id}-{i}",
            )
            for i, (when, code, raw, text, where) in enumerate(seen)
        ]
        lines = [
            ShipmentLine(shipment=shipment, order_line=line, quantity=line.quantity)
            for line in order_lines
        ]
        return shipment, lines, events

    def _refund(self, order, order_lines, placed):
        rng = self.rng
        line = rng.choice(order_lines)
        quantity = 1
        amount = quantize(line.total / line.quantity, order.currency)
        refund = Refund(
            store=self.store,
            order=order,
            source="demo",
            external_id=f"r-{order.external_id}",
            amount=amount,
            currency=order.currency,
            reason=rng.choice(
                ["too small", "damaged in transit", "not as described", "changed my mind"]
            ),
            processed_at=placed + timedelta(days=rng.uniform(6, 25)),
        )
        if refund.processed_at > self.now:
            refund.processed_at = self.now - timedelta(hours=1)
        order.financial_status = (
            Order.FinancialStatus.REFUNDED
            if amount >= order.total
            else Order.FinancialStatus.PARTIALLY_REFUNDED
        )
        return refund, [
            RefundLine(
                refund=refund, order_line=line, quantity=quantity, amount=amount, restock=True
            )
        ]


def _live_changes(store: Store, rng: random.Random, now: datetime) -> None:
    """Recent activity through the real services, so events and webhooks have a history."""
    customer = Customer.objects.filter(store=store).order_by("id").first()
    variants = list(Variant.objects.filter(store=store).select_related("product")[:3])
    for i, variant in enumerate(variants):
        placed = now - timedelta(days=6 - i * 2, hours=3)
        order = order_upsert(
            store=store,
            data=OrderIn(
                external_id=f"live-{i + 1}",
                number=f"L{i + 1}",
                source="demo",
                placed_at=placed,
                email=customer.email,
                customer={"external_id": customer.external_id, "email": customer.email},
                shipping_address={
                    "line1": "Torstraße 12",
                    "city": "Berlin",
                    "postal_code": "10119",
                    "country": store.country or "DE",
                },
                lines=[
                    {
                        "external_id": "1",
                        "sku": variant.sku,
                        "title": variant.product.title,
                        "variant_title": variant.title,
                        "unit_price": variant.price,
                        "quantity": 1,
                    }
                ],
            ),
        ).order
        line = order.lines.first()
        carrier = "DHL" if store.currency == "EUR" else "Correios"
        promised = (placed + timedelta(days=3)).date()
        events = [
            {
                "occurred_at": placed + timedelta(hours=20),
                "status": "picked_up",
                "raw_status": "PU",
                "raw_text": "Picked up by the carrier",
                "location": "Berlin",
            }
        ]
        if i == 0:  # the delayed parcel: promised days ago, last scan stalled in a hub
            events.append(
                {
                    "occurred_at": placed + timedelta(days=1, hours=6),
                    "status": "in_transit",
                    "raw_status": "IT",
                    "raw_text": "Arrived at the sorting centre",
                    "location": "Leipzig",
                }
            )
        elif i == 1:  # an exception the shopper should hear about
            events.append(
                {
                    "occurred_at": placed + timedelta(days=1, hours=9),
                    "status": "exception",
                    "raw_status": "EX",
                    "raw_text": "Address incomplete, parcel held at depot",
                    "location": "Hannover",
                }
            )
        shipment_upsert(
            store=store,
            data=ShipmentIn(
                order=order.public_id,
                external_id=f"live-f-{i + 1}",
                source="demo",
                carrier=carrier,
                tracking_number=f"{rng.randrange(10**11, 10**12)}",
                shipped_at=placed + timedelta(hours=20),
                promised_delivery_date=promised,
                lines=[{"line": line.public_id, "quantity": 1}],
                events=events,
            ),
        )


def demo_setup_access(
    *, admin_password: str, state: dict, base_url: str = "http://127.0.0.1:8000"
) -> dict:
    """The demo's users and API key (kept in `state`, since a token is shown only once)."""
    user_model = get_user_model()
    admin, _ = user_model.objects.get_or_create(
        username="admin",
        defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"},
    )
    admin.set_password(admin_password)
    admin.is_staff = admin.is_superuser = True
    admin.save()
    store = Store.objects.get(slug=DEMO_STORE_SLUG)
    support, _ = user_model.objects.get_or_create(
        username="support", defaults={"is_staff": True, "email": "support@example.com"}
    )
    support.set_password(admin_password)
    support.save()
    StoreMember.objects.get_or_create(
        store=store, user=support, defaults={"role": StoreMember.Role.STAFF}
    )
    _grant_staff_permissions(support)

    token = state.get("api_key")
    if (
        not token
        or not ApiKey.objects.filter(
            store=store, revoked_at__isnull=True, lookup=token.split("_")[1]
        ).exists()
    ):
        _, token = api_key_create(store=store, name="demo", scope="write")
        state["api_key"] = token
    return {"api_key": token, "highlights": _highlights(store, base_url)}


def _grant_staff_permissions(user) -> None:
    from django.contrib.auth.models import Permission

    labels = [
        "customers",
        "catalog",
        "orders",
        "tracking",
        "messaging",
        "journeys",
        "integrations",
        "webhooks",
        "core",
        "returns",
        "reviews",
        "feedback",
    ]
    perms = Permission.objects.filter(
        content_type__app_label__in=labels, codename__startswith="view_"
    )
    user.user_permissions.add(*perms)


def _highlights(store: Store, base_url: str) -> list[str]:
    base = f"{base_url}/admin"
    lines = ["support user    support / same password (sees only Northwind Outdoor)"]
    delayed = Shipment.objects.filter(store=store, external_id="live-f-1").first()
    if delayed:
        lines.append(f"delayed parcel  {base}/tracking/shipment/?q={delayed.tracking_number}")
        page = tracking_path(delayed.order.public_id)
        lines.append(f"shopper's view  {base_url}{page} (the tracking page of that order)")
    exception = Shipment.objects.filter(store=store, external_id="live-f-2").first()
    if exception:
        lines.append(f"exception       {base}/tracking/shipment/?q={exception.tracking_number}")
    refunded = Refund.objects.filter(store=store).select_related("order").first()
    if refunded:
        lines.append(f"refunded order  {base}/orders/order/?q={refunded.order.number}")
    loyal = (
        Order.objects.filter(store=store)
        .values("customer__email")
        .order_by()
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    if loyal:
        lines.append(
            f"loyal customer  {base}/orders/order/?q={loyal['customer__email']}"
            f" ({loyal['n']} orders)"
        )
    lines.append(f"watchlist       {base}/tracking/watchlist/ (late, stalled, exceptions; lanes)")
    lines.append(f"order lookup    {base_url}/track")
    lines.append(f"event history   {base}/core/outboxevent/")
    lines.append(f"messages sent   {base}/messaging/message/?store__id__exact={store.pk}")
    lines.append(f"bounced/opt-out {base}/messaging/message/?status__exact=suppressed")
    lines.append(f"email templates {base}/messaging/messagetemplate/ (edit with a live preview)")
    lines.append(f"flows           {base}/journeys/flow/?store__id__exact={store.pk}")
    lines.append(f"flow results    {base_url}/admin/flows/")
    for _name, seeder in FEATURE_SEEDERS:
        lines.extend(seeder.highlights(store, base_url))
    lines.append(
        f"second store    {base}/orders/order/?store__id__exact="
        f"{Store.objects.get(slug=SECOND_STORE_SLUG).pk} (BRL)"
    )
    return lines
