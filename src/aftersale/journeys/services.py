"""Writes to journeys: flows and their versions, enrolments, reacting to events, discounts, tags.

The step runner lives in runner.py; the event subscriber (handle_event) is registered in apps.py.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.db.models import Max, Q
from django.db.models.expressions import RawSQL

from aftersale.core import clock
from aftersale.core.bulk import insert_rows
from aftersale.core.events import batch_forget, batch_memo
from aftersale.core.models import OutboxEvent, Store
from aftersale.core.services import Conflict, DomainError
from aftersale.customers.models import Customer
from aftersale.customers.services import customer_payload
from aftersale.journeys.definition import (
    END,
    Definition,
    DiscountStep,
    WaitStep,
    parse_definition,
    parse_duration,
)
from aftersale.journeys.fields import Facts, matches
from aftersale.journeys.models import (
    DiscountCode,
    DiscountPool,
    Enrolment,
    Flow,
    FlowVersion,
    ScheduledStep,
    StepRun,
)
from aftersale.messaging.models import ContactPreference, Suppression
from aftersale.messaging.policy import zone
from aftersale.orders.models import Order, Refund
from aftersale.tracking.models import Shipment, ShipmentStatus

logger = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# -- definitions ------------------------------------------------------------------------------

_definitions: dict[str, Definition] = {}


def definition_of(version: FlowVersion) -> Definition:
    """The parsed definition of a version (versions never change, so this caches by content)."""
    key = json.dumps(version.definition, sort_keys=True)
    found = _definitions.get(key)
    if found is None:
        if len(_definitions) > 512:
            _definitions.clear()
        found = _definitions[key] = parse_definition(version.definition)
    return found


def definition_check(*, store: Store, source: str | dict) -> Definition:
    """Parse and check a definition for this store; raises DefinitionError naming the step."""
    from aftersale.journeys.definition import DefinitionError

    definition = parse_definition(source)
    for step in definition.typed_steps:
        if (
            isinstance(step, DiscountStep)
            and step.pool
            and not DiscountPool.objects.filter(store=store, key=step.pool).exists()
        ):
            raise DefinitionError(
                f"step {step.id}: no discount pool {step.pool!r} in this store", step=step.id
            )
    return definition


# -- flows ----------------------------------------------------------------------------------


def flow_create(
    *,
    store: Store,
    key: str,
    name: str,
    definition: str | dict,
    description: str = "",
    active: bool = True,
    builtin: bool = False,
) -> Flow:
    parsed = definition_check(store=store, source=definition)
    if Flow.objects.filter(store=store, key=key).exists():
        raise Conflict(f"a flow with key {key!r} already exists", field="key")
    with transaction.atomic():
        flow = Flow.objects.create(
            store=store,
            key=key,
            name=name,
            description=description,
            active=active,
            builtin=builtin,
            trigger_event=parsed.trigger.event,
        )
        version = FlowVersion.objects.create(flow=flow, number=1, definition=parsed.as_json())
        flow.current_version = version
        flow.save(update_fields=["current_version", "updated_at"])
    return flow


def flow_update(
    *,
    store: Store,
    flow: Flow,
    definition: str | dict | None = None,
    name: str | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> Flow:
    """Change a flow. A new definition becomes a new version; running enrolments keep theirs."""
    parsed = definition_check(store=store, source=definition) if definition is not None else None
    with transaction.atomic():
        flow = Flow.objects.select_for_update().get(pk=flow.pk, store=store)
        fields = ["updated_at"]
        if parsed is not None:
            as_json = parsed.as_json()
            current = flow.current_version.definition if flow.current_version else None
            if as_json != current:
                number = (flow.versions.aggregate(n=Max("number"))["n"] or 0) + 1
                version = FlowVersion.objects.create(flow=flow, number=number, definition=as_json)
                flow.current_version = version
                flow.trigger_event = parsed.trigger.event
                fields += ["current_version", "trigger_event"]
        for field, value in (("name", name), ("description", description), ("active", active)):
            if value is not None and getattr(flow, field) != value:
                setattr(flow, field, value)
                fields.append(field)
        flow.save(update_fields=fields)
    return flow


# -- scheduling -----------------------------------------------------------------------------


def recipient_zone(enrolment: Enrolment) -> str:
    customer = enrolment.customer
    return (customer.time_zone if customer else "") or enrolment.store.time_zone


def next_local_time(now: dt.datetime, at: dt.time, time_zone: str) -> dt.datetime:
    """The next moment (now or later) the recipient's wall clock shows `at`."""
    tz = zone(time_zone)
    day = now.astimezone(tz).date()
    for offset in range(3):
        candidate = dt.datetime.combine(day + dt.timedelta(days=offset), at, tzinfo=tz)
        if candidate.astimezone(dt.UTC) >= now:
            return candidate.astimezone(dt.UTC)
    raise AssertionError("unreachable")  # pragma: no cover


