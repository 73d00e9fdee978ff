"""Periodic jobs and retry policy for background tasks (the worker in worker.py runs them)."""

from __future__ import annotations

from collections.abc import Callable
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


_pollers: dict[str, Callable[[], int]] = {}


def register_poller(name: str, poll: Callable[[], int]) -> None:
    """Call `poll` on every turn of every worker's loop (it must claim its own work safely and be
    cheap when there is nothing to do); it returns how much it did."""
    _pollers[name] = poll


# The worker runs these in its own loop between tasks; they are cheap when there is nothing to do.
def run_housekeeping() -> int:
    done = dispatch_pending()
    for poll in list(_pollers.values()):
        done += poll()
    return done
