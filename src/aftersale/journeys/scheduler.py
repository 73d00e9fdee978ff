"""Triggers that no event announces: birthdays, first-order anniversaries, reorder reminders.

A periodic job (tasks.py) runs run_scheduled_triggers hourly; each scan runs once per store per
local day (ScheduledScan), and the subject refs carry the year or the purchase, so a shopper is
enrolled once per birthday, anniversary or purchase however often the job runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import statistics
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Min

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.journeys.definition import SCHEDULED_EVENTS
from aftersale.journeys.models import Flow, ScheduledScan
from aftersale.journeys.services import Subject, definition_of, enrol
from aftersale.messaging.policy import zone
from aftersale.orders.models import Order, OrderLine

logger = logging.getLogger(__name__)

# A product needs this many repeat purchases (gaps) in the store's history before its median
# interval is trusted over the flow's fallback.
MIN_REPEAT_SAMPLES = 3
# A reminder whose day was missed (the worker was down) still goes this many days late.
REORDER_GRACE_DAYS = 2


def run_scheduled_triggers(*, now: dt.datetime | None = None) -> int:
    now = now or clock.now()
    if getattr(settings, "AFTERSALE_JOURNEYS_BUILTIN_FLOWS", True):
        from aftersale.journeys.builtin import ensure_builtin_flows

        for store in Store.objects.exclude(flows__builtin=True):
            ensure_builtin_flows(store)
    total = 0
    stores = Store.objects.filter(
        flows__active=True, flows__trigger_event__in=SCHEDULED_EVENTS
    ).distinct()
    for store in stores:
        today = now.astimezone(zone(store.time_zone)).date()
        for name, scan in SCANS.items():
            if not Flow.objects.filter(store=store, active=True, trigger_event=name).exists():
                continue
            if not _claim_day(store, name, today):
                continue
            try:
                total += scan(store, today, now)
            except Exception:
                logger.exception("journeys scan %s failed for %s", name, store.slug)
                ScheduledScan.objects.filter(store=store, name=name).update(
                    last_day=today - dt.timedelta(days=1)
                )
    return total


def _claim_day(store: Store, name: str, today: dt.date) -> bool:
    with transaction.atomic():
        scan, created = ScheduledScan.objects.select_for_update().get_or_create(
            store=store, name=name, defaults={"last_day": today}
        )
        if created:
            return True
        if scan.last_day >= today:
            return False
        scan.last_day = today
        scan.save(update_fields=["last_day"])
        return True


def _same_day(day: dt.date, today: dt.date) -> bool:
    if (day.month, day.day) == (today.month, today.day):
        return True
    # 29 February is celebrated on 28 February in other years.
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (day.month, day.day) == (2, 29) and (today.month, today.day) == (2, 28) and not leap


def scan_birthdays(store: Store, today: dt.date, now: dt.datetime) -> int:
    days = [today.day] + ([29] if (today.month, today.day) == (2, 28) else [])
    customers = Customer.objects.filter(
        store=store, birthday__month=today.month, birthday__day__in=days
    )
    made = 0
    for customer in customers:
        if customer.birthday is None or not _same_day(customer.birthday, today):
            continue
        with transaction.atomic():
            made += len(
                enrol(
                    store=store,
                    event_name="customer.birthday",
                    subject=Subject(customer=customer),
                    now=now,
                    subject_ref=f"birthday:{customer.public_id}:{today.year}",
                )
            )
    return made


def scan_anniversaries(store: Store, today: dt.date, now: dt.datetime) -> int:
    tz = zone(store.time_zone)
    firsts = (
        Order.objects.filter(store=store, customer__isnull=False)
        .exclude(status=Order.Status.CANCELLED)
        .values("customer_id")
        .annotate(first=Min("placed_at"))
    )
    due = [
        row["customer_id"]
        for row in firsts
        if (local := row["first"].astimezone(tz).date()).year < today.year
        and _same_day(local, today)
    ]
    made = 0
    for customer in Customer.objects.filter(pk__in=due):
        with transaction.atomic():
            made += len(
                enrol(
                    store=store,
                    event_name="customer.anniversary",
                    subject=Subject(customer=customer),
                    now=now,
                    subject_ref=f"anniversary:{customer.public_id}:{today.year}",
                )
            )
    return made


def repurchase_intervals(store: Store) -> tuple[dict[int, float], list[tuple]]:
    """Median days between repeat purchases of a product by the same customer, per product
    (only products with enough repeats), and every (customer, product, order, placed_at)."""
    rows = list(
        OrderLine.objects.filter(store=store, order__customer__isnull=False, product__isnull=False)
        .exclude(order__status=Order.Status.CANCELLED)
        .values_list("order__customer_id", "product_id", "order_id", "order__placed_at")
        .order_by("order__customer_id", "product_id", "order__placed_at", "order_id")
        .distinct()
    )
    gaps: dict[int, list[float]] = defaultdict(list)
    for prev, cur in itertools.pairwise(rows):
        if prev[0] == cur[0] and prev[1] == cur[1] and prev[2] != cur[2]:
            days = (cur[3] - prev[3]).total_seconds() / 86400
            if days >= 1:
                gaps[cur[1]].append(days)
    medians = {
        product: statistics.median(values)
        for product, values in gaps.items()
        if len(values) >= MIN_REPEAT_SAMPLES
    }
    return medians, rows


def scan_reorders(store: Store, today: dt.date, now: dt.datetime) -> int:
    medians, rows = repurchase_intervals(store)
    last: dict[tuple[int, int], tuple[int, dt.datetime]] = {}
    for customer_id, product_id, order_id, placed_at in rows:
        last[(customer_id, product_id)] = (order_id, placed_at)  # rows are in time order
    tz = zone(store.time_zone)
    made = 0
    flows = Flow.objects.filter(
        store=store, active=True, trigger_event="product.reorder_due"
    ).select_related("current_version")
    for flow in flows:
        assert flow.current_version is not None
        trigger = definition_of(flow.current_version).trigger
        for (customer_id, product_id), (order_id, placed_at) in last.items():
            interval = medians.get(product_id, trigger.fallback_days)
            due_day = (placed_at + dt.timedelta(days=interval)).astimezone(tz).date()
            if not (
                due_day - dt.timedelta(days=trigger.lead_days)
                <= today
                <= due_day + dt.timedelta(days=REORDER_GRACE_DAYS)
            ):
                continue
            order = Order.objects.select_related("customer").get(pk=order_id)
            product = OrderLine.objects.filter(order_id=order_id, product_id=product_id).first()
            context = {
                "product": {
                    "id": product.product.public_id if product and product.product else "",
                    "title": product.title if product else "",
                    "interval_days": round(interval),
                }
            }
            with transaction.atomic():
                made += len(
                    enrol(
                        store=store,
                        event_name="product.reorder_due",
                        subject=Subject(order=order, customer=order.customer),
                        now=now,
                        subject_ref=f"reorder:{customer_id}:{product_id}:{order.public_id}",
                        context=context,
                        only_flow=flow,
                    )
                )
    return made


SCANS = {
    "customer.birthday": scan_birthdays,
    "customer.anniversary": scan_anniversaries,
    "product.reorder_due": scan_reorders,
}