def event_already_happened(event: str, enrolment: Enrolment) -> bool:
    """Whether an until_event wait would wait for something that is already the case."""
    order = enrolment.order
    if event == "shipment.delivered" and order is not None:
        shipments = Shipment.objects.filter(order=order, delivered_at__isnull=False)
        if enrolment.shipment_id:
            shipments = shipments.filter(pk=enrolment.shipment_id)
        return shipments.exists()
    if event == "order.cancelled" and order is not None:
        return Order.objects.filter(pk=order.pk, status=Order.Status.CANCELLED).exists()
    if event == "refund.created" and order is not None:
        return Refund.objects.filter(order=order, created_at__gte=enrolment.enrolled_at).exists()
    if event == "order.created" and enrolment.customer_id:
        later = Order.objects.filter(
            store_id=enrolment.store_id,
            customer_id=enrolment.customer_id,
            placed_at__gt=enrolment.enrolled_at,
        )
        if order is not None:
            later = later.exclude(pk=order.pk)
        return later.exists()
    return False


def schedule_step(
    *, enrolment: Enrolment, definition: Definition, step_id: str, now: dt.datetime
) -> ScheduledStep | None:
    """Make `step_id` the enrolment's next step (or complete it at "end")."""
    if step_id == END:
        enrolment_finish(enrolment=enrolment, state=Enrolment.State.COMPLETED, reason="", now=now)
        return None
    row = next_step_row(enrolment=enrolment, definition=definition, step_id=step_id, now=now)
    row.save()
    Enrolment.objects.filter(pk=enrolment.pk).update(current_step=step_id)
    return row


def next_step_row(
    *, enrolment: Enrolment, definition: Definition, step_id: str, now: dt.datetime
) -> ScheduledStep:
    """The unsaved row that makes `step_id` (never "end") the enrolment's next step: due now, or
    when its wait is over, or waiting for an event."""
    return ScheduledStep(
        enrolment=enrolment,
        **next_step_fields(enrolment=enrolment, definition=definition, step_id=step_id, now=now),
    )


def next_step_fields(
    *, enrolment: Enrolment, definition: Definition, step_id: str, now: dt.datetime
) -> dict:
    """next_step_row's fields other than the enrolment (step_id, due_at, waiting_for,
    resumed_by), for writing many rows at once; sets the enrolment's current_step."""
    step = definition.step(step_id)
    due, waiting_for, resumed_by = now, "", ""
    if isinstance(step, WaitStep):
        if step.duration:
            due = now + parse_duration(step.duration)
        elif step.until_time:
            due = next_local_time(now, step.at_time, recipient_zone(enrolment))
        else:
            waiting_for = step.until_event or ""
            due = now + parse_duration(step.timeout or "0m")
            if event_already_happened(waiting_for, enrolment):
                due, resumed_by = now, f"{waiting_for}: had already happened"
    enrolment.current_step = step_id
    return {"step_id": step_id, "due_at": due, "waiting_for": waiting_for, "resumed_by": resumed_by}


def enrolment_finish(*, enrolment: Enrolment, state: str, reason: str, now: dt.datetime) -> bool:
    changed = Enrolment.objects.filter(pk=enrolment.pk, state=Enrolment.State.ACTIVE).update(
        state=state, exit_reason=reason[:200], finished_at=now
    )
    ScheduledStep.objects.filter(enrolment=enrolment, status=ScheduledStep.Status.PENDING).update(
        status=ScheduledStep.Status.CANCELLED
    )
    if changed:
        enrolment.state, enrolment.exit_reason, enrolment.finished_at = state, reason[:200], now
        if state == Enrolment.State.EXITED:
            StepRun.objects.create(
                store_id=enrolment.store_id,
                flow_id=enrolment.flow_id,
                enrolment=enrolment,
                step_id=enrolment.current_step,
                outcome="exited",
                detail=reason,
                at=now,
            )
    return bool(changed)


