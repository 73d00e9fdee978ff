"""Writes to orders: upsert by external id, partial update, cancel. Every change emits an event."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.core.events import emit, emit_all, event
from aftersale.core.models import OutboxEvent, Store
from aftersale.core.money import quantize
from aftersale.core.services import Conflict, DomainError, NotFound
from aftersale.customers.models import Customer
from aftersale.customers.schemas import CustomerIn, normalize_email
from aftersale.customers.services import (
    address_create,
    address_matches,
    customer_upsert,
    customer_upsert_in,
)
from aftersale.orders.models import Order, OrderLine, Refund, RefundLine
from aftersale.orders.schemas import OrderIn, OrderLineIn, OrderPatchIn, RefundIn, RefundLineIn

ORDER_SCALARS = (
    "number",
    "status",
    "financial_status",
    "fulfillment_status",
    "channel",
    "currency",
    "subtotal",
    "discount_total",
    "shipping_total",
    "tax_total",
    "total",
    "discount_codes",
    "email",
    "tags",
    "note",
    "placed_at",
    "cancelled_at",
    "cancel_reason",
)


@dataclass(frozen=True)
class UpsertResult:
    order: Order
    created: bool
    changed: tuple[str, ...]
    # A created order's lines, as written (with their product and variant); None after an update.
    lines: list[OrderLine] | None = None


def order_aggregate(order: Order) -> str:
    return f"order:{order.public_id}"


def order_payload(order: Order) -> dict:
    """The event payload: enough for a subscriber to act without a query in the common case."""
    return {
        "id": order.public_id,
        "external_id": order.external_id,
        "source": order.source,
        "number": order.number,
        "status": order.status,
        "financial_status": order.financial_status,
        "fulfillment_status": order.fulfillment_status,
        "channel": order.channel,
        "currency": order.currency,
        "total": str(order.total),
        "placed_at": order.placed_at.isoformat(),
        "customer_id": order.customer.public_id if order.customer_id else None,
        "email": order.email,
    }


def order_totals(data: OrderIn, currency: str) -> dict[str, Decimal]:
    """Totals as sent, or derived from the lines where the shop left them out."""
    lines_net = sum(
        (line.unit_price * line.quantity - line.discount for line in data.lines), Decimal(0)
    )
    subtotal = data.subtotal if data.subtotal is not None else lines_net
    if data.total is not None:
        total = data.total
    else:
        total = subtotal - data.discount_total + data.shipping_total + data.tax_total
        if total < 0:
            raise DomainError("the discounts exceed the order's value", field="discount_total")
    return {
        "subtotal": quantize(subtotal, currency),
        "discount_total": quantize(data.discount_total, currency),
        "shipping_total": quantize(data.shipping_total, currency),
        "tax_total": quantize(data.tax_total, currency),
        "total": quantize(total, currency),
    }


def order_check(*, store: Store, data: OrderIn) -> None:
    """Raises DomainError for input that is well-formed but cannot be an order of this store."""
    for index, line in enumerate(data.lines):
        if line.discount > line.unit_price * line.quantity:
            raise DomainError(
                "a line's discount is larger than the line's value",
                field=f"lines.{index}.discount",
            )


def _derived_fulfillment(data: OrderIn, existing: Order | None) -> str:
    if data.fulfillment_status:
        return data.fulfillment_status
    return existing.fulfillment_status if existing else Order.FulfillmentStatus.UNFULFILLED


def order_upsert(*, store: Store, data: OrderIn) -> UpsertResult:
    """Create the order, or update the one with the same (source, external_id).

    Runs in one transaction: the order, its customer, addresses, lines and events are written
    together or not at all. Emits order.created, order.updated (only when something changed) and
    order.cancelled when the status turns to cancelled.
    """
    order_check(store=store, data=data)
    try:
        with transaction.atomic():
            return _order_upsert_locked(store, data)
    except IntegrityError:
        # A concurrent request created the same order first; now it exists, so this updates it.
        with transaction.atomic():
            return _order_upsert_locked(store, data)


def _resolve_customer(store: Store, data: OrderIn) -> Customer | None:
    ref = customer_ref(data)
    if ref is None:
        return None
    customer, _ = customer_upsert(store=store, data=ref, source=data.source)
    return customer


def order_values(store: Store, data: OrderIn, existing: Order | None) -> dict:
    """The order's own columns as the input says they should be."""
    currency = data.currency or (existing.currency if existing else store.currency)
    values = {
        "number": data.number or (existing.number if existing else data.external_id),
        "status": data.status,
        "financial_status": data.financial_status,
        "fulfillment_status": _derived_fulfillment(data, existing),
        "channel": data.channel,
        "currency": currency,
        **order_totals(data, currency),
        "discount_codes": data.discount_codes,
        "email": normalize_email(data.email or (data.customer.email if data.customer else "")),
        "tags": sorted(set(data.tags)),
        "note": data.note,
        "placed_at": data.placed_at,
        "cancelled_at": data.cancelled_at,
        "cancel_reason": data.cancel_reason,
    }
    if data.status == Order.Status.CANCELLED and values["cancelled_at"] is None:
        values["cancelled_at"] = (existing.cancelled_at if existing else None) or clock.now()
    return values


