import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from aftersale.core import clock
from aftersale.core.models import PeriodicJob, WorkerHeartbeat
from aftersale.core.tasks import _periodic, register_periodic
from aftersale.core.worker import build_worker
from tests.core.worker_tasks import fail_until, record_run, tick

REPO = Path(__file__).resolve().parents[2]


def database_url_for_subprocess() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}"


def start_worker(name: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "AFTERSALE_ALLOW_DEFAULT_SECRET": "true",
        "AFTERSALE_WORKER_LEASE_SECONDS": "2",
        "AFTERSALE_WORKER_HEARTBEAT_SECONDS": "1",
        "PYTHONPATH": f"{REPO}:{REPO / 'src'}",
        "DJANGO_SETTINGS_MODULE": "aftersale.settings",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "aftersale.cli", "worker", "--interval", "0.1"],
        cwd=REPO,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_task_of_a_worker_killed_with_sigkill_runs_again_on_another_worker(tmp_path):
    trace = tmp_path / "trace.txt"
    hold = tmp_path / "hold"
    hold.touch()
    result = record_run.enqueue(path=str(trace), hold_flag=str(hold))
    log = tmp_path / "workers.log"

    first = start_worker("first", log)
    try:
        wait_for(lambda: trace.exists() and "start" in trace.read_text(), 30, "first worker start")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    hold.unlink()
    killed_at = time.monotonic()

    second = start_worker("second", log)
    try:
        wait_for(lambda: "done" in trace.read_text(), 30, f"second worker\n{log.read_text()}")
        recovered_after = time.monotonic() - killed_at
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=15)

    row = DBTaskResult.objects.get(pk=result.id)
    lines = trace.read_text().split()
    assert row.status == "SUCCESSFUL"
    assert len(row.worker_ids) == 2
    assert row.worker_ids[0] != row.worker_ids[1]
    assert lines.count("start") == 2
    assert lines.count("done") == 1
    # lease 2 s + heartbeat staleness check every second + start-up: bounded, not "eventually".
    assert recovered_after < 20
    assert second.returncode == 0
    assert WorkerHeartbeat.objects.filter(stopped_at__isnull=False).count() == 1


@pytest.mark.django_db(transaction=True)
def test_failed_task_is_retried_with_backoff_then_succeeds(tmp_path, settings):
    settings.AFTERSALE_TASK_MAX_ATTEMPTS = 3
    counter = tmp_path / "runs"
    result = fail_until.enqueue(path=str(counter), failures=1)
    worker = build_worker(queue_names=["*"], batch=True)

    worker.run()
    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "READY"
    assert row.run_after > clock.now() + timedelta(seconds=1)
    assert counter.read_text() == "1"

    DBTaskResult.objects.filter(pk=result.id).update(run_after=clock.now())
    worker = build_worker(queue_names=["*"], batch=True)
    worker.run()
    row.refresh_from_db()
    assert row.status == "SUCCESSFUL"
    assert row.return_value == 2
    assert len(row.worker_ids) == 2


@pytest.mark.django_db(transaction=True)
def test_task_failing_every_time_ends_failed_after_max_attempts(tmp_path, settings):
    settings.AFTERSALE_TASK_MAX_ATTEMPTS = 2
    result = fail_until.enqueue(path=str(tmp_path / "runs"), failures=99)
    for _ in range(2):
        DBTaskResult.objects.filter(pk=result.id).update(run_after=clock.now())
        build_worker(queue_names=["*"], batch=True).run()

    row = DBTaskResult.objects.get(pk=result.id)
    assert row.status == "FAILED"
    assert "planned failure 2 of 99" in row.traceback
    assert (tmp_path / "runs").read_text() == "2"


@pytest.mark.django_db(transaction=True)
def test_abandoned_task_of_a_live_worker_is_left_alone(tmp_path):
    result = tick.enqueue()
    worker = build_worker(queue_names=["*"], worker_id="alive")
    worker._beat()
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", worker_ids=["alive"], started_at=clock.now() - timedelta(minutes=5)
    )

    assert worker.reclaim_abandoned_tasks() == 0
    WorkerHeartbeat.objects.filter(worker_id="alive").update(
        last_seen_at=clock.now() - timedelta(minutes=5)
    )
    assert worker.reclaim_abandoned_tasks() == 1
    assert DBTaskResult.objects.get(pk=result.id).status == "READY"


@pytest.mark.django_db(transaction=True)
def test_periodic_job_is_enqueued_once_per_period_across_workers(tmp_path, time_machine):
    time_machine.move_to("2026-06-01T12:00:00Z", tick=False)
    register_periodic("test-tick", timedelta(minutes=5), tick)
    try:
        first, second = build_worker(queue_names=["*"]), build_worker(queue_names=["*"])
        assert first.enqueue_due_periodic_jobs() >= 1
        assert second.enqueue_due_periodic_jobs() == 0
        assert DBTaskResult.objects.filter(task_path__endswith="tick").count() == 1

        time_machine.move_to("2026-06-01T12:05:01Z", tick=False)
        assert second.enqueue_due_periodic_jobs() >= 1
        assert DBTaskResult.objects.filter(task_path__endswith="tick").count() == 2
        job = PeriodicJob.objects.get(name="test-tick")
        assert job.next_run_at.isoformat() == "2026-06-01T12:10:01+00:00"
    finally:
        _periodic.pop("test-tick", None)