# -- enrolling ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """What an event is about, resolved once."""

    order: Order | None = None
    shipment: Shipment | None = None
    customer: Customer | None = None
    # When the thing the event reports happened (placed, shipped, delivered), for max_age.
    happened_at: dt.datetime | None = None


def _subject_ref(event_name: str, once_per: str, subject: Subject) -> str | None:
    if once_per == "customer":
        return subject.customer.public_id if subject.customer else None
    if once_per == "order" or not event_name.startswith("shipment."):
        if subject.order is not None:
            return subject.order.public_id
        return subject.customer.public_id if subject.customer else None
    return subject.shipment.public_id if subject.shipment else None


def enrol(
    *,
    store: Store,
    event_name: str,
    subject: Subject,
    now: dt.datetime,
    subject_ref: str | None = None,
    context: dict | None = None,
    only_flow: Flow | None = None,
) -> list[Enrolment]:
    """Enrol the subject into every active flow of the store that starts on this event and whose
    filters hold. A subject enters a flow once, however often the event arrives."""
    made: list[Enrolment] = []
    flows = Flow.objects.filter(
        store=store, active=True, trigger_event=event_name, current_version__isnull=False
    ).select_related("current_version")
    if only_flow is not None:
        flows = flows.filter(pk=only_flow.pk)
    else:
        # The store's flows for this event, read once per dispatch batch.
        flows = batch_memo(("journeys.flows", store.pk, event_name), lambda qs=flows: list(qs))
    for flow in flows:
        version = flow.current_version
        assert version is not None
        definition = definition_of(version)
        trigger = definition.trigger
        if subject.happened_at and subject.happened_at < now - parse_duration(trigger.max_age):
            continue
        ref = subject_ref or _subject_ref(event_name, trigger.once_per, subject)
        if ref is None:
            continue
        facts = Facts(
            store=store,
            now=now,
            order=subject.order,
            customer=subject.customer,
            shipment=subject.shipment,
        )
        ok, _why = matches(trigger.filters, facts)
        if not ok or Enrolment.objects.filter(flow=flow, subject_ref=ref).exists():
            continue
        try:
            with transaction.atomic():
                enrolment = Enrolment.objects.create(
                    store=store,
                    flow=flow,
                    version=version,
                    customer=subject.customer,
                    order=subject.order,
                    shipment=subject.shipment,
                    subject_ref=ref,
                    enrolled_at=now,
                    context=context or {},
                )
                schedule_step(
                    enrolment=enrolment,
                    definition=definition,
                    step_id=definition.first_step,
                    now=now,
                )
        except IntegrityError:
            continue  # enrolled by a concurrent delivery of the same event
        made.append(enrolment)
    return made


# -- reacting to events ---------------------------------------------------------------------

ORDER_EVENTS = {"order.created", "order.updated", "order.cancelled"}
SHIPMENT_EVENTS = {
    "shipment.created",
    "shipment.updated",
    # tracking/issues.py: each raised once per parcel.
    "shipment.late",
    "shipment.stalled",
    "shipment.exception",
    "shipment.attempt_failed",
    "shipment.ready_for_pickup",
    "shipment.returning_to_sender",
    "shipment.lost",
    "shipment.invalid_tracking_number",
}


def effective_names(event: OutboxEvent) -> list[str]:
    """The event's own name plus the ones journeys derives (a delivery)."""
    names = [event.name]
    payload = event.payload or {}
    delivered = payload.get("status") == ShipmentStatus.DELIVERED
    if delivered and (
        event.name == "shipment.created"
        or (event.name == "shipment.updated" and "status" in (payload.get("changed") or []))
    ):
        names.append("shipment.delivered")
    return names


