"""What the shopper's tracking page shows, read once and shaped for the templates.

`tracking_page_for` loads an order with its shipments, events, first estimates, open issues and
lines in six queries and returns plain dataclasses, so the templates never touch the ORM. The
words (statuses, reasons, "what happens next") are chosen here, under the shopper's language and
time zone, which the view activates. Also here: the public /track lookup (matching, rate limits
that hold across processes) and the "report a problem" write.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router, transaction
from django.db.models.expressions import RawSQL
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import get_language, pgettext, pgettext_lazy
from django.utils.translation import gettext as _

from aftersale.core import clock
from aftersale.core.links import order_links
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order, OrderLine
from aftersale.tracking.models import (
    RETURN_PARCEL_SOURCE,
    DeliveryEstimate,
    EventReason,
    ProblemReport,
    Shipment,
    ShipmentIssue,
    ShipmentStatus,
    TrackingEvent,
    TrackLookupAttempt,
)

logger = logging.getLogger(__name__)

S = ShipmentStatus
LANGUAGES = ("en", "pt-br", "de")

# -- language, time zone, colours -----------------------------------------------------------------


def page_language(*candidates: str) -> str:
    """The first candidate the pages speak ("pt_BR" and "pt" → "pt-br", "de-AT" → "de")."""
    for raw in candidates:
        code = (raw or "").strip().lower().replace("_", "-")
        if not code:
            continue
        if code in LANGUAGES:
            return code
        base = code.split("-", 1)[0]
        if base == "pt":
            return "pt-br"
        if base in LANGUAGES:
            return base
    return "en"


def page_zone(*candidates: str) -> zoneinfo.ZoneInfo:
    for name in candidates:
        if name:
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                continue
    return zoneinfo.ZoneInfo("UTC")


_HEX = re.compile(r"^#(?:[0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")
WHITE = "#ffffff"
INK = "#111827"  # the page's text colour, and the fallback when a brand colour is too light


def _rgb(color: str) -> tuple[float, float, float]:
    digits = color[1:]
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    return tuple(int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def luminance(color: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two #rrggbb colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


@dataclass(frozen=True)
class Palette:
    brand: str  # backgrounds: the header band, buttons, the progress bar
    on_brand: str  # text on `brand`, at least 4.5:1
    link: str  # brand-coloured text on white, at least 4.5:1, else the dark ink
    accent: str  # the focus ring, at least 3:1 against white


def palette(brand_color: str = "", accent_color: str = "") -> Palette:
    """Colours that keep WCAG AA contrast whatever the store chose (light brand colours get dark
    text on them, and dark ink instead of brand-coloured links)."""
    brand = brand_color if _HEX.match(brand_color or "") else "#1f4e79"
    accent = accent_color if _HEX.match(accent_color or "") else "#f2a900"
    # White or the dark ink, whichever reads better; pure black for mid greys where neither does.
    on_brand = max(
        (WHITE, INK, "#000000"),
        key=lambda c: (contrast(brand, c) >= 4.5, c != "#000000", contrast(brand, c)),
    )
    link = brand if contrast(brand, WHITE) >= 4.5 else INK
    # The progress bar and focus ring are non-text: 3:1 against the white card is enough.
    bar = brand if contrast(brand, WHITE) >= 3 else INK
    if contrast(accent, WHITE) < 3:
        accent = link
    return Palette(
        brand=bar, on_brand=on_brand if bar == brand else WHITE, link=link, accent=accent
    )


# -- the words ------------------------------------------------------------------------------------

# The same msgids (and context) as the order page, so one translation serves both.
STATUS_LABELS = {
    S.REGISTERED: pgettext_lazy("shipment status", "Registered with the carrier"),
    S.LABEL_CREATED: pgettext_lazy("shipment status", "Label created"),
    S.PICKED_UP: pgettext_lazy("shipment status", "Picked up by the carrier"),
    S.IN_TRANSIT: pgettext_lazy("shipment status", "In transit"),
    S.OUT_FOR_DELIVERY: pgettext_lazy("shipment status", "Out for delivery"),
    S.ATTEMPT_FAILED: pgettext_lazy("shipment status", "Delivery attempt failed"),
    S.READY_FOR_PICKUP: pgettext_lazy("shipment status", "Ready for pickup"),
    S.DELIVERED: pgettext_lazy("shipment status", "Delivered"),
    S.ON_HOLD: pgettext_lazy("shipment status", "On hold"),
    S.EXCEPTION: pgettext_lazy("shipment status", "Delivery problem"),
    S.RETURNING_TO_SENDER: pgettext_lazy("shipment status", "Returning to the shop"),
    S.RETURNED_TO_SENDER: pgettext_lazy("shipment status", "Returned to the shop"),
    S.CANCELLED: pgettext_lazy("shipment status", "Cancelled"),
    S.EXPIRED: pgettext_lazy("shipment status", "Tracking expired"),
}

R = EventReason
REASON_LABELS = {
    R.CUSTOMS_DELAY: pgettext_lazy("event reason", "Customs delay"),
    R.WEATHER: pgettext_lazy("event reason", "Bad weather"),
    R.ADDRESS_PROBLEM: pgettext_lazy("event reason", "Problem with the address"),
    R.REFUSED: pgettext_lazy("event reason", "Refused at delivery"),
    R.DAMAGED: pgettext_lazy("event reason", "Damaged"),
    R.LOST: pgettext_lazy("event reason", "Lost"),
    R.RECIPIENT_ABSENT: pgettext_lazy("event reason", "Nobody was there to accept it"),
    R.BUSINESS_CLOSED: pgettext_lazy("event reason", "Business closed"),
    R.HELD_AT_CARRIER: pgettext_lazy("event reason", "Held by the carrier"),
    R.PAYMENT_DUE: pgettext_lazy("event reason", "Duties or charges to pay"),
    R.CARRIER_DELAY: pgettext_lazy("event reason", "Carrier delay"),
    R.NOT_YET_RECEIVED: pgettext_lazy("event reason", "Not yet handed to the carrier"),
    R.OTHER: pgettext_lazy("event reason", "Other"),
}

STEPS = (
    pgettext_lazy("tracking step", "Ordered"),
    pgettext_lazy("tracking step", "Shipped"),
    pgettext_lazy("tracking step", "In transit"),
    pgettext_lazy("tracking step", "Out for delivery"),
    pgettext_lazy("tracking step", "Delivered"),
)
STEP_OF = {
    S.REGISTERED: 0,
    S.LABEL_CREATED: 0,
    S.PICKED_UP: 1,
    S.IN_TRANSIT: 2,
    S.ON_HOLD: 2,
    S.EXCEPTION: 2,
    S.OUT_FOR_DELIVERY: 3,
    S.ATTEMPT_FAILED: 3,
    S.READY_FOR_PICKUP: 3,
    S.DELIVERED: 4,
}
FINAL = frozenset({S.DELIVERED, S.RETURNED_TO_SENDER, S.CANCELLED, S.EXPIRED})
PROBLEM = frozenset(
    {S.EXCEPTION, S.RETURNING_TO_SENDER, S.RETURNED_TO_SENDER, S.CANCELLED, S.EXPIRED}
)
WARNING = frozenset({S.ATTEMPT_FAILED, S.ON_HOLD})

PROBLEM_KINDS = (
    (ProblemReport.Kind.NOT_ARRIVED, pgettext_lazy("problem kind", "My parcel has not arrived")),
    (ProblemReport.Kind.DAMAGED, pgettext_lazy("problem kind", "It arrived damaged")),
    (ProblemReport.Kind.WRONG_ITEM, pgettext_lazy("problem kind", "I received the wrong item")),
    (ProblemReport.Kind.OTHER, pgettext_lazy("problem kind", "Something else")),
)


@dataclass(frozen=True)
class Explanation:
    key: str
    what: str
    next: str
    tone: str = "warn"  # "warn" (amber) or "problem" (red) or "info"


def _explain(key: str, shipment: Shipment, where: str, latest: date | None) -> Explanation | None:
    """One plain-language explanation: what happened and what happens next."""
    if key == "address_problem":
        return Explanation(
            key,
            _("The carrier could not deliver your parcel because of a problem with the address."),
            _(
                "Please contact the store so they can correct the address with the carrier. "
                "The carrier keeps the parcel for a few days."
            ),
            "problem",
        )
    if key == "customs_delay":
        return Explanation(
            key,
            _("Your parcel is being checked by customs."),
            _(
                "This usually takes a few days. If duties or charges are due, the carrier will "
                "contact you."
            ),
        )
    if key == "payment_due":
        return Explanation(
            key,
            _("Duties or charges must be paid before the parcel can be delivered."),
            _("Follow the carrier's instructions to pay them, or contact the store for help."),
        )
    if key == "attempt_failed":
        if where:
            then = _(
                "The carrier will try again on the next working day, or you can pick it up at "
                "%(place)s."
            ) % {"place": where}
        else:
            then = _(
                "The carrier will try again on the next working day, or leave a notice telling "
                "you where to pick it up."
            )
        return Explanation(
            key, _("The carrier tried to deliver your parcel, but nobody could accept it."), then
        )
    if key == "ready_for_pickup":
        what = (
            _("Your parcel is waiting for you at %(place)s.") % {"place": where}
            if where
            else _("Your parcel is waiting for you at a pickup point.")
        )
        return Explanation(
            key,
            what,
            _("Take an ID with you. Parcels not picked up in time are sent back to the store."),
            "info",
        )
    if key == "returning_to_sender":
        return Explanation(
            key,
            _("Your parcel is on its way back to the store."),
            _(
                "The store will contact you about a new delivery or a refund. You can also "
                "contact them now."
            ),
            "problem",
        )
    if key == "lost":
        return Explanation(
            key,
            _("The carrier reports that your parcel is lost."),
            _(
                "The store will send a replacement or refund you. Contact them if you have not "
                "heard from them in two days."
            ),
            "problem",
        )
    if key == "damaged":
        return Explanation(
            key,
            _("The carrier reports that your parcel was damaged."),
            _("Please contact the store: they will arrange a replacement or a refund."),
            "problem",
        )
    if key == "refused":
        return Explanation(
            key,
            _("The parcel was refused at delivery."),
            _("It goes back to the store. If this was a mistake, contact the store."),
            "problem",
        )
    if key == "weather":
        return Explanation(
            key,
            _("Bad weather is delaying deliveries in the area."),
            _("Your parcel continues as soon as it is safe. No action is needed."),
        )
    if key in {"late", "carrier_delay"}:
        then = (
            _(
                "It is still on its way. If it has not arrived by %(date)s, please let the "
                "store know."
            )
            % {"date": day_label(latest)}
            if latest
            else _("It is still on its way. No action is needed; this page updates itself.")
        )
        return Explanation(key, _("Your parcel is taking longer than expected."), then)
    if key == "stalled":
        return Explanation(
            key,
            _("The carrier has not sent an update for a few days."),
            _(
                "This can happen at busy times. If nothing changes, the store will look into it "
                "with the carrier."
            ),
        )
    if key in {"on_hold", "held_at_carrier"}:
        return Explanation(
            key,
            _("The carrier is holding your parcel."),
            _("Contact the carrier or the store to find out what they need."),
        )
    if key == "not_yet_received":
        return Explanation(
            key,
            _("The store has prepared your parcel; the carrier has not picked it up yet."),
            _("Updates appear here as soon as the carrier scans it."),
            "info",
        )
    if key == "exception":
        return Explanation(
            key,
            _("The carrier reported a problem with the delivery."),
            _("The store has been told and will contact you if anything is needed from you."),
            "problem",
        )
    return None


_REASON_KEYS = {
    R.ADDRESS_PROBLEM: "address_problem",
    R.CUSTOMS_DELAY: "customs_delay",
    R.PAYMENT_DUE: "payment_due",
    R.RECIPIENT_ABSENT: "attempt_failed",
    R.BUSINESS_CLOSED: "attempt_failed",
    R.LOST: "lost",
    R.DAMAGED: "damaged",
    R.REFUSED: "refused",
    R.WEATHER: "weather",
    R.CARRIER_DELAY: "carrier_delay",
    R.HELD_AT_CARRIER: "held_at_carrier",
    R.NOT_YET_RECEIVED: "not_yet_received",
}
_STATUS_KEYS = {
    S.ATTEMPT_FAILED: "attempt_failed",
    S.READY_FOR_PICKUP: "ready_for_pickup",
    S.RETURNING_TO_SENDER: "returning_to_sender",
    S.RETURNED_TO_SENDER: "returning_to_sender",
    S.ON_HOLD: "on_hold",
    S.EXCEPTION: "exception",
}
# Issue kinds the shopper hears about (an invalid tracking number is the merchant's business).
_ISSUE_KEYS = {
    ShipmentIssue.Kind.LOST: "lost",
    ShipmentIssue.Kind.RETURNING_TO_SENDER: "returning_to_sender",
    ShipmentIssue.Kind.ATTEMPT_FAILED: "attempt_failed",
    ShipmentIssue.Kind.READY_FOR_PICKUP: "ready_for_pickup",
    ShipmentIssue.Kind.EXCEPTION: "exception",
    ShipmentIssue.Kind.LATE: "late",
    ShipmentIssue.Kind.STALLED: "stalled",
}
# A specific reason says more than a generic status, which says more than "late".
_PRIORITY = [
    "lost",
    "returning_to_sender",
    "address_problem",
    "damaged",
    "refused",
    "payment_due",
    "customs_delay",
    "attempt_failed",
    "ready_for_pickup",
    "held_at_carrier",
    "on_hold",
    "exception",
    "weather",
    "not_yet_received",
    "late",
    "carrier_delay",
    "stalled",
]


def explanations(
    shipment: Shipment,
    latest_event: EventRow | None,
    issue_kinds: list[str],
    latest: date | None,
) -> list[Explanation]:
    """At most two explanations for a shipment, the most specific first."""
    if shipment.status == S.DELIVERED:
        return []
    keys: set[str] = set()
    if latest_event is not None and latest_event.reason in _REASON_KEYS:
        keys.add(_REASON_KEYS[latest_event.reason])
    if shipment.status in _STATUS_KEYS:
        keys.add(_STATUS_KEYS[shipment.status])
    keys.update(_ISSUE_KEYS[k] for k in issue_kinds if k in _ISSUE_KEYS)
    # "There is a problem" adds nothing once the problem has a name.
    if keys & {"address_problem", "damaged", "refused", "lost", "payment_due"}:
        keys.discard("exception")
    if "carrier_delay" in keys and "late" in keys:
        keys.discard("carrier_delay")
    where = latest_event.location if latest_event is not None else ""
    found = [_explain(k, shipment, where, latest) for k in _PRIORITY if k in keys]
    return [e for e in found if e is not None][:2]


# -- formatting -----------------------------------------------------------------------------------


def _lower_month(text: str, value: date) -> str:
    """Portuguese writes month and day names in lower case ("sexta-feira, 27 de novembro");
    Django's catalog capitalises them."""
    if get_language() == "pt-br":
        for name in (date_format(value, "F"), date_format(value, "l")):
            text = text.replace(name, name.lower())
    return text


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def day_label(day: date | None) -> str:
    if day is None:
        return ""
    return _lower_month(f"{date_format(day, 'l')}, {date_format(day, 'MONTH_DAY_FORMAT')}", day)


