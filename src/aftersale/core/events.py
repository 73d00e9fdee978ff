"""The outbox: emit() writes an event in the caller's transaction; the worker hands it on.

Subscribers register in their AppConfig.ready() with `@subscribe("order.*")`. Each event is given
to each matching subscriber at least once, in event order per aggregate (one order's events never
overtake each other). A subscriber runs inside a savepoint together with the row that marks it
done, so its own database writes happen exactly once; side effects outside the database must be
idempotent. A subscriber that raises is retried with backoff; later events of the same aggregate
wait behind it. After AFTERSALE_EVENT_MAX_ATTEMPTS the event is parked as failed and an alert is
raised.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

from aftersale.core import clock
from aftersale.core.models import HandledEvent, Mutex, OutboxEvent, Store, StoreAlert

logger = logging.getLogger(__name__)

EVENT_MAX_ATTEMPTS = 10
DISPATCH_MUTEX = "outbox-dispatcher"

Handler = Callable[[OutboxEvent], None]


@dataclass(frozen=True)
class Subscriber:
    pattern: str
    name: str
    handler: Handler

    def matches(self, event_name: str) -> bool:
        return fnmatch.fnmatchcase(event_name, self.pattern)


_subscribers: list[Subscriber] = []


def subscribe(pattern: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        sub_name = name or f"{handler.__module__}.{handler.__qualname__}"
        if not any(s.name == sub_name and s.pattern == pattern for s in _subscribers):
            _subscribers.append(Subscriber(pattern=pattern, name=sub_name, handler=handler))
        return handler

    return register


def subscribers_for(event_name: str) -> list[Subscriber]:
    return [s for s in _subscribers if s.matches(event_name)]


# -- a memo per dispatch batch ----------------------------------------------------------------

_batch = threading.local()


def batch_memo(key: tuple, compute: Callable[[], object]):
    """What `compute()` returns, computed once per dispatch batch for this key (a store's active
    flows, its webhook endpoints …); computed every time outside a batch. The memo is emptied
    when a subscriber fails (its savepoint may have rolled back what a value was read from), and
    ends with the batch, so what other processes change is seen by the next batch."""
    memo = getattr(_batch, "memo", None)
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def batch_forget(prefix: tuple) -> None:
    """Drop the running batch's memoised values whose key starts with `prefix` (after writing
    what they were read from)."""
    memo = getattr(_batch, "memo", None)
    if memo:
        for key in [k for k in memo if k[: len(prefix)] == prefix]:
            del memo[key]


def emit(*, store: Store, name: str, aggregate: str, payload: dict) -> OutboxEvent:
    """Record an event; call it inside the transaction that made the change."""
    return OutboxEvent.objects.create(store=store, name=name, aggregate=aggregate, payload=payload)


def event(*, store: Store, name: str, aggregate: str, payload: dict) -> OutboxEvent:
    """An event not yet recorded: collect several and write them with emit_all()."""
    return OutboxEvent(store=store, name=name, aggregate=aggregate, payload=payload)


def emit_all(events: list[OutboxEvent]) -> None:
    """Record events built with event(), in list order, with one INSERT; call it inside the
    transaction that made the change."""
    if events:
        OutboxEvent.objects.bulk_create(events)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


def dispatch_pending(*, batch_size: int = 200) -> int:
    """Hand pending events to their subscribers. Returns how many events were completed."""
    if not OutboxEvent.objects.filter(dispatched_at__isnull=True).exists():
        return 0
    Mutex.objects.get_or_create(name=DISPATCH_MUTEX)
    completed = 0
    with transaction.atomic():
        lock = Mutex.objects.select_for_update(skip_locked=True).filter(name=DISPATCH_MUTEX)
        if lock.first() is None:
            return 0  # another worker is dispatching
        now = clock.now()
        events = list(
            OutboxEvent.objects.filter(dispatched_at__isnull=True)
            .select_related("store")
            .order_by("id")[:batch_size]
        )
        done_pairs = set(
            HandledEvent.objects.filter(event__in=events).values_list("event_id", "handler")
        )
        blocked: set[tuple[int, str]] = set()
        _batch.memo = {}
        try:
            for event in events:
                key = (event.store_id, event.aggregate)
                if key in blocked:
                    continue
                if event.next_attempt_at and event.next_attempt_at > now:
                    blocked.add(key)
                    continue
                if _deliver(event, done_pairs, now):
                    completed += 1
                else:
                    blocked.add(key)
        finally:
            _batch.memo = None
    return completed


def _deliver(event: OutboxEvent, done_pairs: set[tuple[int, str]], now) -> bool:
    for sub in subscribers_for(event.name):
        if (event.pk, sub.name) in done_pairs:
            continue
        try:
            with transaction.atomic():
                sub.handler(event)
                HandledEvent.objects.create(event=event, handler=sub.name)
        except Exception as exc:
            if getattr(_batch, "memo", None):
                _batch.memo.clear()
            _record_failure(event, sub, exc, now)
            return event.dispatched_at is not None  # parked events no longer block
    event.dispatched_at = now
    event.save(update_fields=["dispatched_at"])
    return True


def _record_failure(event: OutboxEvent, sub: Subscriber, exc: Exception, now) -> None:
    logger.warning("subscriber %s failed on %s %s: %s", sub.name, event.name, event.pk, exc)
    event.attempts += 1
    event.last_error = f"{sub.name}: " + "".join(traceback.format_exception(exc))[-4000:]
    event.next_attempt_at = now + _backoff(event.attempts)
    fields = ["attempts", "last_error", "next_attempt_at"]
    if event.attempts >= EVENT_MAX_ATTEMPTS:
        event.failed_at = now
        event.dispatched_at = now
        fields += ["failed_at", "dispatched_at"]
        StoreAlert.objects.create(
            store=event.store,
            level=StoreAlert.Level.ERROR,
            kind="event_failed",
            subject=event.public_id,
            message=(
                f"Event {event.name} ({event.public_id}) could not be processed by {sub.name} "
                f"after {event.attempts} attempts: {exc}"
            ),
        )
    event.save(update_fields=fields)