def resolve_subject(event: OutboxEvent) -> Subject | None:
    payload = event.payload or {}
    store_id = event.store_id
    if event.name in ORDER_EVENTS or event.name == "refund.created":
        ref = payload.get("order_id") if event.name == "refund.created" else payload.get("id")
        order = (
            Order.objects.select_related("customer", "shipping_address")
            .filter(store_id=store_id, public_id=ref)
            .first()
        )
        if order is None:
            return None
        return Subject(
            order=order,
            customer=order.customer,
            happened_at=order.placed_at if event.name == "order.created" else None,
        )
    if event.name in SHIPMENT_EVENTS:
        shipment = (
            Shipment.objects.select_related("order__customer", "order__shipping_address")
            .filter(store_id=store_id, public_id=payload.get("id"))
            .first()
        )
        if shipment is None:
            return None
        return Subject(order=shipment.order, shipment=shipment, customer=shipment.order.customer)
    if event.name.startswith("customer."):
        customer = Customer.objects.filter(store_id=store_id, public_id=payload.get("id")).first()
        return Subject(customer=customer) if customer else None
    return _subject_by_refs(store_id, payload)


def _subject_by_refs(store_id: int, payload: dict) -> Subject | None:
    """Events other apps add (return.*, survey.* …) name their subject by public ids."""
    shipment = order = customer = None
    if payload.get("shipment_id"):
        shipment = (
            Shipment.objects.select_related("order__customer", "order__shipping_address")
            .filter(store_id=store_id, public_id=payload["shipment_id"])
            .first()
        )
        order = shipment.order if shipment else None
    if order is None and payload.get("order_id"):
        order = (
            Order.objects.select_related("customer", "shipping_address")
            .filter(store_id=store_id, public_id=payload["order_id"])
            .first()
        )
    if order is not None:
        customer = order.customer
    if customer is None and payload.get("customer_id"):
        customer = Customer.objects.filter(
            store_id=store_id, public_id=payload["customer_id"]
        ).first()
    if order is None and customer is None:
        return None
    return Subject(order=order, shipment=shipment, customer=customer)


def _happened_at(name: str, subject: Subject) -> dt.datetime | None:
    if name == "shipment.delivered" and subject.shipment is not None:
        return subject.shipment.delivered_at
    if name == "shipment.created" and subject.shipment is not None:
        return subject.shipment.shipped_at
    return subject.happened_at


def handle_event(event: OutboxEvent) -> None:
    """The journeys subscriber: wake waits, end enrolments that exit on it, enrol into flows.

    Runs in the dispatcher's savepoint, so what it writes is written once per event."""
    names = effective_names(event)
    subject = resolve_subject(event)
    if subject is None:
        return
    store = event.store
    if getattr(settings, "AFTERSALE_JOURNEYS_BUILTIN_FLOWS", True):
        from aftersale.journeys.builtin import builtin_flows_missing, ensure_builtin_flows

        key = ("journeys.builtin_missing", store.pk)
        if batch_memo(key, lambda: builtin_flows_missing(store)):
            ensure_builtin_flows(store)
            batch_forget(key)
            batch_forget(("journeys.flows", store.pk))
    now = clock.now()
    for name in names:
        resume_waits(store=store, event_name=name, subject=subject, ref=event.public_id, now=now)
        apply_exits(store=store, event_name=name, subject=subject, ref=event.public_id, now=now)
        enrol(
            store=store,
            event_name=name,
            subject=Subject(
                order=subject.order,
                shipment=subject.shipment,
                customer=subject.customer,
                happened_at=_happened_at(name, subject),
            ),
            now=now,
        )


def _same_subject(subject: Subject) -> Q | None:
    q = Q()
    if subject.order is not None:
        q |= Q(enrolment__order=subject.order)
    if subject.customer is not None:
        q |= Q(enrolment__order__isnull=True, enrolment__customer=subject.customer)
    return q or None


def resume_waits(*, store: Store, event_name: str, subject: Subject, ref: str, now) -> int:
    same = _same_subject(subject)
    if same is None:
        return 0
    return ScheduledStep.objects.filter(
        same,
        status=ScheduledStep.Status.PENDING,
        waiting_for=event_name,
        due_at__gt=now,
        enrolment__store=store,
        enrolment__state=Enrolment.State.ACTIVE,
    ).update(due_at=now, resumed_by=f"{event_name}: {ref}"[:80])


