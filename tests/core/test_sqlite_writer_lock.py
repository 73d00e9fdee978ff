"""SQLite write transactions queue on a file lock (core/sqlite_backend), across threads and
processes, and every writer gets through."""

import multiprocessing
import threading

import pytest
from django.db import connection, connections, transaction

from aftersale.core.events import emit
from aftersale.core.models import OutboxEvent
from aftersale.core.sqlite_backend.base import WriterLock

pytestmark = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the writer lock is for SQLite only"
)


def _hold_lock(path, held, release):
    lock = WriterLock(path)
    lock.acquire(timeout=10)
    held.set()
    release.wait(10)
    lock.release()


def test_the_lock_is_exclusive_across_processes_and_frees_the_waiter_on_release(tmp_path):
    path = str(tmp_path / "db.sqlite3.writer-lock")
    ctx = multiprocessing.get_context("fork")
    held, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold_lock, args=(path, held, release))
    other.start()
    try:
        assert held.wait(10)
        lock = WriterLock(path)
        got_it = threading.Event()

        def take():
            lock.acquire(timeout=10)
            got_it.set()
            lock.release()

        waiter = threading.Thread(target=take)
        waiter.start()
        assert not got_it.wait(0.3)  # still held by the other process
        release.set()
        waiter.join(10)
        assert got_it.is_set()
    finally:
        release.set()
        other.join(10)


def test_a_lock_held_too_long_times_out_with_database_is_locked(tmp_path):
    lock = WriterLock(str(tmp_path / "x.writer-lock"))
    lock.acquire(timeout=1)
    failures = []

    def take():
        try:
            lock.acquire(timeout=0.1)
        except Exception as exc:
            failures.append(str(exc))

    thread = threading.Thread(target=take)
    thread.start()
    thread.join(10)
    lock.release()
    assert len(failures) == 1
    assert "database is locked" in failures[0]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_in_threads_all_commit(store):
    inside = threading.Event()
    go_on = threading.Event()
    errors: list[BaseException] = []

    def writer(n: int, hold: bool) -> None:
        try:
            with transaction.atomic():
                emit(store=store, name="test.write", aggregate=f"t:{n}", payload={"n": n})
                if hold:
                    inside.set()
                    go_on.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    first = threading.Thread(target=writer, args=(0, True))
    first.start()
    assert inside.wait(10)
    others = [threading.Thread(target=writer, args=(n, False)) for n in range(1, 6)]
    for thread in others:
        thread.start()
    go_on.set()
    for thread in [first, *others]:
        thread.join(30)

    assert errors == []
    assert sorted(
        OutboxEvent.objects.filter(name="test.write").values_list("payload__n", flat=True)
    ) == [0, 1, 2, 3, 4, 5]


@pytest.mark.django_db(transaction=True)
def test_a_failed_transaction_releases_the_lock(store):
    with pytest.raises(RuntimeError), transaction.atomic():
        emit(store=store, name="test.write", aggregate="t:x", payload={})
        raise RuntimeError("boom")
    assert connection._writer_lock_held is None
    with transaction.atomic():
        emit(store=store, name="test.write", aggregate="t:y", payload={})
    assert connection._writer_lock_held is None
    assert list(OutboxEvent.objects.values_list("aggregate", flat=True)) == ["t:y"]
