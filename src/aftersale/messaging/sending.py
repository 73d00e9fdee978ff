"""The sender: claims due messages, checks them once more, renders and hands them to a provider.

Any number of workers run it. A claim is a lease: a sender that dies leaves its messages to the
next one once the lease is over. Whether a message is sent again then depends on whether it was
already handed off (see smtp.py): never twice, and never lost unless the sender died in the one
socket write between the two.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import smtplib
import socket
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import connections as db_connections
from django.db import transaction
from django.db.models import F
from django.utils.crypto import get_random_string
from django.utils.module_loading import import_string

from aftersale.core import clock
from aftersale.core.models import StoreAlert
from aftersale.customers.models import Customer
from aftersale.messaging import tokens
from aftersale.messaging.context import build_context
from aftersale.messaging.kinds import get_kind
from aftersale.messaging.links import track_links
from aftersale.messaging.message_templates import resolve_template
from aftersale.messaging.models import (
    Category,
    Channel,
    Message,
    MessageLog,
    MessagingSettings,
)
from aftersale.messaging.policy import (
    PolicyLookups,
    kind_policy,
    next_free_slot,
    quiet_hours_for,
    refusal,
    settings_for,
)
from aftersale.messaging.rendering import TemplateError, render_email, render_sms
from aftersale.messaging.services import record_bounce
from aftersale.messaging.sms import SmsError, get_sms_backend
from aftersale.messaging.smtp import on_handoff, prepare_wire
from aftersale.tracking.tokens import tracking_url

logger = logging.getLogger("aftersale.messaging")

RETRY_DELAYS = [dt.timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 10800, 21600)]
SENT_FLUSH_EVERY = 50
SENT_FIELDS = [
    "status",
    "sent_at",
    "lease_until",
    "provider_message_id",
    "subject",
    "template_version",
    "status_reason",
]
WORKER_ID = f"{socket.gethostname()[:20]}-{os.getpid()}-{get_random_string(6)}"


class Transient(Exception):
    """Worth trying again later (server down, rate limited, greylisted)."""


class ConnectionLost(Transient):
    """The provider connection is gone: the rest of the batch waits too."""


class Permanent(Exception):
    """Trying again will not help (rejected content, misconfiguration)."""


class Bounce(Exception):
    def __init__(self, message: str, *, hard: bool):
        super().__init__(message)
        self.hard = hard


def _db_time(value: dt.datetime):
    return db_connection.ops.adapt_datetimefield_value(value)


def _mark_handed_off(message_id: int) -> None:
    """Autocommit, before the provider can take the message (see smtp.py)."""
    table = Message._meta.db_table
    with db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET handed_off_at = %s WHERE id = %s",  # noqa: S608
            [_db_time(clock.now()), message_id],
        )


def retry_delay(attempts: int) -> dt.timedelta:
    return RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]


# -- claiming --------------------------------------------------------------------------------


def claim_due(*, limit: int, now: dt.datetime, worker_id: str) -> list[int]:
    lease_until = now + dt.timedelta(seconds=settings.AFTERSALE_MESSAGE_LEASE_SECONDS)
    with transaction.atomic():
        due = Message.objects.filter(status=Message.Status.QUEUED, due_at__lte=now).order_by(
            "-priority", "due_at", "id"
        )
        if db_connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if ids:
            Message.objects.filter(id__in=ids).update(
                status=Message.Status.SENDING,
                claimed_by=worker_id,
                lease_until=lease_until,
                attempts=F("attempts") + 1,
            )
    return ids


def recover_abandoned(*, now: dt.datetime) -> int:
    """Messages whose sender's lease ran out: back to the queue, or sent if already handed off."""
    stale = list(
        Message.objects.filter(status=Message.Status.SENDING, lease_until__lt=now).only(
            "id", "handed_off_at", "claimed_by"
        )[:500]
    )
    recovered = 0
    for message in stale:
        with transaction.atomic():
            if message.handed_off_at is None:
                changed = Message.objects.filter(
                    pk=message.pk, status=Message.Status.SENDING, lease_until__lt=now
                ).update(status=Message.Status.QUEUED, lease_until=None, claimed_by="")
                detail = f"sender {message.claimed_by} stopped before handing it over; sent again"
                status = "queued"
            else:
                changed = Message.objects.filter(
                    pk=message.pk, status=Message.Status.SENDING, lease_until__lt=now
                ).update(
                    status=Message.Status.SENT,
                    sent_at=message.handed_off_at,
                    lease_until=None,
                    status_reason="handed off, sender stopped before the provider confirmed",
                )
                detail = (
                    f"sender {message.claimed_by} stopped after handing it to the provider; "
                    "counted as sent and not sent again, so it can never arrive twice"
                )
                status = "sent"
            if changed:
                MessageLog.objects.create(message=message, status=status, detail=detail, at=now)
                recovered += 1
    return recovered


