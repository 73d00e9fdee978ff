"""core.group_commit: writes from many threads share transactions, and each caller gets its own
result or error only once its write is committed."""

from __future__ import annotations

import threading

import pytest
from django.db import IntegrityError, connection, connections, transaction

from aftersale.core.group_commit import GroupCommit
from aftersale.core.models import Mutex


def _in_threads(count: int, target) -> list:
    outcomes: list = [None] * count
    start = threading.Barrier(count)

    def run(index):
        start.wait()
        try:
            outcomes[index] = ("ok", target(index))
        except Exception as exc:
            outcomes[index] = ("error", exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_concurrent_writes_are_all_committed_in_fewer_transactions(monkeypatch):
    group = GroupCommit()
    commits = []
    original = GroupCommit._commit

    def counting(self, batch):
        commits.append(len(batch))
        original(self, batch)

    monkeypatch.setattr(GroupCommit, "_commit", counting)

    outcomes = _in_threads(24, lambda i: group.run(lambda: Mutex.objects.create(name=f"m{i}").pk))

    assert all(kind == "ok" for kind, _ in outcomes)
    assert Mutex.objects.count() == 24
    assert sorted(pk for _, pk in outcomes) == sorted(Mutex.objects.values_list("pk", flat=True))
    assert sum(commits) == 24
    assert len(commits) < 24  # threads that arrived during a commit shared the next one


@pytest.mark.django_db(transaction=True)
def test_a_failing_write_fails_alone():
    Mutex.objects.create(name="taken")
    group = GroupCommit()

    def write(i):
        name = "taken" if i == 3 else f"m{i}"
        return group.run(lambda: Mutex.objects.create(name=name).name)

    outcomes = _in_threads(12, write)

    assert outcomes[3][0] == "error" and isinstance(outcomes[3][1], IntegrityError)
    assert [kind for i, (kind, _) in enumerate(outcomes) if i != 3] == ["ok"] * 11
    assert Mutex.objects.count() == 12


@pytest.mark.django_db(transaction=True)
def test_a_batch_that_fails_runs_each_write_on_its_own():
    group = GroupCommit()
    from aftersale.core import group_commit

    Mutex.objects.create(name="taken")
    writes = [
        group_commit._Write(lambda: Mutex.objects.create(name="a").name),
        group_commit._Write(lambda: Mutex.objects.create(name="taken").name),
        group_commit._Write(lambda: Mutex.objects.create(name="b").name),
    ]
    group._commit(writes)

    assert [w.result for w in writes] == ["a", None, "b"]
    assert isinstance(writes[1].error, IntegrityError)
    assert all(w.finished for w in writes)
    assert set(Mutex.objects.values_list("name", flat=True)) == {"taken", "a", "b"}


@pytest.mark.django_db
def test_inside_a_transaction_the_write_joins_it_with_a_savepoint():
    group = GroupCommit()
    assert connection.in_atomic_block
    with pytest.raises(IntegrityError):
        group.run(lambda: [Mutex.objects.create(name="x"), Mutex.objects.create(name="x")])
    assert Mutex.objects.count() == 0  # rolled back to the savepoint; the test's own
    assert group.run(lambda: Mutex.objects.create(name="y").name) == "y"  # transaction goes on
    with transaction.atomic():
        assert Mutex.objects.filter(name="y").exists()


@pytest.mark.django_db(transaction=True)
def test_a_leader_torn_down_fails_its_batch_and_passes_the_lead_on(monkeypatch):
    group = GroupCommit()
    from aftersale.core import group_commit

    def torn_down(self, batch):
        raise KeyboardInterrupt

    monkeypatch.setattr(GroupCommit, "_commit", torn_down)
    monkeypatch.setattr(group_commit, "MAX_BATCH", 1)
    own, other = group_commit._Write(lambda: None), group_commit._Write(lambda: None)
    group._waiting = [own, other]
    group._leading = own.lead = True
    with pytest.raises(KeyboardInterrupt):
        group._lead(own)
    assert own.finished and isinstance(own.error, KeyboardInterrupt)
    assert not other.finished and other.lead and other.wake.is_set()
    assert group._leading is True and group._waiting == [other]


@pytest.mark.django_db(transaction=True)
def test_the_leader_returns_once_its_own_write_is_committed(monkeypatch):
    """Under a steady stream the first leader does not keep leading: it hands over."""
    group = GroupCommit()
    from aftersale.core import group_commit

    monkeypatch.setattr(group_commit, "MAX_BATCH", 2)
    writes = [group_commit._Write(lambda n=n: n) for n in range(5)]
    group._waiting = list(writes)
    group._leading = writes[0].lead = True
    group._lead(writes[0])
    assert [w.finished for w in writes] == [True, True, False, False, False]
    assert writes[2].lead and writes[2].wake.is_set() and not writes[3].lead
