"""Delivery estimates: a date and a range for every parcel, learned from the store's deliveries.

The model
---------
Transit time is counted in **business days** (Monday to Friday, in the store's time zone) from
the day the carrier took the parcel to the day it arrived. Carriers work weekdays: in the Olist
data 93% of deliveries and 98% of hand-overs fall on a weekday, so a parcel handed over on a
Friday takes two calendar days longer than the same trip started on a Monday. Counting business
days removes that weekday effect from the samples (calendar days would need a cell per weekday,
splitting thin data five ways); the weekday shipped is still the finest level of the hierarchy.

Past transit times are kept as weighted histograms (days → weight) per cell at five levels:

    store → carrier → carrier + service + destination region → lane (+ origin region)
          → lane + weekday shipped

A cell's distribution is shrunk towards its parent's like a Dirichlet-process posterior,
``(counts + PRIOR_WEIGHT · parent) / (n + PRIOR_WEIGHT)``: a cell of 20 deliveries counts half,
one of 200 almost alone; cells thinner than MIN_SAMPLES are skipped (backed off to the parent).
Older deliveries count less (half weight after HALF_LIFE_DAYS), so a slow season fades.

The point estimate is the median of that distribution (the value that minimises the absolute
error), the range runs from its LOWER_Q to its UPPER_Q quantile. The range is deliberately
skewed late (p10…p97): a parcel that arrives before "earliest" is good news, one after "latest"
is a broken promise, so the upper end is set where a merchant can promise it. A thin cell's
upper quantile is raised further (SMALL_SAMPLE), since a few dozen samples rarely show the tail.

After scans the distribution is conditioned on the time already spent: a parcel that has been
travelling k business days takes T days with T ≥ k, so the quantiles are taken over that tail
only, which moves the early end up and narrows the range. Out for delivery means today;
an exception or a failed attempt pushes the date and widens the range; delivered keeps the last.

When the store has fewer than MIN_SAMPLES deliveries, the merchant's promise is used, else the
carrier's estimate (passed in by the caller); the source is recorded on every revision.

Learning is one query over the store's delivered shipments, cached per process and store for
CACHE_SECONDS or until REFRESH_AFTER_DELIVERIES new deliveries were seen.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import F, OuterRef, QuerySet, Subquery

from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.core.services import DomainError
from aftersale.tracking.models import DeliveryEstimate, Shipment, ShipmentStatus

LOWER_Q = 0.10
MEDIAN_Q = 0.50
UPPER_Q = 0.97
MIN_SAMPLES = 20
# The upper quantile of a cell of n deliveries is raised to 1 - (1 - UPPER_Q)·n/(n + SMALL_SAMPLE):
# the empirical p97 of a few dozen samples sits below the true one (a thin tail is unseen).
SMALL_SAMPLE = 20.0
PRIOR_WEIGHT = 20.0
HALF_LIFE_DAYS = 180.0
CACHE_SECONDS = 3600.0
REFRESH_AFTER_DELIVERIES = 50
# What an exception or a failed attempt adds, in business days (point, upper end).
EXCEPTION_DELAY = (1, 3)
ATTEMPT_FAILED_DELAY = (1, 2)

LEVELS = ("store", "carrier", "destination", "lane", "lane and weekday")
# Statuses whose estimate is no longer revised: delivered keeps its last, the others are over.
SETTLED = {
    ShipmentStatus.DELIVERED,
    ShipmentStatus.RETURNING_TO_SENDER,
    ShipmentStatus.RETURNED_TO_SENDER,
    ShipmentStatus.CANCELLED,
    ShipmentStatus.EXPIRED,
}
Source = DeliveryEstimate.Source


# -- business days -------------------------------------------------------------------------------


def _weekdays_through(day: date) -> int:
    """Mondays to Fridays from 0001-01-01 (a Monday) through ``day``."""
    weeks, rest = divmod(day.toordinal(), 7)
    return weeks * 5 + min(rest, 5)


def business_days_between(start: date, end: date) -> int:
    """Weekdays d with start < d ≤ end (negative when end is before start)."""
    return _weekdays_through(end) - _weekdays_through(start)


def add_business_days(start: date, days: int) -> date:
    """The weekday that is ``days`` business days after ``start``; ``start`` itself for 0."""
    if days <= 0:
        return start
    target = _weekdays_through(start) + days
    weeks, rest = divmod(target - 1, 5)
    return date.fromordinal(weeks * 7 + rest + 1)


# -- the learned model (pure: no database) -------------------------------------------------------


@dataclass(frozen=True)
class Lane:
    """What a parcel's transit time depends on."""

    carrier: str = ""
    service: str = ""
    origin: str = ""
    destination: str = ""
    weekday: int = 0

    def keys(self) -> tuple[tuple, ...]:
        """One key per level, coarsest first (LEVELS names them)."""
        c, s = self.carrier, self.service
        return (
            (),
            (c,),
            (c, s, self.destination),
            (c, s, self.origin, self.destination),
            (c, s, self.origin, self.destination, self.weekday),
        )

    def describe(self, level: int) -> str:
        parts = [
            "all deliveries",
            f"carrier {self.carrier or '-'}",
            f"to {self.destination or '-'}",
            f"lane {self.origin or '-'}→{self.destination or '-'}",
            f"lane {self.origin or '-'}→{self.destination or '-'} shipped on "
            f"{('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')[self.weekday]}",
        ]
        return parts[level]