# -- one batch ------------------------------------------------------------------------------


class _Batch:
    def __init__(self, now: dt.datetime):
        self.now = now
        self.settings: dict[int, MessagingSettings] = {}
        self.templates: dict[tuple[int, str, str, str], object] = {}
        self.policies: dict[tuple[int, str], object] = {}
        self.mail = _MailConnection()
        self.sms = None
        self.lookups: PolicyLookups | None = None
        self.sent: list[Message] = []
        self.lanes: _SmtpLanes | None = None

    def record_sent(self, message: Message) -> None:
        self.sent.append(message)
        if len(self.sent) >= SENT_FLUSH_EVERY:
            self.flush_sent()

    def flush_sent(self) -> None:
        """Write "sent" for the messages the provider accepted. Until then they are handed off,
        which a recovering sender also counts as sent, so a crash in between loses nothing."""
        if not self.sent:
            return
        sent, self.sent = self.sent, []
        table = Message._meta.db_table
        # One prepared statement for the whole lot: bulk_update's CASE expressions cost more
        # than the send itself.
        sql = (
            f"UPDATE {table} SET status = %s, sent_at = %s, lease_until = NULL, "  # noqa: S608
            "provider_message_id = %s, subject = %s, template_version = %s, "
            "status_reason = '', updated_at = %s WHERE id = %s"
        )
        now = clock.now()
        with transaction.atomic(), db_connection.cursor() as cursor:
            cursor.executemany(
                sql,
                [
                    (
                        m.status,
                        _db_time(m.sent_at),
                        m.provider_message_id,
                        m.subject,
                        m.template_version,
                        _db_time(now),
                        m.pk,
                    )
                    for m in sent
                ],
            )
            MessageLog.objects.bulk_create(
                MessageLog(
                    message=m,
                    status="sent",
                    detail=f"provider id {m.provider_message_id}",
                    at=m.sent_at,
                )
                for m in sent
            )

    def settings_of(self, store) -> MessagingSettings:
        if store.pk not in self.settings:
            self.settings[store.pk] = settings_for(store)
        return self.settings[store.pk]

    def policy_of(self, store, kind: str):
        key = (store.pk, kind)
        if key not in self.policies:
            self.policies[key] = kind_policy(store, kind)
        return self.policies[key]


class _MailConnection:
    """One open connection to the email provider, opened on first use."""

    def __init__(self):
        self.connection = None

    def open(self):
        if self.connection is None:
            self.connection = get_connection(fail_silently=False)
            try:
                self.connection.open()
            except (OSError, smtplib.SMTPException) as exc:
                self.connection = None
                raise ConnectionLost(f"cannot reach the mail server: {exc}") from None
        return self.connection

    def drop(self):
        if self.connection is not None:
            try:
                self.connection.close()
            except Exception:
                logger.debug("closing the mail connection failed", exc_info=True)
            self.connection = None


def send_due_messages(*, limit: int = 200, worker_id: str | None = None) -> int:
    """One pass of the sender; returns how many messages reached a final state."""
    now = clock.now()
    recover_abandoned(now=now)
    ids = claim_due(limit=limit, now=now, worker_id=worker_id or WORKER_ID)
    if not ids:
        return 0
    messages = list(
        Message.objects.filter(id__in=ids)
        .select_related("store", "customer", "order", "shipment")
        .order_by("-priority", "due_at", "id")
    )
    _prefetch_lines(messages)
    batch = _Batch(now)
    batch.lookups = PolicyLookups(messages)
    if _email_overlaps_rendering():
        batch.lanes = _SmtpLanes(batch)
    done = 0
    try:
        for index, message in enumerate(messages):
            if batch.lanes is not None:
                done += batch.lanes.settle_finished()
                if batch.lanes.lost is not None:
                    _release(messages[index:], str(batch.lanes.lost), batch.now)
                    break
            try:
                done += _process(message, batch)
            except ConnectionLost as exc:
                _retry(message, str(exc), batch.now)
                _release(messages[index + 1 :], str(exc), batch.now)
                break
    finally:
        try:
            if batch.lanes is not None:
                done += batch.lanes.close()
        finally:
            batch.flush_sent()
            batch.mail.drop()
    return done