def range_label(earliest: date | None, latest: date | None) -> str:
    if earliest and latest and earliest != latest:
        return _capitalised(f"{day_label(earliest)} – {day_label(latest)}")
    return _capitalised(day_label(earliest or latest))


def moment_label(moment: datetime) -> str:
    """A date and time in the active language and time zone."""
    local = timezone.localtime(moment)
    return _lower_month(date_format(local, "DATETIME_FORMAT"), local)


# -- the page bundle ------------------------------------------------------------------------------


@dataclass
class EventView:
    status: str
    reason: str
    raw: str
    location: str
    when: str
    iso: str
    tone: str


@dataclass
class Step:
    label: str
    state: str  # "done", "current", "todo"


@dataclass
class ShipmentView:
    public_id: str
    number: int
    carrier: str
    tracking_number: str
    tracking_url: str
    status: str
    status_label: str
    tone: str  # "ok", "warn", "problem"
    final: bool
    step: int
    steps: list[Step]
    progress_text: str
    percent: int
    estimate: str
    estimate_label: str
    original: str
    delivered: str
    explanations: list[Explanation]
    events: list[EventView]
    earlier_events: list[EventView]


@dataclass
class LineView:
    quantity: int
    title: str
    variant: str
    image_url: str


@dataclass
class TrackingPage:
    order: Order
    store: Store
    language: str
    zone: zoneinfo.ZoneInfo
    palette: Palette
    placed: str
    shipments: list[ShipmentView]
    lines: list[LineView]
    refresh: bool
    problem_kinds: list[tuple[str, str]] = field(default_factory=list)
    # What else the shopper can do with a delivered order (core.links: "Return an item" …).
    actions: list[tuple[str, str]] = field(default_factory=list)