@dataclass(frozen=True)
class TransitForecast:
    """Quantiles of the (remaining) transit time in business days since the hand-over."""

    low: int
    median: int
    high: int
    level: int
    sample_size: int


@dataclass
class _Cell:
    weights: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    count: int = 0
    total: float = 0.0


class TransitModel:
    """Weighted transit-time histograms per cell; cheap to extend one delivery at a time."""

    def __init__(
        self,
        *,
        min_samples: int = MIN_SAMPLES,
        prior_weight: float = PRIOR_WEIGHT,
        half_life_days: float | None = HALF_LIFE_DAYS,
    ):
        self.min_samples = min_samples
        self.prior_weight = prior_weight
        self.half_life_days = half_life_days
        self.cells: list[dict[tuple, _Cell]] = [defaultdict(_Cell) for _ in LEVELS]
        # Weights grow with the delivery date (2^(day/half-life)) so that adding a newer
        # delivery never rescales the older ones; only ratios within a cell matter, and the
        # shrinkage uses counts.
        self._epoch: int | None = None
        self.size = 0
        self.last_delivery: date | None = None

    def _weight(self, day: date) -> float:
        if not self.half_life_days:
            return 1.0
        if self._epoch is None:
            self._epoch = day.toordinal()
        return math.pow(2.0, (day.toordinal() - self._epoch) / self.half_life_days)

    def add(self, lane: Lane, transit: int, delivered: date) -> None:
        if transit < 0:
            return
        weight = self._weight(delivered)
        for level, key in enumerate(lane.keys()):
            cell = self.cells[level][key]
            cell.weights[transit] += weight
            cell.count += 1
            cell.total += weight
        self.size += 1
        if self.last_delivery is None or delivered > self.last_delivery:
            self.last_delivery = delivered

    def forecast(self, lane: Lane, *, elapsed: int = 0) -> TransitForecast | None:
        """Quantiles of the transit time given that it is at least ``elapsed`` business days."""
        if self.size < self.min_samples:
            return None
        dist: dict[int, float] = {}
        level_used, sample_size = 0, 0
        for level, key in enumerate(lane.keys()):
            cell = self.cells[level].get(key)
            if cell is None or cell.count < (1 if level == 0 else self.min_samples):
                break  # a finer cell is never thicker than this one
            tail = {t: w for t, w in cell.weights.items() if t >= elapsed}
            mass = sum(tail.values())
            if mass <= 0:
                break
            own = {t: w / mass for t, w in tail.items()}
            if level == 0 or not dist:
                dist = own
            else:
                # Dirichlet-process shrinkage towards the parent, by sample count.
                n = cell.count * mass / cell.total
                keep = n / (n + self.prior_weight)
                merged = {t: (1 - keep) * p for t, p in dist.items()}
                for t, p in own.items():
                    merged[t] = merged.get(t, 0.0) + keep * p
                dist = merged
            level_used, sample_size = level, cell.count
        if not dist:
            # Later than every delivery on record: expect it any day now.
            return TransitForecast(
                low=elapsed, median=elapsed + 1, high=elapsed + 5, level=0, sample_size=self.size
            )
        upper = 1 - (1 - UPPER_Q) * sample_size / (sample_size + SMALL_SAMPLE)
        low, median, high = _quantiles(dist, (LOWER_Q, MEDIAN_Q, upper))
        return TransitForecast(
            low=low, median=median, high=high, level=level_used, sample_size=sample_size
        )


