"""The background worker: django-tasks-db's worker plus what it lacks.

django-tasks-db claims a task by marking it RUNNING and never looks at it again, so a worker that
dies mid-task would strand it. Here every worker writes a heartbeat row from a side thread; any
worker that sees a RUNNING task whose worker has been silent for longer than the lease puts the
task back to READY (or FAILED once it has used up its attempts). A task that raises is retried with
backoff. Tasks must therefore be idempotent, which every aftersale task is by design. Between tasks
the worker also dispatches outbox events and enqueues due periodic jobs.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.utils import OperationalError
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from aftersale.core import clock
from aftersale.core.models import PeriodicJob, WorkerHeartbeat
from aftersale.core.tasks import periodic_jobs, retry_delay, run_housekeeping

logger = logging.getLogger("aftersale.worker")


class AftersaleWorker(Worker):
    def __init__(self, *, lease_seconds: int, heartbeat_seconds: float, max_attempts: int, **kw):
        super().__init__(**kw)
        self.lease = timedelta(seconds=lease_seconds)
        self.heartbeat_seconds = heartbeat_seconds
        self.max_attempts = max_attempts
        self._stop_heartbeat = threading.Event()
        self._last_maintenance = 0.0

    # -- heartbeat -------------------------------------------------------------------------
    def _beat(self) -> None:
        now = clock.now()
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "last_seen_at": now,
                "stopped_at": None,
            },
            create_defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": now,
                "last_seen_at": now,
            },
        )

    def _heartbeat_loop(self) -> None:
        try:
            while not self._stop_heartbeat.wait(self.heartbeat_seconds):
                try:
                    self._beat()
                except OperationalError as exc:
                    logger.warning("heartbeat failed: %s", exc)
        finally:
            connection.close()

    # -- lease recovery ------------------------------------------------------------------------
    def reclaim_abandoned_tasks(self) -> int:
        """Put back tasks whose worker stopped heartbeating; returns how many."""
        cutoff = clock.now() - self.lease
        alive = set(
            WorkerHeartbeat.objects.filter(
                last_seen_at__gte=cutoff, stopped_at__isnull=True
            ).values_list("worker_id", flat=True)
        )
        reclaimed = 0
        with exclusive_transaction():
            running = DBTaskResult.objects.select_for_update(skip_locked=True).filter(
                status=TaskResultStatus.RUNNING, started_at__lt=cutoff
            )
            for task in running:
                owner = task.worker_ids[-1] if task.worker_ids else None
                if owner in alive:
                    continue
                reclaimed += 1
                if len(task.worker_ids) >= self.max_attempts:
                    task.status = TaskResultStatus.FAILED
                    task.finished_at = clock.now()
                    task.exception_class_path = "aftersale.core.worker.WorkerLost"
                    task.traceback = (
                        f"worker {owner} stopped while running this task; "
                        f"gave up after {len(task.worker_ids)} attempts"
                    )
                    task.save(
                        update_fields=["status", "finished_at", "exception_class_path", "traceback"]
                    )
                    logger.error("task %s abandoned by %s: attempts used up", task.id, owner)
                else:
                    task.status = TaskResultStatus.READY
                    task.run_after = clock.now()
                    task.save(update_fields=["status", "run_after"])
                    logger.warning("task %s abandoned by %s: put back in the queue", task.id, owner)
        return reclaimed

    # -- periodic jobs -------------------------------------------------------------------------
    def enqueue_due_periodic_jobs(self) -> int:
        now = clock.now()
        enqueued = 0
        for spec in periodic_jobs():
            PeriodicJob.objects.get_or_create(name=spec.name, defaults={"next_run_at": now})
            with transaction.atomic():
                job = (
                    PeriodicJob.objects.select_for_update(skip_locked=True)
                    .filter(name=spec.name, next_run_at__lte=now)
                    .first()
                )
                if job is None:
                    continue
                spec.task.enqueue()
                job.last_run_at = now
                job.next_run_at = now + spec.every
                job.save(update_fields=["last_run_at", "next_run_at"])
                enqueued += 1
        return enqueued

    def maintenance(self) -> int:
        """Outbox, pollers (messages, flow steps) and, once a second, leases and periodic jobs;
        returns how much work the outbox and pollers did."""
        done = run_housekeeping()
        if time.monotonic() - self._last_maintenance >= 1.0:
            self._last_maintenance = time.monotonic()
            self.reclaim_abandoned_tasks()
            self.enqueue_due_periodic_jobs()
        return done

    # -- main loop -----------------------------------------------------------------------------
    def run(self) -> None:
        logger.info("worker %s starting (pid %s)", self.worker_id, os.getpid())
        self._beat()
        beat = threading.Thread(target=self._heartbeat_loop, name="heartbeat", daemon=True)
        beat.start()
        try:
            self._loop()
        finally:
            self._stop_heartbeat.set()
            close_old_connections()
            try:
                WorkerHeartbeat.objects.filter(worker_id=self.worker_id).update(
                    stopped_at=clock.now()
                )
            except Exception:
                logger.debug("could not mark worker stopped", exc_info=True)

    def _loop(self) -> None:
        while self.running:
            close_old_connections()
            busy = 0
            try:
                busy = self.maintenance()
            except OperationalError as exc:
                if not is_locked_database_exception(exc):
                    raise
            task_result = self._claim_next()
            if task_result is not None:
                self.run_task(task_result)
            elif self.batch:
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                return
            # Sleep only when there was nothing at all to do: a backlog of messages or flow steps
            # is worked through without pauses.
            if self.running and task_result is None and not busy:
                time.sleep(self.interval)

    def _claim_next(self) -> DBTaskResult | None:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        try:
            with exclusive_transaction(tasks.db):
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)
                return task_result
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def run_task(self, db_task_result: DBTaskResult) -> None:
        # Upstream marks a failure as final; give it another go with backoff while attempts remain.
        super().run_task(db_task_result)
        db_task_result.refresh_from_db(fields=["status", "worker_ids", "traceback"])
        attempts = len(db_task_result.worker_ids)
        if db_task_result.status == TaskResultStatus.FAILED and attempts < self.max_attempts:
            delay = retry_delay(attempts)
            DBTaskResult.objects.filter(pk=db_task_result.pk).update(
                status=TaskResultStatus.READY,
                run_after=clock.now() + delay,
                finished_at=None,
            )
            logger.warning(
                "task %s failed (attempt %s of %s), retrying in %ss",
                db_task_result.task_path,
                attempts,
                self.max_attempts,
                int(delay.total_seconds()),
            )


def build_worker(
    *,
    queue_names: list[str],
    interval: float = 0.5,
    batch: bool = False,
    max_tasks: int | None = None,
    worker_id: str | None = None,
) -> AftersaleWorker:
    from django.utils.crypto import get_random_string

    return AftersaleWorker(
        queue_names=queue_names,
        interval=interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id or f"{socket.gethostname()[:20]}-{os.getpid()}-{get_random_string(8)}",
        excluded_queue_names=[],
        lease_seconds=settings.AFTERSALE_WORKER_LEASE_SECONDS,
        heartbeat_seconds=settings.AFTERSALE_WORKER_HEARTBEAT_SECONDS,
        max_attempts=settings.AFTERSALE_TASK_MAX_ATTEMPTS,
    )
