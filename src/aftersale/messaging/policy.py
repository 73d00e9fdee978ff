"""The rules every message passes: suppression, consent, preferences, quiet hours, fatigue."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass

from django.db.models import Q

from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.messaging.kinds import MessageKind
from aftersale.messaging.models import (
    BUDGETED_CATEGORIES,
    CONSENT_CATEGORIES,
    Category,
    ContactPreference,
    KindPolicy,
    Message,
    MessagingSettings,
    Suppression,
)


def settings_for(store: Store) -> MessagingSettings:
    found = MessagingSettings.objects.filter(store=store).first()
    if found is None:
        found, _ = MessagingSettings.objects.get_or_create(store=store)
    return found


def kind_policy(store: Store, kind: str) -> KindPolicy | None:
    return KindPolicy.objects.filter(store=store, kind=kind).first()


def zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


@dataclass(frozen=True)
class QuietHours:
    start: dt.time
    end: dt.time

    def contains(self, local: dt.time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window crosses midnight

    def next_allowed(self, when: dt.datetime, time_zone: str) -> dt.datetime:
        """`when` if it is outside quiet hours, else the end of them in the recipient's zone."""
        tz = zone(time_zone)
        local = when.astimezone(tz)
        if not self.contains(local.time().replace(tzinfo=None)):
            return when
        end_day = local.date()
        if self.start > self.end and local.time() >= self.start:
            end_day += dt.timedelta(days=1)
        end_local = dt.datetime.combine(end_day, self.end, tzinfo=tz)
        # A wall-clock time skipped by a DST change resolves through UTC to a real instant.
        return end_local.astimezone(dt.UTC)


def quiet_hours_for(
    settings: MessagingSettings, kind: MessageKind, policy: KindPolicy | None
) -> QuietHours | None:
    if policy is not None and policy.ignore_quiet_hours:
        return None
    if policy is not None and policy.quiet_hours_start and policy.quiet_hours_end:
        return QuietHours(policy.quiet_hours_start, policy.quiet_hours_end)
    if kind.ignores_quiet_hours and policy is None:
        return None
    return QuietHours(settings.quiet_hours_start, settings.quiet_hours_end)


class PolicyLookups:
    """Suppressions and preferences for a whole batch of messages, read in two queries."""

    def __init__(self, messages: list[Message]):
        addresses = {m.recipient for m in messages if m.recipient}
        store_ids = {m.store_id for m in messages}
        self.suppressed = {
            (store_id, channel, address): reason
            for store_id, channel, address, reason in Suppression.objects.filter(
                store_id__in=store_ids, address__in=addresses
            ).values_list("store_id", "channel", "address", "reason")
        }
        customer_ids = {m.customer_id for m in messages if m.customer_id}
        self.preferences = {
            pref.customer_id: pref
            for pref in ContactPreference.objects.filter(customer_id__in=customer_ids)
        }

    def suppression(self, store: Store, channel: str, address: str) -> str | None:
        return self.suppressed.get((store.pk, channel, address))

    def preference(self, customer: Customer) -> ContactPreference | None:
        return self.preferences.get(customer.pk)


def refusal(
    *,
    store: Store,
    category: str,
    channel: str,
    recipient: str,
    customer: Customer | None,
    lookups: PolicyLookups | None = None,
) -> str | None:
    """Why this message must not go out, or None when it may."""
    if not recipient:
        return f"no {'email address' if channel == 'email' else 'phone number'} to send to"
    if lookups is not None:
        suppressed = lookups.suppression(store, channel, recipient)
    else:
        suppressed = (
            Suppression.objects.filter(store=store, channel=channel, address=recipient)
            .values_list("reason", flat=True)
            .first()
        )
    if suppressed:
        return f"address suppressed ({Suppression.Reason(suppressed).label.lower()})"
    if category == Category.TRANSACTIONAL:
        return None
    if category in CONSENT_CATEGORIES and (customer is None or not customer.accepts_marketing):
        return "no marketing consent"
    if customer is not None:
        if lookups is not None:
            pref = lookups.preference(customer)
        else:
            pref = ContactPreference.objects.filter(customer=customer).first()
        if pref is not None and not pref.allows(category, channel):
            return f"opted out of {Category(category).label.lower()} by {channel}"
    return None


def budget_scope(message: Message) -> Q:
    if message.customer_id:
        return Q(customer_id=message.customer_id)
    return Q(recipient=message.recipient)


def next_free_slot(
    message: Message, settings: MessagingSettings, now: dt.datetime
) -> dt.datetime | None:
    """None when the shopper's fatigue budget has room now; else when the next place frees up."""
    if message.category not in BUDGETED_CATEGORIES or settings.fatigue_limit == 0:
        return None
    window = dt.timedelta(days=settings.fatigue_window_days)
    used = Message.objects.filter(
        budget_scope(message),
        store_id=message.store_id,
        budgeted_at__gt=now - window,
    ).exclude(pk=message.pk)
    stamps = list(used.order_by("budgeted_at").values_list("budgeted_at", flat=True))
    if len(stamps) < settings.fatigue_limit:
        return None
    # Places free up oldest first; this message needs the one that frees the budget below limit.
    return stamps[len(stamps) - settings.fatigue_limit] + window + dt.timedelta(seconds=1)
