"""A worker killed with SIGKILL mid-batch: afterwards every due message went out exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
import time_machine

from aftersale.core import clock
from aftersale.messaging.models import Message
from aftersale.messaging.sending import run_sender_until_idle
from aftersale.messaging.services import message_enqueue
from tests.core.test_worker import REPO, database_url_for_subprocess, wait_for

COUNT = 200


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_sigkill_mid_batch_then_every_message_is_sent_exactly_once(
    store, order, smtp_server, tmp_path
):
    smtp_server.handler.delay = 0.004  # a real server takes a few ms per message
    for i in range(COUNT):
        message_enqueue(
            store=store, kind="order_confirmation", order=order, email=f"s{i}@example.com"
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_subprocess(),
        "DJANGO_SETTINGS_MODULE": "aftersale.settings",
        "AFTERSALE_ALLOW_DEFAULT_SECRET": "true",
        "PYTHONPATH": f"{REPO}:{REPO / 'src'}",
        "EMAIL_BACKEND": "aftersale.messaging.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        "AFTERSALE_MESSAGE_LEASE_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "aftersale.cli", "worker", "--interval", "0.1"],
        cwd=REPO,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: len(smtp_server.handler.messages) >= 40, 60, "the worker to send 40")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    received_before = len(smtp_server.handler.messages)
    assert received_before < COUNT, "the worker finished before it could be killed mid-batch"
    assert Message.objects.filter(status=Message.Status.SENDING).exists(), log.read_text()

    # Another sender takes over once the dead one's lease has run out.
    with time_machine.travel(clock.now() + dt.timedelta(minutes=5)):
        run_sender_until_idle(max_seconds=120)

    assert Message.objects.filter(status=Message.Status.SENT).count() == COUNT
    counts = Counter(smtp_server.handler.message_ids())
    assert len(counts) == COUNT
    assert max(counts.values()) == 1, [mid for mid, n in counts.items() if n > 1]