def _order_upsert_locked(store: Store, data: OrderIn) -> UpsertResult:
    existing = (
        Order.objects.select_for_update()
        .filter(store=store, source=data.source, external_id=data.external_id)
        .order_by()
        .first()
    )
    if existing is None:
        return _order_create(store, data)
    values = order_values(store, data, existing)
    currency = values["currency"]
    customer = _resolve_customer(store, data)

    created = existing is None
    order = existing or Order(store=store, source=data.source, external_id=data.external_id)
    was_cancelled = not created and order.status == Order.Status.CANCELLED
    changed = [k for k, v in values.items() if created or getattr(order, k) != v]
    for key in changed:
        setattr(order, key, values[key])
    if customer is not None and order.customer_id != customer.pk:
        order.customer = customer
        changed.append("customer")
    if not address_matches(order.shipping_address, data.shipping_address):
        order.shipping_address = (
            address_create(store=store, data=data.shipping_address, customer=customer)
            if data.shipping_address
            else None
        )
        changed.append("shipping_address")
    if not address_matches(order.billing_address, data.billing_address):
        order.billing_address = (
            address_create(store=store, data=data.billing_address, customer=customer)
            if data.billing_address
            else None
        )
        changed.append("billing_address")
    if created or changed:
        order.save()
    if _sync_lines(store, order, data.lines, currency, created=created):
        changed.append("lines")
        if not created and not ({"lines"} ^ set(changed)):
            # Only the lines moved: the order's own row still says when it last changed.
            order.save(update_fields=["updated_at"])

    if created:
        emit(
            store=store,
            name="order.created",
            aggregate=order_aggregate(order),
            payload=order_payload(order),
        )
    elif changed:
        emit(
            store=store,
            name="order.updated",
            aggregate=order_aggregate(order),
            payload={**order_payload(order), "changed": sorted(set(changed))},
        )
    if order.status == Order.Status.CANCELLED and not was_cancelled:
        emit(
            store=store,
            name="order.cancelled",
            aggregate=order_aggregate(order),
            payload={**order_payload(order), "reason": order.cancel_reason},
        )
    return UpsertResult(order=order, created=created, changed=tuple(sorted(set(changed))))


