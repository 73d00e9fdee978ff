"""Periodic jobs and retry policy for background tasks (the worker in worker.py runs them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django_tasks.base import Task

from aftersale.core.events import dispatch_pending


@dataclass(frozen=True)
class PeriodicSpec:
    name: str
    every: timedelta
    task: Task


_periodic: dict[str, PeriodicSpec] = {}


def register_periodic(name: str, every: timedelta, task: Task) -> None:
    """Run `task` (no arguments) every `every`, once across all workers."""
    _periodic[name] = PeriodicSpec(name=name, every=every, task=task)


def periodic_jobs() -> list[PeriodicSpec]:
    return list(_periodic.values())


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff for a failed task: 2s, 4s, 8s … capped at 10 minutes."""
    return timedelta(seconds=min(2**attempt, 600))


# The worker runs these in its own loop between tasks; they are cheap when there is nothing to do.
def run_housekeeping() -> int:
    return dispatch_pending()
