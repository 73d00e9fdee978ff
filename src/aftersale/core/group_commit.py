"""Small independent writes from many request threads, committed together.

A burst of one-click answers (a survey sent to a whole customer list) is thousands of tiny
transactions. Each pays for taking the database's write lock (SQLite has one writer at a time; see
core/sqlite_backend) and for its commit, and under load the requests queue on that lock rather
than on any real work. Here the first thread to arrive leads: it takes every write waiting at that
moment, its own included, runs them in one transaction and commits once; writes that arrive
meanwhile wait for the next leader, which takes them all. A write is done, durably, when its
caller returns, exactly as with its own transaction.

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
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[], object]):
        self.work = work
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None


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
            lead = not self._leading
            if lead:
                self._leading = True
        if lead:
            self._lead()
        write.done.wait()
        if write.error is not None:
            raise write.error
        return write.result  # type: ignore[return-value]

    def _lead(self) -> None:
        batch: list[_Write] = []
        try:
            while True:
                with self._guard:
                    batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                    if not batch:
                        self._leading = False
                        return
                self._commit(batch)
        except BaseException as exc:
            # The leader is being torn down (worker timeout, shutdown): nobody may wait forever.
            with self._guard:
                stranded, self._waiting = [*batch, *self._waiting], []
                self._leading = False
            for write in stranded:
                if not write.done.is_set():
                    write.error = exc
                    write.done.set()
            raise

    def _commit(self, batch: list[_Write]) -> None:
        if len(batch) > 1:
            try:
                with transaction.atomic():
                    results = [write.work() for write in batch]
            except Exception:  # noqa: S110 - each write is retried alone below
                pass
            else:
                for write, result in zip(batch, results, strict=True):
                    write.result = result
                    write.done.set()
                return
        for write in batch:
            try:
                with transaction.atomic():
                    write.result = write.work()
            except BaseException as exc:
                write.error = exc
            finally:
                write.done.set()


_shared = GroupCommit()


def run_grouped(work: Callable[[], T]) -> T:
    """Run database writes through the process's shared group commit (see module docstring)."""
    return _shared.run(work)