VISIBLE_EVENTS = 5


class EventRow(NamedTuple):
    occurred_at: datetime
    status: str
    raw_status: str
    raw_text: str
    location: str
    reason: str


@dataclass
class ShipmentData:
    """A shipment with what its page section needs, read in bulk (see `shipments_with_details`)."""

    shipment: Shipment
    events: list[EventRow] = field(default_factory=list)  # newest first
    issue_kinds: list[str] = field(default_factory=list)  # open issues only
    first_estimate: tuple[date, date] | None = None  # (earliest, latest) of the first revision


_SHIPMENT_FIELDS = (
    "id",
    "public_id",
    "carrier",
    "tracking_number",
    "tracking_url",
    "status",
    "shipped_at",
    "delivered_at",
    "promised_delivery_date",
    "estimated_delivery_date",
    "estimated_earliest",
    "estimated_latest",
)


def shipments_with_details(
    shipments: list[Shipment], *, order_id: int | None
) -> list[ShipmentData]:
    """Events, open issues and first estimates for these shipments: three flat queries (values
    only, no model instances), by order when there is one so the index on the order serves."""
    if not shipments:
        return []
    bundles = {s.pk: ShipmentData(s) for s in shipments}
    scope = {"shipment__order_id": order_id} if order_id else {"shipment_id__in": list(bundles)}
    for shipment_id, *row in (
        TrackingEvent.objects.filter(**scope)
        .order_by("-occurred_at", "-id")
        .values_list(
            "shipment_id", "occurred_at", "status", "raw_status", "raw_text", "location", "reason"
        )
    ):
        # By order, the rows of the order's parcels not shown here come too.
        if shipment_id in bundles:
            bundles[shipment_id].events.append(EventRow(*row))
    if order_id:
        for shipment_id, kind in ShipmentIssue.objects.filter(
            resolved_at__isnull=True, **scope
        ).values_list("shipment_id", "kind"):
            if shipment_id in bundles:
                bundles[shipment_id].issue_kinds.append(kind)
    for shipment_id, earliest, latest in (
        DeliveryEstimate.objects.filter(**scope)
        .order_by("created_at", "id")
        .values_list("shipment_id", "earliest", "latest")
    ):
        bundle = bundles.get(shipment_id)
        if bundle is not None and bundle.first_estimate is None:
            bundle.first_estimate = (earliest, latest)
    return list(bundles.values())


