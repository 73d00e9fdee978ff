"""The step runner: claims due steps, runs each exactly once in effect, schedules the next.

Every worker polls it (core.tasks.register_poller). A claim is a lease: the claimed rows say who
runs them until when, and a worker that dies leaves them to whoever claims after the lease. A
step's database effects, its StepRun, marking it done and scheduling the next step commit in one
transaction, so a step that dies half-way left nothing and simply runs again. What leaves the
database is idempotent: messages are keyed by enrolment and step, discounts likewise, tags are a
set, and webhook bodies carry an Idempotency-Key header of enrolment and step.

Steps are run in batches: one claim takes up to `limit` due steps in one statement, and they run
in chunks of CHUNK (SQLITE_CHUNK on SQLite), each chunk in one transaction (row and enrolment
locks, the steps' effects, their StepRuns, marking them done and inserting their next steps all
commit together, so exactly-once holds per chunk as it did per step). Parsed definitions, stores
and flows are read once per claim, enrolments and customers once per chunk; StepRuns, next steps,
tags and events are written with one statement each, done rows with one UPDATE (see the bulk
writes in services.py). If any step of a chunk raises, the whole chunk rolls back (it committed
nothing) and its steps run again one by one, each in its own transaction, so a failing step is
recorded and retried alone. Webhook steps always run one by one: their POST happens outside any
transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils.crypto import get_random_string

from aftersale.core import clock
from aftersale.core.models import Store, StoreAlert
from aftersale.journeys.definition import (
    END,
    ConditionStep,
    Definition,
    DiscountStep,
    RandomSplitStep,
    SendStep,
    TagStep,
    WaitStep,
    WebhookStep,
)
from aftersale.journeys.fields import Facts, compare, field_value
from aftersale.journeys.models import Enrolment, Flow, FlowVersion, ScheduledStep, StepRun
from aftersale.journeys.services import (
    CustomerTags,
    customer_tag_add,
    definition_of,
    discount_context,
    discount_issue,
    enrolment_finish,
    insert_all,
    next_step_fields,
    one_of,
    schedule_step,
    unsubscribed_enrolments,
    update_rows,
)
from aftersale.journeys.webhook import PostResult, post_signed
from aftersale.messaging.models import Message
from aftersale.messaging.services import message_enqueue

logger = logging.getLogger("aftersale.journeys")

WORKER_ID = f"{socket.gethostname()[:20]}-{os.getpid()}-{get_random_string(6)}"
STEP_MAX_ATTEMPTS = 5
CLAIM_LIMIT = 500  # steps claimed in one statement
CHUNK = 500  # steps run in one transaction: fewer, larger statements per step
# On SQLite a chunk's transaction holds the database's one writer lock, which every other writer
# waits for: a smaller chunk keeps that wait short, at little cost in throughput.
SQLITE_CHUNK = 250
WEBHOOK_BACKOFF = [dt.timedelta(seconds=s) for s in (30, 120, 600, 1800, 3600, 10800)]


def lease_seconds() -> int:
    return getattr(settings, "AFTERSALE_JOURNEY_LEASE_SECONDS", 120)


@dataclass(frozen=True)
class Outcome:
    outcome: str
    detail: str = ""
    next: str | None = None  # where to go, when the step chooses
    retry_at: dt.datetime | None = None  # try the step again then instead of moving on


# -- claiming --------------------------------------------------------------------------------


def claim_due_steps(
    *, limit: int = 100, now: dt.datetime | None = None, worker_id: str = WORKER_ID
) -> list[int]:
    """Lease up to `limit` due steps (and steps whose lease ran out) to this worker.

    PostgreSQL: rows locked by another claimer are skipped. SQLite: BEGIN IMMEDIATE already
    serialises writers, so the select-then-update inside one transaction cannot interleave."""
    now = now or clock.now()
    lease_until = now + dt.timedelta(seconds=lease_seconds())
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        due = ScheduledStep.objects.filter(
            status=ScheduledStep.Status.PENDING, due_at__lte=now
        ).order_by("due_at", "id")
        if skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("id", flat=True)[:limit])
        if len(ids) < limit:
            stale = ScheduledStep.objects.filter(
                status=ScheduledStep.Status.RUNNING, lease_until__lt=now
            ).order_by("lease_until", "id")
            if skip_locked:
                stale = stale.select_for_update(skip_locked=True)
            ids += list(stale.values_list("id", flat=True)[: limit - len(ids)])
        if ids:
            ScheduledStep.objects.filter(one_of(ScheduledStep, "id", ids)).update(
                status=ScheduledStep.Status.RUNNING,
                claimed_by=worker_id,
                lease_until=lease_until,
                attempts=F("attempts") + 1,
            )
    return ids


def run_due_steps(*, limit: int = CLAIM_LIMIT, worker_id: str = WORKER_ID, rounds: int = 10) -> int:
    """The poller: run what is due, including steps that became due by running others (up to
    `rounds` batches, so one worker turn stays short). Returns how many steps finished."""
    done = 0
    for _ in range(rounds):
        ids = claim_due_steps(limit=limit, worker_id=worker_id)
        if not ids:
            break
        done += run_claimed_steps(ids, worker_id=worker_id)
        if len(ids) < limit and not _more_due():
            break
    return done


def _more_due() -> bool:
    return ScheduledStep.objects.filter(
        status=ScheduledStep.Status.PENDING, due_at__lte=clock.now()
    ).exists()


def run_until_idle(*, max_rounds: int = 50) -> int:
    """Run steps until none is due (tests, the demo)."""
    total = 0
    for _ in range(max_rounds):
        done = run_due_steps()
        total += done
        if not done and not _more_due():
            break
    return total


# -- running a batch of steps -----------------------------------------------------------------


def run_claimed_steps(ids: list[int], *, worker_id: str = WORKER_ID) -> int:
    """Run steps this worker claimed, CHUNK to a transaction. Returns how many finished."""
    claimed = list(
        ScheduledStep.objects.filter(
            one_of(ScheduledStep, "id", ids),
            status=ScheduledStep.Status.RUNNING,
            claimed_by=worker_id,
        )
        .order_by("due_at", "id")
        .values_list(
            "id", "step_id", "enrolment__version_id", "enrolment__store_id", "enrolment__flow_id"
        )
    )
    batch = _Batch(
        definitions=_definitions_of({version_id for _, _, version_id, _, _ in claimed}),
        stores=Store.objects.in_bulk({store_id for *_, store_id, _ in claimed}),
        flows=Flow.objects.in_bulk({flow_id for *_, flow_id in claimed}),
    )
    alone: list[int] = []
    batched: list[int] = []
    for pk, step_id, version_id, _, _ in claimed:
        step = batch.definitions[version_id].step(step_id)
        (alone if isinstance(step, WebhookStep) else batched).append(pk)
    done = 0
    size = SQLITE_CHUNK if connection.vendor == "sqlite" else CHUNK
    for start in range(0, len(batched), size):
        done += _run_chunk(batched[start : start + size], worker_id, batch)
    for pk in alone:
        done += run_claimed_step(pk, worker_id=worker_id)
    return done


@dataclass(frozen=True)
class _Batch:
    """What the steps of one claim share, read once: parsed definitions by version, stores and
    flows by id."""

    definitions: dict[int, Definition]
    stores: dict[int, Store]
    flows: dict[int, Flow]


def _definitions_of(version_ids: set[int]) -> dict[int, Definition]:
    return {v.pk: definition_of(v) for v in FlowVersion.objects.filter(pk__in=version_ids)}


def _run_chunk(pks: list[int], worker_id: str, batch: _Batch) -> int:
    try:
        return _run_many(pks, worker_id, batch)
    except Exception:
        # Nothing of the chunk committed; run its steps one by one so the failing one is
        # recorded (and retried) alone and the others go ahead.
        logger.warning("a batch of %s journey steps failed; running them one by one", len(pks))
        return sum(run_claimed_step(pk, worker_id=worker_id) for pk in pks)


def _run_many(pks: list[int], worker_id: str, batch: _Batch) -> int:
    done = 0
    definitions = batch.definitions
    with transaction.atomic():
        rows = list(
            ScheduledStep.objects.select_for_update()
            .filter(
                one_of(ScheduledStep, "id", pks),
                status=ScheduledStep.Status.RUNNING,
                claimed_by=worker_id,
            )
            .order_by("id")
        )
        if not rows:
            return 0
        # One step per enrolment per chunk: a second one (never expected) runs alone after it.
        first: dict[int, ScheduledStep] = {}
        later: list[int] = []
        for row in rows:
            if row.enrolment_id in first:
                later.append(row.pk)
            else:
                first[row.enrolment_id] = row
        rows = list(first.values())
        enrolments = {
            e.pk: e
            for e in Enrolment.objects.select_for_update(of=("self",))
            .select_related("customer", "order", "shipment")
            .filter(one_of(Enrolment, "id", [r.enrolment_id for r in rows]))
            .order_by("pk")
        }
        for enrolment in enrolments.values():
            enrolment.store = batch.stores[enrolment.store_id]
            enrolment.flow = batch.flows[enrolment.flow_id]
        now = clock.now()
        tagging = CustomerTags(
            (enrolments[r.enrolment_id].customer_id, enrolments[r.enrolment_id].store_id)
            for r in rows
            if enrolments[r.enrolment_id].state == Enrolment.State.ACTIVE
            and isinstance(
                definitions[enrolments[r.enrolment_id].version_id].step(r.step_id), TagStep
            )
        )
        unsubscribed = unsubscribed_enrolments(
            [
                e
                for e in enrolments.values()
                if e.state == Enrolment.State.ACTIVE
                and definitions[e.version_id].exits_on_unsubscribe
            ]
        )
        runs: list[dict] = []
        closed: dict[str, list[int]] = {
            ScheduledStep.Status.DONE: [],
            ScheduledStep.Status.CANCELLED: [],
        }
        upcoming: list[dict] = []
        for row in rows:
            enrolment = enrolments[row.enrolment_id]
            row.enrolment = enrolment
            definition = definitions[enrolment.version_id]
            step = definition.step(row.step_id)
            if enrolment.state != Enrolment.State.ACTIVE:
                closed[ScheduledStep.Status.CANCELLED].append(row.pk)
                done += 1
                continue
            if enrolment.pk in unsubscribed:
                closed[ScheduledStep.Status.CANCELLED].append(row.pk)
                enrolment_finish(
                    enrolment=enrolment,
                    state=Enrolment.State.EXITED,
                    reason="unsubscribed",
                    now=now,
                )
                done += 1
                continue
            if isinstance(step, TagStep) and enrolment.customer is not None:
                added = tagging.add(
                    store=enrolment.store, customer_id=enrolment.customer_id, tag=step.tag
                )
                outcome = Outcome("tagged" if added else "already_tagged", step.tag)
            else:
                outcome = _act(step, row, enrolment, definition, now, None)
            runs.append(_step_run_row(enrolment, row.step_id, outcome, now))
            if outcome.retry_at is not None:
                ScheduledStep.objects.filter(pk=row.pk).update(
                    status=ScheduledStep.Status.PENDING,
                    due_at=outcome.retry_at,
                    claimed_by="",
                    lease_until=None,
                )
                continue
            closed[ScheduledStep.Status.DONE].append(row.pk)
            done += 1
            target = outcome.next or definition.successors(step)[0]
            if target == END:
                enrolment_finish(
                    enrolment=enrolment, state=Enrolment.State.COMPLETED, reason="", now=now
                )
            else:
                upcoming.append(
                    {
                        "enrolment_id": enrolment.pk,
                        **next_step_fields(
                            enrolment=enrolment, definition=definition, step_id=target, now=now
                        ),
                    }
                )
        tagging.save()
        insert_all(StepRun, runs)
        for status, closing in closed.items():
            if closing:
                ScheduledStep.objects.filter(one_of(ScheduledStep, "id", closing)).update(
                    status=status, executed_at=now, lease_until=None
                )
        insert_all(ScheduledStep, upcoming)
        update_rows(
            Enrolment, ["current_step"], [(n["enrolment_id"], n["step_id"]) for n in upcoming]
        )
    for pk in later:
        done += run_claimed_step(pk, worker_id=worker_id)
    return done


# -- running one step -----------------------------------------------------------------------


def run_claimed_step(pk: int, *, worker_id: str = WORKER_ID) -> int:
    try:
        return _run(pk, worker_id)
    except Exception as exc:  # a bug or an outage: retry later, give up after a few attempts
        logger.exception("journey step %s failed", pk)
        _record_error(pk, worker_id, exc)
        return 0


def _run(pk: int, worker_id: str) -> int:
    row = (
        ScheduledStep.objects.select_related("enrolment__version", "enrolment__flow")
        .filter(pk=pk, status=ScheduledStep.Status.RUNNING, claimed_by=worker_id)
        .first()
    )
    if row is None:
        return 0  # the lease went to another worker
    definition = definition_of(row.enrolment.version)
    step = definition.step(row.step_id)
    posted: PostResult | None = None
    if isinstance(step, WebhookStep) and row.enrolment.state == Enrolment.State.ACTIVE:
        # Never hold a transaction open over the network; the body is keyed for the receiver.
        posted = _post_webhook(row.enrolment, step)

    with transaction.atomic():
        row = (
            ScheduledStep.objects.select_for_update()
            .filter(pk=pk, status=ScheduledStep.Status.RUNNING, claimed_by=worker_id)
            .first()
        )
        if row is None:
            return 0
        enrolment = (
            Enrolment.objects.select_for_update(of=("self",))
            .select_related("store", "flow", "customer", "order", "shipment")
            .get(pk=row.enrolment_id)
        )
        now = clock.now()
        if enrolment.state != Enrolment.State.ACTIVE:
            _close(row, ScheduledStep.Status.CANCELLED, now)
            return 1
        if definition.exits_on_unsubscribe and enrolment.pk in unsubscribed_enrolments([enrolment]):
            _close(row, ScheduledStep.Status.CANCELLED, now)
            enrolment_finish(
                enrolment=enrolment, state=Enrolment.State.EXITED, reason="unsubscribed", now=now
            )
            return 1
        outcome = _act(step, row, enrolment, definition, now, posted)
        _record(enrolment, row.step_id, outcome, now)
        if outcome.retry_at is not None:
            ScheduledStep.objects.filter(pk=row.pk).update(
                status=ScheduledStep.Status.PENDING,
                due_at=outcome.retry_at,
                claimed_by="",
                lease_until=None,
            )
            return 0
        _close(row, ScheduledStep.Status.DONE, now)
        target = outcome.next or definition.successors(step)[0]
        schedule_step(enrolment=enrolment, definition=definition, step_id=target, now=now)
    return 1


def _close(row: ScheduledStep, status: str, now: dt.datetime) -> None:
    ScheduledStep.objects.filter(pk=row.pk).update(status=status, executed_at=now, lease_until=None)


def _step_run_row(enrolment: Enrolment, step_id: str, outcome: Outcome, now: dt.datetime) -> dict:
    return {
        "store_id": enrolment.store_id,
        "flow_id": enrolment.flow_id,
        "enrolment_id": enrolment.pk,
        "step_id": step_id,
        "outcome": outcome.outcome,
        "detail": outcome.detail,
        "at": now,
    }


def _record(enrolment: Enrolment, step_id: str, outcome: Outcome, now: dt.datetime) -> None:
    StepRun(**_step_run_row(enrolment, step_id, outcome, now)).save(force_insert=True)


def _record_error(pk: int, worker_id: str, exc: Exception) -> None:
    with transaction.atomic():
        row = (
            ScheduledStep.objects.select_for_update()
            .select_related("enrolment")
            .filter(pk=pk, status=ScheduledStep.Status.RUNNING, claimed_by=worker_id)
            .first()
        )
        if row is None:
            return
        now = clock.now()
        enrolment = row.enrolment
        detail = f"attempt {row.attempts}: {type(exc).__name__}: {exc}"[:2000]
        _record(enrolment, row.step_id, Outcome("error", detail), now)
        if row.attempts >= STEP_MAX_ATTEMPTS:
            _close(row, ScheduledStep.Status.CANCELLED, now)
            enrolment_finish(
                enrolment=enrolment,
                state=Enrolment.State.EXITED,
                reason=f"step {row.step_id} failed {row.attempts} times",
                now=now,
            )
            StoreAlert.objects.create(
                store_id=enrolment.store_id,
                level=StoreAlert.Level.ERROR,
                kind="journey_step_failed",
                subject=enrolment.public_id,
                message=f"Step {row.step_id} of flow {enrolment.flow.name} failed "
                f"{row.attempts} times for {enrolment.public_id}; the enrolment was ended: {exc}",
            )
            return
        delay = dt.timedelta(seconds=min(30 * 2**row.attempts, 3600))
        ScheduledStep.objects.filter(pk=row.pk).update(
            status=ScheduledStep.Status.PENDING, due_at=now + delay, claimed_by="", lease_until=None
        )


# -- actions --------------------------------------------------------------------------------


def split_bucket(enrolment_ref: str, step_id: str) -> float:
    """A stable number in [0, 100) for this enrolment at this split: the same every run."""
    digest = hashlib.sha256(f"{enrolment_ref}:{step_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def choose_branch(step: RandomSplitStep, enrolment_ref: str):
    bucket = split_bucket(enrolment_ref, step.id)
    edge = 0.0
    for branch in step.branches:
        edge += branch.percent
        if bucket < edge:
            return branch
    return step.branches[-1]


def _act(
    step,
    row: ScheduledStep,
    enrolment: Enrolment,
    definition: Definition,
    now: dt.datetime,
    posted: PostResult | None,
) -> Outcome:
    if isinstance(step, WaitStep):
        if step.until_event:
            if row.resumed_by:
                return Outcome("event", row.resumed_by)
            return Outcome("timed_out", f"no {step.until_event} within {step.timeout}")
        return Outcome("waited")
    if isinstance(step, ConditionStep):
        facts = Facts(
            store=enrolment.store,
            now=now,
            order=enrolment.order,
            customer=enrolment.customer,
            shipment=enrolment.shipment,
            enrolled_at=enrolment.enrolled_at,
        )
        actual = field_value(step.if_.field, facts)
        holds = compare(actual, step.if_.op, step.if_.value)
        then, otherwise = definition.successors(step)
        detail = f"{step.if_.field} is {actual!r}"
        return Outcome("then" if holds else "else", detail, next=then if holds else otherwise)
    if isinstance(step, RandomSplitStep):
        branch = choose_branch(step, enrolment.public_id)
        Enrolment.objects.filter(pk=enrolment.pk).update(branch=branch.name)
        enrolment.branch = branch.name
        if branch.holdout:
            return Outcome("holdout", branch.name, next=END)
        index = step.branches.index(branch)
        return Outcome(
            f"branch:{branch.name}"[:30], branch.name, next=definition.successors(step)[index]
        )
    if isinstance(step, SendStep):
        return _send(step, enrolment, now)
    if isinstance(step, TagStep):
        if enrolment.customer is None:
            return Outcome("skipped", "no customer to tag")
        added = customer_tag_add(store=enrolment.store, customer=enrolment.customer, tag=step.tag)
        return Outcome("tagged" if added else "already_tagged", step.tag)
    if isinstance(step, DiscountStep):
        code = discount_issue(enrolment=enrolment, step=step, now=now)
        if code is None:
            StoreAlert.objects.create(
                store_id=enrolment.store_id,
                level=StoreAlert.Level.WARNING,
                kind="discount_pool_empty",
                subject=step.pool or "",
                message=f"Discount pool {step.pool} has no codes left; flow "
                f"{enrolment.flow.name} continued without one.",
            )
            return Outcome("failed", f"discount pool {step.pool} is empty")
        context = dict(enrolment.context or {})
        context["discount"] = discount_context(code)
        Enrolment.objects.filter(pk=enrolment.pk).update(context=context)
        enrolment.context = context
        return Outcome("issued", code.code)
    if isinstance(step, WebhookStep):
        assert posted is not None
        if posted.ok:
            return Outcome("delivered", f"HTTP {posted.status_code}")
        if row.attempts >= step.max_attempts:
            return Outcome("failed", f"gave up after {row.attempts} attempts: {posted.error}")
        delay = WEBHOOK_BACKOFF[min(row.attempts, len(WEBHOOK_BACKOFF)) - 1]
        return Outcome(
            "retrying",
            f"attempt {row.attempts}: {posted.error}; next in {int(delay.total_seconds())} s",
            retry_at=now + delay,
        )
    raise ValueError(f"no action for step type {type(step).__name__}")


def _send(step: SendStep, enrolment: Enrolment, now: dt.datetime) -> Outcome:
    context = {}
    if (enrolment.context or {}).get("discount"):
        context["discount"] = enrolment.context["discount"]
    for key in ("product", "links"):
        if (enrolment.context or {}).get(key):
            context[key] = enrolment.context[key]
    message, created = message_enqueue(
        store=enrolment.store,
        kind=step.kind,
        channel=step.channel,
        customer=enrolment.customer,
        order=enrolment.order,
        shipment=enrolment.shipment,
        context=context,
        origin=f"flow:{enrolment.flow.public_id}:{step.id}",
        idempotency_key=f"flow:{enrolment.public_id}:{step.id}",
    )
    detail = message.public_id + ("" if created else " (queued before)")
    if message.status == Message.Status.SUPPRESSED:
        return Outcome("suppressed", f"{detail}: {message.status_reason}")
    return Outcome("queued", detail)


def _post_webhook(enrolment: Enrolment, step: WebhookStep) -> PostResult:
    key = f"{enrolment.public_id}:{step.id}"
    document = {
        "id": key,
        "type": "journey.step",
        "flow": {"id": enrolment.flow.public_id, "key": enrolment.flow.key},
        "enrolment": enrolment.public_id,
        "step": step.id,
        "store": enrolment.store.slug,
        "customer": enrolment.customer.public_id if enrolment.customer else None,
        "order": enrolment.order.public_id if enrolment.order else None,
        "shipment": enrolment.shipment.public_id if enrolment.shipment else None,
        "branch": enrolment.branch,
        "context": enrolment.context or {},
    }
    return post_signed(
        url=step.url, secret=enrolment.flow.webhook_secret, document=document, idempotency_key=key
    )
