"""What is wrong with a parcel, said once: late, stalled, exception, failed attempt, waiting at a
pickup point, going back to the sender, lost, or an invalid tracking number.

Each kind is a ShipmentIssue row, unique per (shipment, kind), created in the same transaction as
its outbox event `shipment.<kind>` (payload: shipment_payload() plus `issue`, and for late the
current `estimate`). An issue is resolved (resolved_at) when it stops holding — an exception when
the parcel moves again, late when it is delivered — and reopened quietly, without a second
event, when it holds again. Journeys turn the events into shopper messages; the back office
watchlist (watchlist.py) lists what is open.

Two ways in:

- `shipment_issues_check()` right after a shipment's events or status change (tracking.services
  calls it in its transaction): every kind.
- `issues_scan()` every 15 minutes (tasks.py): what time alone causes — late, stalled, lost — for
  parcels still under way, in bounded batches that only pick shipments with something to raise.

"Late" compares the store's local date with the day the parcel was due (see due_date: the
estimate's upper end or the promise, the earlier); it never holds for a delivered, finished or
returning parcel, nor one waiting at a pickup point. "Stalled" is no carrier scan for N days, N
per carrier (STALLED_DAYS, overridable with the setting AFTERSALE_STALLED_DAYS, e.g.
`{"default": 5, "correios": 8}`); "lost" is a scan saying so, or silence for 2 × N days. Parcels
that shipped more than RECENT_DAYS ago (imported history) raise none of the three.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce, Least

from aftersale.core import clock
from aftersale.core.events import emit
from aftersale.core.models import Store
from aftersale.orders.services import order_aggregate
from aftersale.tracking.models import (
    EventReason,
    Shipment,
    ShipmentIssue,
    ShipmentStatus,
    TrackingEvent,
)
from aftersale.tracking.services import FINAL_STATUSES, shipment_payload

logger = logging.getLogger(__name__)

Kind = ShipmentIssue.Kind
S = ShipmentStatus

ALL_KINDS: tuple[str, ...] = tuple(Kind.values)
# What the periodic scan looks for; the rest only changes when events arrive.
TIME_KINDS: tuple[str, ...] = (Kind.LATE, Kind.STALLED, Kind.LOST)

DEFAULT_STALLED_DAYS = 4
# Days without a scan before a parcel counts as stalled, by carrier code (tracking/carriers.py).
STALLED_DAYS: dict[str, int] = {
    "correios": 6,
    "usps": 5,
    "dhl_ecommerce": 5,
}
# Lost: silence for this many times the carrier's stalled days.
LOST_FACTOR = 2
# Parcels that shipped (or were created) longer ago than this are history, not news: an import of
# old data raises nothing. Applies to late, stalled and lost.
RECENT_DAYS = 60
SCAN_BATCH_SIZE = 500
SCAN_MAX_BATCHES = 20

FINAL = frozenset(FINAL_STATUSES)
GOING_BACK = frozenset({S.RETURNING_TO_SENDER, S.RETURNED_TO_SENDER})
# A parcel in these is not expected to move: no stalled or lost.
NOT_MOVING = FINAL | GOING_BACK | {S.READY_FOR_PICKUP}


def event_name(kind: str) -> str:
    return f"shipment.{kind}"


EVENT_NAMES = {kind: event_name(kind) for kind in ALL_KINDS}


# -- settings -------------------------------------------------------------------------------


def _stalled_overrides() -> dict[str, int]:
    raw = getattr(settings, "AFTERSALE_STALLED_DAYS", {}) or {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            logger.warning("AFTERSALE_STALLED_DAYS is not JSON: %r", raw)
            return {}
    if not isinstance(raw, dict):
        return {}
    found = {}
    for carrier, days in raw.items():
        try:
            value = int(days)
        except (TypeError, ValueError):
            continue
        if value > 0:
            found[str(carrier).strip().lower()] = value
    return found


def stalled_days(carrier: str) -> int:
    """Days without a scan before a parcel of this carrier (code or name) counts as stalled."""
    code = (carrier or "").strip().lower()
    overrides = _stalled_overrides()
    if code in overrides:
        return overrides[code]
    if code in STALLED_DAYS:
        return STALLED_DAYS[code]
    return overrides.get("default", DEFAULT_STALLED_DAYS)


def _carrier(shipment: Shipment) -> str:
    return shipment.carrier_code or shipment.carrier


def _local_today(store: Store, now: dt.datetime) -> dt.date:
    try:
        zone = zoneinfo.ZoneInfo(store.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    return now.astimezone(zone).date()


# -- what holds -----------------------------------------------------------------------------


def due_date(shipment: Shipment) -> dt.date | None:
    """The day the parcel should have arrived by: the estimate's upper end or the merchant's
    promise, whichever is earlier.

    Estimates are revised on every scan and never lie in the past (estimates.py), so the upper
    end alone would stop being "passed" as soon as a scan arrives; the promise is what the
    shipping confirmation told the shopper, and breaking it is late even under a newer estimate.
    """
    dates = [d for d in (shipment.estimated_latest, shipment.promised_delivery_date) if d]
    return min(dates) if dates else None


def _recent(shipment: Shipment, now: dt.datetime) -> bool:
    start = shipment.shipped_at or shipment.created_at or now
    return start >= now - dt.timedelta(days=RECENT_DAYS)


def _silence(shipment: Shipment, now: dt.datetime) -> dt.timedelta | None:
    since = shipment.last_event_at or shipment.shipped_at
    return None if since is None else now - since


def _reason_text(event: TrackingEvent | None) -> str:
    if event is None:
        return ""
    reason = EventReason(event.reason).label if event.reason in EventReason.values else ""
    parts = [part for part in (reason, event.raw_text or event.raw_status) if part]
    return ": ".join(parts)


@dataclass(frozen=True)
class _Seen:
    """What one check knows about a shipment."""

    store: Store
    shipment: Shipment
    latest: TrackingEvent | None
    now: dt.datetime
    open_kinds: frozenset[str]

    @property
    def status(self) -> str:
        return self.shipment.status

    @property
    def finished(self) -> bool:
        return self.status in FINAL or self.shipment.delivered_at is not None

    @property
    def moving(self) -> bool:
        """Under way and recent: the parcel should be scanned every few days."""
        return (
            self.status not in NOT_MOVING and not self.finished and _recent(self.shipment, self.now)
        )

    @property
    def silence(self) -> dt.timedelta | None:
        return _silence(self.shipment, self.now)

    @property
    def stalled_days(self) -> int:
        return stalled_days(_carrier(self.shipment))

    @property
    def reason(self) -> str:
        return self.latest.reason if self.latest is not None else ""


def _late(seen: _Seen) -> str | None:
    # Waiting at a pickup point, the parcel has arrived as far as the shopper is concerned.
    if seen.finished or seen.status in GOING_BACK or seen.status == S.READY_FOR_PICKUP:
        return None
    if Kind.LATE in seen.open_kinds:
        return ""  # a revised estimate does not make a late parcel punctual
    due = due_date(seen.shipment)
    if due is None or not _recent(seen.shipment, seen.now):
        return None
    late_by = (_local_today(seen.store, seen.now) - due).days
    return f"expected by {due.isoformat()}, {late_by} day(s) late" if late_by > 0 else None


def _stalled(seen: _Seen) -> str | None:
    silence, days = seen.silence, seen.stalled_days
    if not seen.moving or silence is None or silence < dt.timedelta(days=days):
        return None
    return f"no scan for {silence.days} days (stalled after {days})"


def _lost(seen: _Seen) -> str | None:
    if seen.finished or seen.status in GOING_BACK:
        return None
    if seen.reason == EventReason.LOST:
        return _reason_text(seen.latest) or "reported lost by the carrier"
    silence, limit = seen.silence, LOST_FACTOR * seen.stalled_days
    if not seen.moving or silence is None or silence < dt.timedelta(days=limit):
        return None
    return f"no scan for {silence.days} days (lost after {limit})"


def _exception(seen: _Seen) -> str | None:
    if seen.status == S.EXCEPTION or (seen.status == S.ON_HOLD and seen.reason):
        return _reason_text(seen.latest) or seen.shipment.get_status_display()
    return None


def _attempt_failed(seen: _Seen) -> str | None:
    if seen.status != S.ATTEMPT_FAILED:
        return None
    return _reason_text(seen.latest) or "the carrier could not deliver"


def _ready_for_pickup(seen: _Seen) -> str | None:
    if seen.status != S.READY_FOR_PICKUP:
        return None
    location = seen.latest.location if seen.latest is not None else ""
    return f"waiting at {location}" if location else "waiting at a pickup point"


def _returning(seen: _Seen) -> str | None:
    # Stays open once raised: staff decide what happens next (refund, reship).
    if seen.status in GOING_BACK:
        return seen.shipment.get_status_display()
    return "" if Kind.RETURNING_TO_SENDER in seen.open_kinds else None


def _invalid_number(seen: _Seen) -> str | None:
    shipment = seen.shipment
    if shipment.tracking_number_valid is not False or seen.finished:
        return None
    carrier = _carrier(shipment) or "unknown carrier"
    return f"{carrier} number {shipment.tracking_number or '(none)'} fails its check"


RULES = {
    Kind.LATE: _late,
    Kind.STALLED: _stalled,
    Kind.LOST: _lost,
    Kind.EXCEPTION: _exception,
    Kind.ATTEMPT_FAILED: _attempt_failed,
    Kind.READY_FOR_PICKUP: _ready_for_pickup,
    Kind.RETURNING_TO_SENDER: _returning,
    Kind.INVALID_TRACKING_NUMBER: _invalid_number,
}


def assess(
    *,
    store: Store,
    shipment: Shipment,
    latest: TrackingEvent | None,
    now: dt.datetime,
    kinds: Iterable[str] = ALL_KINDS,
    open_kinds: Iterable[str] = (),
) -> dict[str, str | None]:
    """For each kind: the issue's detail when it holds now ("" keeps the open issue's detail),
    None when it does not. Reads nothing from the database."""
    seen = _Seen(store, shipment, latest, now, frozenset(open_kinds))
    return {kind: RULES[kind](seen) for kind in kinds}


# -- raising and resolving ------------------------------------------------------------------


_UNKNOWN = object()


def _latest_event(shipment: Shipment) -> TrackingEvent | None:
    return (
        TrackingEvent.objects.filter(shipment=shipment)
        .order_by("-occurred_at", "-id")
        .only("occurred_at", "status", "reason", "raw_status", "raw_text", "location")
        .first()
    )


def _estimate(shipment: Shipment) -> dict:
    def iso(day: dt.date | None) -> str | None:
        return day.isoformat() if day else None

    return {
        "date": iso(shipment.estimated_delivery_date),
        "earliest": iso(shipment.estimated_earliest),
        "latest": iso(shipment.estimated_latest),
        "promised": iso(shipment.promised_delivery_date),
    }


def _revise_estimate(store: Store, shipment: Shipment) -> None:
    """A late parcel needs a new estimate to tell the shopper; estimates.py decides it."""
    try:
        from aftersale.tracking.estimates import estimate_revise
    except ImportError:  # pragma: no cover - estimates are optional here
        return
    try:
        with transaction.atomic():
            estimate_revise(store=store, shipment=shipment, reason="late")
    except Exception:  # an estimate is a courtesy; the issue and its event go out regardless
        logger.exception("could not revise the estimate of late shipment %s", shipment.pk)


def _raise(
    store: Store, shipment: Shipment, kind: str, detail: str, now: dt.datetime
) -> ShipmentIssue | None:
    previous = _estimate(shipment)
    try:
        with transaction.atomic():
            issue = ShipmentIssue.objects.create(
                store=store, shipment=shipment, kind=kind, detail=detail[:300], detected_at=now
            )
            payload = {
                **shipment_payload(shipment),
                "issue": {"kind": kind, "detail": issue.detail, "detected_at": now.isoformat()},
            }
            if kind == Kind.LATE:
                _revise_estimate(store, shipment)
                payload["estimate"] = _estimate(shipment)
                payload["previous_estimate"] = previous
            emit(
                store=store,
                name=event_name(kind),
                aggregate=order_aggregate(shipment.order),
                payload=payload,
            )
    except IntegrityError:
        return None  # raised by a concurrent check
    return issue


def shipment_issues_check(
    *,
    store: Store,
    shipment: Shipment,
    kinds: Iterable[str] = ALL_KINDS,
    now: dt.datetime | None = None,
    latest: TrackingEvent | object | None = _UNKNOWN,
) -> list[ShipmentIssue]:
    """Raise the issues that hold and are not open, resolve the open ones that no longer hold.

    Call it in the transaction that changed the shipment (ideally with the row locked). Also
    keeps `last_event_at` at the newest scan. Returns the issues raised now. A caller that has
    just read the shipment's newest scan (by occurred_at, then id) passes it as `latest`."""
    now = now or clock.now()
    kinds = tuple(kinds)
    if latest is _UNKNOWN:
        latest = _latest_event(shipment)
    assert latest is None or isinstance(latest, TrackingEvent)
    if latest is not None and (
        shipment.last_event_at is None or latest.occurred_at > shipment.last_event_at
    ):
        shipment.last_event_at = latest.occurred_at
        Shipment.objects.filter(pk=shipment.pk).update(last_event_at=latest.occurred_at)
    existing = {
        issue.kind: issue
        for issue in ShipmentIssue.objects.filter(shipment=shipment, kind__in=kinds)
    }
    open_kinds = [kind for kind, issue in existing.items() if issue.resolved_at is None]
    found = assess(
        store=store, shipment=shipment, latest=latest, now=now, kinds=kinds, open_kinds=open_kinds
    )
    raised: list[ShipmentIssue] = []
    todo = [
        (kind, detail, existing.get(kind))
        for kind, detail in found.items()
        if _needs_write(detail, existing.get(kind))
    ]
    if not todo:  # the usual scan: nothing to raise, resolve or reopen, no savepoint
        return raised
    with transaction.atomic():
        for kind, detail, issue in todo:
            if detail is None:
                assert issue is not None
                issue.resolved_at = now
                issue.save(update_fields=["resolved_at"])
                continue
            if issue is None:
                made = _raise(store, shipment, kind, detail, now)
                if made is not None:
                    raised.append(made)
            elif issue.resolved_at is not None:
                # It holds again: back on the watchlist, but the shopper was told already.
                issue.resolved_at = None
                issue.detected_at = now
                issue.detail = (detail or issue.detail)[:300]
                issue.save(update_fields=["resolved_at", "detected_at", "detail"])
            else:
                issue.detail = detail[:300]
                issue.save(update_fields=["detail"])
    return raised


