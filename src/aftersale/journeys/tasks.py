"""Background work for journeys; the logic lives in scheduler.py and runner.py."""

from __future__ import annotations

from django_tasks import task

from aftersale.journeys import scheduler


@task(queue_name="default")
def run_scheduled_triggers() -> int:
    return scheduler.run_scheduled_triggers()