def _quantiles(dist: dict[int, float], qs: tuple[float, ...]) -> list[int]:
    """Smallest t with CDF(t) ≥ q, for each q (dist sums to 1)."""
    out: list[int] = []
    items = sorted(dist.items())
    acc, i = 0.0, 0
    for q in qs:
        while i < len(items) and acc + items[i][1] < q - 1e-9:
            acc += items[i][1]
            i += 1
        out.append(items[min(i, len(items) - 1)][0])
    return out


@dataclass(frozen=True)
class HistoryRow:
    """A past delivery as the model learns it (local dates)."""

    lane: Lane
    shipped: date
    delivered: date

    @property
    def transit(self) -> int:
        return business_days_between(self.shipped, self.delivered)


def lane_of(shipment: Shipment, shipped: date) -> Lane:
    return Lane(
        carrier=shipment.carrier_code or shipment.carrier.strip().lower(),
        service=shipment.service.strip().lower(),
        origin=shipment.origin_region.strip().upper(),
        destination=shipment.destination_region.strip().upper(),
        weekday=shipped.weekday(),
    )


_HISTORY_FIELDS = (
    "carrier",
    "carrier_code",
    "service",
    "origin_region",
    "destination_region",
    "shipped_at",
    "delivered_at",
)


def history_rows(*, store: Store, qs: QuerySet[Shipment] | None = None) -> Iterator[HistoryRow]:
    """The store's delivered shipments with both dates, in one query, as local dates."""
    tz = ZoneInfo(store.time_zone)
    if qs is None:
        qs = Shipment.objects.filter(store=store)
    rows = (
        qs.filter(shipped_at__isnull=False, delivered_at__isnull=False)
        .filter(delivered_at__gte=F("shipped_at"))
        .values_list(*_HISTORY_FIELDS)
    )
    for carrier, code, service, origin, destination, shipped_at, delivered_at in rows.iterator(
        chunk_size=5000
    ):
        shipped = shipped_at.astimezone(tz).date()
        yield HistoryRow(
            lane=Lane(
                carrier=code or carrier.strip().lower(),
                service=service.strip().lower(),
                origin=origin.strip().upper(),
                destination=destination.strip().upper(),
                weekday=shipped.weekday(),
            ),
            shipped=shipped,
            delivered=delivered_at.astimezone(tz).date(),
        )


def transit_model_learn(rows: Iterable[HistoryRow], **options) -> TransitModel:
    model = TransitModel(**options)
    for row in sorted(rows, key=lambda r: r.delivered):
        model.add(row.lane, row.transit, row.delivered)
    return model


# -- the per-store cache -------------------------------------------------------------------------


@dataclass
class _Cached:
    model: TransitModel
    built: float
    seen_deliveries: set[int] = field(default_factory=set)


# Keyed by public id, not pk: a pk can come back (rolled-back tests, a restored database).
_models: dict[str, _Cached] = {}
_lock = threading.Lock()


