"""Tracking webhooks of EasyPost, AfterShip, Shippo, Karrio and our own format, as one shape.

Pure functions, no database and no Django: a provider's JSON body in, a TrackingUpdate out. The
codes are looked up in crosswalk.py. A code we do not know is not an error: the event is kept
as "in transit" (or as the main code's status when only its second-level code is new), with
`mapped=False` and the raw code, so it shows in the "needs mapping" report.

Times: aware UTC. A time without an offset is read as UTC (the providers send UTC with "Z";
AfterShip's checkpoint_time may lack an offset), a bare date as midnight UTC. Events come back
oldest first, whatever order the provider sent them in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from aftersale.tracking.providers import crosswalk as cw
from aftersale.tracking.providers.crosswalk import Entry

# The canonical vocabulary, for the generic format (kept equal to tracking.models by a test).
STATUSES = frozenset(
    {
        cw.REGISTERED,
        cw.LABEL_CREATED,
        cw.PICKED_UP,
        cw.IN_TRANSIT,
        cw.OUT_FOR_DELIVERY,
        cw.ATTEMPT_FAILED,
        cw.READY_FOR_PICKUP,
        cw.DELIVERED,
        cw.ON_HOLD,
        cw.EXCEPTION,
        cw.RETURNING_TO_SENDER,
        cw.RETURNED_TO_SENDER,
        cw.CANCELLED,
        cw.EXPIRED,
    }
)
REASONS = frozenset(
    {
        cw.CUSTOMS_DELAY,
        cw.WEATHER,
        cw.ADDRESS_PROBLEM,
        cw.REFUSED,
        cw.DAMAGED,
        cw.LOST,
        cw.RECIPIENT_ABSENT,
        cw.BUSINESS_CLOSED,
        cw.HELD_AT_CARRIER,
        cw.PAYMENT_DUE,
        cw.CARRIER_DELAY,
        cw.NOT_YET_RECEIVED,
        cw.OTHER,
    }
)


@dataclass(frozen=True)
class MappedEvent:
    occurred_at: datetime
    status: str
    reason: str
    raw_status: str
    raw_text: str
    location: str
    mapped: bool


@dataclass(frozen=True)
class TrackingUpdate:
    tracking_number: str
    carrier: str  # as the provider names it ("FedEx", "ups", "usps" …)
    events: list[MappedEvent] = field(default_factory=list)
    estimated_delivery: date | None = None
    # The parcel's status now: the latest event's, else the provider's own summary.
    status: str = cw.REGISTERED


@dataclass(frozen=True)
class Resolved:
    status: str
    reason: str
    mapped: bool


# -- helpers --------------------------------------------------------------------------------------


def _text(value: object, limit: int) -> str:
    if value is None:
        return ""
    return str(value).strip()[:limit]


def _join(parts: Iterable[object]) -> str:
    return ", ".join(t for t in (_text(p, 60) for p in parts) if t)[:200]


def parse_time(value: object) -> datetime:
    """An ISO 8601 time or date as aware UTC; no offset means UTC. Raises ValueError."""
    raw = _text(value, 64)
    if not raw:
        raise ValueError("an event without a time")
    parsed = datetime.fromisoformat(raw)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def parse_date(value: object) -> date | None:
    """The date part of an ISO date or time, or None when missing or unreadable."""
    raw = _text(value, 64)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def resolve(
    main: dict[str, Entry], detail: dict[str, Entry], code: str, detail_code: str = ""
) -> Resolved:
    """Status and reason for a (main, second-level) code pair.

    Unknown main code: in transit, not mapped. Unknown second-level code: the main code's
    status, no reason, not mapped (so it is listed for mapping).
    """
    primary = main.get(code)
    secondary = detail.get(detail_code) if detail_code else None
    if primary is None:
        return Resolved(cw.IN_TRANSIT, secondary.reason if secondary else "", False)
    status = primary.status or cw.IN_TRANSIT
    reason = primary.reason
    if secondary is not None:
        status = secondary.status or status
        reason = secondary.reason or reason
    return Resolved(status, reason, secondary is not None or not detail_code)


def _raw(code: str, detail_code: str) -> str:
    return f"{code}/{detail_code}"[:100] if detail_code else code[:100]


def _update(
    *,
    tracking_number: object,
    carrier: object,
    events: list[MappedEvent],
    estimated_delivery: date | None,
    summary: Resolved | None,
) -> TrackingUpdate:
    number = _text(tracking_number, 100)
    if not number:
        raise ValueError("the payload has no tracking number")
    ordered = sorted(events, key=lambda e: e.occurred_at)
    fallback = summary.status if summary else cw.REGISTERED
    status = ordered[-1].status if ordered else fallback
    return TrackingUpdate(
        tracking_number=number,
        carrier=_text(carrier, 60),
        events=ordered,
        estimated_delivery=estimated_delivery,
        status=status,
    )


# -- EasyPost -------------------------------------------------------------------------------------


def map_easypost(event: dict) -> TrackingUpdate:
    """An EasyPost Event (tracker.created / tracker.updated) or a bare Tracker object."""
    tracker = event.get("result") if event.get("object") == "Event" else event
    if not isinstance(tracker, dict):
        raise ValueError("no Tracker in the EasyPost event")
    events = []
    for detail in tracker.get("tracking_details") or []:
        code, sub = _text(detail.get("status"), 50), _text(detail.get("status_detail"), 50)
        found = resolve(cw.EASYPOST_STATUSES, cw.EASYPOST_STATUS_DETAILS, code, sub)
        place = detail.get("tracking_location") or {}
        events.append(
            MappedEvent(
                occurred_at=parse_time(detail.get("datetime")),
                status=found.status,
                reason=found.reason,
                raw_status=_raw(code, sub),
                raw_text=_text(detail.get("message") or detail.get("description"), 500),
                location=_join(place.get(k) for k in ("city", "state", "zip", "country")),
                mapped=found.mapped,
            )
        )
    carrier_detail = tracker.get("carrier_detail") or {}
    return _update(
        tracking_number=tracker.get("tracking_code"),
        carrier=tracker.get("carrier"),
        events=events,
        estimated_delivery=parse_date(carrier_detail.get("est_delivery_date_local"))
        or parse_date(tracker.get("est_delivery_date")),
        summary=resolve(
            cw.EASYPOST_STATUSES,
            cw.EASYPOST_STATUS_DETAILS,
            _text(tracker.get("status"), 50),
            _text(tracker.get("status_detail"), 50),
        ),
    )


# -- AfterShip ------------------------------------------------------------------------------------


def map_aftership(body: dict) -> TrackingUpdate:
    """An AfterShip tracking webhook (v4: the tracking is in `msg`) or a bare tracking."""
    tracking = body.get("msg") if isinstance(body.get("msg"), dict) else body
    events = []
    for checkpoint in tracking.get("checkpoints") or []:
        tag, subtag = _text(checkpoint.get("tag"), 50), _text(checkpoint.get("subtag"), 50)
        found = resolve(cw.AFTERSHIP_TAGS, cw.AFTERSHIP_SUBTAGS, tag, subtag)
        location = _text(checkpoint.get("location"), 200) or _join(
            checkpoint.get(k) for k in ("city", "state", "zip", "country_iso3")
        )
        events.append(
            MappedEvent(
                occurred_at=parse_time(checkpoint.get("checkpoint_time")),
                status=found.status,
                reason=found.reason,
                # The subtag names its tag ("InTransit_007"); the tag alone when there is none.
                raw_status=(subtag or tag)[:100],
                raw_text=_text(checkpoint.get("message"), 500),
                location=location,
                mapped=found.mapped,
            )
        )
    return _update(
        tracking_number=tracking.get("tracking_number"),
        carrier=tracking.get("slug"),
        events=events,
        estimated_delivery=parse_date(tracking.get("expected_delivery")),
        summary=resolve(
            cw.AFTERSHIP_TAGS,
            cw.AFTERSHIP_SUBTAGS,
            _text(tracking.get("tag"), 50),
            _text(tracking.get("subtag"), 50),
        ),
    )


# -- Shippo ---------------------------------------------------------------------------------------


def _shippo_resolve(entry: dict) -> tuple[Resolved, str]:
    code = _text(entry.get("status"), 50)
    substatus = entry.get("substatus")
    sub = _text(substatus.get("code") if isinstance(substatus, dict) else substatus, 50)
    return resolve(cw.SHIPPO_STATUSES, cw.SHIPPO_SUBSTATUSES, code, sub), _raw(code, sub)


def map_shippo(body: dict) -> TrackingUpdate:
    """A Shippo track_updated webhook (the Track object in `data`) or a bare Track object."""
    track = body.get("data") if isinstance(body.get("data"), dict) else body
    events = []
    for entry in track.get("tracking_history") or []:
        found, raw = _shippo_resolve(entry)
        place = entry.get("location") or {}
        events.append(
            MappedEvent(
                occurred_at=parse_time(entry.get("status_date")),
                status=found.status,
                reason=found.reason,
                raw_status=raw,
                raw_text=_text(entry.get("status_details"), 500),
                location=_join(place.get(k) for k in ("city", "state", "zip", "country")),
                mapped=found.mapped,
            )
        )
    current = track.get("tracking_status")
    return _update(
        tracking_number=track.get("tracking_number"),
        carrier=track.get("carrier"),
        events=events,
        estimated_delivery=parse_date(track.get("eta")),
        summary=_shippo_resolve(current)[0] if isinstance(current, dict) else None,
    )


# -- Karrio ---------------------------------------------------------------------------------------


def _karrio_time(event: dict) -> datetime:
    if event.get("timestamp"):
        return parse_time(event["timestamp"])
    day, clock = _text(event.get("date"), 10), _text(event.get("time"), 8)
    if not clock:
        return parse_time(day)
    for pattern in ("%Y-%m-%d %I:%M %p", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(f"{day} {clock}", pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"unreadable Karrio event time {day!r} {clock!r}")


def map_karrio(body: dict) -> TrackingUpdate:
    """A Karrio tracker webhook ({"event": "tracker_updated", "data": tracker}) or a tracker.

    Karrio has already normalised the carrier's codes: we map its `status` and incident
    `reason`; the carrier's own code (`code`) stays in Karrio.
    """
    tracker = body.get("data") if isinstance(body.get("data"), dict) else body
    events = []
    for event in tracker.get("events") or []:
        code, sub = _text(event.get("status"), 50), _text(event.get("reason"), 50)
        found = resolve(cw.KARRIO_STATUSES, cw.KARRIO_REASONS, code, sub)
        events.append(
            MappedEvent(
                occurred_at=_karrio_time(event),
                status=found.status,
                reason=found.reason,
                raw_status=_raw(code, sub),
                raw_text=_text(event.get("description"), 500),
                location=_text(event.get("location"), 200),
                mapped=found.mapped,
            )
        )
    return _update(
        tracking_number=tracker.get("tracking_number"),
        carrier=tracker.get("carrier_name") or tracker.get("carrier_id"),
        events=events,
        estimated_delivery=parse_date(tracker.get("estimated_delivery")),
        summary=resolve(cw.KARRIO_STATUSES, {}, _text(tracker.get("status"), 50)),
    )


# -- aftersale's own format -----------------------------------------------------------------------


def map_generic(body: dict) -> TrackingUpdate:
    """{"tracking_number", "carrier"?, "estimated_delivery"?, "events": [{"occurred_at",
    "status" (ours), "reason"?, "raw_status"?, "raw_text"?, "location"?}]}.

    A status or reason outside our vocabulary is kept as in transit / no reason, not mapped.
    """
    events = []
    for event in body.get("events") or []:
        if not isinstance(event, dict):
            raise ValueError("each event must be an object")
        status, reason = _text(event.get("status"), 50), _text(event.get("reason"), 50)
        known = status in STATUSES and (not reason or reason in REASONS)
        events.append(
            MappedEvent(
                occurred_at=parse_time(event.get("occurred_at")),
                status=status if status in STATUSES else cw.IN_TRANSIT,
                reason=reason if reason in REASONS else "",
                raw_status=_text(event.get("raw_status"), 100)
                or ("" if known else _raw(status, reason)),
                raw_text=_text(event.get("raw_text"), 500),
                location=_text(event.get("location"), 200),
                mapped=known,
            )
        )
    return _update(
        tracking_number=body.get("tracking_number"),
        carrier=body.get("carrier"),
        events=events,
        estimated_delivery=parse_date(body.get("estimated_delivery")),
        summary=None,
    )


MAPPERS = {
    "easypost": map_easypost,
    "aftership": map_aftership,
    "shippo": map_shippo,
    "karrio": map_karrio,
    "generic": map_generic,
}