def _order_create(store: Store, data: OrderIn) -> UpsertResult:
    """The common case of order_upsert: a new order. A handful of statements and no savepoints;
    the caller's transaction is retried as a whole on IntegrityError."""
    values = order_values(store, data, None)
    events: list[OutboxEvent] = []
    customer = None
    ref = customer_ref(data)
    if ref is not None:
        customer, _ = customer_upsert_in(store=store, data=ref, source=data.source, events=events)
    order = Order(
        store=store, source=data.source, external_id=data.external_id, customer=customer, **values
    )
    changed = list(values)
    if customer is not None:
        changed.append("customer")
    if data.shipping_address:
        order.shipping_address = address_create(
            store=store, data=data.shipping_address, customer=customer
        )
        changed.append("shipping_address")
    if data.billing_address:
        order.billing_address = address_create(
            store=store, data=data.billing_address, customer=customer
        )
        changed.append("billing_address")
    order.save(force_insert=True)
    lines = _create_lines(store, order, data.lines, values["currency"])
    if lines:
        changed.append("lines")
    payload = order_payload(order)
    events.append(
        event(store=store, name="order.created", aggregate=order_aggregate(order), payload=payload)
    )
    if order.status == Order.Status.CANCELLED:
        events.append(
            event(
                store=store,
                name="order.cancelled",
                aggregate=order_aggregate(order),
                payload={**payload, "reason": order.cancel_reason},
            )
        )
    emit_all(events)
    return UpsertResult(order=order, created=True, changed=tuple(sorted(changed)), lines=lines)


def customer_ref(data: OrderIn) -> CustomerIn | None:
    """Who the order belongs to: its customer (with the order's email when it has none)."""
    if data.customer is not None:
        if data.customer.email is None and data.email:
            return data.customer.model_copy(update={"email": data.email})
        return data.customer
    if data.email:
        return CustomerIn(email=data.email)
    return None


def _create_lines(
    store: Store, order: Order, lines: list[OrderLineIn], currency: str
) -> list[OrderLine]:
    if not lines:
        return []
    links = catalog_links(store, lines, order.source)
    rows = []
    for line in lines:
        row = OrderLine(store=store, order=order, **line_values(line, currency, links))
        # Keep the catalog rows at hand, so that reading the line's product queries nothing.
        row.variant, row.product = line_catalog(line, links)
        rows.append(row)
    return OrderLine.objects.bulk_create(rows)


def catalog_links(store: Store, lines: list[OrderLineIn], source: str):
    variant_ids = {line.variant_external_id for line in lines if line.variant_external_id}
    product_ids = {line.product_external_id for line in lines if line.product_external_id}
    skus = {line.sku for line in lines if line.sku and not line.variant_external_id}
    variants_by_ext = (
        {
            v.external_id: v
            for v in Variant.objects.filter(
                store=store, source=source, external_id__in=variant_ids
            ).select_related("product")
        }
        if variant_ids
        else {}
    )
    variants_by_sku = (
        {
            v.sku: v
            for v in Variant.objects.filter(store=store, sku__in=skus).select_related("product")
        }
        if skus
        else {}
    )
    products_by_ext = (
        {
            p.external_id: p
            for p in Product.objects.filter(store=store, source=source, external_id__in=product_ids)
        }
        if product_ids
        else {}
    )
    return variants_by_ext, variants_by_sku, products_by_ext


def line_catalog(line: OrderLineIn, links) -> tuple[Variant | None, Product | None]:
    """The catalog variant and product a line refers to, if the store has them."""
    variants_by_ext, variants_by_sku, products_by_ext = links
    variant = variants_by_ext.get(line.variant_external_id) or variants_by_sku.get(line.sku)
    product = products_by_ext.get(line.product_external_id) or (
        variant.product if variant else None
    )
    return variant, product


def line_values(line: OrderLineIn, currency: str, links) -> dict:
    variant, product = line_catalog(line, links)
    unit_price = quantize(line.unit_price, currency)
    discount = quantize(line.discount, currency)
    return {
        "external_id": line.external_id or "",
        "sku": line.sku,
        "title": line.title,
        "variant_title": line.variant_title,
        "product_id": product.pk if product else None,
        "variant_id": variant.pk if variant else None,
        "unit_price": unit_price,
        "quantity": line.quantity,
        "discount": discount,
        "total": quantize(unit_price * line.quantity - discount, currency),
        "requires_shipping": line.requires_shipping,
    }