def transit_model(*, store: Store) -> TransitModel:
    """The store's learned model, rebuilt after CACHE_SECONDS or enough new deliveries."""
    hit = _models.get(store.public_id)
    if hit is not None and time.monotonic() - hit.built < CACHE_SECONDS:
        return hit.model
    model = transit_model_learn(history_rows(store=store))
    with _lock:
        _models[store.public_id] = _Cached(model=model, built=time.monotonic())
    return model


def transit_model_forget(*, store: Store | None = None) -> None:
    """Drop the cached model of one store (or all): the next estimate learns again."""
    with _lock:
        if store is None:
            _models.clear()
        else:
            _models.pop(store.public_id, None)


def _note_delivery(store: Store, shipment_id: int) -> None:
    hit = _models.get(store.public_id)
    if hit is None:
        return
    with _lock:
        hit.seen_deliveries.add(shipment_id)
        if len(hit.seen_deliveries) >= REFRESH_AFTER_DELIVERIES:
            _models.pop(store.public_id, None)


# -- computing one estimate ----------------------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    estimated_date: date
    earliest: date
    latest: date
    source: str
    reason: str
    sample_size: int = 0

    @property
    def dates(self) -> tuple[date, date, date]:
        return (self.estimated_date, self.earliest, self.latest)


def _local_today(store: Store) -> date:
    return clock.now().astimezone(ZoneInfo(store.time_zone)).date()


def _fixed(day: date, source: str, reason: str) -> Estimate:
    return Estimate(estimated_date=day, earliest=day, latest=day, source=source, reason=reason)


def estimate_compute(
    *,
    store: Store,
    shipment: Shipment,
    model: TransitModel | None = None,
    today: date | None = None,
    carrier_estimate: date | None = None,
) -> Estimate | None:
    """The estimate this shipment should have now; None when there is nothing to say (or it
    is settled: delivered keeps its last estimate). Reads nothing but the (cached) model."""
    status = shipment.status
    if status in SETTLED:
        return None
    today = today or _local_today(store)
    if status == ShipmentStatus.OUT_FOR_DELIVERY:
        return _fixed(today, Source.CARRIER, "out for delivery")
    tz = ZoneInfo(store.time_zone)
    shipped = shipment.shipped_at.astimezone(tz).date() if shipment.shipped_at else today
    if model is None:
        model = transit_model(store=store)
    elapsed = max(business_days_between(shipped, today), 0)
    lane = lane_of(shipment, shipped)
    forecast = model.forecast(lane, elapsed=elapsed)
    if forecast is not None:
        estimate = Estimate(
            estimated_date=add_business_days(shipped, forecast.median),
            earliest=add_business_days(shipped, forecast.low),
            latest=add_business_days(shipped, forecast.high),
            source=Source.HISTORY,
            reason=(
                f"{lane.describe(forecast.level)}, {forecast.sample_size} deliveries"
                + (f", {elapsed} business days under way" if elapsed else "")
            ),
            sample_size=forecast.sample_size,
        )
    elif shipment.promised_delivery_date:
        estimate = _fixed(shipment.promised_delivery_date, Source.PROMISE, "the store's promise")
    elif carrier_estimate:
        estimate = _fixed(carrier_estimate, Source.CARRIER, "the carrier's estimate")
    else:
        return None
    if status in {ShipmentStatus.EXCEPTION, ShipmentStatus.ON_HOLD}:
        estimate = _delay(estimate, today, EXCEPTION_DELAY, "exception")
    elif status == ShipmentStatus.ATTEMPT_FAILED:
        estimate = _delay(estimate, today, ATTEMPT_FAILED_DELAY, "delivery attempt failed")
    return _not_before(estimate, today)