def _needs_write(detail: str | None, issue: ShipmentIssue | None) -> bool:
    """Whether a kind's finding changes its issue row: raise, resolve, reopen or a new detail."""
    if detail is None:
        return issue is not None and issue.resolved_at is None
    if issue is None or issue.resolved_at is not None:
        return True
    return bool(detail) and detail != issue.detail and issue.kind != Kind.LATE


def issues_resolve(*, issues: QuerySet[ShipmentIssue], now: dt.datetime | None = None) -> int:
    """Staff mark issues resolved (the watchlist's bulk action); returns how many changed."""
    now = now or clock.now()
    return issues.filter(resolved_at__isnull=True).update(resolved_at=now)


# -- the periodic scan ----------------------------------------------------------------------


def scan_candidates(now: dt.datetime) -> QuerySet[Shipment]:
    """Parcels under way where time alone may have raised late, stalled or lost — only those
    without the issue open already, so the scan's work stays proportional to what is new."""
    # Every store's local date is at most one day after the UTC date.
    tomorrow_utc = now.astimezone(dt.UTC).date() + dt.timedelta(days=1)
    shortest = min(stalled_days(c) for c in ("", *STALLED_DAYS, *_stalled_overrides()))

    def open_issue(kind: str) -> Exists:
        return Exists(
            ShipmentIssue.objects.filter(
                shipment=OuterRef("pk"), kind=kind, resolved_at__isnull=True
            )
        )

    due = Least(
        Coalesce(F("estimated_latest"), F("promised_delivery_date")),
        Coalesce(F("promised_delivery_date"), F("estimated_latest")),
    )
    silent_since = Coalesce(F("last_event_at"), F("shipped_at"))
    moving = ~Q(status__in=NOT_MOVING)
    late = Q(due_on__lt=tomorrow_utc) & ~Q(status=S.READY_FOR_PICKUP) & ~Q(open_late=True)
    stalled = (
        moving & Q(silent_since__lte=now - dt.timedelta(days=shortest)) & ~Q(open_stalled=True)
    )
    lost = (
        moving
        & Q(silent_since__lte=now - dt.timedelta(days=LOST_FACTOR * shortest))
        & ~Q(open_lost=True)
    )
    return (
        Shipment.objects.exclude(status__in=FINAL | GOING_BACK)
        .filter(delivered_at__isnull=True)
        .filter(
            Q(shipped_at__gte=now - dt.timedelta(days=RECENT_DAYS))
            | Q(shipped_at__isnull=True, created_at__gte=now - dt.timedelta(days=RECENT_DAYS))
        )
        .annotate(
            due_on=due,
            silent_since=silent_since,
            open_late=open_issue(Kind.LATE),
            open_stalled=open_issue(Kind.STALLED),
            open_lost=open_issue(Kind.LOST),
        )
        .filter(late | stalled | lost)
    )


def issues_scan(
    *,
    now: dt.datetime | None = None,
    batch_size: int = SCAN_BATCH_SIZE,
    max_batches: int = SCAN_MAX_BATCHES,
) -> int:
    """Raise late, stalled and lost for parcels under way; returns how many issues were raised.

    Walks the candidates by id in batches (at most `max_batches` per run; the next run goes on),
    locking one shipment at a time so it never waits behind a webhook for long."""
    now = now or clock.now()
    raised = 0
    after = 0
    for _ in range(max_batches):
        ids = list(
            scan_candidates(now)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        if not ids:
            break
        for pk in ids:
            with transaction.atomic():
                shipment = (
                    Shipment.objects.select_for_update(of=("self",))
                    .select_related("store", "order")
                    .filter(pk=pk)
                    .first()
                )
                if shipment is None:
                    continue
                raised += len(
                    shipment_issues_check(
                        store=shipment.store, shipment=shipment, kinds=TIME_KINDS, now=now
                    )
                )
        after = ids[-1]
        if len(ids) < batch_size:
            break
    return raised
