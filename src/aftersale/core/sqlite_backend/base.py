"""SQLite with writers queued on an OS file lock instead of SQLite's busy handler.

Every transaction starts with BEGIN IMMEDIATE (settings.py), so two writers never deadlock; but a
writer that finds the database locked waits in SQLite's busy handler, which sleeps in growing steps
(up to 100 ms at a time) and lets later arrivals overtake it. Under load from several server
processes that turns into second-long tail latencies. Here each transaction first takes a blocking
lock on `<database>.writer-lock`: a thread lock within the process, then `flock` across processes.
The kernel wakes the next waiter the moment the holder commits or rolls back, and a process that
dies releases its lock with its file descriptor. Writes outside a transaction (autocommit) do not
take the lock; they still queue on the busy timeout as before.
"""

from __future__ import annotations

import fcntl
import os
import threading

from django.db import OperationalError
from django.db.backends.sqlite3 import base


class WriterLock:
    """One per database file and process: a thread lock, then flock on a shared file."""

    def __init__(self, path: str):
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()

    def acquire(self, timeout: float) -> None:
        if not self._thread_lock.acquire(timeout=timeout):
            raise OperationalError(
                f"database is locked (waited {timeout:.0f} s for the writer lock)"
            )
        try:
            if self._fd is None or self._pid != os.getpid():  # first use, or a forked child
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_locks: dict[str, WriterLock] = {}
_locks_guard = threading.Lock()


def writer_lock_for(database: str) -> WriterLock:
    path = os.path.abspath(database) + ".writer-lock"
    with _locks_guard:
        lock = _locks.get(path)
        if lock is None:
            lock = _locks[path] = WriterLock(path)
        return lock


class DatabaseWrapper(base.DatabaseWrapper):
    _writer_lock_held: WriterLock | None = None

    def _writer_lock(self) -> WriterLock | None:
        if self.is_in_memory_db():
            return None
        return writer_lock_for(str(self.settings_dict["NAME"]))

    def _start_transaction_under_autocommit(self):
        lock = self._writer_lock()
        if lock is not None:
            lock.acquire(timeout=float(self.settings_dict.get("OPTIONS", {}).get("timeout", 30)))
            self._writer_lock_held = lock
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        lock, self._writer_lock_held = self._writer_lock_held, None
        if lock is not None:
            lock.release()

    def _release_if_finished(self) -> None:
        if self._writer_lock_held is not None and (
            self.connection is None or not self.connection.in_transaction
        ):
            self._release_writer_lock()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_if_finished()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_if_finished()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