def _delay(estimate: Estimate, today: date, delay: tuple[int, int], why: str) -> Estimate:
    point = max(estimate.estimated_date, add_business_days(today, delay[0]))
    latest = max(estimate.latest, add_business_days(point, delay[1]))
    return Estimate(
        estimated_date=point,
        earliest=min(estimate.earliest, point),
        latest=latest,
        source=estimate.source,
        reason=f"{why}; {estimate.reason}",
        sample_size=estimate.sample_size,
    )


def _not_before(estimate: Estimate, today: date) -> Estimate:
    """A parcel not yet delivered cannot arrive in the past."""
    if estimate.earliest >= today:
        return estimate
    point = max(estimate.estimated_date, today)
    return Estimate(
        estimated_date=point,
        earliest=today,
        latest=max(estimate.latest, point),
        source=estimate.source,
        reason=estimate.reason,
        sample_size=estimate.sample_size,
    )


# -- writing revisions ---------------------------------------------------------------------------


def estimate_revise(
    *,
    store: Store,
    shipment: Shipment,
    reason: str = "",
    carrier_estimate: date | None = None,
) -> DeliveryEstimate | None:
    """Re-estimate a shipment; writes a DeliveryEstimate and the shipment's estimated_* fields
    only when the dates change. A staff-set (manual) estimate stays until out for delivery."""
    if shipment.status == ShipmentStatus.DELIVERED:
        _note_delivery(store, shipment.pk)
        return None
    estimate = estimate_compute(store=store, shipment=shipment, carrier_estimate=carrier_estimate)
    if estimate is None:
        return None
    current = (
        shipment.estimated_delivery_date,
        shipment.estimated_earliest,
        shipment.estimated_latest,
    )
    if current == estimate.dates:
        return None
    if current[0] is not None and estimate.source != Source.CARRIER:
        last = DeliveryEstimate.objects.filter(shipment=shipment).order_by("-created_at", "-id")
        if last.values_list("source", flat=True).first() == Source.MANUAL:
            return None
    return _write(store, shipment, estimate, reason)


def estimate_set_manual(
    *, store: Store, shipment: Shipment, estimated_date: date, earliest: date, latest: date, reason
) -> DeliveryEstimate:
    """Staff set the estimate by hand; automatic revisions leave it until out for delivery."""
    if not earliest <= estimated_date <= latest:
        raise DomainError("earliest ≤ estimated date ≤ latest", field="estimated_date")
    estimate = Estimate(estimated_date, earliest, latest, Source.MANUAL, reason)
    return _write(store, shipment, estimate, reason)


def _write(store: Store, shipment: Shipment, estimate: Estimate, reason: str) -> DeliveryEstimate:
    now = clock.now()
    why = "; ".join(part for part in (reason, estimate.reason) if part)[:200]
    with transaction.atomic():
        revision = DeliveryEstimate.objects.create(
            store=store,
            shipment=shipment,
            created_at=now,
            estimated_date=estimate.estimated_date,
            earliest=estimate.earliest,
            latest=estimate.latest,
            source=estimate.source,
            reason=why,
            sample_size=estimate.sample_size,
        )
        shipment.estimated_delivery_date = estimate.estimated_date
        shipment.estimated_earliest = estimate.earliest
        shipment.estimated_latest = estimate.latest
        Shipment.objects.filter(pk=shipment.pk).update(
            estimated_delivery_date=estimate.estimated_date,
            estimated_earliest=estimate.earliest,
            estimated_latest=estimate.latest,
            updated_at=now,
        )
    return revision


# -- accuracy (for the back office and `estimate_accuracy`) --------------------------------------


@dataclass
class AccuracyRow:
    group: str
    shipments: int = 0
    first_abs_error: float = 0.0
    promised: int = 0
    promise_abs_error: float = 0.0
    in_range: int = 0
    by_latest: int = 0

    @property
    def mae_first(self) -> float | None:
        return self.first_abs_error / self.shipments if self.shipments else None

    @property
    def mae_promise(self) -> float | None:
        return self.promise_abs_error / self.promised if self.promised else None

    @property
    def in_range_share(self) -> float | None:
        return self.in_range / self.shipments if self.shipments else None

    @property
    def by_latest_share(self) -> float | None:
        return self.by_latest / self.shipments if self.shipments else None


