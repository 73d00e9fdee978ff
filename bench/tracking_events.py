"""Carrier scans end to end: ingest → status → estimate → issues → outbox → journeys → messages.

    .venv/bin/python bench/tracking_events.py [--events 10000] [--shipments 2000]
        [--history 5000] [--db sqlite,postgres] [--profile DIR]

For each database, a scratch store with the built-in flows switched on, `--history` delivered
shipments (so estimates learn from history: the learned model comes from its per-store cache)
and `--shipments` parcels under way, each of an order with its own customer. All bulk-loaded
with core.bulk.insert_rows. Then `--events` carrier scans are pushed the way carrier webhooks
deliver them: one call of tracking.services.tracking_events_add per webhook with 1–5 scans of one
parcel, webhooks of different parcels interleaved, each parcel's scans in order. The mix per
parcel: 45% in transit then out for delivery then delivered, 10% left out for delivery, 35%
still in transit, 10% with a carrier exception (then moving again).

Stages, one after the other, timed each:

* ingest — tracking_events_add per webhook: store, dedupe, derive the status, revise the
  estimate, check issues, emit outbox events (one transaction per webhook).
* dispatch — core.events.dispatch_pending until the outbox is empty: every subscriber
  (journeys.handle_event enrols, webhooks.fan_out finds no endpoint).
* steps — journeys.runner.run_until_idle: conditions and sends (messaging.message_enqueue).
  The out-for-delivery flow's 30-minute pause is fast-forwarded: the runner runs again with the
  clock moved 31 minutes on (time_machine), so its messages are enqueued too. The sender is not
  part of the chain.

Events/s is scans ingested divided by each stage's seconds; end to end uses their sum. The
baseline, measured in the same run, is the raw cost of writing the same scans with insert_rows
(one INSERT per webhook's scans, no logic), rolled back afterwards.

Target (issue, 2 cores): ≥ 2,000 events/s end to end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

TARGET_RATE = 2000

RUN = r"""
import cProfile, datetime as dt, hashlib, random, time
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from decimal import Decimal
import time_machine
from django.db import connection, transaction
from aftersale.core import clock
from aftersale.core.bulk import insert_rows
from aftersale.core.events import dispatch_pending
from aftersale.core.models import OutboxEvent
from aftersale.core.services import store_create
from aftersale.customers.models import Customer
from aftersale.journeys.builtin import ensure_builtin_flows
from aftersale.journeys.models import Enrolment, ScheduledStep
from aftersale.journeys.runner import run_until_idle
from aftersale.messaging.models import Message
from aftersale.orders.models import Order
from aftersale.tracking.models import Shipment, ShipmentIssue, TrackingEvent
from aftersale.tracking.schemas import TrackingEventIn
from aftersale.tracking.services import event_fingerprint, tracking_events_add

N_EVENTS, N_LIVE, N_HISTORY, PROFILE = {events}, {shipments}, {history}, {profile!r}
rng = random.Random(7)
started = time.perf_counter()
store = store_create(slug="bench", name="Bench Outfitters", currency="EUR",
                     time_zone="Europe/Berlin", default_locale="en")