def _sync_lines(
    store: Store, order: Order, lines: list[OrderLineIn], currency: str, *, created: bool
) -> bool:
    """Make the order's lines match the input. Lines are matched by external id, else position.

    A line that a shipment or refund refers to is never deleted, only left as it was.
    """
    links = catalog_links(store, lines, order.source)
    wanted = [line_values(line, currency, links) for line in lines]
    if created:
        OrderLine.objects.bulk_create(
            [OrderLine(store=store, order=order, **values) for values in wanted]
        )
        return bool(wanted)
    current = list(order.lines.all())
    by_external = {line.external_id: line for line in current if line.external_id}
    unmatched = [line for line in current if not line.external_id]
    changed = False
    kept: set[int] = set()
    for values in wanted:
        line = by_external.get(values["external_id"]) if values["external_id"] else None
        if line is None and not values["external_id"] and unmatched:
            line = unmatched.pop(0)
        if line is None:
            OrderLine.objects.create(store=store, order=order, **values)
            changed = True
            continue
        kept.add(line.pk)
        diff = {k: v for k, v in values.items() if getattr(line, k) != v}
        if diff:
            for key, value in diff.items():
                setattr(line, key, value)
            line.save(update_fields=list(diff))
            changed = True
    stale = [line.pk for line in current if line.pk not in kept]
    if stale:
        removable = OrderLine.objects.filter(
            pk__in=stale, shipped__isnull=True, refunds__isnull=True
        )
        deleted, _ = removable.delete()
        changed = changed or bool(deleted)
    return changed


def order_get(*, store: Store, ref: str) -> Order:
    """An order of this store by public id (ord_…) or by external id (any source)."""
    qs = Order.objects.filter(store=store).select_related("customer")
    order = qs.filter(public_id=ref).first() if ref.startswith("ord_") else None
    if order is None:
        order = qs.filter(external_id=ref).order_by("id").first()
    if order is None:
        raise NotFound(f"no order {ref!r} in this store")
    return order


def order_patch(*, store: Store, order: Order, data: OrderPatchIn) -> Order:
    """Change only the fields sent. Emits order.updated (and order.cancelled on cancelling)."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        was_cancelled = order.status == Order.Status.CANCELLED
        changed: list[str] = []
        for field in data.model_fields_set:
            value = getattr(data, field)
            if field == "shipping_address":
                if not address_matches(order.shipping_address, value):
                    order.shipping_address = (
                        address_create(store=store, data=value, customer=order.customer)
                        if value
                        else None
                    )
                    changed.append(field)
                continue
            if value is None:
                continue
            if field == "email":
                value = normalize_email(value)
            if field == "tags":
                value = sorted(set(value))
            if getattr(order, field) != value:
                setattr(order, field, value)
                changed.append(field)
        if not changed:
            return order
        if order.status == Order.Status.CANCELLED and order.cancelled_at is None:
            order.cancelled_at = clock.now()
        order.save()
        emit(
            store=store,
            name="order.updated",
            aggregate=order_aggregate(order),
            payload={**order_payload(order), "changed": sorted(changed)},
        )
        if order.status == Order.Status.CANCELLED and not was_cancelled:
            emit(
                store=store,
                name="order.cancelled",
                aggregate=order_aggregate(order),
                payload={**order_payload(order), "reason": order.cancel_reason},
            )
    return order


def order_cancel(*, store: Store, order: Order, reason: str = "", cancelled_at=None) -> Order:
    """Cancel an order; cancelling a cancelled order changes nothing and emits nothing."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status == Order.Status.CANCELLED:
            return order
        order.status = Order.Status.CANCELLED
        order.cancelled_at = cancelled_at or clock.now()
        order.cancel_reason = reason
        order.save(update_fields=["status", "cancelled_at", "cancel_reason", "updated_at"])
        emit(
            store=store,
            name="order.cancelled",
            aggregate=order_aggregate(order),
            payload={**order_payload(order), "reason": reason},
        )
    return order


