"""How fast Shopify order webhooks are accepted and processed.

(a) accepted per second: signed POSTs of Shopify's example order (a new order id each time)
    through Django's test client: middleware, signature check, the raw row and the queued task.
(b) processed per second: one in-process worker draining the queue, mapping each body and
    upserting the order with its customer, addresses and lines (plus the outbox events).

    .venv/bin/python bench/shopify_webhooks.py [--orders 500]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_inbound .venv/bin/python bench/...

Without DATABASE_URL it uses a fresh SQLite file in a temporary directory. With DATABASE_URL,
point it at a scratch database: it migrates it and leaves the rows there.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAYLOAD = REPO.parent / "shared" / "data" / "payloads" / "shopify_order.json"
SECRET = "bench-shopify-secret"


def setup(database_url: str | None) -> str:
    if not database_url:
        tmp = Path(tempfile.mkdtemp(prefix="aftersale-bench-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        os.environ["AFTERSALE_VAR_DIR"] = str(tmp)
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("AFTERSALE_ALLOW_DEFAULT_SECRET", "true")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "aftersale.settings"
    sys.path.insert(0, str(REPO / "src"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", interactive=False, verbosity=0)
    return connection.vendor


def bodies(template: dict, count: int, start: int) -> list[bytes]:
    out = []
    for n in range(start, start + count):
        order = dict(template, id=n, name=f"#{n}", order_number=n)
        order["customer"] = dict(template["customer"], id=10_000_000 + n, email=f"c{n}@example.com")
        order["email"] = f"c{n}@example.com"
        out.append(json.dumps(order).encode())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=500)
    args = parser.parse_args()
    if not PAYLOAD.exists():
        print(f"needs the shared payloads at {PAYLOAD}", file=sys.stderr)
        return 2
    vendor = setup(os.environ.get("DATABASE_URL"))

    from django.test import Client

    from aftersale.core.models import Store
    from aftersale.core.signing import hmac_sha256_base64
    from aftersale.core.worker import build_worker
    from aftersale.integrations.models import InboundPayload
    from aftersale.orders.models import Order

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    store = Store.objects.create(
        slug=slug, name="Bench", currency="USD", shopify_webhook_secret=SECRET
    )
    template = json.loads(PAYLOAD.read_text())
    start = 1_000_000 + Store.objects.count() * 100_000
    payloads = bodies(template, args.orders, start)
    client = Client()
    url = f"/webhooks/shopify/{slug}"

    began = time.perf_counter()
    for body in payloads:
        response = client.post(
            url,
            data=body,
            content_type="application/json",
            headers={
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Hmac-Sha256": hmac_sha256_base64(SECRET, body),
                "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            },
        )
        if response.status_code != 202:
            raise SystemExit(f"unexpected answer {response.status_code}: {response.content!r}")
    accept_seconds = time.perf_counter() - began

    began = time.perf_counter()
    build_worker(queue_names=["inbound"], batch=True, interval=0).run()
    process_seconds = time.perf_counter() - began

    processed = InboundPayload.objects.filter(store=store, status="processed").count()
    orders = Order.objects.filter(store=store).count()
    if processed != args.orders or orders != args.orders:
        raise SystemExit(f"only {processed} payloads processed, {orders} orders for {args.orders}")

    body_kib = sum(len(b) for b in payloads) / len(payloads) / 1024
    print(
        f"Shopify orders/create webhooks, {args.orders} orders, {body_kib:.1f} KiB each, {vendor}"
    )
    print(f"{'stage':<40}{'seconds':>10}{'per second':>14}{'ms each':>10}")
    for stage, seconds in [
        ("(a) accepted: verify + store + enqueue", accept_seconds),
        ("(b) processed by one worker", process_seconds),
    ]:
        print(
            f"{stage:<40}{seconds:>10.2f}{args.orders / seconds:>14.0f}"
            f"{1000 * seconds / args.orders:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
