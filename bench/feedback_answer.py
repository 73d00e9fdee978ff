"""The one-click survey answer (GET /f/<score token>) against `aftersale serve`, beside the trivial
authenticated GET.

    .venv/bin/python bench/feedback_answer.py [--seconds 10] [--concurrency 32] [--messages 2000]
                                              [--db sqlite,postgres]

For each database: migrate a scratch database, create a store and a key, seed orders with a
delivered parcel, two products and a sent NPS survey message each, start the production server,
then measure in the same run (a) GET /api/v1/ping, the trivial authenticated baseline, (b) first
clicks: every request answers a survey not answered yet (snapshot, answer, event, and a detractor
case with its alert for scores 0–6), (c) changed clicks: every request changes an answered
survey's score, (d) repeated clicks: the same score again (nothing written). Prints req/s,
p50/p99 and the ratio to the baseline (target: ≥ 50% of the trivial GET, p99 < 100 ms).
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import build_request, print_table, run_load
from bench.server import (
    REPO,
    aftersale,
    bench_env,
    page_bench_databases,
    page_bench_parser,
    running_server,
    scratch_database,
)


def seed(store_slug: str, messages: int) -> None:
    """Runs inside a subprocess with the bench environment: prints one message id per line."""
    import django

    django.setup()
    from datetime import UTC, date, datetime, timedelta

    from aftersale.catalog.models import Product
    from aftersale.core import clock
    from aftersale.core.models import Store
    from aftersale.customers.models import Customer
    from aftersale.messaging.models import Message
    from aftersale.orders.models import Order, OrderLine
    from aftersale.tracking.models import Shipment

    store = Store.objects.get(slug=store_slug)
    store.support_email = "help@bench.example"
    store.save()
    mug = Product.objects.create(store=store, title="Mug", category="Kitchen")
    socks = Product.objects.create(store=store, title="Socks", category="Clothing")
    start = datetime(2026, 11, 1, 9, tzinfo=UTC)
    now = clock.now()
    customers = Customer.objects.bulk_create(
        Customer(store=store, email=f"shopper{n}@example.com", locale=["de", "pt-br", "en"][n % 3])
        for n in range(messages)
    )
    orders = Order.objects.bulk_create(
        Order(
            store=store,
            external_id=f"b{n}",
            number=f"#{10000 + n}",
            currency="EUR",
            customer=customer,
            email=customer.email,
            placed_at=start,
        )
        for n, customer in enumerate(customers)
    )
    OrderLine.objects.bulk_create(
        OrderLine(store=store, order=order, product=product, title=product.title, quantity=1)
        for order in orders
        for product in (mug, socks)
    )
    Shipment.objects.bulk_create(
        Shipment(
            store=store,
            order=order,
            carrier="DHL",
            carrier_code="dhl_paket",
            tracking_number=f"BENCH{n:06d}",
            status="delivered",
            origin_region="BE",
            origin_country="DE",
            destination_region="BY",
            destination_country="DE",
            shipped_at=start,
            promised_delivery_date=date(2026, 11, 4),
            delivered_at=start + timedelta(days=2 + n % 4),
        )
        for n, order in enumerate(orders)
    )
    sent = Message.objects.bulk_create(
        Message(
            store=store,
            customer=order.customer,
            order=order,
            kind="survey_nps",
            category="feedback",
            recipient=order.email,
            locale=order.customer.locale,
            time_zone="Europe/Berlin",
            idempotency_key=f"bench:{order.public_id}",
            status="sent",
            due_at=now,
            sent_at=now,
        )
        for order in orders
    )
    for message in sent:
        print(message.public_id)


def seed_messages(env: dict[str, str], messages: int) -> list[str]:
    out = subprocess.run(
        [sys.executable, __file__, "--seed-only", str(messages)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if line.startswith("msg_")]


def score_paths(env: dict[str, str], ids: list[str], offset: int) -> list[str]:
    """Score link paths, message i with score (i + offset) % 11 (signed by the server's key)."""
    code = (
        "import sys, django; django.setup()\n"
        "from aftersale.feedback.tokens import score_path\n"
        f"off = {offset}\n"
        "for i, line in enumerate(sys.stdin.read().split()):\n"
        "    print(score_path(line, (i + off) % 11))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        input="\n".join(ids),
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.split()


def _load(port, requests, concurrency, seconds, label, max_requests=10**9):
    host = f"127.0.0.1:{port}"
    built = [build_request("GET", path, host) for path in requests]
    cycle = itertools.cycle(built)
    return run_load(
        host="127.0.0.1",
        port=port,
        make_request=lambda: next(cycle),
        concurrency=concurrency,
        seconds=seconds,
        label=label,
        max_requests=max_requests,
    )


def measure(kind: str, seconds: float, concurrency: int, messages: int) -> None:
    with scratch_database(kind, name="bench_feedback_answer") as url:
        env = bench_env(url)
        aftersale(env, "migrate", "-v", "0")
        aftersale(env, "createstore", "bench", "--name", "Bench", "--currency", "EUR")
        out = aftersale(env, "apikey", "create", "--store", "bench", "--name", "bench")
        token = re.search(r"token \(shown once\): (\S+)", out).group(1)
        ids = seed_messages(env, messages)
        first = score_paths(env, ids, 0)
        changed = score_paths(env, ids, 5)
        # Warm-up on the last few messages only; they are left out of the measured runs.
        warm, ids_first, ids_changed = first[-50:], first[:-50], changed[:-50]
        with running_server(env) as port:
            host = f"127.0.0.1:{port}"
            ping = build_request("GET", "/api/v1/ping", host, {"Authorization": f"Bearer {token}"})
            _load(port, warm, 4, 1.5, "warm-up")
            baseline = run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: ping,
                concurrency=concurrency,
                seconds=seconds,
                label="GET /api/v1/ping (baseline)",
            )
            # Each first click once: stop before the list wraps around.
            firsts = _load(
                port,
                ids_first,
                concurrency,
                seconds,
                "GET /f/<token> first click",
                max_requests=len(ids_first),
            )
            answered = firsts.requests
            changes = _load(
                port,
                ids_changed[:answered],
                concurrency,
                seconds,
                "GET /f/<token> changed score",
                max_requests=answered,
            )
            repeats = _load(
                port,
                ids_changed[:answered],
                concurrency,
                seconds,
                "GET /f/<token> same score again",
            )
        rows = [baseline, firsts, changes, repeats]
        print_table(rows, baseline, f"{kind}: {concurrency} concurrent clients, {seconds:.0f}s")
        for row in rows[1:]:
            ratio = row.rps / baseline.rps if baseline.rps else 0
            ok = "ok" if ratio >= 0.5 and row.p99 < 100 else "MISSED"
            print(
                f"{row.label}: {row.rps:,.0f} req/s = {ratio:.0%} of the trivial GET "
                f"(target ≥ 50%), p99 {row.p99:.0f} ms (target < 100 ms) {ok}; "
                f"statuses {dict(sorted(row.statuses.items()))}"
            )
        if answered < len(ids_first):
            print(f"(first clicks: {answered} of {len(ids_first)} surveys answered in the window)")


def main() -> None:
    parser = page_bench_parser(__doc__, size="messages", default=4000)
    args = parser.parse_args()
    for kind in page_bench_databases(args, seed):
        measure(kind, args.seconds, args.concurrency, args.messages)


if __name__ == "__main__":
    main()