def shipments_for_page(order_id: int) -> list[ShipmentData]:
    """An order's shipments, oldest first, with their details (four queries). Parcels coming back
    to the store (a return's label) are the return's own page's business."""
    shipments = list(
        Shipment.objects.filter(order_id=order_id)
        .exclude(source=RETURN_PARCEL_SOURCE)
        .only(*_SHIPMENT_FIELDS)
        .order_by("created_at", "id")
    )
    return shipments_with_details(shipments, order_id=order_id)


def _event_view(event: EventRow) -> EventView:
    status = event.status
    label = STATUS_LABELS.get(status) if status else None
    tone = "problem" if status in PROBLEM else "warn" if status in WARNING else "ok"
    return EventView(
        status=str(label) if label else pgettext("tracking event", "Update from the carrier"),
        reason=str(REASON_LABELS[event.reason]) if event.reason in REASON_LABELS else "",
        raw=event.raw_text or event.raw_status,
        location=event.location,
        when=moment_label(event.occurred_at),
        iso=event.occurred_at.isoformat(),
        tone=tone,
    )


def shipment_view(data: ShipmentData, number: int) -> ShipmentView:
    shipment, events, issue_kinds = data.shipment, data.events, data.issue_kinds
    status = shipment.status
    step = max(
        [STEP_OF.get(status, 0), 1 if shipment.shipped_at else 0]
        + [STEP_OF.get(e.status, 0) for e in events if e.status not in PROBLEM]
    )
    final = status in FINAL
    tone = "problem" if status in PROBLEM or {"lost"} & set(issue_kinds) else "ok"
    if tone == "ok" and (status in WARNING or set(issue_kinds) & {"late", "stalled", "exception"}):
        tone = "warn"
    if status == S.DELIVERED:
        tone = "ok"
    status_label = str(STATUS_LABELS.get(status, status))
    steps = [
        Step(str(label), "done" if i < step else "current" if i == step else "todo")
        for i, label in enumerate(STEPS)
    ]
    progress = _("Step %(step)d of %(total)d: %(label)s") % {
        "step": step + 1,
        "total": len(STEPS),
        "label": steps[step].label,
    }
    if tone != "ok" and status_label != steps[step].label:
        progress = f"{progress} ({status_label})"

    estimate = estimate_label = original = delivered = ""
    latest: date | None = None
    if status == S.DELIVERED and shipment.delivered_at:
        delivered = moment_label(shipment.delivered_at)
    elif not final:
        earliest = shipment.estimated_earliest
        latest = shipment.estimated_latest
        if not (earliest and latest) and shipment.estimated_delivery_date:
            earliest = latest = shipment.estimated_delivery_date
        if earliest and latest:
            estimate = range_label(earliest, latest)
            estimate_label = _("Estimated delivery")
            first = data.first_estimate
            if first and first != (earliest, latest):
                original = range_label(*first)
        elif shipment.promised_delivery_date:
            latest = shipment.promised_delivery_date
            estimate = _capitalised(day_label(latest))
            estimate_label = _("The store expects delivery by")
    views = [_event_view(e) for e in events]
    return ShipmentView(
        public_id=shipment.public_id,
        number=number,
        carrier=shipment.carrier,
        tracking_number=shipment.tracking_number,
        tracking_url=shipment.tracking_url,
        status=status,
        status_label=status_label,
        tone=tone,
        final=final,
        step=step,
        steps=steps,
        progress_text=progress,
        percent=round(step * 100 / (len(STEPS) - 1)),
        estimate=estimate,
        estimate_label=estimate_label,
        original=original,
        delivered=delivered,
        explanations=explanations(shipment, events[0] if events else None, issue_kinds, latest),
        events=views[:VISIBLE_EVENTS],
        earlier_events=views[VISIBLE_EVENTS:],
    )


