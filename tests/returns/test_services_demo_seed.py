"""The demo's returns: every state on real demo orders, priced by the rules, links that answer."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.test import Client

from aftersale.core import clock
from aftersale.core.models import OutboxEvent
from aftersale.demo import returns_seed
from aftersale.returns.models import (
    ReturnRequest,
    ReturnRuleSet,
    StoreCreditAccount,
    StoreCreditEntry,
)
from tests.returns.test_services_fixtures import (  # noqa: F401  (fixtures by name)
    _media,
    build_shop,
    deliver,
    make_order,
)

pytestmark = pytest.mark.django_db


def _history(store, now):
    """A small shop with 80 delivered orders over the last 150 days (the demo seed's input)."""
    build_shop(store)
    for n in range(80):
        placed = now - timedelta(days=150 * n / 80 + 3)
        order = make_order(
            store,
            email=f"c{n % 30}@example.com",
            external_id=f"h{n:03d}",
            placed=placed.isoformat(),
        )
        deliver(store, order, at=(placed + timedelta(days=2)).isoformat())


def test_seed_writes_returns_in_every_state_and_highlights_answer(store, media):
    now = clock.now()
    _history(store, now)
    events = OutboxEvent.objects.count()

    counts = returns_seed.seed(store, random.Random("returns:7"), now)

    returns = ReturnRequest.objects.filter(store=store)
    statuses = dict(returns.values_list("status").annotate(n=Count("id")))
    assert counts["returns"] == returns.count() >= 12
    assert {
        "requested",
        "approved",
        "label_issued",
        "in_transit",
        "received",
        "inspected",
        "closed",
    } <= set(statuses)
    assert returns.filter(status="requested", fraud_flagged=True).exists()
    assert returns.filter(outcome="store_credit", status="closed").exists()
    assert returns.filter(exchange_order__isnull=False, status="closed").exists()
    assert returns.filter(refund__isnull=False, status="closed").exists()
    assert StoreCreditAccount.objects.filter(store=store, balance__gt=0).exists()
    assert ReturnRuleSet.objects.get(store=store).version == 1
    # History, not news: nothing was emitted.
    assert OutboxEvent.objects.count() == events
    # Ledgers add up: every balance is the sum of its entries.
    for account in StoreCreditAccount.objects.filter(store=store):
        total = sum(e.amount for e in StoreCreditEntry.objects.filter(account=account))
        assert total == account.balance
    # Transitions are in time order and end at the status.
    for ret in returns:
        steps = list(ret.transitions.order_by("id").values_list("to_status", "at"))
        assert steps[-1][0] == ret.status
        assert [at for _, at in steps] == sorted(at for _, at in steps)

    lines = returns_seed.highlights(store, "http://testserver")
    staff = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(staff)
    anonymous = Client()
    assert len(lines) >= 5
    for line in lines:
        url = re.search(r"http://testserver(\S+)", line).group(1)
        who = anonymous if url.startswith("/returns/") else client
        assert who.get(url).status_code == 200, line
