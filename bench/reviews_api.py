"""The public product reviews API and the widget fragment with 10,000 reviews on one product,
against `aftersale serve`, beside the trivial authenticated GET.

    .venv/bin/python bench/reviews_api.py [--seconds 10] [--concurrency 32] [--reviews 10000]
                                           [--db sqlite,postgres]

For each database: migrate a scratch database, create a store and a key, write one product with
N published reviews (ratings 1–5, a tenth with an approved photo, a few merchant replies) and
recount its stored summary, start the production server, then measure in the same run (a) GET
/api/v1/ping, the trivial authenticated baseline, (b) the JSON API GET /api/v1/public/reviews/
<store>/products/<handle> cycling through the four sorts and pages 1–50, and (c) the widget's HTML
fragment the same way. Prints req/s, p50/p99 and the ratio to the baseline.
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

SORTS = ("newest", "highest", "lowest", "with_photos")


def seed(store_slug: str, reviews: int) -> None:
    """Runs inside a subprocess with the bench environment: prints the product's public id."""
    import django

    django.setup()
    import io
    from datetime import UTC, datetime, timedelta

    from django.core.files.base import ContentFile
    from PIL import Image

    from aftersale.catalog.models import Product
    from aftersale.core.bulk import insert_rows
    from aftersale.core.models import Store
    from aftersale.reviews.models import Review, ReviewPhoto, ReviewReply
    from aftersale.reviews.services import rating_summaries_rebuild

    store = Store.objects.get(slug=store_slug)
    product = Product.objects.create(store=store, title="Trail Mug", handle="trail-mug")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = [
        {
            "store_id": store.pk,
            "product_id": product.pk,
            "rating": (n * 7) % 5 + 1,
            "title": f"Review number {n}",
            "text": "Keeps coffee hot for hours; the handle stays cool. " * 3,
            "author_name": f"Shopper {n % 97}",
            "status": "published",
            "source": "csv",
            "external_id": f"bench-{n}",
            "photo_count": 1 if n % 10 == 0 else 0,
            "created_at": start + timedelta(minutes=n),
            "updated_at": start + timedelta(minutes=n),
            "published_at": start + timedelta(minutes=n),
        }
        for n in range(reviews)
    ]
    insert_rows(Review, rows)
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 160)).save(out, format="JPEG")
    data = out.getvalue()
    for n, review in enumerate(Review.objects.filter(photo_count=1).order_by("id")):
        photo = ReviewPhoto(
            store=store,
            review=review,
            content_type="image/jpeg",
            extension="jpg",
            width=64,
            height=48,
            size_bytes=len(data),
            sha256=f"{n:064d}",
            status="approved",
        )
        photo.image.save(f"{photo.public_id}.jpg", ContentFile(data), save=False)
        photo.save()
    for review in Review.objects.filter(rating__lte=2).order_by("id")[:200]:
        ReviewReply.objects.create(store=store, review=review, text="Sorry to hear that!")
    rating_summaries_rebuild(store)
    print(product.public_id)


def seed_product(env: dict[str, str], reviews: int) -> str:
    out = subprocess.run(
        [sys.executable, __file__, "--seed-only", str(reviews)],
        env=env,
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return next(line for line in out.splitlines() if line.startswith("prd_"))


def measure(kind: str, seconds: float, concurrency: int, reviews: int) -> None:
    with scratch_database(kind) as url:
        env = bench_env(url)
        aftersale(env, "migrate", "-v", "0")
        aftersale(env, "createstore", "bench", "--name", "Bench", "--currency", "EUR")
        out = aftersale(env, "apikey", "create", "--store", "bench", "--name", "bench")
        token = re.search(r"token \(shown once\): (\S+)", out).group(1)
        product_id = seed_product(env, reviews)
        with running_server(env) as port:
            host = f"127.0.0.1:{port}"
            ping = build_request("GET", "/api/v1/ping", host, {"Authorization": f"Bearer {token}"})
            combos = [(s, p) for p in range(1, 51) for s in SORTS]
            api = itertools.cycle(
                [
                    build_request(
                        "GET",
                        f"/api/v1/public/reviews/bench/products/trail-mug?sort={s}&page={p}",
                        host,
                        {},
                    )
                    for s, p in combos
                ]
            )
            fragment = itertools.cycle(
                [
                    build_request(
                        "GET",
                        f"/reviews/w/bench/{product_id}/fragment?sort={s}&page={p}&lang=de",
                        host,
                        {},
                    )
                    for s, p in combos
                ]
            )
            # Warm-up: every sort and page of both once per worker process, so the numbers show
            # the steady state (responses cached under the product's summary version).
            for stream in (api, fragment):
                run_load(
                    host="127.0.0.1",
                    port=port,
                    make_request=lambda stream=stream: next(stream),
                    concurrency=4,
                    seconds=3,
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
            api_result = run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: next(api),
                concurrency=concurrency,
                seconds=seconds,
                label=f"GET public reviews API ({reviews:,} reviews)",
            )
            fragment_result = run_load(
                host="127.0.0.1",
                port=port,
                make_request=lambda: next(fragment),
                concurrency=concurrency,
                seconds=seconds,
                label=f"GET widget fragment ({reviews:,} reviews)",
            )
        print_table(
            [baseline, api_result, fragment_result],
            baseline,
            f"{kind}: {concurrency} concurrent clients, {seconds:.0f}s",
        )
        for name, result in (("API", api_result), ("fragment", fragment_result)):
            ratio = result.rps / baseline.rps if baseline.rps else 0
            print(
                f"reviews {name}: {result.rps:,.0f} req/s = {ratio:.0%} of the trivial GET, "
                f"p99 {result.p99:.0f} ms, statuses {dict(sorted(result.statuses.items()))}"
            )


def main() -> None:
    parser = page_bench_parser(__doc__, size="reviews", default=10_000)
    args = parser.parse_args()
    for kind in page_bench_databases(args, seed):
        measure(kind, args.seconds, args.concurrency, args.reviews)


if __name__ == "__main__":
    main()