def _email_overlaps_rendering() -> bool:
    """Whether the SMTP conversation runs beside the rendering of the next message.

    Only for the hand-off SMTP backend, whose waits on the server are worth overlapping, and
    never inside a transaction: the lane records hand-offs on a database connection of its own,
    which must see the claimed rows."""
    backend = import_string(settings.EMAIL_BACKEND)
    return (
        getattr(backend, "overlaps_rendering", False)
        and settings.AFTERSALE_SMTP_LANES > 0
        and not db_connection.in_atomic_block
    )


@dataclass
class _Delivery:
    message: Message
    email: EmailMultiAlternatives
    rendered: object
    resolved: object
    now: dt.datetime


_NOT_TRIED = object()


class _SmtpLanes:
    """SMTP conversations with the server, in threads of their own, each on its own connection.

    Four round trips per message are mostly spent waiting for the server; meanwhile the main
    thread renders and serialises the next messages. A lane records each hand-off itself (on its
    own database connection), so the hand-off stays exactly where it was: between the message and
    the dot that ends it. The main thread settles the outcomes. After a lost connection no lane
    tries anything more; what they still held goes back to the queue untouched."""

    DEPTH = 4
    SWITCH_INTERVAL = 0.0002

    def __init__(self, batch: _Batch):
        self.batch = batch
        self.jobs: queue.Queue[_Delivery | None] = queue.Queue(maxsize=self.DEPTH)
        self.outcomes: queue.Queue[tuple[_Delivery, object]] = queue.Queue()
        self.in_flight = 0
        self.lost: ConnectionLost | None = None
        self._gave_up = threading.Event()
        # A lane waits on the server four times per message, and each time needs the GIL back
        # from the rendering thread; at Python's default 5 ms switch interval it would wait for
        # the GIL longer than for the server.
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(self.SWITCH_INTERVAL)
        self.threads = [
            threading.Thread(target=self._run, name=f"smtp-lane-{n}", daemon=True)
            for n in range(settings.AFTERSALE_SMTP_LANES)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, delivery: _Delivery) -> None:
        self.in_flight += 1
        self.jobs.put(delivery)

    def settle_finished(self, *, wait: bool = False) -> int:
        done = 0
        while self.in_flight:
            try:
                delivery, outcome = self.outcomes.get(block=wait)
            except queue.Empty:
                break
            self.in_flight -= 1
            done += self._settle(delivery, outcome)
        return done

    def close(self) -> int:
        try:
            return self.settle_finished(wait=True)
        finally:
            for _ in self.threads:
                self.jobs.put(None)
            for thread in self.threads:
                thread.join()
            sys.setswitchinterval(self._switch_interval)

    def _settle(self, delivery: _Delivery, outcome) -> int:
        message = delivery.message
        if outcome is _NOT_TRIED:
            _release_budget(message)
            _release([message], str(self.lost), self.batch.now)
            return 0
        if isinstance(outcome, ConnectionLost):
            self.lost = self.lost or outcome
            _retry(message, str(outcome), self.batch.now)
            return 0
        return _settle(message, outcome, self.batch, delivery.now)

    def _run(self) -> None:
        mail = _MailConnection()
        try:
            while (delivery := self.jobs.get()) is not None:
                if self._gave_up.is_set():
                    outcome = _NOT_TRIED
                else:
                    try:
                        outcome = _deliver_email(
                            delivery.message,
                            delivery.email,
                            delivery.rendered,
                            delivery.resolved,
                            mail,
                        )
                    except BaseException as exc:  # handed to the main thread to settle
                        outcome = exc
                        if isinstance(exc, ConnectionLost):
                            self._gave_up.set()
                self.outcomes.put((delivery, outcome))
        finally:
            mail.drop()
            db_connections.close_all()


def _prefetch_lines(messages: list[Message]) -> None:
    from django.db.models import prefetch_related_objects

    orders = [m.order for m in messages if m.order is not None]
    prefetch_related_objects(orders, "lines__product", "lines__variant")


