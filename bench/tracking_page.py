"""The shopper's tracking page against `aftersale serve`, beside the trivial authenticated GET.

    .venv/bin/python bench/tracking_page.py [--seconds 10] [--concurrency 32] [--orders 300]
                                             [--db sqlite,postgres]

For each database: migrate a scratch database, create a store and a key, seed orders with two
shipments each (six scans, two estimate revisions, an open issue, two lines with images), start the
production server, then measure in the same run (a) GET /api/v1/ping, the trivial authenticated
baseline, and (b) GET /t/<token> for distinct orders round-robin. Prints req/s, p50/p99 and the
page's ratio to the baseline (target: ≥ 50% of the trivial GET, p99 < 100 ms).
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


def seed(store_slug: str, orders: int) -> None:
    """Runs inside a subprocess with the bench environment: prints one page path per order."""
    import django

    django.setup()
    from datetime import UTC, date, datetime, timedelta

    from aftersale.catalog.models import Product
    from aftersale.core.models import Store
    from aftersale.customers.models import Customer
    from aftersale.orders.schemas import OrderIn
    from aftersale.orders.services import order_upsert
    from aftersale.tracking.models import (
        DeliveryEstimate,
        Shipment,
        ShipmentIssue,
        TrackingEvent,
    )
    from aftersale.tracking.tokens import tracking_path

    store = Store.objects.get(slug=store_slug)
    store.logo_url = "http://127.0.0.1:9/logo.png"
    store.support_email = "help@bench.example"
    store.save()
    mug = Product.objects.create(store=store, title="Mug", image_url="http://127.0.0.1:9/m.png")
    start = datetime(2026, 11, 10, 9, tzinfo=UTC)
    statuses = ["picked_up", "in_transit", "in_transit", "out_for_delivery", "delivered"]
    for n in range(orders):
        customer = Customer.objects.create(
            store=store,
            email=f"shopper{n}@example.com",
            locale=["de", "pt-br", "en"][n % 3],
            time_zone=["Europe/Berlin", "America/Sao_Paulo", ""][n % 3],
        )
        order = order_upsert(
            store=store,
            data=OrderIn(
                external_id=f"b{n}",
                number=f"#{10000 + n}",
                placed_at=start.isoformat(),
                email=customer.email,
                customer={"email": customer.email},
                lines=[
                    {"title": "Mug", "unit_price": "19.90", "quantity": 2, "sku": "MUG"},
                    {"title": "Socks", "unit_price": "9.90", "quantity": 1},
                ],
            ),
        ).order
        order.lines.filter(sku="MUG").update(product=mug)
        for k, final in enumerate([True, False]):
            shipment = Shipment.objects.create(
                store=store,
                order=order,
                carrier="DHL",
                tracking_number=f"BENCH{n:06d}{k}",
                tracking_url=f"https://carrier.example/{n}/{k}",
                status="delivered" if final else "exception",
                shipped_at=start,
                delivered_at=start + timedelta(days=3) if final else None,
                estimated_earliest=date(2026, 11, 14),
                estimated_latest=date(2026, 11, 15),
            )
            TrackingEvent.objects.bulk_create(
                TrackingEvent(
                    store=store,
                    shipment=shipment,
                    occurred_at=start + timedelta(hours=12 * i),
                    status=status if final or i < 3 else "exception",
                    raw_status=status.upper(),
                    raw_text=f"Scan {i}: parcel processed at the hub",
                    location="Leipzig",
                    reason="" if final or i < 3 else "address_problem",
                    fingerprint=f"{i}",
                )
                for i, status in enumerate([*statuses, "delivered"])
            )
            for j, day in enumerate([12, 14]):
                DeliveryEstimate.objects.create(
                    store=store,
                    shipment=shipment,
                    created_at=start + timedelta(days=j),
                    estimated_date=date(2026, 11, day),
                    earliest=date(2026, 11, day),
                    latest=date(2026, 11, day + 1),
                    source="carrier",
                )
            if not final:
                ShipmentIssue.objects.create(
                    store=store, shipment=shipment, kind="late", detected_at=start
                )
        print(tracking_path(order.public_id))


def seed_orders(env: dict[str, str], orders: int) -> list[str]:
    out = subprocess.run(
        [sys.executable, __file__, "--seed-only", str(orders)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in out.splitlines() if line.startswith("/t/")]


def measure(kind: str, seconds: float, concurrency: int, orders: int) -> None:
    with scratch_database(kind) as url:
        env = bench_env(url)
        aftersale(env, "migrate", "-v", "0")
        aftersale(env, "createstore", "bench", "--name", "Bench", "--currency", "EUR")
        out = aftersale(env, "apikey", "create", "--store", "bench", "--name", "bench")
        token = re.search(r"token \(shown once\): (\S+)", out).group(1)
        paths = seed_orders(env, orders)
        with running_server(env) as port:
            host = f"127.0.0.1:{port}"
            ping = build_request("GET", "/api/v1/ping", host, {"Authorization": f"Bearer {token}"})
            pages = [build_request("GET", path, host, {"Accept-Language": "de"}) for path in paths]
            cycle = itertools.cycle(pages)
            run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: next(cycle),
                concurrency=4,
                seconds=1.5,
                label="warm-up",
            )
            baseline = run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: ping,
                concurrency=concurrency,
                seconds=seconds,
                label="GET /api/v1/ping (baseline)",
            )
            page = run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: next(cycle),
                concurrency=concurrency,
                seconds=seconds,
                label=f"GET /t/<token> ({len(paths)} orders)",
            )
        print_table(
            [baseline, page], baseline, f"{kind}: {concurrency} concurrent clients, {seconds:.0f}s"
        )
        ratio = page.rps / baseline.rps if baseline.rps else 0
        print(
            f"tracking page: {page.rps:,.0f} pages/s = {ratio:.0%} of the trivial GET "
            f"(target ≥ 50%), p99 {page.p99:.0f} ms (target < 100 ms), "
            f"statuses {dict(sorted(page.statuses.items()))}"
        )


def main() -> None:
    parser = page_bench_parser(__doc__, size="orders", default=300)
    args = parser.parse_args()
    for kind in page_bench_databases(args, seed):
        measure(kind, args.seconds, args.concurrency, args.orders)


if __name__ == "__main__":
    main()