def _tracking_version_sql() -> str:
    """SQL for one text that changes whenever something the page shows changes: the order's
    shipments (count, newest id, latest `updated_at` and scan), their events, their issues (which
    are open, when raised or resolved) and estimate revisions, and the order's lines. Correlated to
    the outer order row; made of the models' table names and constants only, no input."""
    order = f'"{Order._meta.db_table}"."id"'
    of_order = f'"order_id" = {order}'
    shipments = f'SELECT "id" FROM "{Shipment._meta.db_table}" WHERE {of_order}'  # noqa: S608
    of_shipments = f'"shipment_id" IN ({shipments})'

    def summary(model, where: str, *aggregates: str) -> str:
        text = " || ':' || ".join(f"COALESCE(CAST({a} AS TEXT), '')" for a in aggregates)
        return f'(SELECT {text} FROM "{model._meta.db_table}" WHERE {where})'  # noqa: S608

    return " || '|' || ".join(
        [
            summary(
                Shipment, of_order, "COUNT(*)", "MAX(id)", "MAX(updated_at)", "MAX(last_event_at)"
            ),
            summary(TrackingEvent, of_shipments, "COUNT(*)", "MAX(id)"),
            summary(
                ShipmentIssue,
                of_shipments,
                "COUNT(*)",
                "MAX(id)",
                "SUM(CASE WHEN resolved_at IS NULL THEN id END)",  # which ones are open
                "MAX(detected_at)",
                "MAX(resolved_at)",
            ),
            summary(DeliveryEstimate, of_shipments, "COUNT(*)", "MAX(id)"),
            summary(
                OrderLine,
                of_order,
                "COUNT(*)",
                "MAX(id)",
                "SUM(quantity)",
                "SUM(LENGTH(title) + LENGTH(variant_title))",
                "SUM(COALESCE(product_id, 0) + COALESCE(variant_id, 0))",
            ),
        ]
    )