def _process(message: Message, batch: _Batch) -> int:
    now = clock.now()
    store = message.store
    settings_row = batch.settings_of(store)
    spec = get_kind(message.kind)

    reason = refusal(
        store=store,
        category=message.category,
        channel=message.channel,
        recipient=message.recipient,
        customer=message.customer,
        lookups=batch.lookups,
    )
    if reason:
        _finish(message, Message.Status.SUPPRESSED, reason, now)
        return 1
    if message.expires_at and now > message.expires_at:
        _finish(message, Message.Status.EXPIRED, "not sent before it expired", now)
        return 1
    quiet = quiet_hours_for(settings_row, spec, batch.policy_of(store, message.kind))
    if quiet is not None:
        allowed = quiet.next_allowed(now, message.time_zone)
        if allowed > now:
            return _defer(message, allowed, "quiet hours in the recipient's time zone", now)

    if message.category in (Category.FEEDBACK, Category.REMINDERS, Category.OFFERS):
        slot = _take_budget_place(message, settings_row, now)
        if slot is not None:
            reason = (
                f"fatigue budget full ({settings_row.fatigue_limit} per "
                f"{settings_row.fatigue_window_days} days)"
            )
            return _defer(message, slot, reason, now)

    try:
        if message.channel == Channel.EMAIL:
            email, rendered, resolved = build_email(message, batch)
            if batch.lanes is not None:
                prepare_wire(email)
                batch.lanes.submit(_Delivery(message, email, rendered, resolved, now))
                return 0  # counted when a lane's outcome is settled
            outcome = _deliver_email(message, email, rendered, resolved, batch.mail)
        else:
            outcome = _send_sms(message, batch)
    except (TemplateError, Bounce, Permanent, Transient) as exc:
        outcome = exc
    return _settle(message, outcome, batch, now)


def _settle(message: Message, outcome, batch: _Batch, now: dt.datetime) -> int:
    """Record what became of a message: sent, or the reason it was not. Returns 1 when the
    message reached a final state."""
    if isinstance(outcome, BaseException):
        try:
            raise outcome
        except TemplateError as exc:
            _finish(message, Message.Status.FAILED, f"template error: {exc}", now)
            _alert_template(message, exc)
            return 1
        except Bounce as exc:
            _release_budget(message)
            record_bounce(message=message, hard=exc.hard, detail=str(exc))
            return 1
        except Permanent as exc:
            _release_budget(message)
            _finish(message, Message.Status.FAILED, str(exc), now)
            return 1
        except ConnectionLost:
            raise
        except Transient as exc:
            _retry(message, str(exc), now)
            return 0
    provider_id, subject, version = outcome
    message.status = Message.Status.SENT
    message.sent_at = clock.now()
    message.lease_until = None
    message.provider_message_id = provider_id[:200]
    message.subject = subject[:300]
    message.template_version = version
    message.status_reason = ""
    batch.record_sent(message)
    return 1


# -- outcomes -------------------------------------------------------------------------------


def _finish(message: Message, status: str, reason: str, now: dt.datetime) -> None:
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=status, status_reason=reason[:300], lease_until=None
        )
        MessageLog.objects.create(message=message, status=status, detail=reason, at=now)


def _defer(message: Message, until: dt.datetime, reason: str, now: dt.datetime) -> int:
    if message.expires_at and until > message.expires_at:
        _finish(
            message,
            Message.Status.EXPIRED,
            f"{reason}; the next free time {until:%Y-%m-%d %H:%M} UTC is after it expires",
            now,
        )
        return 1
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.QUEUED,
            due_at=until,
            lease_until=None,
            claimed_by="",
            attempts=F("attempts") - 1,
        )
        MessageLog.objects.create(
            message=message,
            status="deferred",
            detail=f"{reason}; waits until {until:%Y-%m-%d %H:%M} UTC",
            at=now,
        )
    return 0


def _retry(message: Message, error: str, now: dt.datetime) -> None:
    _release_budget(message)
    attempts = Message.objects.filter(pk=message.pk).values_list("attempts", flat=True).first()
    if attempts is None:
        return
    if attempts >= settings.AFTERSALE_MESSAGE_MAX_ATTEMPTS:
        _finish(message, Message.Status.FAILED, f"gave up after {attempts} attempts: {error}", now)
        return
    delay = retry_delay(attempts)
    with transaction.atomic():
        Message.objects.filter(pk=message.pk).update(
            status=Message.Status.QUEUED,
            due_at=now + delay,
            lease_until=None,
            claimed_by="",
            handed_off_at=None,
            status_reason=error[:300],
        )
        MessageLog.objects.create(
            message=message,
            status="failed",
            detail=f"attempt {attempts}: {error}; retrying in {int(delay.total_seconds())} s",
            at=now,
        )