def order_line_resolve(*, order: Order, ref: str, field: str) -> OrderLine:
    """A line of this order by its id (lin_…) or its external id."""
    qs = OrderLine.objects.filter(order=order)
    line = qs.filter(public_id=ref).first() if ref.startswith("lin_") else None
    if line is None:
        line = qs.filter(external_id=ref).first()
    if line is None:
        raise DomainError(f"order {order.number} has no line {ref!r}", field=field)
    return line


def refund_payload(refund: Refund) -> dict:
    return {
        "id": refund.public_id,
        "external_id": refund.external_id,
        "order_id": refund.order.public_id,
        "amount": str(refund.amount),
        "currency": refund.currency,
        "reason": refund.reason,
        "processed_at": refund.processed_at.isoformat(),
        "lines": [
            {"line_id": rl.order_line.public_id, "quantity": rl.quantity, "amount": str(rl.amount)}
            for rl in refund.lines.select_related("order_line")
        ],
    }


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    created: bool


def refund_create(*, store: Store, order: Order, data: RefundIn) -> RefundResult:
    """Record a refund on an order. The same (source, external_id) twice records it once.

    Refused, with nothing written: a currency other than the order's, a line of another order, more
    units than were bought (counting earlier refunds), or more money than is left to refund.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if data.external_id:
            existing = Refund.objects.filter(
                store=store, source=data.source, external_id=data.external_id
            ).first()
            if existing is not None:
                if existing.order_id != order.pk:
                    raise Conflict(
                        f"refund {data.external_id!r} belongs to another order",
                        field="external_id",
                    )
                return RefundResult(refund=existing, created=False)
        currency = data.currency or order.currency
        if currency != order.currency:
            raise DomainError(
                f"the order is in {order.currency}; a refund cannot be in {currency}",
                field="currency",
            )
        line_rows: list[tuple[OrderLine, RefundLineIn, Decimal]] = []
        for index, item in enumerate(data.lines):
            line = order_line_resolve(order=order, ref=item.line, field=f"lines.{index}.line")
            already = sum(rl.quantity for rl in line.refunds.all())
            if item.quantity + already > line.quantity:
                raise DomainError(
                    f"line {item.line!r}: {line.quantity} bought, {already} already refunded, "
                    f"{item.quantity} asked",
                    field=f"lines.{index}.quantity",
                )
            default_amount = line.total * item.quantity / line.quantity
            amount = quantize(item.amount if item.amount is not None else default_amount, currency)
            line_rows.append((line, item, amount))
        amount = data.amount
        if amount is None:
            amount = sum((row[2] for row in line_rows), Decimal(0))
        amount = quantize(amount, currency)
        if amount <= 0:
            raise DomainError("a refund needs an amount or lines", field="amount")
        refunded = sum((r.amount for r in order.refunds.all()), Decimal(0))
        if refunded + amount > order.total:
            raise DomainError(
                f"only {quantize(order.total - refunded, currency)} {currency} of "
                f"{quantize(order.total, currency)} is left to refund",
                field="amount",
            )
        refund = Refund.objects.create(
            store=store,
            order=order,
            source=data.source,
            external_id=data.external_id,
            amount=amount,
            currency=currency,
            reason=data.reason,
            note=data.note,
            processed_at=data.processed_at or clock.now(),
        )
        RefundLine.objects.bulk_create(
            [
                RefundLine(
                    refund=refund,
                    order_line=line,
                    quantity=item.quantity,
                    amount=line_amount,
                    restock=item.restock,
                )
                for line, item, line_amount in line_rows
            ]
        )
        emit(
            store=store,
            name="refund.created",
            aggregate=order_aggregate(order),
            payload=refund_payload(refund),
        )
        status = (
            Order.FinancialStatus.REFUNDED
            if refunded + amount >= order.total
            else Order.FinancialStatus.PARTIALLY_REFUNDED
        )
        if order.financial_status != status:
            order.financial_status = status
            order.save(update_fields=["financial_status", "updated_at"])
            emit(
                store=store,
                name="order.updated",
                aggregate=order_aggregate(order),
                payload={**order_payload(order), "changed": ["financial_status"]},
            )
    return RefundResult(refund=refund, created=True)