@dataclass
class AccuracyReport:
    overall: AccuracyRow
    by_carrier: list[AccuracyRow]
    by_lane: list[AccuracyRow]

    def as_table(self) -> str:
        head = (
            f"{'group':<28}{'parcels':>8}{'MAE first':>11}{'MAE promise':>13}"
            f"{'in range':>10}{'≤ latest':>10}"
        )
        lines = [head]

        def fmt(value: float | None, spec: str) -> str:
            return "-" if value is None else format(value, spec)

        for title, rows in (
            ("", [self.overall]),
            ("by carrier", self.by_carrier),
            ("by lane", self.by_lane),
        ):
            if title:
                lines.append(title)
            for row in rows:
                lines.append(
                    f"{row.group[:27]:<28}{row.shipments:>8,}{fmt(row.mae_first, '.2f'):>11}"
                    f"{fmt(row.mae_promise, '.2f'):>13}{fmt(row.in_range_share, '.1%'):>10}"
                    f"{fmt(row.by_latest_share, '.1%'):>10}"
                )
        return "\n".join(lines)


def estimate_accuracy(
    *, store: Store, since: date | None = None, top_lanes: int = 10
) -> AccuracyReport:
    """How the FIRST estimate of each delivered shipment (and the store's promise) compared with
    the delivery date: mean absolute error in days and how often the range held it, overall, by
    carrier and by the busiest lanes. Two queries' worth: shipments with their first estimate."""
    tz = ZoneInfo(store.time_zone)
    first = DeliveryEstimate.objects.filter(shipment=OuterRef("pk")).order_by("created_at", "id")
    qs = Shipment.objects.filter(store=store, delivered_at__isnull=False)
    if since is not None:
        start = datetime.combine(since, datetime.min.time(), tzinfo=tz)
        qs = qs.filter(delivered_at__gte=start)
    rows = qs.annotate(
        first_date=Subquery(first.values("estimated_date")[:1]),
        first_earliest=Subquery(first.values("earliest")[:1]),
        first_latest=Subquery(first.values("latest")[:1]),
    ).values_list(
        "carrier",
        "carrier_code",
        "origin_region",
        "destination_region",
        "delivered_at",
        "promised_delivery_date",
        "first_date",
        "first_earliest",
        "first_latest",
    )
    overall = AccuracyRow("all shipments")
    carriers: dict[str, AccuracyRow] = {}
    lanes: dict[str, AccuracyRow] = {}
    for carrier, code, origin, dest, delivered_at, promised, est, earliest, latest in rows:
        actual = delivered_at.astimezone(tz).date()
        lane = f"{origin or '-'}→{dest or '-'}"
        name = code or carrier or "-"
        for row in (
            overall,
            carriers.setdefault(name, AccuracyRow(name)),
            lanes.setdefault(lane, AccuracyRow(lane)),
        ):
            if promised is not None:
                row.promised += 1
                row.promise_abs_error += abs((actual - promised).days)
            if est is None:
                continue
            row.shipments += 1
            row.first_abs_error += abs((actual - est).days)
            row.in_range += earliest <= actual <= latest
            row.by_latest += actual <= latest

    def busiest(groups: dict[str, AccuracyRow]) -> list[AccuracyRow]:
        return sorted(groups.values(), key=lambda r: (-r.shipments, -r.promised, r.group))

    return AccuracyReport(
        overall=overall, by_carrier=busiest(carriers), by_lane=busiest(lanes)[:top_lanes]
    )


# -- temporal backtest ---------------------------------------------------------------------------