def _release(messages: Iterable[Message], reason: str, now: dt.datetime) -> None:
    """Give claimed messages back untouched (their attempt does not count)."""
    ids = [m.pk for m in messages]
    if ids:
        Message.objects.filter(pk__in=ids, status=Message.Status.SENDING).update(
            status=Message.Status.QUEUED,
            due_at=now + RETRY_DELAYS[0],
            lease_until=None,
            claimed_by="",
            attempts=F("attempts") - 1,
        )


def _take_budget_place(
    message: Message, settings_row: MessagingSettings, now: dt.datetime
) -> dt.datetime | None:
    """Reserve a place in the shopper's fatigue budget; returns when to retry if it is full."""
    with transaction.atomic():
        if message.customer_id and db_connection.features.has_select_for_update:
            # Serialises concurrent senders for the same shopper, so the budget is never overrun.
            list(Customer.objects.select_for_update().filter(pk=message.customer_id).only("id"))
        slot = next_free_slot(message, settings_row, now)
        if slot is None:
            Message.objects.filter(pk=message.pk).update(budgeted_at=now)
    return slot


def _release_budget(message: Message) -> None:
    Message.objects.filter(pk=message.pk, budgeted_at__isnull=False).update(budgeted_at=None)


def _alert_template(message: Message, exc: TemplateError) -> None:
    subject = f"template:{message.kind}:{message.channel}:{message.locale}"
    if not StoreAlert.objects.filter(
        store=message.store, kind="template_error", subject=subject, resolved_at__isnull=True
    ).exists():
        StoreAlert.objects.create(
            store=message.store,
            level=StoreAlert.Level.ERROR,
            kind="template_error",
            subject=subject,
            message=f"The {message.kind} {message.channel} template ({message.locale}) "
            f"cannot render, so messages fail: {exc}",
        )


# -- channels -------------------------------------------------------------------------------


def message_context(
    message: Message,
    *,
    marketing: bool,
    settings_row: MessagingSettings | None = None,
    unsubscribe_url: str = "",
) -> dict:
    store = message.store
    links = {
        "preferences_url": tokens.preferences_url(message.customer.public_id)
        if message.customer
        else "",
        "unsubscribe_url": unsubscribe_url or tokens.unsubscribe_url(message.public_id),
        "shop_url": store.website_url or settings.PUBLIC_BASE_URL,
    }
    if message.order is not None:
        order_link = tokens.order_url(message.order.public_id)
        links["order_url"] = tracking_url(message.order.public_id)
        # Until the survey and review pages exist, these lead to the order.
        links["feedback_url"] = order_link
        links["review_url"] = order_link
    extra = dict(message.context or {})
    spec_context = get_kind(message.kind).context
    if spec_context is not None:
        added = dict(spec_context(message) or {})
        links.update(added.pop("links", {}) or {})
        for key, value in added.items():
            extra.setdefault(key, value)
    links.update(extra.pop("links", {}) or {})
    return build_context(
        store=store,
        locale=message.locale,
        time_zone=message.time_zone,
        marketing=marketing,
        customer=message.customer,
        email=message.recipient if message.channel == Channel.EMAIL else "",
        order=message.order,
        order_lines=list(message.order.lines.all()) if message.order else None,
        shipment=message.shipment,
        links=links,
        extra=extra,
        footer_note=(settings_row or settings_for(store)).footer_note,
    )


def _from_address(settings_row: MessagingSettings, store) -> str:
    if settings_row.sender_email:
        name = (settings_row.sender_name or store.name).replace('"', "")
        return f'"{name}" <{settings_row.sender_email}>'
    return settings.DEFAULT_FROM_EMAIL


def build_email(message: Message, batch: _Batch | None = None):
    store = message.store
    resolved = resolve_template(
        store=store,
        kind=message.kind,
        channel=Channel.EMAIL,
        locale=message.locale,
        cache=batch.templates if batch is not None else None,
    )
    if resolved is None:
        raise TemplateError(f"no {message.locale} email template for {message.kind}")
    settings_row = batch.settings_of(store) if batch else settings_for(store)
    unsubscribe = tokens.unsubscribe_url(message.public_id)
    context = message_context(
        message,
        marketing=message.category != Category.TRANSACTIONAL,
        settings_row=settings_row,
        unsubscribe_url=unsubscribe,
    )
    rendered = render_email(resolved.parts, context)
    headers = {
        "Message-ID": f"<{message.public_id}@{settings.AFTERSALE_MESSAGE_ID_DOMAIN}>",
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "X-Aftersale-Message": message.public_id,
    }
    if message.category != Category.TRANSACTIONAL:
        headers["Precedence"] = "bulk"
    email = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        from_email=_from_address(settings_row, store),
        to=[message.recipient],
        reply_to=[settings_row.reply_to or store.support_email]
        if (settings_row.reply_to or store.support_email)
        else None,
        headers=headers,
    )
    email.attach_alternative(track_links(rendered.html, message.public_id), "text/html")
    # Providers behind django-anymail echo this back in bounce and complaint webhooks.
    email.metadata = {"aftersale_message": message.public_id}
    return email, rendered, resolved


