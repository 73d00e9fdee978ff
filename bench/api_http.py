"""API throughput against `aftersale serve`: single-order POSTs and batches beside a trivial GET.

    .venv/bin/python bench/api_http.py [--seconds 10] [--concurrency 16] [--db sqlite,postgres]

For each database: migrate a scratch database, create a store and a key, start the production
server, then measure in the same run (a) GET /api/v1/ping, the trivial authenticated baseline,
(b) POST /api/v1/orders with a new order per request, (c) POST /api/v1/orders/batch with 1,000
orders per request. Prints req/s, p50/p99 and each figure's ratio to the baseline.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loadgen import build_request, print_table, run_load
from bench.server import (
    aftersale,
    bench_env,
    postgres_available,
    running_server,
    scratch_database,
)

_counter = itertools.count()


def order_body(prefix: str) -> dict:
    n = next(_counter)
    return {
        "external_id": f"{prefix}-{n}",
        "number": f"{prefix}{n}",
        "placed_at": "2026-05-01T10:00:00Z",
        "email": f"shopper{n % 5000}@example.com",
        "customer": {"external_id": f"c{n % 5000}", "first_name": "Ana", "last_name": "Silva"},
        "shipping_address": {
            "line1": "Rua Augusta 100",
            "city": "São Paulo",
            "postal_code": "01304-000",
            "country": "BR",
        },
        "shipping_total": "12.90",
        "tax_total": "0",
        "lines": [
            {
                "external_id": "1",
                "sku": "TEE-M",
                "title": "T-shirt",
                "unit_price": "59.90",
                "quantity": 2,
            },
            {
                "external_id": "2",
                "sku": "CAP",
                "title": "Cap",
                "unit_price": "39.00",
                "quantity": 1,
                "discount": "5.00",
            },
        ],
    }


def measure(kind: str, seconds: float, concurrency: int) -> None:
    with scratch_database(kind) as url:
        env = bench_env(url)
        aftersale(env, "migrate", "-v", "0")
        aftersale(env, "createstore", "bench", "--name", "Bench", "--currency", "BRL")
        out = aftersale(env, "apikey", "create", "--store", "bench", "--name", "bench")
        token = re.search(r"token \(shown once\): (\S+)", out).group(1)
        auth = {"Authorization": f"Bearer {token}"}
        json_headers = {**auth, "Content-Type": "application/json"}
        with running_server(env) as port:
            host = f"127.0.0.1:{port}"
            ping = build_request("GET", "/api/v1/ping", host, auth)
            run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: ping,
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

            def single():
                body = json.dumps(order_body("s")).encode()
                return build_request("POST", "/api/v1/orders", host, json_headers, body)

            single_result = run_load(
                host="127.0.0.1",
                port=port,
                make_request=single,
                concurrency=concurrency,
                seconds=seconds,
                label="POST /api/v1/orders",
            )

            def batch():
                orders = [order_body("b") for _ in range(1000)]
                body = json.dumps({"orders": orders}).encode()
                return build_request("POST", "/api/v1/orders/batch", host, json_headers, body)

            started = time.perf_counter()
            batch_result = run_load(
                host="127.0.0.1",
                port=port,
                make_request=batch,
                concurrency=1,
                seconds=seconds,
                label="POST /orders/batch",
                max_requests=10,
            )
            batch_seconds = time.perf_counter() - started
        rows = [baseline, single_result, batch_result]
        print_table(rows, baseline, f"{kind}: {concurrency} concurrent clients, {seconds:.0f}s")
        ok_batches = batch_result.statuses.get(200, 0)
        print(
            f"batch: {ok_batches} × 1,000 orders in {batch_seconds:.1f}s = "
            f"{ok_batches * 1000 / batch_seconds:,.0f} orders/s (p50 {batch_result.p50:.0f} ms "
            f"per batch)"
        )
        ratio = single_result.rps / baseline.rps if baseline.rps else 0
        print(
            f"single-order ingest: {single_result.rps:,.0f} orders/s = {ratio:.0%} of the "
            f"trivial GET (target ≥ 50%), p99 {single_result.p99:.0f} ms (target < 100 ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print("postgres: skipped (no server at BENCH_POSTGRES_URL)")
            continue
        measure(kind, args.seconds, args.concurrency)


if __name__ == "__main__":
    main()
