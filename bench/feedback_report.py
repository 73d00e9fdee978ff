"""The merchant's feedback report over the full Olist data set, on SQLite and PostgreSQL.

    .venv/bin/python bench/feedback_report.py [--db sqlite,postgres] [--data ../shared/data/olist]
                                              [--runs 3]

For each database: migrate a scratch database, import the Olist data (orders, parcels and the
reviews as store-level Reviews, like bench/import_olist.py). The shared data is a consistent
subset (~8k reviews); `--scale 12` (the default) copies its reviews, on the same orders, up to the
full data set's ~100k. Then every review gets a CSAT answer of the same score and text (its
order's parcel, carrier, lane, products, late or not, first or repeat customer — the snapshot the
survey subscriber takes), so the survey half of the report runs over as many rows as the review
half. Then time `feedback_report` over all time: the whole report, and its parts (delay vs rating
over the reviews; the survey summary, weekly series, six cuts, themes). Target: under 2 s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.server import REPO, bench_env, postgres_available, scratch_database

RUN = r"""
import time
import zoneinfo
from pathlib import Path
import django
django.setup()
from django.core.management import call_command
from django.db import transaction
call_command("migrate", verbosity=0)
from aftersale.core.services import store_create
from aftersale.importers.olist import import_olist
from aftersale.feedback import reports
from aftersale.feedback.models import AnswerProduct, SurveyAnswer
from aftersale.orders.models import Order, OrderLine
from aftersale.reviews.models import Review
from aftersale.tracking.models import Shipment

store = store_create(slug="olist", name="Olist", currency="BRL", time_zone="America/Sao_Paulo")
zone = zoneinfo.ZoneInfo(store.time_zone)
started = time.perf_counter()
import_olist(store=store, directory=Path({data!r}), progress=False)
print(f"import|{{time.perf_counter() - started:.1f}}")

# The shared subset has ~8k reviews; copies of them (same orders, new ids) bring the table to the
# full data set's ~100k rows.
copies = []
originals = list(Review.objects.filter(store=store, source="olist"))
for n in range(1, {scale}):
    for review in originals:
        copies.append(Review(
            store=store, order_id=review.order_id, customer_id=review.customer_id,
            rating=review.rating, title=review.title, text=review.text, locale=review.locale,
            status=review.status, source="csv", external_id=f"{{review.external_id}}:{{n}}",
            created_at=review.created_at, updated_at=review.updated_at,
            published_at=review.published_at, author_name=review.author_name,
        ))
Review.objects.bulk_create(copies, batch_size=2000)

# One CSAT answer per store-level review, with the snapshot the subscriber would take.
started = time.perf_counter()
parcels = {{}}
for order_id, carrier, o_region, d_region, delivered, promised in Shipment.objects.filter(
    store=store
).values_list("order_id", "carrier", "origin_region", "destination_region", "delivered_at",
              "promised_delivery_date").order_by("id"):
    parcels[order_id] = (carrier, f"BR / {{o_region}} → BR / {{d_region}}", delivered, promised)
first_order = {{}}
for pk, customer_id in Order.objects.filter(store=store).order_by("placed_at", "id").values_list(
    "id", "customer_id"
):
    first_order.setdefault(customer_id, pk)
lines = {{}}
for order_id, product_id, title, category in OrderLine.objects.filter(store=store).values_list(
    "order_id", "product_id", "product__title", "product__category"
):
    lines.setdefault(order_id, {{}})[product_id] = (title or "?", category or "")