def _deliver_email(
    message: Message, email, rendered, resolved, mail: _MailConnection
) -> tuple[str, str, int | None]:
    conn = mail.open()

    def hand_off():
        _mark_handed_off(message.pk)

    late = getattr(conn, "hands_off_late", False)
    if not late:
        hand_off()
    try:
        with on_handoff(hand_off):
            conn.send_messages([email])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        detail = f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
        if 500 <= code < 600:
            raise Bounce(f"recipient refused: {detail}", hard=True) from None
        raise Transient(f"recipient deferred: {detail}") from None
    except smtplib.SMTPResponseException as exc:
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else (str(exc.smtp_error))
        )
        if 500 <= exc.smtp_code < 600:
            raise Permanent(f"mail server refused the message: {exc.smtp_code} {text}") from None
        raise Transient(f"mail server: {exc.smtp_code} {text}") from None
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        mail.drop()
        handed = Message.objects.filter(pk=message.pk).values_list("handed_off_at", flat=True)
        if handed.first() is not None:
            # The server may have the message: never send it twice.
            return "", rendered.subject, resolved.version
        raise ConnectionLost(f"mail server connection lost: {exc}") from None
    except Exception as exc:  # anymail and other providers
        _classify_provider_error(exc)
        raise
    provider_id = ""
    status = getattr(email, "anymail_status", None)
    if status is not None and getattr(status, "message_id", None):
        provider_id = str(status.message_id)
    return provider_id or email.extra_headers["Message-ID"], rendered.subject, resolved.version


def _classify_provider_error(exc: Exception) -> None:
    try:
        from anymail.exceptions import AnymailAPIError, AnymailRecipientsRefused
    except ImportError:  # pragma: no cover - anymail is a dependency
        raise Transient(str(exc)) from None
    if isinstance(exc, AnymailRecipientsRefused):
        raise Bounce(f"provider refused the recipient: {exc}", hard=True) from None
    if isinstance(exc, AnymailAPIError):
        status = getattr(exc, "status_code", None) or 0
        if status == 429 or status >= 500 or status == 0:
            raise Transient(f"provider: {exc}") from None
        raise Permanent(f"provider refused the message: {exc}") from None
    raise Transient(f"{type(exc).__name__}: {exc}") from None


def _send_sms(message: Message, batch: _Batch) -> tuple[str, str, int | None]:
    resolved = resolve_template(
        store=message.store,
        kind=message.kind,
        channel=Channel.SMS,
        locale=message.locale,
        cache=batch.templates,
    )
    if resolved is None:
        raise TemplateError(f"no {message.locale} SMS template for {message.kind}")
    context = message_context(
        message,
        marketing=message.category != Category.TRANSACTIONAL,
        settings_row=batch.settings_of(message.store),
    )
    body = render_sms(resolved.parts.text_body, context)
    if batch.sms is None:
        batch.sms = get_sms_backend()
    _mark_handed_off(message.pk)
    try:
        provider_id = batch.sms.send(
            to=message.recipient, body=body, sender=batch.settings_of(message.store).sms_sender
        )
    except SmsError as exc:
        if exc.ambiguous:
            # The provider may have taken it: never send it twice.
            return "", body[:300], resolved.version
        if exc.unreachable:
            raise Bounce(str(exc), hard=True) from None
        Message.objects.filter(pk=message.pk).update(handed_off_at=None)
        if exc.permanent:
            raise Permanent(str(exc)) from None
        raise Transient(str(exc)) from None
    return provider_id, body[:300], resolved.version


def run_sender_until_idle(*, max_seconds: float = 30.0) -> int:
    """Send until nothing is due (tests, the demo's first run)."""
    deadline = time.monotonic() + max_seconds
    total = 0
    while time.monotonic() < deadline:
        done = send_due_messages()
        total += done
        if not Message.objects.filter(
            status=Message.Status.QUEUED, due_at__lte=clock.now()
        ).exists():
            break
    return total
