"""Tasks used by the worker tests; they leave traces in files so another process can watch."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django_tasks import task


@task()
def record_run(path: str, hold_flag: str) -> str:
    """Appends 'start <pid>'; while the hold flag file exists it sleeps, then appends 'done'."""
    trace = Path(path)
    with trace.open("a") as fh:
        fh.write(f"start {os.getpid()}\n")
    while Path(hold_flag).exists():
        time.sleep(0.1)
    with trace.open("a") as fh:
        fh.write(f"done {os.getpid()}\n")
    return "ok"


@task()
def fail_until(path: str, failures: int) -> int:
    """Fails the first `failures` times it runs (counted in a file), then succeeds."""
    counter = Path(path)
    runs = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(runs + 1))
    if runs < failures:
        raise RuntimeError(f"planned failure {runs + 1} of {failures}")
    return runs + 1


@task()
def tick(path: str = "") -> None:
    if path:
        with Path(path).open("a") as fh:
            fh.write("tick\n")
