"""Background work for tracking; the logic lives in issues.py."""

from __future__ import annotations

from django_tasks import task

from aftersale.tracking import issues


@task(queue_name="default")
def scan_shipment_issues() -> int:
    """Raise late, stalled and lost for parcels under way (registered every 15 minutes)."""
    return issues.issues_scan()