_TRACKING_VERSION_SQL = _tracking_version_sql()
# What the page reads of the order, its store and customer (the key of the cached page hashes the
# store's part, so a branding change shows at once).
_STORE_PAGE_FIELDS = (
    "name",
    "logo_url",
    "website_url",
    "support_email",
    "support_phone",
    "brand_color",
    "accent_color",
)
_PROBE_FIELDS = {
    Order: ("id", "public_id", "number", "placed_at", "updated_at", "store_id", "customer_id"),
    Store: ("id", "default_locale", "time_zone", *_STORE_PAGE_FIELDS),
    Customer: ("id", "locale", "time_zone"),
}
_PROBE_PARAM = "\x00order public id\x00"


@functools.cache
def _order_probe_sql(alias: str) -> str:
    """The SQL of `order_for_tracking`, compiled by the ORM once per database: compiling it
    takes several times longer than running it."""
    columns = [
        *_PROBE_FIELDS[Order],
        *(f"store__{name}" for name in _PROBE_FIELDS[Store]),
        *(f"customer__{name}" for name in _PROBE_FIELDS[Customer]),
    ]
    query = (
        Order.objects.using(alias)
        .filter(public_id=_PROBE_PARAM)
        .annotate(tracking_version=RawSQL(_TRACKING_VERSION_SQL, ()))  # noqa: S611 - no input
        .order_by()
        .values_list(*columns, "tracking_version")[:1]
        .query
    )
    sql, params = query.sql_with_params()
    if tuple(params) != (_PROBE_PARAM,):
        raise RuntimeError(f"unexpected parameters {params!r}")
    return sql


def _aware(value):
    """A datetime read with a plain cursor as the ORM would return it (SQLite gives naive UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _instance(model, alias: str, values: dict):
    """A model instance as the ORM builds it from a row: other fields load on first access."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(alias, names, [values[name] for name in names])


def order_for_tracking(order_public_id: str) -> Order | None:
    """The order with what its page needs of its store and customer, and its `tracking_version`
    (see `_tracking_version_sql`): one query, all that serving the cached page takes."""
    alias = router.db_for_read(Order)
    with connections[alias].cursor() as cursor:
        cursor.execute(_order_probe_sql(alias), [order_public_id])
        row = cursor.fetchone()
    if row is None:
        return None
    values = iter(row)
    rows = {model: dict(zip(names, values, strict=False)) for model, names in _PROBE_FIELDS.items()}
    rows[Order]["placed_at"] = _aware(rows[Order]["placed_at"])
    rows[Order]["updated_at"] = _aware(rows[Order]["updated_at"])
    order = _instance(Order, alias, rows[Order])
    order.store = _instance(Store, alias, rows[Store])
    customer = rows[Customer]
    order.customer = _instance(Customer, alias, customer) if customer["id"] is not None else None
    order.tracking_version = next(values)
    return order


def tracking_page(order: Order, *, language: str, zone: zoneinfo.ZoneInfo) -> TrackingPage:
    """The page's bundle; call with the shopper's language and time zone active."""
    shipments = [shipment_view(d, i) for i, d in enumerate(shipments_for_page(order.pk), 1)]
    lines = [
        LineView(quantity=quantity, title=title, variant=variant, image_url=image or fallback or "")
        for quantity, title, variant, image, fallback in OrderLine.objects.filter(order_id=order.pk)
        .order_by("id")
        .values_list(
            "quantity", "title", "variant_title", "variant__image_url", "product__image_url"
        )
    ]
    return TrackingPage(
        order=order,
        store=order.store,
        language=language,
        zone=zone,
        palette=palette(order.store.brand_color, order.store.accent_color),
        placed=_lower_month(
            date_format(timezone.localtime(order.placed_at), "DATE_FORMAT"),
            timezone.localtime(order.placed_at),
        ),
        shipments=shipments,
        lines=lines,
        # Nothing shipped yet counts as "still moving": the first shipment will appear.
        refresh=not shipments or any(not s.final for s in shipments),
        problem_kinds=problem_kinds(),
        actions=order_links(order) if any(s.delivered for s in shipments) else [],
    )


# -- the cached page ------------------------------------------------------------------------------

