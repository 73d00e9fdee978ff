"""The shopper's returns portal against `aftersale serve`, beside the trivial authenticated GET.

    .venv/bin/python bench/returns_portal.py [--seconds 10] [--concurrency 32] [--orders 200]
                                              [--db sqlite,postgres] [--only cached,fresh]

For each database: migrate a scratch database, create a store and a key, seed a catalogue (a
jacket in three sizes, a mug, a final-sale cap), the default reasons and rules, and delivered
orders of three lines each, with a draft per order at each step. Then, against the production
server (2 processes × 8 threads), in the same run:

* cached — the pages as the portal's 60-s page cache serves them: after a warm-up that renders
  each order's pages once in each server process, (a) GET /api/v1/ping, the trivial
  authenticated baseline, (b) GET /returns (lookup), (c) GET /returns/items?s=<draft> (the
  order's lines with what each may do), (d) /returns/outcome (each outcome priced), (e)
  /returns/method (each way back priced) and (f) /returns/confirm (the full quote), distinct
  orders round-robin;
* fresh — the same pages rendered afresh on every request, as for a shop whose shoppers each
  come once (no two on the same order within a minute): a second server whose settings replace
  the cache with Django's DummyCache, so every GET pays the page-version query, the selectors,
  the quotes and the template; the baseline GET is measured again on that server.

Prints req/s, p50/p99 and each page's ratio to its section's baseline (target: ≥ 40% of the
trivial GET, p99 < 150 ms).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
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
    """Runs inside a subprocess with the bench environment: prints one JSON line per order with
    the path of each step's page (a fresh draft's items, then the mug chosen for a change of mind:
    outcome; store credit: method; drop-off: confirm)."""
    import django

    django.setup()
    from datetime import timedelta

    from django.urls import reverse

    from aftersale.catalog.models import Product, Variant
    from aftersale.core import clock
    from aftersale.core.models import Store
    from aftersale.orders.schemas import OrderIn
    from aftersale.orders.services import order_upsert
    from aftersale.returns.portal import Draft, DraftItem
    from aftersale.returns.rules import DEFAULT_DEFINITION
    from aftersale.returns.services import reasons_install_defaults, rules_save
    from aftersale.tracking.models import Shipment

    store = Store.objects.get(slug=store_slug)
    store.logo_url = "http://127.0.0.1:9/logo.png"
    store.support_email = "help@bench.example"
    store.save()
    reasons_install_defaults(store=store)
    rules_save(store=store, definition=DEFAULT_DEFINITION)
    jacket = Product.objects.create(store=store, external_id="p-jacket", title="Trail Jacket")
    for size in ("S", "M", "L"):
        Variant.objects.create(
            store=store,
            product=jacket,
            external_id=f"v-jacket-{size}",
            title=size,
            price="120.00",
            currency=store.currency,
            inventory_quantity=5,
        )
    Product.objects.create(store=store, external_id="p-mug", title="Trail Mug")
    Product.objects.create(store=store, external_id="p-cap", title="Sale Cap", final_sale=True)
    now = clock.now()
    for n in range(orders):
        email = f"shopper{n}@example.com"
        order = order_upsert(
            store=store,
            data=OrderIn(
                external_id=f"b{n}",
                number=f"#{20000 + n}",
                placed_at=(now - timedelta(days=8)).isoformat(),
                email=email,
                customer={"email": email, "locale": ["de", "pt-br", "en"][n % 3]},
                shipping_address={"line1": "Torstraße 1", "postal_code": "10119", "country": "DE"},
                lines=[
                    {
                        "title": "Trail Jacket",
                        "variant_title": "M",
                        "product_external_id": "p-jacket",
                        "variant_external_id": "v-jacket-M",
                        "unit_price": "120.00",
                        "quantity": 1,
                    },
                    {
                        "title": "Trail Mug",
                        "product_external_id": "p-mug",
                        "unit_price": "19.90",
                        "quantity": 2,
                    },
                    {
                        "title": "Sale Cap",
                        "product_external_id": "p-cap",
                        "unit_price": "15.00",
                        "quantity": 1,
                    },
                ],
            ),
        ).order
        Shipment.objects.create(
            store=store,
            order=order,
            carrier="DHL",
            tracking_number=f"BENCH{n:08d}",
            status="delivered",
            delivered_at=now - timedelta(days=5),
        )
        mug = order.lines.get(title="Trail Mug")
        draft = Draft.start(order.public_id)
        pages = {"items": reverse("returns:items") + "?s=" + draft.sign()}
        draft.items = [DraftItem(line=mug.public_id, quantity=1, reason="changed_mind")]
        pages["outcome"] = reverse("returns:outcome") + "?s=" + draft.sign()
        draft.outcome = "store_credit"
        pages["method"] = reverse("returns:method") + "?s=" + draft.sign()
        draft.method = "drop_off"
        pages["confirm"] = reverse("returns:confirm") + "?s=" + draft.sign()
        print(json.dumps(pages))


def seed_orders(env: dict[str, str], orders: int) -> list[dict]:
    out = subprocess.run(
        [sys.executable, __file__, "--seed-only", str(orders)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


PAGES = ("items", "outcome", "method", "confirm")
NO_CACHE_SETTINGS = """from aftersale.settings import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
"""


def measure_server(
    env: dict[str, str],
    token: str,
    drafts: list[dict],
    *,
    seconds: float,
    concurrency: int,
    warm: bool,
    suffix: str,
) -> list:
    with running_server(env) as port:
        host = f"127.0.0.1:{port}"
        lang = {"Accept-Language": "de"}
        ping = build_request("GET", "/api/v1/ping", host, {"Authorization": f"Bearer {token}"})
        lookup = build_request("GET", "/returns", host, lang)
        cycles = {
            page: itertools.cycle([build_request("GET", d[page], host, lang) for d in drafts])
            for page in PAGES
        }
        if warm:
            # Every page several times over as many connections as the measurement (keep-alive
            # connections stay with one server process, and each process keeps its own page
            # cache unless CACHE_URL names a shared one), so that each process has rendered each
            # order's pages once; they are kept a minute (returns/views.py). Several rounds, each
            # on new connections, so both processes get their share.
            for _ in range(4):
                for page in PAGES:
                    run_load(
                        host="127.0.0.1",
                        port=port,
                        make_request=lambda page=page: next(cycles[page]),
                        concurrency=concurrency,
                        seconds=60,
                        label="warm-up",
                        max_requests=3 * len(drafts),
                    )
        else:  # the first requests of a process compile templates and queries: not measured
            for page in PAGES:
                run_load(
                    host="127.0.0.1",
                    port=port,
                    make_request=lambda page=page: next(cycles[page]),
                    concurrency=concurrency,
                    seconds=5,
                    label="warm-up",
                    max_requests=4 * concurrency,
                )
        scenarios = [
            ("GET /api/v1/ping (baseline)", lambda: ping),
            (f"GET /returns (lookup){suffix}", lambda: lookup),
        ] + [
            (f"GET /returns/{page}{suffix}", lambda page=page: next(cycles[page])) for page in PAGES
        ]
        return [
            run_load(
                host="127.0.0.1",
                port=port,
                make_request=make,
                concurrency=concurrency,
                seconds=seconds,
                label=label,
            )
            for label, make in scenarios
        ]


def verdicts(rows: list) -> None:
    baseline = rows[0]
    for row in rows[1:]:
        ratio = row.rps / baseline.rps if baseline.rps else 0
        verdict = "ok" if ratio >= 0.4 and row.p99 < 150 else "BELOW TARGET"
        print(
            f"{row.label}: {row.rps:,.0f} req/s = {ratio:.0%} of the trivial GET "
            f"(target ≥ 40%), p99 {row.p99:.0f} ms (target < 150 ms), "
            f"statuses {dict(sorted(row.statuses.items()))} → {verdict}"
        )


def measure(kind: str, seconds: float, concurrency: int, orders: int, only: set[str]) -> None:
    # A database of its own: other benchmarks may run beside this one.
    with (
        scratch_database(kind, name="bench_returns_portal") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        env = bench_env(url)
        aftersale(env, "migrate", "-v", "0")
        aftersale(env, "createstore", "bench", "--name", "Bench", "--currency", "EUR")
        out = aftersale(env, "apikey", "create", "--store", "bench", "--name", "bench")
        token = re.search(r"token \(shown once\): (\S+)", out).group(1)
        drafts = seed_orders(env, orders)
        title = f"{kind}: {concurrency} concurrent clients, {seconds:.0f}s, {len(drafts)} orders"
        if "cached" in only:
            rows = measure_server(
                env,
                token,
                drafts,
                seconds=seconds,
                concurrency=concurrency,
                warm=True,
                suffix=" cached",
            )
            print_table(rows, rows[0], f"{title}, pages from the page cache")
            verdicts(rows)
        if "fresh" in only:
            Path(tmp, "bench_nocache_settings.py").write_text(NO_CACHE_SETTINGS)
            fresh_env = {
                **env,
                "DJANGO_SETTINGS_MODULE": "bench_nocache_settings",
                "PYTHONPATH": os.pathsep.join(
                    p for p in (tmp, str(REPO / "src"), env.get("PYTHONPATH", "")) if p
                ),
            }
            rows = measure_server(
                fresh_env,
                token,
                drafts,
                seconds=seconds,
                concurrency=concurrency,
                warm=False,
                suffix=" fresh",
            )
            print_table(rows, rows[0], f"{title}, every page rendered afresh (no page cache)")
            verdicts(rows)
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main() -> None:
    parser = page_bench_parser(__doc__, size="orders", default=200)
    parser.add_argument("--only", default="cached,fresh", help="cached, fresh or both")
    args = parser.parse_args()
    for kind in page_bench_databases(args, seed):
        measure(kind, args.seconds, args.concurrency, args.orders, set(args.only.split(",")))


if __name__ == "__main__":
    main()