def apply_exits(*, store: Store, event_name: str, subject: Subject, ref: str, now) -> int:
    """End active enrolments whose flow version exits on this event.

    An exit on an event about an order ends enrolments about that order (or, for enrolments that
    have no order, those of the same customer); `new_order: true` ends the customer's enrolments
    when they place an order after enrolling."""
    who = Q()
    if subject.order is not None:
        who |= Q(order=subject.order)
    if subject.customer is not None:
        who |= Q(customer=subject.customer)
    if not who:
        return 0
    ended = 0
    candidates = Enrolment.objects.filter(who, store=store, state=Enrolment.State.ACTIVE)
    for enrolment in candidates.select_related("version"):
        if (
            subject.shipment is not None
            and enrolment.shipment_id
            and enrolment.shipment_id != subject.shipment.pk
        ):
            continue  # news about another parcel of the order
        for rule in definition_of(enrolment.version).exits_on(event_name):
            if rule.new_order:
                order = subject.order
                if (
                    order is None
                    or subject.customer is None
                    or enrolment.customer_id != subject.customer.pk
                    or enrolment.order_id == order.pk
                    or order.placed_at <= enrolment.enrolled_at
                ):
                    continue
            elif enrolment.order_id and subject.order is not None:
                if enrolment.order_id != subject.order.pk:
                    continue
            elif subject.customer is None or enrolment.customer_id != subject.customer.pk:
                continue
            reason = f"{event_name}{' (a new order)' if rule.new_order else ''}: {ref}"
            if enrolment_finish(
                enrolment=enrolment, state=Enrolment.State.EXITED, reason=reason, now=now
            ):
                ended += 1
            break
    return ended


def unsubscribed_enrolments(enrolments: list[Enrolment]) -> set[int]:
    """The enrolments whose shopper unsubscribed from everything — all optional categories off,
    email off, or the address suppressed after a one-click unsubscribe — in two queries."""
    if not enrolments:
        return set()
    emails: dict[int, tuple[int, str]] = {}
    for e in enrolments:
        email = (e.customer.email if e.customer else "") or (e.order.email if e.order else "")
        if email:
            emails[e.pk] = (e.store_id, email.strip().lower())
    suppressed = (
        set(
            Suppression.objects.filter(
                one_of(Suppression, "address", {address for _, address in emails.values()}),
                store_id__in={store for store, _ in emails.values()},
                channel="email",
                reason=Suppression.Reason.UNSUBSCRIBED,
            ).values_list("store_id", "address")
        )
        if emails
        else set()
    )
    customer_ids = {e.customer_id for e in enrolments if e.customer_id}
    opted_out = {
        customer_id
        for customer_id, email, feedback, reminders, offers in (
            ContactPreference.objects.filter(
                one_of(ContactPreference, "customer", customer_ids)
            ).values_list("customer_id", "email", "feedback", "reminders", "offers")
            if customer_ids
            else []
        )
        if not email or not (feedback or reminders or offers)
    }
    return {
        e.pk
        for e in enrolments
        if emails.get(e.pk) in suppressed or (e.customer_id and e.customer_id in opted_out)
    }


# -- filters on many values -----------------------------------------------------------------


def one_of(model: type[models.Model], name: str, values: Collection) -> Q | RawSQL:
    """A filter: field `name` of `model` is one of `values` (ints or strings; None never
    matches), like Q(name__in=values). On PostgreSQL the values go as one array parameter:
    psycopg binds parameters client-side, and a query with hundreds of placeholders is parsed
    again on every run (it caches only short ones), which cost more than the runner's own work.
    The array is a constant to the planner, so it still sees how many values there are. The
    condition names the model's table: filter that model's own queryset, not a subquery."""
    if connection.vendor != "postgresql":
        return Q(**{f"{name}__in": values})
    field = model._meta.get_field(name)
    quote = connection.ops.quote_name
    column = f"{quote(model._meta.db_table)}.{quote(field.column)}"
    element = field.db_type(connection).split("(")[0]
    # Table, column and type come from the model; the values are one bound parameter.
    return RawSQL(  # noqa: S611
        f"{column} = ANY(%s::{element}[])",
        [_array_text(v for v in values if v is not None)],
        output_field=models.BooleanField(),
    )


def _array_text(values: Iterable[int | str]) -> str:
    """PostgreSQL's text form of an array: {1,2} or {"a","b \\"c\\""}."""
    return (
        "{"
        + ",".join(
            str(v)
            if isinstance(v, int)
            else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in values
        )
        + "}"
    )


# -- bulk writes ----------------------------------------------------------------------------
#
# On PostgreSQL, executemany sends one statement per row, each parsed and planned by the server,
# and Django's bulk_create passes one array per column, which psycopg escapes value by value in
# Python. Here the rows go as one JSON document that json_populate_recordset turns back into rows
# of the table's own column types: one statement, one parameter. SQLite prepares an executemany
# statement once and runs it in-process, so there they stay executemany.