answers, products = [], []
reviews = Review.objects.filter(store=store, product__isnull=True).values_list(
    "order_id", "order__customer_id", "rating", "text", "created_at"
)
for order_id, customer_id, rating, text, created in reviews.iterator(chunk_size=5000):
    carrier, lane, delivered, promised = parcels.get(order_id, ("", "", None, None))
    days = (delivered.date() - promised).days if delivered and promised else None
    band = "detractor" if rating <= 2 else "promoter" if rating >= 4 else "passive"
    answers.append(SurveyAnswer(
        store=store, survey_type="csat", score=rating, first_score=rating, band=band,
        comment=text, locale="pt-br", customer_id=customer_id, order_id=order_id,
        carrier=carrier, lane=lane, late=None if days is None else days > 0,
        days_late=None if days is None else max(days, 0),
        first_order=first_order.get(customer_id) == order_id,
        answered_at=created, answered_on=created.astimezone(zone).date(), updated_at=created,
        snapshot_at=created,
    ))
with transaction.atomic():
    SurveyAnswer.objects.bulk_create(answers, batch_size=2000)
    for answer in answers:
        seen = set()
        for product_id, (title, category) in lines.get(answer.order_id, {{}}).items():
            products.append(
                AnswerProduct(
                    store=store,
                    answer_id=answer.pk,
                    product_id=product_id,
                    title=title,
                    category=category,
                    first_of_category=category not in seen,
                )
            )
            seen.add(category)
    AnswerProduct.objects.bulk_create(products, batch_size=2000, ignore_conflicts=True)
print(f"answers|{{len(answers)}}|{{len(products)}}|{{time.perf_counter() - started:.1f}}")
print(f"reviews|{{Review.objects.filter(store=store, product__isnull=True).count()}}")

period = reports.Period(None, None)
parts = [
    ("whole report", lambda: reports.feedback_report(store=store, since=None, until=None)),
    ("delay vs rating (reviews)", lambda: reports.delay_vs_rating(store, period)),
    ("summary", lambda: reports.summary(store, period)),
    ("weekly series", lambda: reports.over_time(store, period, "week")),
    ("cuts (6 dimensions)",
     lambda: [reports.cut(store, period, d) for d in reports.DIMENSIONS]),
    ("themes (words)", lambda: reports.themes(store, period)),
    ("cases + response rates",
     lambda: (reports.cases(store, period), reports.response_rates(store, period))),
]
for label, fn in parts:
    times = []
    for _ in range({runs}):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    print(f"time|{{label}}|{{min(times):.3f}}|{{max(times):.3f}}")
delay = reports.delay_vs_rating(store, period)
for bucket in delay["buckets"]:
    print(f"bucket|{{bucket['label']}}|{{bucket['reviews']}}|{{bucket['average']}}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "olist"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scale", type=int, default=12, help="copies of the reviews (12: ~99k like full Olist)"
    )
    args = parser.parse_args()
    for kind in args.db.split(","):
        if kind == "postgres" and not postgres_available():
            print(f"{kind}: skipped (no server at BENCH_POSTGRES_URL)")
            continue
        with scratch_database(kind, name="bench_feedback_report") as url:
            out = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    RUN.format(data=args.data, runs=args.runs, scale=args.scale),
                ],
                env=bench_env(url),
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        rows = [line.split("|") for line in out.strip().splitlines()]
        info = {r[0]: r[1:] for r in rows if r[0] in ("import", "answers", "reviews")}
        print(
            f"\n{kind}: Olist imported in {info['import'][0]} s; {info['reviews'][0]} store "
            f"reviews; {info['answers'][0]} CSAT answers ({info['answers'][1]} product rows) "
            f"made in {info['answers'][2]} s"
        )
        header = f"{'part':<30}{'best s':>9}{'worst s':>9}{'vs 2 s target':>15}"
        print(header)
        print("-" * len(header))
        for row in rows:
            if row[0] == "time":
                _, label, best, worst = row
                print(f"{label:<30}{float(best):>9.3f}{float(worst):>9.3f}{float(best) / 2:>14.0%}")
        print("\ndays late vs average review score")
        for row in rows:
            if row[0] == "bucket":
                _, label, n, average = row
                print(f"  {label:<32}{int(n):>8,} reviews  average {average}")


if __name__ == "__main__":
    main()
