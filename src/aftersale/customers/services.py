from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Q

from aftersale.core import clock
from aftersale.core.events import emit, emit_all, event
from aftersale.core.models import OutboxEvent, Store
from aftersale.core.services import NotFound
from aftersale.customers.models import Address, Customer
from aftersale.customers.schemas import AddressIn, CustomerIn, CustomerPatchIn, normalize_email

CUSTOMER_FIELDS = ("email", "phone", "first_name", "last_name", "locale", "time_zone", "birthday")


def customer_payload(customer: Customer) -> dict:
    return {
        "id": customer.public_id,
        "external_id": customer.external_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "accepts_marketing": customer.accepts_marketing,
    }


def _find_customer(store: Store, source: str, data: CustomerIn) -> Customer | None:
    """The customer with this (source, external_id), else the oldest with this email; one query."""
    email = normalize_email(data.email)
    match = Q()
    if data.external_id:
        match |= Q(source=source, external_id=data.external_id)
    if email:
        match |= Q(email=email)
    if not match:
        return None
    found = list(Customer.objects.select_for_update().filter(match, store=store).order_by("id"))
    if data.external_id:
        for customer in found:
            if customer.source == source and customer.external_id == data.external_id:
                return customer
    if email:
        for customer in found:
            if customer.email == email:
                return customer
    return None


def customer_upsert(
    *, store: Store, data: CustomerIn, source: str = "api"
) -> tuple[Customer, bool]:
    """Create or update a customer matched by (source, external_id), then by email.

    Returns (customer, created). Emits customer.created or customer.updated when something changed.
    """
    with transaction.atomic():
        customer = _find_customer(store, source, data)
        created = customer is None
        if created:
            customer = Customer(store=store, source=source, external_id=data.external_id)
        changed = apply_customer_input(customer, data)
        if created:
            try:
                with transaction.atomic():
                    customer.save()
            except IntegrityError:
                # Another request created it a moment ago: update that one instead.
                return customer_upsert(store=store, data=data, source=source)
        elif changed:
            customer.save()
        emit_all(customer_events(store, customer, created=created, changed=changed))
    return customer, created


def customer_upsert_in(
    *, store: Store, data: CustomerIn, source: str, events: list[OutboxEvent]
) -> tuple[Customer, bool]:
    """customer_upsert for a caller that already runs the transaction and writes the events.

    No savepoints: the caller must retry its whole transaction on IntegrityError (a concurrent
    request created this customer first). The customer.created / customer.updated event is
    appended to `events`, for the caller to write together with its own (events.emit_all).
    """
    customer = _find_customer(store, source, data)
    created = customer is None
    if created:
        customer = Customer(store=store, source=source, external_id=data.external_id)
    changed = apply_customer_input(customer, data)
    if created or changed:
        customer.save()
    events.extend(customer_events(store, customer, created=created, changed=changed))
    return customer, created


def customer_events(
    store: Store, customer: Customer, *, created: bool, changed: set[str]
) -> list[OutboxEvent]:
    """customer.created, or customer.updated naming what changed, or nothing."""
    aggregate = f"customer:{customer.public_id}"
    if created:
        return [
            event(
                store=store,
                name="customer.created",
                aggregate=aggregate,
                payload=customer_payload(customer),
            )
        ]
    if changed:
        return [
            event(
                store=store,
                name="customer.updated",
                aggregate=aggregate,
                payload={**customer_payload(customer), "changed": sorted(changed)},
            )
        ]
    return []


def apply_customer_input(customer: Customer, data: CustomerIn) -> set[str]:
    provided = data.model_fields_set
    changed: set[str] = set()

    def put(field: str, value) -> None:
        if getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.add(field)

    if data.external_id and not customer.external_id:
        put("external_id", data.external_id)
    if "email" in provided:
        put("email", normalize_email(data.email))
    if "phone" in provided:
        put("phone", data.phone or "")
    for field in ("first_name", "last_name", "locale", "time_zone", "birthday"):
        if field in provided:
            put(field, getattr(data, field))
    if "tags" in provided:
        put("tags", sorted(set(data.tags)))
    if data.accepts_marketing is not None and data.accepts_marketing != customer.accepts_marketing:
        put("accepts_marketing", data.accepts_marketing)
        put("marketing_consent_at", clock.now())
        put("marketing_consent_source", data.marketing_consent_source or "api")
    return changed


def address_create(*, store: Store, data: AddressIn, customer: Customer | None) -> Address:
    return Address.objects.create(store=store, customer=customer, **data.model_dump())


def address_matches(address: Address | None, data: AddressIn | None) -> bool:
    if address is None or data is None:
        return address is None and data is None
    return all(getattr(address, k) == v for k, v in data.model_dump().items())


def customer_get(*, store: Store, ref: str) -> Customer:
    """A customer of this store by public id (cus_…) or external id."""
    qs = Customer.objects.filter(store=store)
    customer = qs.filter(public_id=ref).first() if ref.startswith("cus_") else None
    if customer is None:
        customer = qs.filter(external_id=ref).order_by("id").first()
    if customer is None:
        raise NotFound(f"no customer {ref!r} in this store")
    return customer


def customer_patch(*, store: Store, customer: Customer, data: CustomerPatchIn) -> Customer:
    """Change only the fields sent; emits customer.updated when something changed."""
    sent = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        changed = apply_customer_input(customer, CustomerIn(**sent))
        if changed:
            customer.save()
            emit(
                store=store,
                name="customer.updated",
                aggregate=f"customer:{customer.public_id}",
                payload={**customer_payload(customer), "changed": sorted(changed)},
            )
    return customer
