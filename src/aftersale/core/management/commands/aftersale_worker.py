from django.core.management.base import BaseCommand

from aftersale.core.worker import build_worker


class Command(BaseCommand):
    help = "Run a background worker: tasks, outbox events and periodic jobs (any number may run)."

    def add_arguments(self, parser):
        parser.add_argument("--queues", default="*", help="comma-separated queues, '*' for all")
        parser.add_argument("--interval", type=float, default=0.5, help="idle poll seconds")
        parser.add_argument("--batch", action="store_true", help="exit when the queue is empty")
        parser.add_argument("--max-tasks", type=int, default=None)
        parser.add_argument("--worker-id", default=None)

    def handle(self, *args, queues, interval, batch, max_tasks, worker_id, **options):
        worker = build_worker(
            queue_names=queues.split(","),
            interval=interval,
            batch=batch,
            max_tasks=max_tasks,
            worker_id=worker_id,
        )
        worker.configure_signals()
        worker.run()