# The page is the same for everyone who opens one order's link, so it is rendered once and kept in
# the cache (in each process by default; shared between processes and machines with CACHE_URL)
# under a key made from the data it shows: the order's `tracking_version`, read by the same query
# as the order, its `updated_at`, the store's branding, the language and the time zone. A new scan,
# issue or estimate makes a new key, so the page is never stale; the TTL bounds what the version
# does not see (a product's image, a new release's templates) and the cache's size.
#
# Nothing of one request is ever cached: the report form is kept apart, rendered untouched once
# with slots where its action and CSRF token go, and those are filled in per request; a form that
# carries state (an error, the thank-you) is rendered whole.
PAGE_CACHE_SECONDS = 600
PAGE_CACHE_RELEASE = "3"  # bump when the page's templates or words change shape
REPORT_FORM_SLOT = SafeString("<!-- aftersale:report-form -->")
_ACTION_SLOT = "aftersale-slot-action"
_CSRF_SLOT = "aftersale-slot-csrf"


class PageHtml(NamedTuple):
    """A rendered page, as cached (a plain tuple of strings, so any cache backend stores it)."""

    before: str  # the page up to the report form
    after: str  # and after it
    parcels: tuple[tuple[str, int, str, str], ...]  # (public id, number, carrier, status label)
    blank_form: tuple[str, str, str]  # the untouched form, cut at its action and CSRF token


def page_cache_key(order: Order, *, language: str, zone: zoneinfo.ZoneInfo) -> str | None:
    """The cache key of the order's page; None for an order read without its version."""
    version = getattr(order, "tracking_version", None)
    if version is None:
        return None
    store = order.store
    state = "\x1f".join(
        [
            PAGE_CACHE_RELEASE,
            order.public_id,
            zone.key,
            order.number,
            order.placed_at.isoformat(),
            order.updated_at.isoformat(),
            version,
            *(getattr(store, name) for name in _STORE_PAGE_FIELDS),
        ]
    )
    digest = hashlib.blake2b(state.encode(), digest_size=16).hexdigest()
    return f"tracking:page:{order.pk}:{language}:{digest}"


def _cache_get(key: str):
    try:
        return cache.get(key)
    except Exception:  # a shared cache that is down must not take the page down with it
        logger.warning("tracking page cache: get failed", exc_info=True)
        return None


def _cache_set(key: str, value) -> None:
    try:
        cache.set(key, value, PAGE_CACHE_SECONDS)
    except Exception:
        logger.warning("tracking page cache: set failed", exc_info=True)


def _report_form_context(parcels, **state) -> dict:
    return {
        "parcels": parcels,
        "problem_kinds": problem_kinds(),
        "form": {"kind": "", "message": "", "shipment": ""},
        "form_error": "",
        "reported": False,
        **state,
    }


def tracking_page_html(order: Order, *, language: str, zone: zoneinfo.ZoneInfo) -> PageHtml:
    """The page, from the cache while the order's version holds, else rendered (five queries
    more) and cached. Call with the shopper's language and time zone active, and with an order
    from `order_for_tracking`."""
    key = page_cache_key(order, language=language, zone=zone)
    cached = _cache_get(key) if key else None
    if cached is not None:
        return PageHtml(*cached)
    page = tracking_page(order, language=language, zone=zone)
    html = render_to_string(
        "tracking/page.html",
        {
            "lang": language,
            "page": page,
            "store": page.store,
            "palette": page.palette,
            "order": order,
            "report_form": REPORT_FORM_SLOT,
        },
    )
    before, slot, after = html.partition(REPORT_FORM_SLOT)
    parcels = tuple((s.public_id, s.number, s.carrier, s.status_label) for s in page.shipments)
    form = render_to_string(
        "tracking/_report.html",
        _report_form_context(parcels, action=_ACTION_SLOT, csrf_token=_CSRF_SLOT),
    )
    # The form's first slots are the real ones: they come before anything from the shop's data.
    head, action, rest = form.partition(_ACTION_SLOT)
    middle, csrf, tail = rest.partition(_CSRF_SLOT)
    if not (slot and action and csrf):
        raise RuntimeError("tracking/page.html or _report.html lost a slot")
    parts = PageHtml(before, after, parcels, (head, middle, tail))
    if key:
        _cache_set(key, tuple(parts))
    return parts


def report_form_html(
    page: PageHtml, request, *, form: dict | None = None, form_error: str = "", reported=False
) -> str:
    """The report form for this request: the untouched one from the page with this request's
    action and CSRF token, or rendered whole when it has something to show. Call with the
    shopper's language active."""
    if form is None and not form_error and not reported:
        head, middle, tail = page.blank_form
        return f"{head}{escape(request.path)}{middle}{get_token(request)}{tail}"
    state = {"form_error": form_error, "reported": reported, "action": request.path}
    if form is not None:
        state["form"] = form
    return render_to_string(
        "tracking/_report.html", _report_form_context(page.parcels, **state), request
    )


