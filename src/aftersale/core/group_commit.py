"""Small independent writes from many request threads, committed together.

A burst of one-click answers (a survey sent to a whole customer list) is thousands of tiny
transactions. Each pays for taking the database's write lock (SQLite has one writer at a time; see
core/sqlite_backend) and for its commit, and under load the requests queue on that lock rather
than on any real work. Here the first thread to arrive leads: it takes every write waiting at that
moment, its own included, runs them in one transaction and commits once; writes that arrive
meanwhile wait. Once its own write is committed the leader passes the lead to the oldest waiting
write, whose thread takes everything waiting then. A write is done, durably, when its caller
returns, exactly as with its own transaction.

If any write of a batch fails, the batch is rolled back and every write runs again in its own
transaction, so one failure (a duplicate key from a concurrent click) is reported to its caller
alone and never undoes the others. Writes must therefore be safe to run twice when the first run
was rolled back: plain database work, no messages sent, no files written.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction

T = TypeVar("T")

MAX_BATCH = 64


class _Write:
    __slots__ = ("error", "finished", "lead", "result", "wake", "work")

    def __init__(self, work: Callable[[], object]):
        self.work = work
        self.wake = threading.Event()  # finished, or asked to lead
        self.finished = False
        self.lead = False
        self.result: object = None
        self.error: BaseException | None = None

    def finish(self, *, result: object = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True
        self.wake.set()


class GroupCommit:
    def __init__(self):
        self._guard = threading.Lock()
        self._waiting: list[_Write] = []
        self._leading = False

    def run(self, work: Callable[[], T]) -> T:
        """Run `work` (database writes) in a transaction shared with other threads' writes;
        returns its result or raises its exception once the transaction has committed."""
        if connection.in_atomic_block:
            # Already inside a transaction (a test, a caller's atomic block): joining it is the
            # only way to keep its all-or-nothing. A savepoint keeps a failure to this write.
            with transaction.atomic():
                return work()
        write = _Write(work)
        with self._guard:
            self._waiting.append(write)
            if not self._leading:
                self._leading = write.lead = True
        while not write.finished:
            if write.lead:
                self._lead(write)
            else:
                write.wake.wait()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    def _lead(self, own: _Write) -> None:
        """Commit batches until this thread's own write is done, then pass the lead to the next
        waiting write (a leader that kept leading would hold its own request back)."""
        batch: list[_Write] = []
        try:
            while not own.finished:
                with self._guard:
                    batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                if not batch:  # only a leader takes writes off the queue, and ours is on it
                    raise RuntimeError("group commit: the leader's own write is missing")
                self._commit(batch)
                batch = []
        except BaseException as exc:
            # The leader is being torn down (worker timeout, shutdown): its batch fails, and the
            # others keep going under the next leader.
            with self._guard:
                if own in self._waiting:
                    self._waiting.remove(own)
            for write in [*batch, own]:
                if not write.finished:
                    write.finish(error=exc)
            raise
        finally:
            with self._guard:
                if self._waiting:
                    successor = self._waiting[0]
                    successor.lead = True
                    successor.wake.set()
                else:
                    self._leading = False

    def _commit(self, batch: list[_Write]) -> None:
        if len(batch) > 1:
            try:
                with transaction.atomic():
                    results = [write.work() for write in batch]
            except Exception:  # noqa: S110 - each write is retried alone below
                pass
            else:
                for write, result in zip(batch, results, strict=True):
                    write.finish(result=result)
                return
        for write in batch:
            try:
                with transaction.atomic():
                    result = write.work()
            except Exception as exc:
                write.finish(error=exc)
            else:
                write.finish(result=result)


_shared = GroupCommit()


def run_grouped(work: Callable[[], T]) -> T:
    """Run database writes through the process's shared group commit (see module docstring)."""
    return _shared.run(work)
