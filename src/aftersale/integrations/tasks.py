"""Background work for inbound shop webhooks; the logic lives in services.py."""

from __future__ import annotations

from django_tasks import task

from aftersale.integrations import services


@task(queue_name="inbound")
def process_inbound_payload(payload_id: int, force: bool = False) -> str:
    return services.inbound_process(payload_id=payload_id, force=force)


@task(queue_name="default")
def purge_inbound_payloads() -> int:
    return services.inbound_purge()