@dataclass
class BacktestResult:
    shipments: int = 0
    from_history: int = 0
    abs_error: int = 0
    promise_abs_error: int = 0
    in_range: int = 0
    by_latest: int = 0
    by_promise: int = 0
    range_days: int = 0
    estimate_seconds: float = 0.0
    learn_seconds: float = 0.0
    # The same figures per half-year of hand-over ("2017-H2"), to see the drift.
    periods: dict[str, BacktestResult] = field(default_factory=dict)

    def count(self, estimate: Estimate, actual: date, promised: date) -> None:
        self.shipments += 1
        self.from_history += estimate.source == Source.HISTORY
        self.abs_error += abs((actual - estimate.estimated_date).days)
        self.promise_abs_error += abs((actual - promised).days)
        self.in_range += estimate.earliest <= actual <= estimate.latest
        self.by_latest += actual <= estimate.latest
        self.by_promise += actual <= promised
        self.range_days += (estimate.latest - estimate.earliest).days

    @property
    def mae(self) -> float:
        return self.abs_error / self.shipments if self.shipments else 0.0

    @property
    def promise_mae(self) -> float:
        return self.promise_abs_error / self.shipments if self.shipments else 0.0

    @property
    def by_latest_share(self) -> float:
        return self.by_latest / self.shipments if self.shipments else 0.0

    @property
    def by_promise_share(self) -> float:
        return self.by_promise / self.shipments if self.shipments else 0.0

    @property
    def in_range_share(self) -> float:
        return self.in_range / self.shipments if self.shipments else 0.0

    @property
    def mean_range_days(self) -> float:
        return self.range_days / self.shipments if self.shipments else 0.0


def estimate_backtest(*, store: Store, **options) -> BacktestResult:
    """Walk the store's delivered shipments in hand-over order and estimate each at hand-over
    from only the deliveries completed before it shipped (the model grows one delivery at a
    time); compare with the promised date. Writes nothing."""
    tz = ZoneInfo(store.time_zone)
    shipments = list(
        Shipment.objects.filter(
            store=store,
            shipped_at__isnull=False,
            delivered_at__isnull=False,
            promised_delivery_date__isnull=False,
        )
        .filter(delivered_at__gte=F("shipped_at"))
        .only(
            "id",
            "status",
            "carrier",
            "carrier_code",
            "service",
            "origin_region",
            "destination_region",
            "shipped_at",
            "delivered_at",
            "promised_delivery_date",
        )
        .order_by("shipped_at", "id")
    )
    model = TransitModel(**options)
    result = BacktestResult()
    pending: list[tuple[datetime, int, HistoryRow]] = []
    for shipment in shipments:
        shipped = shipment.shipped_at.astimezone(tz).date()
        delivered = shipment.delivered_at.astimezone(tz).date()
        row = HistoryRow(lane=lane_of(shipment, shipped), shipped=shipped, delivered=delivered)
        pending.append((shipment.delivered_at, shipment.pk, row))
    pending.sort(key=lambda item: (item[0], item[1]))
    next_done = 0
    for shipment in shipments:
        # Learn every delivery completed before this parcel was handed over.
        while next_done < len(pending) and pending[next_done][0] < shipment.shipped_at:
            done = pending[next_done][2]
            model.add(done.lane, done.transit, done.delivered)
            next_done += 1
        shipped = shipment.shipped_at.astimezone(tz).date()
        actual = shipment.delivered_at.astimezone(tz).date()
        shipment.status = ShipmentStatus.PICKED_UP
        started = time.perf_counter()
        estimate = estimate_compute(store=store, shipment=shipment, model=model, today=shipped)
        result.estimate_seconds += time.perf_counter() - started
        promised = shipment.promised_delivery_date
        assert estimate is not None and promised is not None  # the promise is the fallback
        result.count(estimate, actual, promised)
        period = f"{shipped.year}-H{1 if shipped.month <= 6 else 2}"
        result.periods.setdefault(period, BacktestResult()).count(estimate, actual, promised)
    started = time.perf_counter()
    transit_model_learn(history_rows(store=store), **options)
    result.learn_seconds = time.perf_counter() - started
    return result
