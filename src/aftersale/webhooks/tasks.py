from django_tasks import task

from aftersale.webhooks.services import deliver


@task(queue_name="webhooks")
def deliver_webhook(delivery_id: int, attempt: int) -> str:
    return deliver(delivery_id=delivery_id, attempt=attempt)
