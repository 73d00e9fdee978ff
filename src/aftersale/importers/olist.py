"""`aftersale import olist DIR`: the public Olist e-commerce data set into one store.

Fast and idempotent: everything already imported is looked up once by external id, new rows are
written with executemany, and a second run creates nothing. A historical import fires no events
(thousands of "order created" messages to shoppers would be wrong); it records an ImportRun.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction
from tqdm import tqdm

from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.core.bulk import insert_rows
from aftersale.core.ids import new_public_id
from aftersale.core.models import Store
from aftersale.customers.models import Address, Customer
from aftersale.importers.models import ImportRun
from aftersale.orders.models import Order, OrderLine
from aftersale.reviews.models import Review
from aftersale.reviews.services import rating_summaries_rebuild
from aftersale.tracking.models import Shipment, ShipmentLine, ShipmentStatus, TrackingEvent

SOURCE = "olist"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
FILES = {
    "customers": (
        "olist_customers_dataset.csv",
        {
            "customer_id",
            "customer_unique_id",
            "customer_zip_code_prefix",
            "customer_city",
            "customer_state",
        },
    ),
    "orders": (
        "olist_orders_dataset.csv",
        {
            "order_id",
            "customer_id",
            "order_status",
            "order_purchase_timestamp",
            "order_delivered_carrier_date",
            "order_delivered_customer_date",
            "order_estimated_delivery_date",
        },
    ),
    "items": (
        "olist_order_items_dataset.csv",
        {"order_id", "order_item_id", "product_id", "seller_id", "price", "freight_value"},
    ),
    "payments": ("olist_order_payments_dataset.csv", {"order_id", "payment_value"}),
    "products": ("olist_products_dataset.csv", {"product_id", "product_category_name"}),
    "sellers": (
        "olist_sellers_dataset.csv",
        {"seller_id", "seller_zip_code_prefix", "seller_city", "seller_state"},
    ),
    "reviews": (
        "olist_order_reviews_dataset.csv",
        {"review_id", "order_id", "review_score", "review_creation_date"},
    ),
    "categories": (
        "product_category_name_translation.csv",
        {"product_category_name", "product_category_name_english"},
    ),
}
ORDER_STATUS = {"canceled": "cancelled", "unavailable": "cancelled", "delivered": "closed"}


class OlistImportError(Exception):
    """A problem with the input as a whole (missing file or column): nothing was imported."""


@dataclass
class EntityCount:
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0


@dataclass
class ImportSummary:
    counts: dict[str, EntityCount] = field(default_factory=lambda: defaultdict(EntityCount))
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_table(self) -> str:
        lines = [f"{'entity':<18}{'read':>9}{'created':>9}{'updated':>9}{'skipped':>9}"]
        for name, c in self.counts.items():
            lines.append(f"{name:<18}{c.read:>9,}{c.created:>9,}{c.updated:>9,}{c.skipped:>9,}")
        orders = self.counts["orders"].read
        rate = orders / self.seconds if self.seconds else 0
        lines.append(f"{orders:,} orders in {self.seconds:.2f}s = {rate:,.0f} orders/s")
        for problem in self.problems[:20]:
            lines.append(f"skipped: {problem}")
        if len(self.problems) > 20:
            lines.append(f"… and {len(self.problems) - 20} more skipped rows")
        return "\n".join(lines)


def _read(directory: Path, key: str) -> list[dict]:
    name, required = FILES[key]
    path = directory / name
    if not path.is_file():
        raise OlistImportError(f"{path} is missing: an Olist folder holds {name}")
    # utf-8-sig drops the BOM of the Kaggle translation file; newline="" handles CRLF and
    # line breaks inside quoted review texts.
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = {(h or "").strip() for h in reader.fieldnames or []}
        missing = required - header
        if missing:
            raise OlistImportError(f"{name} lacks the column(s) {', '.join(sorted(missing))}")
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def _local_time(raw: str) -> datetime | None:
    """Olist times are São Paulo wall-clock times without a zone; stored as aware UTC."""
    if not raw:
        return None
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=SAO_PAULO).astimezone(UTC)


def _date(raw: str) -> date | None:
    return datetime.fromisoformat(raw).date() if raw else None


def _money(raw: str) -> Decimal:
    return Decimal(raw).quantize(Decimal("0.01"))


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def import_olist(*, store: Store, directory: Path, progress: bool = True) -> ImportSummary:
    if not directory.is_dir():
        raise OlistImportError(f"{directory} is not a folder")
    started = time.perf_counter()
    data = {key: _read(directory, key) for key in FILES}
    summary = ImportSummary()
    run = ImportRun.objects.create(
        store=store, source=SOURCE, location=str(directory), started_at=clock.now()
    )
    steps = ["customers", "products", "orders", "lines", "shipments", "reviews"]
    bar = tqdm(total=len(steps), desc="olist import", unit="step", disable=not progress)
    try:
        with transaction.atomic():
            loader = _Loader(store, data, summary)
            for step in steps:
                bar.set_postfix_str(step)
                getattr(loader, step)()
                bar.update()
    except Exception:
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportRun.Status.FAILED, finished_at=clock.now()
        )
        raise
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - started
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportRun.Status.SUCCEEDED,
        finished_at=clock.now(),
        counts={k: vars(v) for k, v in summary.counts.items()},
        problems=summary.problems[:500],
    )
    return summary


class _Loader:
    def __init__(self, store: Store, data: dict[str, list[dict]], summary: ImportSummary):
        self.store = store
        self.data = data
        self.summary = summary
        self.currency = "BRL"

    def skip(self, entity: str, reason: str) -> None:
        self.summary.counts[entity].skipped += 1
        self.summary.problems.append(f"{entity}: {reason}")

    def _existing(self, model, **filters) -> dict[str, int]:
        return dict(
            model.objects.filter(store=self.store, source=SOURCE, **filters).values_list(
                "external_id", "id"
            )
        )

    # -- customers: one per customer_unique_id, an address per customer_id (per order) ---------
    def customers(self) -> None:
        count = self.summary.counts["customers"]
        existing = self._existing(Customer)
        self.customer_of_order_customer: dict[str, str] = {}
        self.address_fields: dict[str, dict] = {}
        fresh: dict[str, None] = {}
        for row in self.data["customers"]:
            count.read += 1
            unique = row["customer_unique_id"]
            self.customer_of_order_customer[row["customer_id"]] = unique
            self.address_fields[row["customer_id"]] = {
                "postal_code": row["customer_zip_code_prefix"],
                "city": row["customer_city"].title(),
                "region": row["customer_state"],
                "country": "BR",
            }
            if unique not in existing:
                fresh[unique] = None
        insert_rows(
            Customer,
            (
                {
                    "store_id": self.store.pk,
                    "source": SOURCE,
                    "external_id": unique,
                    "locale": "pt-br",
                    "time_zone": "America/Sao_Paulo",
                }
                for unique in fresh
            ),
        )
        count.created = len(fresh)
        self.customer_ids = self._existing(Customer)

    # -- products with categories, one variant each ---------------------------------------------
    def products(self) -> None:
        count = self.summary.counts["products"]
        english = {
            r["product_category_name"]: r["product_category_name_english"]
            for r in self.data["categories"]
        }
        first_price: dict[str, str] = {}
        for item in self.data["items"]:
            first_price.setdefault(item["product_id"], item["price"])
        existing = self._existing(Product)
        rows, variants = [], []
        for row in self.data["products"]:
            count.read += 1
            pid = row["product_id"]
            if pid in existing:
                continue
            portuguese = row["product_category_name"]
            category = english.get(portuguese, portuguese).replace("_", " ")
            weight = row.get("product_weight_g") or ""
            rows.append(
                {
                    "store_id": self.store.pk,
                    "source": SOURCE,
                    "external_id": pid,
                    "title": f"{category.capitalize() or 'Product'} {pid[:8]}",
                    "category": category,
                    "tags": [t for t in {portuguese, category} if t],
                    "weight_grams": int(float(weight)) if weight else None,
                }
            )
            variants.append((pid, first_price.get(pid, "0")))
        insert_rows(Product, rows)
        count.created = len(rows)
        self.product_ids = self._existing(Product)
        insert_rows(
            Variant,
            (
                {
                    "store_id": self.store.pk,
                    "product_id": self.product_ids[pid],
                    "source": SOURCE,
                    "external_id": pid,
                    "sku": pid[:16],
                    "price": _money(price),
                    "currency": self.currency,
                }
                for pid, price in variants
            ),
        )
        self.variant_ids = self._existing(Variant)

    # -- orders ----------------------------------------------------------------------------------
    def orders(self) -> None:
        count = self.summary.counts["orders"]
        items_by_order: dict[str, list[dict]] = defaultdict(list)
        for item in self.data["items"]:
            items_by_order[item["order_id"]].append(item)
        paid: dict[str, Decimal] = defaultdict(Decimal)
        for payment in self.data["payments"]:
            try:
                paid[payment["order_id"]] += _money(payment["payment_value"])
            except InvalidOperation:
                self.skip("payments", f"order {payment['order_id']}: bad amount")
        self.items_by_order = items_by_order
        existing = dict(
            Order.objects.filter(store=self.store, source=SOURCE).values_list(
                "external_id", "status"
            )
        )
        self.order_rows: dict[str, dict] = {}
        rows, addresses, status_changes = [], [], {}
        for row in self.data["orders"]:
            count.read += 1
            oid = row["order_id"]
            try:
                placed = _local_time(row["order_purchase_timestamp"])
                delivered = _local_time(row["order_delivered_customer_date"])
                carrier = _local_time(row["order_delivered_carrier_date"])
                promised = _date(row["order_estimated_delivery_date"])
            except ValueError as exc:
                self.skip("orders", f"{oid}: {exc}")
                continue
            unique = self.customer_of_order_customer.get(row["customer_id"])
            if placed is None or unique is None:
                self.skip("orders", f"{oid}: no purchase time or unknown customer")
                continue
            status = ORDER_STATUS.get(row["order_status"], "open")
            self.order_rows[oid] = {
                "placed": placed,
                "delivered": delivered,
                "carrier": carrier,
                "promised": promised,
                "customer_id": row["customer_id"],
                "status": status,
                "raw_status": row["order_status"],
            }
            if oid in existing:
                if existing[oid] != status:
                    status_changes[oid] = status
                continue
            items = items_by_order.get(oid, [])
            subtotal = sum((_money(i["price"]) for i in items), Decimal(0))
            freight = sum((_money(i["freight_value"]) for i in items), Decimal(0))
            total = subtotal + freight
            financial = (
                "voided"
                if status == "cancelled"
                else "paid"
                if paid.get(oid, Decimal(0)) >= total - Decimal("0.05")
                else "partially_paid"
            )
            address_key = new_public_id("adr")
            addresses.append(
                {
                    "store_id": self.store.pk,
                    "customer_id": self.customer_ids[unique],
                    "name": address_key,
                    **self.address_fields[row["customer_id"]],
                }
            )
            rows.append(
                {
                    "store_id": self.store.pk,
                    "source": SOURCE,
                    "external_id": oid,
                    "number": oid[:8].upper(),
                    "status": status,
                    "financial_status": financial,
                    "fulfillment_status": "fulfilled" if carrier else "unfulfilled",
                    "channel": "online",
                    "currency": self.currency,
                    "subtotal": subtotal,
                    "discount_total": Decimal(0),
                    "shipping_total": freight,
                    "tax_total": Decimal(0),
                    "total": total,
                    "discount_codes": [],
                    "customer_id": self.customer_ids[unique],
                    "email": "",
                    "tags": [],
                    "placed_at": placed,
                    "cancelled_at": placed if status == "cancelled" else None,
                    "_address": address_key,
                }
            )
        insert_rows(Address, addresses)
        address_ids = dict(
            Address.objects.filter(store=self.store, name__startswith="adr_").values_list(
                "name", "id"
            )
        )
        for row in rows:
            row["shipping_address_id"] = address_ids[row.pop("_address")]
        insert_rows(Order, rows)
        # The address name held a key only to find the new rows again.
        Address.objects.filter(pk__in=address_ids.values()).update(name="")
        for oid, status in status_changes.items():
            Order.objects.filter(store=self.store, source=SOURCE, external_id=oid).update(
                status=status, updated_at=clock.now()
            )
        count.created = len(rows)
        count.updated = len(status_changes)
        self.order_ids = self._existing(Order)

    # -- lines: one per (product, seller), quantity = the items of it ---------------------------
    def lines(self) -> None:
        count = self.summary.counts["order lines"]
        existing = set(
            OrderLine.objects.filter(order__store=self.store, order__source=SOURCE).values_list(
                "order_id", "external_id"
            )
        )
        rows = []
        for oid, items in self.items_by_order.items():
            order_pk = self.order_ids.get(oid)
            if order_pk is None:
                self.skip("order lines", f"order {oid} was not imported")
                continue
            grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
            for item in items:
                grouped[(item["product_id"], item["seller_id"])].append(item)
            for (pid, _seller), group in grouped.items():
                count.read += len(group)
                external = min(int(i["order_item_id"]) for i in group)
                if (order_pk, str(external)) in existing:
                    continue
                if pid not in self.product_ids:
                    self.skip("order lines", f"order {oid}: unknown product {pid}")
                    continue
                unit = _money(group[0]["price"])
                line_total = sum((_money(i["price"]) for i in group), Decimal(0))
                rows.append(
                    {
                        "store_id": self.store.pk,
                        "order_id": order_pk,
                        "external_id": str(external),
                        "product_id": self.product_ids[pid],
                        "variant_id": self.variant_ids.get(pid),
                        "sku": pid[:16],
                        "title": f"Product {pid[:8]}",
                        "unit_price": unit,
                        "quantity": len(group),
                        "discount": unit * len(group) - line_total,
                        "total": line_total,
                        "requires_shipping": True,
                    }
                )
        insert_rows(OrderLine, rows)
        count.created = len(rows)

    # -- shipments: one per (order, seller), with pick-up and delivery scans -------------------
    def shipments(self) -> None:
        count = self.summary.counts["shipments"]
        sellers = {s["seller_id"]: s for s in self.data["sellers"]}
        existing = self._existing(Shipment)
        line_rows = defaultdict(list)
        for order_pk, external_id, line_pk, quantity in OrderLine.objects.filter(
            order__store=self.store, order__source=SOURCE
        ).values_list("order_id", "external_id", "id", "quantity"):
            line_rows[order_pk].append((external_id, line_pk, quantity))
        rows, wanted = [], []
        for oid, items in self.items_by_order.items():
            info = self.order_rows.get(oid)
            order_pk = self.order_ids.get(oid)
            if info is None or order_pk is None:
                continue
            for seller_id in dict.fromkeys(i["seller_id"] for i in items):
                count.read += 1
                external = f"{oid}:{seller_id}"
                if external in existing:
                    continue
                seller = sellers.get(seller_id, {})
                if info["delivered"]:
                    status = ShipmentStatus.DELIVERED
                elif info["status"] == "cancelled":
                    status = ShipmentStatus.CANCELLED
                elif info["carrier"]:
                    status = ShipmentStatus.IN_TRANSIT
                else:
                    status = ShipmentStatus.REGISTERED
                address = self.address_fields[info["customer_id"]]
                rows.append(
                    {
                        "store_id": self.store.pk,
                        "order_id": order_pk,
                        "source": SOURCE,
                        "external_id": external,
                        "carrier": "olist",
                        "status": status,
                        "origin_postal_code": seller.get("seller_zip_code_prefix", ""),
                        "origin_city": seller.get("seller_city", "").title(),
                        "origin_region": seller.get("seller_state", ""),
                        "origin_country": "BR",
                        "destination_postal_code": address["postal_code"],
                        "destination_city": address["city"],
                        "destination_region": address["region"],
                        "destination_country": "BR",
                        "shipped_at": info["carrier"],
                        "promised_delivery_date": info["promised"],
                        "delivered_at": info["delivered"],
                    }
                )
                seller_items = {
                    str(i["order_item_id"]) for i in items if i["seller_id"] == seller_id
                }
                wanted.append(
                    (
                        external,
                        info,
                        [
                            (line_pk, qty)
                            for ext, line_pk, qty in line_rows[order_pk]
                            if ext in seller_items
                        ],
                    )
                )
        insert_rows(Shipment, rows)
        count.created = len(rows)
        shipment_ids = self._existing(Shipment)
        ship_lines, events = [], []
        for external, info, lines in wanted:
            shipment_pk = shipment_ids[external]
            ship_lines.extend(
                {"shipment_id": shipment_pk, "order_line_id": line_pk, "quantity": qty}
                for line_pk, qty in lines
            )
            for when, status, raw in (
                (info["carrier"], ShipmentStatus.PICKED_UP, "delivered_carrier_date"),
                (info["delivered"], ShipmentStatus.DELIVERED, "delivered_customer_date"),
            ):
                if when is not None:
                    events.append(
                        {
                            "store_id": self.store.pk,
                            "shipment_id": shipment_pk,
                            "occurred_at": when,
                            "status": status,
                            "raw_status": raw,
                            "source": SOURCE,
                            "fingerprint": _fingerprint(external, raw),
                        }
                    )
        insert_rows(ShipmentLine, ship_lines)
        insert_rows(TrackingEvent, events)
        self.summary.counts["tracking events"].created = len(events)

    # -- reviews: store-level Reviews tied to their orders (Portuguese text as is) --------------
    def reviews(self) -> None:
        """Olist reviews rate the whole purchase, so they become reviews of the store overall
        (product empty), tied to the order and its customer, published at the answer time.
        Never "verified buyer": we did not ask for them ourselves."""
        count = self.summary.counts["reviews"]
        existing = set(
            Review.objects.filter(store=self.store, source=SOURCE).values_list(
                "external_id", flat=True
            )
        )
        customer_of_order = dict(
            Order.objects.filter(store=self.store, source=SOURCE).values_list("id", "customer_id")
        )
        rows, seen = [], set()
        for row in self.data["reviews"]:
            count.read += 1
            # Olist reuses a review id when one review covers several orders.
            external = f"{row['review_id']}:{row['order_id']}"
            if external in existing or external in seen:
                continue
            order_pk = self.order_ids.get(row["order_id"])
            try:
                score = int(row["review_score"])
                created = _local_time(row["review_creation_date"])
                answered = _local_time(row.get("review_answer_timestamp", ""))
            except ValueError as exc:
                self.skip("reviews", f"{row['review_id']}: {exc}")
                continue
            if order_pk is None or not 1 <= score <= 5 or created is None:
                self.skip("reviews", f"{row['review_id']}: unknown order or bad score")
                continue
            seen.add(external)
            rows.append(
                {
                    "store_id": self.store.pk,
                    "source": SOURCE,
                    "external_id": external,
                    "order_id": order_pk,
                    "customer_id": customer_of_order.get(order_pk),
                    "product_id": None,
                    "rating": score,
                    "title": row.get("review_comment_title", "")[:200],
                    "text": row.get("review_comment_message", ""),
                    "locale": "pt-br",
                    "status": Review.Status.PUBLISHED,
                    "verified_buyer": False,
                    "incentivised": False,
                    "created_at": created,
                    "updated_at": answered or created,
                    "published_at": answered or created,
                }
            )
        insert_rows(Review, rows)
        count.created = len(rows)
        if rows:
            rating_summaries_rebuild(self.store)