ensure_builtin_flows(store)
now = clock.now()
TOTAL = N_HISTORY + N_LIVE
REGIONS = ["SP", "RJ", "MG", "RS", "PR", "BA"]
with transaction.atomic():
    insert_rows(Customer, ({{"store_id": store.pk, "email": f"c{{i}}@example.com",
                            "first_name": "Ana", "locale": "en", "tags": []}}
                           for i in range(TOTAL)))
    customers = list(Customer.objects.filter(store=store).order_by("id")
                     .values_list("id", flat=True))
    zero = Decimal("0.00")
    insert_rows(Order, ({{"store_id": store.pk, "external_id": f"o{{i}}", "number": f"#{{i}}",
                         "currency": "EUR", "subtotal": zero, "discount_total": zero,
                         "shipping_total": zero, "tax_total": zero, "total": zero,
                         "customer_id": customers[i], "email": f"c{{i}}@example.com",
                         "fulfillment_status": "fulfilled",
                         "placed_at": now - dt.timedelta(days=(400 if i < N_HISTORY else 3))}}
                        for i in range(TOTAL)))
    orders = list(Order.objects.filter(store=store).order_by("id").values_list("id", flat=True))

    def shipment_row(i):
        lane = {{"store_id": store.pk, "order_id": orders[i], "source": "api",
                "external_id": f"s{{i}}", "carrier": "Correios", "carrier_code": "correios",
                "service": "PAC", "tracking_number": f"BR{{i:09d}}",
                "origin_region": "SP", "destination_region": REGIONS[i % len(REGIONS)],
                "origin_country": "BR", "destination_country": "BR"}}
        if i < N_HISTORY:  # delivered history, over the last year
            shipped = now - dt.timedelta(days=5 + (i * 360) // N_HISTORY, hours=i % 9)
            return {{**lane, "status": "delivered", "shipped_at": shipped,
                    "delivered_at": shipped + dt.timedelta(days=3 + rng.randint(0, 6)),
                    "promised_delivery_date": (shipped + dt.timedelta(days=10)).date()}}
        shipped = now - dt.timedelta(days=1, hours=i % 12)
        return {{**lane, "status": "in_transit", "shipped_at": shipped,
                "last_event_at": shipped,
                "promised_delivery_date": (shipped + dt.timedelta(days=12)).date()}}

    insert_rows(Shipment, (shipment_row(i) for i in range(TOTAL)))
live = list(Shipment.objects.filter(store=store, status="in_transit").order_by("id"))
if connection.vendor == "postgresql":
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
else:
    with connection.cursor() as cur:
        cur.execute("ANALYZE")

# Each parcel's scans, in order; the mix is chosen per parcel.
per_parcel = max(1, N_EVENTS // len(live))
LOCATIONS = ["Sao Paulo, SP", "Cajamar, SP", "Curitiba, PR", "Rio de Janeiro, RJ"]

def scans(k):
    roll = (k * 37) % 100
    base = now - dt.timedelta(hours=per_parcel + 2)
    def ev(j, status, raw, **kw):
        return TrackingEventIn(occurred_at=base + dt.timedelta(hours=j, minutes=k % 60),
                               status=status, raw_status=raw, raw_text=f"{{raw}} {{j}}",
                               location=LOCATIONS[(k + j) % len(LOCATIONS)], **kw)
    n = per_parcel
    if roll < 45:  # delivered
        kinds = ["in_transit"] * max(0, n - 2) + ["out_for_delivery", "delivered"][-min(2, n):]
    elif roll < 55:  # out for delivery, not yet delivered
        kinds = ["in_transit"] * max(0, n - 1) + ["out_for_delivery"]
    elif roll < 90:
        kinds = ["in_transit"] * n
    else:  # an exception, then moving again
        kinds = ["in_transit"] * n
        kinds[max(0, n - 2)] = "exception"
    out = []
    for j, kind in enumerate(kinds):
        extra = {{"reason": "address_problem"}} if kind == "exception" else {{}}
        out.append(ev(j, kind, kind.upper(), **extra))
    return out

queues = {{s.pk: scans(k) for k, s in enumerate(live)}}
by_pk = {{s.pk: s for s in live}}
webhooks = []  # (shipment, [events])
pending = [pk for pk in queues if queues[pk]]
while pending:
    pk = rng.choice(pending)
    take = rng.randint(1, 5)
    batch, queues[pk] = queues[pk][:take], queues[pk][take:]
    webhooks.append((by_pk[pk], batch))
    if not queues[pk]:
        pending.remove(pk)
n_events = sum(len(b) for _, b in webhooks)
print(f"built|{{TOTAL}}|{{len(webhooks)}}|{{n_events}}|{{time.perf_counter() - started:.1f}}",
      flush=True)

# Baseline: the same scans written with insert_rows, one INSERT per webhook, no logic.
class Rollback(Exception):
    pass
t0 = time.perf_counter()
try:
    with transaction.atomic():
        for shipment, batch in webhooks:
            insert_rows(TrackingEvent, [{{"store_id": store.pk, "shipment_id": shipment.pk,
                "occurred_at": e.occurred_at, "status": e.status or "",
                "raw_status": e.raw_status, "raw_text": e.raw_text, "location": e.location,
                "reason": e.reason or "", "mapped": True, "source": "bench",
                "fingerprint": event_fingerprint(e)}} for e in batch])
        base = time.perf_counter() - t0
        raise Rollback
except Rollback:
    pass
print(f"result|baseline|{{n_events}}|{{base:.3f}}", flush=True)

def timed(label, fn):
    prof = cProfile.Profile() if PROFILE else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    fn()
    took = time.perf_counter() - t0
    if prof:
        prof.disable()
        prof.dump_stats(f"{{PROFILE}}/{{connection.vendor}}-{{label}}.prof")
    print(f"result|{{label}}|{{n_events}}|{{took:.3f}}", flush=True)

def ingest():
    for shipment, batch in webhooks:
        tracking_events_add(store=store, shipment=shipment, events=batch, source="bench")

def dispatch():
    while OutboxEvent.objects.filter(dispatched_at__isnull=True).exists():
        if not dispatch_pending():
            break

def steps():
    run_until_idle()
    with time_machine.travel(clock.now() + dt.timedelta(minutes=31), tick=True):
        run_until_idle()

timed("ingest", ingest)
outbox = OutboxEvent.objects.filter(store=store).count()
timed("dispatch", dispatch)
timed("steps", steps)
left = OutboxEvent.objects.filter(dispatched_at__isnull=True).count()
counts = {{
    "scans stored": TrackingEvent.objects.filter(store=store).count(),
    "delivered": Shipment.objects.filter(store=store, status="delivered").count() - N_HISTORY,
    "issues": ShipmentIssue.objects.filter(store=store).count(),
    "outbox events": outbox,
    "undispatched": left,
    "enrolments": Enrolment.objects.filter(store=store).count(),
    "steps pending": ScheduledStep.objects.filter(enrolment__store=store, status="pending")
        .count(),
    "messages": Message.objects.filter(store=store).count(),
}}
print("counts|" + ", ".join(f"{{k}} {{v:,}}" for k, v in counts.items()), flush=True)
kinds = Message.objects.filter(store=store).values_list("kind", flat=True)
from collections import Counter
print("kinds|" + ", ".join(f"{{k}} {{v:,}}" for k, v in sorted(Counter(kinds).items())),
      flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--shipments", type=int, default=2_000)
    parser.add_argument("--history", type=int, default=5_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--profile", default="", help="write cProfile stats per stage here")
    args = parser.parse_args()
    header = (
        f"{'database':<10}{'stage':<44}{'events':>8}{'seconds':>9}{'events/s':>10}"
        f"{'vs base':>9}{'vs target':>11}"
    )
    print(header)
    print("-" * len(header))
    labels = {
        "baseline": "insert_rows, no logic (baseline)",
        "ingest": "ingest: tracking_events_add per webhook",
        "dispatch": "dispatch: outbox → journeys, webhooks",
        "steps": "steps: flows run, messages enqueued",
    }
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind:<10}skipped: no server at BENCH_POSTGRES_URL")
            continue
        with scratch_database(kind, name="bench_tracking_events") as url:
            code = RUN.format(
                events=args.events,
                shipments=args.shipments,
                history=args.history,
                profile=str(Path(args.profile).resolve()) if args.profile else "",
            )
            out = subprocess.run(
                [sys.executable, "-c", code],
                env=bench_env(url),
                cwd=REPO,
                capture_output=True,
                text=True,
            )
        if out.returncode:
            print(out.stdout[-2000:], out.stderr[-4000:])
            raise SystemExit(out.returncode)
        rows: dict[str, tuple[int, float]] = {}
        notes: list[str] = []
        for line in out.stdout.splitlines():
            parts = line.split("|")
            if parts[0] == "built":
                print(
                    f"{kind:<10}built {int(parts[1]):,} shipments; {int(parts[2]):,} webhooks "
                    f"carrying {int(parts[3]):,} scans; {parts[4]} s"
                )
            elif parts[0] == "result":
                rows[parts[1]] = (int(parts[2]), float(parts[3]))
            elif parts[0] in ("counts", "kinds"):
                notes.append(f"{kind:<10}{parts[0]}: {parts[1]}")
        base_rate = rows["baseline"][0] / rows["baseline"][1]
        for label, (events, seconds) in rows.items():
            rate = events / seconds if seconds else 0.0
            verdict = "" if label == "baseline" else f"{rate / TARGET_RATE:.0%}"
            print(
                f"{kind:<10}{labels[label]:<44}{events:>8,}{seconds:>9.2f}{rate:>10,.0f}"
                f"{rate / base_rate:>9.1%}{verdict:>11}"
            )
        chain = [rows[s] for s in ("ingest", "dispatch", "steps")]
        events, seconds = chain[0][0], sum(s for _, s in chain)
        rate = events / seconds
        verdict = "MET" if rate >= TARGET_RATE else "MISS"
        print(
            f"{kind:<10}{'end to end (sum of the three stages)':<44}{events:>8,}{seconds:>9.2f}"
            f"{rate:>10,.0f}{rate / base_rate:>9.1%}{rate / TARGET_RATE:>7.0%} {verdict}"
        )
        for note in notes:
            print(note)
    print(f"target: ≥ {TARGET_RATE:,} events/s end to end (one process)")


if __name__ == "__main__":
    main()