def problem_kinds() -> list[tuple[str, str]]:
    """The report form's choices in the active language."""
    return [(k.value, str(label)) for k, label in PROBLEM_KINDS]


def parcel_for_tracking_number(tracking_number: str) -> ShipmentData | None:
    """The most recent shipment with this tracking number and its scans: nothing of the order."""
    number = normalise_code(tracking_number)
    if not number:
        return None
    found = list(
        Shipment.objects.filter(tracking_number__iexact=number)
        .only(*_SHIPMENT_FIELDS)
        .order_by("-created_at", "-id")[:1]
    )
    bundles = shipments_with_details(found, order_id=None)
    return bundles[0] if bundles else None


# -- the /track lookup ----------------------------------------------------------------------------


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def lookup_window() -> timedelta:
    return timedelta(seconds=_limit("AFTERSALE_TRACK_LOOKUP_WINDOW_SECONDS", 600))


def normalise_code(value: str) -> str:
    """Order and tracking numbers as people type them: no spaces, no leading '#', upper case."""
    return re.sub(r"\s+", "", value or "").lstrip("#").upper()[:100]


def _normalise_postcode(value: str) -> str:
    return re.sub(r"[\s\-.]", "", value or "").upper()


def client_key(ip: str) -> str:
    """An HMAC of the client's address: enough to count its attempts, useless to anyone else."""
    key = hashlib.sha256(f"aftersale.tracking.lookup:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, (ip or "").encode(), hashlib.sha256).hexdigest()


def lookup_allowed(*, client: str, subject: str = "") -> bool:
    """False when this client, or this order number, used up its attempts in the window."""
    since = clock.now() - lookup_window()
    recent = TrackLookupAttempt.objects.filter(created_at__gte=since)
    if recent.filter(client=client).count() >= _limit("AFTERSALE_TRACK_LOOKUPS_PER_CLIENT", 10):
        return False
    return not (
        subject
        and recent.filter(kind=TrackLookupAttempt.Kind.ORDER, subject=subject).count()
        >= _limit("AFTERSALE_TRACK_LOOKUPS_PER_ORDER", 5)
    )


def lookup_record(*, kind: str, client: str, subject: str, succeeded: bool) -> None:
    now = clock.now()
    attempt = TrackLookupAttempt.objects.create(
        kind=kind, client=client, subject=subject, succeeded=succeeded, created_at=now
    )
    if attempt.pk % 100 == 0:  # now and then, forget attempts nobody counts any more
        TrackLookupAttempt.objects.filter(created_at__lt=now - timedelta(days=1)).delete()


def order_lookup(*, number: str, contact: str) -> Order | None:
    """The order with this number whose email or shipping postcode matches `contact`.

    A wrong number and a wrong email cost the same: one query, then a constant-time comparison
    over every candidate (none for a wrong number), and the same None.
    """
    code = normalise_code(number)
    if not code or not contact.strip():
        return None
    candidates = (
        Order.objects.filter(number__in=[code, f"#{code}", code.lower(), f"#{code.lower()}"])
        .select_related("customer", "shipping_address")
        .only(
            "id",
            "public_id",
            "email",
            "customer__email",
            "shipping_address__postal_code",
        )[:20]
    )
    wanted_email = contact.strip().lower()
    wanted_postcode = _normalise_postcode(contact)
    found = None
    for order in candidates:
        emails = {order.email.lower()}
        if order.customer is not None:
            emails.add(order.customer.email.lower())
        postcode = order.shipping_address.postal_code if order.shipping_address else ""
        match = any(hmac.compare_digest(e, wanted_email) for e in emails if e)
        if postcode:
            match |= hmac.compare_digest(_normalise_postcode(postcode), wanted_postcode)
        if match and found is None:
            found = order
    return found


# -- report a problem -----------------------------------------------------------------------------

DUPLICATE_WINDOW = timedelta(hours=1)


def problem_report_submit(
    *, order: Order, kind: str, message: str, shipment_public_id: str = ""
) -> tuple[ProblemReport, bool]:
    """Create the shopper's report, unless the same kind was reported on the order within the hour
    (a double click, a resubmitted form): then the earlier report comes back, created=False."""
    if kind not in ProblemReport.Kind.values:
        raise ValueError(kind)
    with transaction.atomic():
        # Lock the order row so two submits at once cannot both pass the duplicate check.
        Order.objects.select_for_update().filter(pk=order.pk).values_list("pk").first()
        recent = (
            ProblemReport.objects.filter(
                order_id=order.pk, kind=kind, created_at__gte=clock.now() - DUPLICATE_WINDOW
            )
            .order_by("-created_at")
            .first()
        )
        if recent is not None:
            return recent, False
        shipment = (
            Shipment.objects.filter(order_id=order.pk, public_id=shipment_public_id).first()
            if shipment_public_id
            else None
        )
        report = ProblemReport.objects.create(
            store_id=order.store_id,
            order=order,
            shipment=shipment,
            kind=kind,
            message=message.strip()[:4000],
        )
    return report, True
