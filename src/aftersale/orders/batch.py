"""Many orders in one call: new orders are written with bulk inserts, the rest one by one.

Every order goes through the same checks as order_upsert. A bad order is answered with its error
and leaves nothing written; the others are not held up by it. New orders (the common case for an
initial sync) take the bulk path: a handful of queries for the whole batch instead of ~15 per
order. Updates, repeats within the batch and anything the bulk path trips over go through
order_upsert, one savepoint each.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from pydantic import ValidationError

from aftersale.core.bulk import insert_objects, insert_rows
from aftersale.core.models import OutboxEvent, Store
from aftersale.core.services import DomainError
from aftersale.customers.models import Address, Customer
from aftersale.customers.schemas import normalize_email
from aftersale.customers.services import apply_customer_input, customer_payload, customer_upsert
from aftersale.orders.models import Order, OrderLine
from aftersale.orders.schemas import OrderIn
from aftersale.orders.services import (
    catalog_links,
    customer_ref,
    line_values,
    order_aggregate,
    order_check,
    order_payload,
    order_upsert,
    order_values,
)

MAX_BATCH = 1000


@dataclass
class BatchItemResult:
    index: int
    external_id: str | None
    result: str  # created | updated | unchanged | error
    order: Order | None = None
    error: dict | None = None


def _validation_error(exc: ValidationError) -> dict:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return {"detail": f"{field}: {first.get('msg', 'invalid')}", "field": field}


def order_upsert_batch(*, store: Store, items: list[dict]) -> list[BatchItemResult]:
    if len(items) > MAX_BATCH:
        raise DomainError(f"at most {MAX_BATCH} orders per batch", field="orders")
    results: list[BatchItemResult | None] = [None] * len(items)
    valid: list[tuple[int, OrderIn]] = []
    for index, raw in enumerate(items):
        external_id = raw.get("external_id") if isinstance(raw, dict) else None
        try:
            data = OrderIn.model_validate(raw)
            order_check(store=store, data=data)
        except ValidationError as exc:
            results[index] = BatchItemResult(
                index, external_id, "error", error=_validation_error(exc)
            )
        except DomainError as exc:
            results[index] = BatchItemResult(
                index, external_id, "error", error={"detail": exc.message, "field": exc.field}
            )
        else:
            valid.append((index, data))

    existing = set(
        Order.objects.filter(
            store=store, external_id__in={d.external_id for _, d in valid}
        ).values_list("source", "external_id")
    )
    fast: list[tuple[int, OrderIn]] = []
    slow: list[tuple[int, OrderIn]] = []
    claimed: set[tuple[str, str]] = set()
    for index, data in valid:
        key = (data.source, data.external_id)
        if key in existing or key in claimed:
            slow.append((index, data))
        else:
            claimed.add(key)
            fast.append((index, data))

    if fast:
        try:
            with transaction.atomic():
                orders = _bulk_create(store, [d for _, d in fast])
        except (IntegrityError, DomainError):
            # Something changed under us (a concurrent writer); take the careful path instead.
            slow = sorted(fast + slow, key=lambda item: item[0])
        else:
            for (index, data), order in zip(fast, orders, strict=True):
                results[index] = BatchItemResult(index, data.external_id, "created", order)

    for index, data in slow:
        try:
            upserted = order_upsert(store=store, data=data)
        except DomainError as exc:
            results[index] = BatchItemResult(
                index, data.external_id, "error", error={"detail": exc.message, "field": exc.field}
            )
            continue
        outcome = (
            "created" if upserted.created else ("updated" if upserted.changed else "unchanged")
        )
        results[index] = BatchItemResult(index, data.external_id, outcome, upserted.order)
    return [r for r in results if r is not None]


def _resolve_customers(store: Store, orders: list[OrderIn], events: list[OutboxEvent]):
    """One customer per order (or None), creating new ones in bulk."""
    refs = [customer_ref(d) for d in orders]
    ext_keys = {
        (d.source, r.external_id) for d, r in zip(orders, refs, strict=True) if r and r.external_id
    }
    emails = {normalize_email(r.email) for r in refs if r and r.email}
    by_ext: dict[tuple[str, str], Customer] = {}
    if ext_keys:
        for c in Customer.objects.filter(store=store, external_id__in={k[1] for k in ext_keys}):
            by_ext[(c.source, c.external_id)] = c
    by_email: dict[str, Customer] = {}
    if emails:
        for c in Customer.objects.filter(store=store, email__in=emails).order_by("-id"):
            by_email[c.email] = c  # the oldest wins, as in customer_upsert
    new: list[Customer] = []
    resolved: list[Customer | None] = []
    for data, ref in zip(orders, refs, strict=True):
        if ref is None:
            resolved.append(None)
            continue
        email = normalize_email(ref.email)
        customer = (by_ext.get((data.source, ref.external_id)) if ref.external_id else None) or (
            by_email.get(email) if email else None
        )
        if customer is not None and customer.pk is not None:
            probe = Customer(
                **{f.attname: getattr(customer, f.attname) for f in Customer._meta.concrete_fields}
            )
            if apply_customer_input(probe, ref):
                customer, _ = customer_upsert(store=store, data=ref, source=data.source)
        elif customer is not None:
            apply_customer_input(customer, ref)  # a customer new in this batch, seen again
        else:
            customer = Customer(store=store, source=data.source, external_id=ref.external_id)
            apply_customer_input(customer, ref)
            new.append(customer)
        if ref.external_id:
            by_ext[(data.source, ref.external_id)] = customer
        if customer.email:
            by_email.setdefault(customer.email, customer)
        resolved.append(customer)
    if new:
        insert_objects(Customer, new)
        events.extend(
            OutboxEvent(
                store=store,
                name="customer.created",
                aggregate=f"customer:{c.public_id}",
                payload=customer_payload(c),
            )
            for c in new
        )
    return resolved


def _bulk_create(store: Store, orders: list[OrderIn]) -> list[Order]:
    customer_events: list[OutboxEvent] = []
    customers = _resolve_customers(store, orders, customer_events)

    addresses: list[Address] = []
    rows: list[Order] = []
    for data, customer in zip(orders, customers, strict=True):
        order = Order(
            store=store,
            source=data.source,
            external_id=data.external_id,
            customer=customer,
            **order_values(store, data, None),
        )
        if data.shipping_address:
            order.shipping_address = Address(
                store=store, customer=customer, **data.shipping_address.model_dump()
            )
            addresses.append(order.shipping_address)
        if data.billing_address:
            order.billing_address = Address(
                store=store, customer=customer, **data.billing_address.model_dump()
            )
            addresses.append(order.billing_address)
        rows.append(order)
    Address.objects.bulk_create(addresses)
    for order in rows:  # re-point the foreign keys at the now-saved addresses
        order.shipping_address = order.shipping_address
        order.billing_address = order.billing_address
    insert_objects(Order, rows)

    lines: list[dict] = []
    by_source: dict[str, list[int]] = {}
    for i, data in enumerate(orders):
        by_source.setdefault(data.source, []).append(i)
    for source, indexes in by_source.items():
        links = catalog_links(store, [ln for i in indexes for ln in orders[i].lines], source)
        for i in indexes:
            order = rows[i]
            lines.extend(
                {
                    "store_id": store.pk,
                    "order_id": order.pk,
                    **line_values(line, order.currency, links),
                }
                for line in orders[i].lines
            )
    insert_rows(OrderLine, lines)

    events = customer_events
    for order in rows:
        payload = order_payload(order)
        events.append(
            OutboxEvent(
                store=store, name="order.created", aggregate=order_aggregate(order), payload=payload
            )
        )
        if order.status == Order.Status.CANCELLED:
            events.append(
                OutboxEvent(
                    store=store,
                    name="order.cancelled",
                    aggregate=order_aggregate(order),
                    payload={**payload, "reason": order.cancel_reason},
                )
            )
    insert_objects(OutboxEvent, events, fetch_ids=False)
    return rows