def _json_records(fields: list[models.Field], rows: Iterable[Iterable]) -> str:
    """Rows (values in `fields` order) as a JSON array of objects keyed by column name."""
    columns = [f.column for f in fields]
    encoded = [i for i, f in enumerate(fields) if isinstance(f, models.JSONField) and f.encoder]
    records = []
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        for i in encoded:  # a custom encoder's JSON, as the field would store it
            value = record[columns[i]]
            if value is not None:
                record[columns[i]] = json.loads(json.dumps(value, cls=fields[i].encoder))
        records.append(record)
    # str() of a datetime, date or Decimal is text PostgreSQL reads back exactly.
    return json.dumps(records, default=str)


def _missing_value(field: models.Field, now: dt.datetime) -> Callable[[], object]:
    """What insert_rows writes for a field a row leaves out."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda: now
    if field.has_default() and callable(field.default):
        return field.default
    value = field.get_default()
    return lambda: value


def insert_all(model: type[models.Model], rows: list[dict]) -> int:
    """core.bulk.insert_rows (same defaults), in one statement on PostgreSQL; returns how many."""
    if connection.vendor != "postgresql" or len(rows) < 2:
        return insert_rows(model, rows)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = clock.now()
    fills = [_missing_value(field, now) for field in fields]
    names = [f.attname for f in fields]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    document = _json_records(
        fields,
        (
            [row[name] if name in row else fill() for name, fill in zip(names, fills, strict=True)]
            for row in rows
        ),
    )
    with connection.cursor() as cursor:
        # Table and column names come from the model; the rows are one bound parameter.
        # Rows are inserted (and numbered) in list order, as emit_all's callers rely on.
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} "  # noqa: S608
            f"FROM json_populate_recordset(NULL::{table}, %s) WITH ORDINALITY AS row_ "
            "ORDER BY row_.ordinality",
            [document],
        )
    return len(rows)


def update_rows(model: type[models.Model], names: list[str], rows: list[tuple]) -> None:
    """Set the fields `names` of each row given as (pk, value, …): one statement on PostgreSQL,
    an executemany elsewhere."""
    if not rows:
        return
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            assignments = ", ".join(f"{quote(f.column)} = new.{quote(f.column)}" for f in fields)
            # Table and column names come from the model; the rows are one bound parameter.
            cursor.execute(
                f"UPDATE {table} SET {assignments} "  # noqa: S608
                f"FROM json_populate_recordset(NULL::{table}, %s) AS new "
                f"WHERE {table}.{pk} = new.{pk}",
                [_json_records([model._meta.pk, *fields], rows)],
            )
            return
        assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
        # Table and column names come from the model; every value is a bound parameter.
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE {pk} = %s",  # noqa: S608
            [
                [f.get_db_prep_save(v, connection) for f, v in zip(fields, values, strict=True)]
                + [key]
                for key, *values in rows
            ],
        )


# -- actions' writes ------------------------------------------------------------------------


class CustomerTags:
    """Tags added to many customers in one transaction: the customers locked in one query (pk
    order), tags added in memory, then one UPDATE and one INSERT of customer.updated events
    (on SQLite, one executemany each).
    Use inside transaction.atomic()."""

    def __init__(self, customers: Iterable[tuple[int | None, int]]):
        """`customers`: (customer id, store id) pairs; pairs without a customer are skipped."""
        wanted = {customer_id: store_id for customer_id, store_id in customers if customer_id}
        self.customers = (
            {
                c.pk: c
                for c in Customer.objects.select_for_update()
                .filter(one_of(Customer, "id", wanted))
                .order_by("pk")
                if c.store_id == wanted[c.pk]
            }
            if wanted
            else {}
        )
        self.changed: dict[int, Customer] = {}
        self.events: list[dict] = []  # OutboxEvent rows

    def add(self, *, store: Store, customer_id: int, tag: str) -> bool:
        """Whether the tag was new; raises Customer.DoesNotExist for a customer not locked here."""
        customer = self.customers.get(customer_id)
        if customer is None:
            raise Customer.DoesNotExist(f"customer {customer_id} is not in this store")
        tags = list(customer.tags or [])
        if tag in tags:
            return False
        customer.tags = sorted({*tags, tag})
        customer.updated_at = clock.now()
        self.changed[customer.pk] = customer
        self.events.append(
            {
                "store_id": store.pk,
                "name": "customer.updated",
                "aggregate": f"customer:{customer.public_id}",
                "payload": {**customer_payload(customer), "changed": ["tags"]},
            }
        )
        return True

    def save(self) -> None:
        update_rows(
            Customer,
            ["tags", "updated_at"],
            [(c.pk, c.tags, c.updated_at) for c in self.changed.values()],
        )
        # Recorded as core.events.emit_all records events (one INSERT, in list order, in the
        # caller's transaction), from rows: bulk_create's work per value was the biggest part of
        # a tag step on SQLite, and a large one on PostgreSQL.
        insert_all(OutboxEvent, self.events)


def customer_tag_add(*, store: Store, customer: Customer, tag: str) -> bool:
    """Add a tag to a customer once; returns whether it was new. Emits customer.updated."""
    with transaction.atomic():
        tags = CustomerTags([(customer.pk, store.pk)])
        added = tags.add(store=store, customer_id=customer.pk, tag=tag)
        tags.save()
    return added


def discount_pool_upload(
    *,
    store: Store,
    key: str,
    name: str,
    codes: list[str],
    description: str = "",
    expires_on: dt.date | None = None,
) -> tuple[DiscountPool, int]:
    """Create or top up a pool with codes made in the shop platform; returns (pool, codes added)."""
    cleaned = sorted({c.strip() for c in codes if c.strip()})
    if any(len(c) > 60 for c in cleaned):
        raise DomainError("a discount code is at most 60 characters", field="codes")
    with transaction.atomic():
        pool, _ = DiscountPool.objects.get_or_create(
            store=store,
            key=key,
            defaults={"name": name, "description": description, "expires_on": expires_on},
        )
        known = set(
            DiscountCode.objects.filter(store=store, code__in=cleaned).values_list(
                "code", flat=True
            )
        )
        DiscountCode.objects.bulk_create(
            [
                DiscountCode(
                    store=store,
                    pool=pool,
                    code=code,
                    description=description,
                    expires_on=expires_on,
                )
                for code in cleaned
                if code not in known
            ]
        )
    return pool, len([c for c in cleaned if c not in known])


def discount_issue(
    *, enrolment: Enrolment, step: DiscountStep, now: dt.datetime
) -> DiscountCode | None:
    """The enrolment's code for this step: issued once (keyed by enrolment and step)."""
    store = enrolment.store
    key = f"{enrolment.public_id}:{step.id}"
    existing = DiscountCode.objects.filter(store=store, issued_key=key).first()
    if existing is not None:
        return existing
    if step.generate is not None:
        spec = step.generate
        local_today = now.astimezone(zone(store.time_zone)).date()
        expires_on = local_today + parse_duration(spec.expires_in) if spec.expires_in else None
        for _ in range(8):
            code = f"{spec.prefix}-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
            try:
                with transaction.atomic():
                    return DiscountCode.objects.create(
                        store=store,
                        code=code,
                        description=f"{spec.percent_off}% off",
                        percent_off=spec.percent_off,
                        expires_on=expires_on,
                        enrolment=enrolment,
                        issued_key=key,
                        issued_at=now,
                    )
            except IntegrityError:
                existing = DiscountCode.objects.filter(store=store, issued_key=key).first()
                if existing is not None:
                    return existing
        raise RuntimeError("could not generate a unique discount code")
    pool = DiscountPool.objects.filter(store=store, key=step.pool).first()
    if pool is None:
        return None
    free = DiscountCode.objects.filter(pool=pool, issued_at__isnull=True).order_by("id")
    if connection.features.has_select_for_update_skip_locked:
        free = free.select_for_update(skip_locked=True)
    code = free.first()
    if code is None:
        return None
    DiscountCode.objects.filter(pk=code.pk, issued_at__isnull=True).update(
        enrolment=enrolment,
        issued_key=key,
        issued_at=now,
        description=code.description or pool.description,
        expires_on=code.expires_on or pool.expires_on,
    )
    code.refresh_from_db()
    return code


def discount_context(code: DiscountCode) -> dict:
    return {
        "code": code.code,
        "description": code.description,
        "expires_on": code.expires_on.isoformat() if code.expires_on else "",
    }
