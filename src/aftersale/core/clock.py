"""One place that says what time it is, so tests can move it (time-machine patches this too)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
