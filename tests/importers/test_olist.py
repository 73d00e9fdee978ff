import csv
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from aftersale.core.models import OutboxEvent
from aftersale.customers.models import Customer
from aftersale.importers.models import ImportRun
from aftersale.importers.olist import OlistImportError, import_olist
from aftersale.orders.models import Order, OrderLine
from aftersale.reviews.models import Review
from aftersale.tracking.models import Shipment, TrackingEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def olist(shared_data) -> Path:
    return shared_data / "olist"


def distinct(path: Path, column: str) -> int:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return len({row[column] for row in csv.DictReader(fh)})


def test_full_import_counts_and_a_second_run_creates_nothing(store, other_store, olist):
    first = import_olist(store=store, directory=olist, progress=False)

    assert Order.objects.filter(store=store).count() == 8135
    assert Customer.objects.filter(store=store).count() == distinct(
        olist / "olist_customers_dataset.csv", "customer_unique_id"
    )
    assert first.counts["products"].created == 5460
    assert OrderLine.objects.filter(store=store).count() == first.counts["order lines"].created
    assert sum(line.quantity for line in OrderLine.objects.filter(store=store)) == 8365
    assert Shipment.objects.filter(store=store).count() == first.counts["shipments"].created
    assert Review.objects.filter(store=store, source="olist").count() == 8225
    assert TrackingEvent.objects.filter(shipment__store=store).count() > 7000
    assert first.problems == []
    # history fires no events, and the other store is untouched
    assert not OutboxEvent.objects.filter(store=store).exists()
    assert not Order.objects.filter(store=other_store).exists()

    second = import_olist(store=store, directory=olist, progress=False)
    assert Order.objects.filter(store=store).count() == 8135
    assert all(c.created == 0 for c in second.counts.values())
    assert ImportRun.objects.filter(store=store, status="succeeded").count() == 2


def test_times_are_sao_paulo_local_stored_as_utc(store, olist):
    import_olist(store=store, directory=olist, progress=False)
    order = Order.objects.get(store=store, external_id="a4591c265e18cb1dcee52889e2d8acc3")
    shipment = order.shipments.get()

    # 2017-07-09 21:57:05 in São Paulo (UTC-3, no daylight saving in July)
    assert order.placed_at == datetime(2017, 7, 10, 0, 57, 5, tzinfo=UTC)
    assert shipment.delivered_at == datetime(2017, 7, 26, 13, 57, 55, tzinfo=UTC)
    assert str(shipment.promised_delivery_date) == "2017-08-01"
    assert shipment.status == "delivered"
    assert [e.status for e in shipment.events.all()] == ["picked_up", "delivered"]
    assert order.total == order.subtotal + order.shipping_total
    assert order.currency == "BRL"


def write_kaggle(folder: Path, source: Path, keep_orders: int = 5) -> None:
    """The original Kaggle formatting: quoted headers and ids, CRLF, a BOM on the translations."""
    orders = []
    with (source / "olist_orders_dataset.csv").open(newline="") as fh:
        reader = csv.DictReader(fh)
        orders = [next(reader) for _ in range(keep_orders)]
    order_ids = {o["order_id"] for o in orders}
    customer_ids = {o["customer_id"] for o in orders}
    for path in source.glob("*.csv"):
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header = reader.fieldnames
        if "order_id" in header:
            rows = [r for r in rows if r["order_id"] in order_ids]
        elif "customer_id" in header:
            rows = [r for r in rows if r["customer_id"] in customer_ids]
        encoding = "utf-8-sig" if path.name.startswith("product_category") else "utf-8"
        with (folder / path.name).open("w", newline="", encoding=encoding) as fh:
            writer = csv.DictWriter(fh, header, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
            writer.writeheader()
            writer.writerows(rows)


def test_reads_the_original_kaggle_formatting(store, olist, tmp_path):
    write_kaggle(tmp_path, olist)
    summary = import_olist(store=store, directory=tmp_path, progress=False)

    assert Order.objects.filter(store=store).count() == 5
    assert summary.problems == []
    assert Order.objects.filter(store=store, total__gt=Decimal(0)).exists()


def test_a_missing_file_is_a_readable_error_and_writes_nothing(store, olist, tmp_path):
    for path in olist.glob("*.csv"):
        if path.name != "olist_sellers_dataset.csv":
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(OlistImportError) as err:
        import_olist(store=store, directory=tmp_path, progress=False)

    assert "olist_sellers_dataset.csv is missing" in str(err.value)
    assert not Order.objects.exists()


def test_bad_rows_are_skipped_with_a_reason(store, olist, tmp_path):
    write_kaggle(tmp_path, olist)
    orders = tmp_path / "olist_orders_dataset.csv"
    text = orders.read_text().splitlines()
    first = text[1].split('","')
    first[3] = "not a date"
    text[1] = '","'.join(first)
    orders.write_text("\r\n".join(text) + "\r\n")
    summary = import_olist(store=store, directory=tmp_path, progress=False)

    assert Order.objects.filter(store=store).count() == 4
    assert summary.counts["orders"].skipped == 1
    assert "Invalid isoformat string: 'not a date'" in summary.problems[0]


def test_cli_import_prints_a_summary(store, olist, tmp_path, capsys):
    from aftersale.cli import main

    write_kaggle(tmp_path, olist)
    assert main(["import", "olist", str(tmp_path), "--store", "acme", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "5 orders in" in out
    assert main(["import", "olist", str(tmp_path / "nope"), "--store", "acme", "--quiet"]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_olist_reviews_become_store_reviews_tied_to_their_orders(store, olist):
    from aftersale.reviews.models import RatingSummary

    import_olist(store=store, directory=olist, progress=False)

    review = Review.objects.get(
        store=store,
        source="olist",
        external_id="373cbeecea8286a2b66c97b1b157ec46:583174fbe37d3d5f0d6661be3aad1786",
    )
    assert review.product is None  # Olist rates the purchase, not a product
    assert review.order.external_id == "583174fbe37d3d5f0d6661be3aad1786"
    assert review.customer == review.order.customer
    assert (review.rating, review.title, review.text) == (1, "Não chegou meu produto", "Péssimo")
    assert review.locale == "pt-br"
    assert review.verified_buyer is False and review.incentivised is False
    assert review.status == "published"
    # 2018-08-15 00:00 and 04:10:37 in São Paulo (UTC-3)
    assert review.created_at == datetime(2018, 8, 15, 3, 0, tzinfo=UTC)
    assert review.published_at == datetime(2018, 8, 15, 7, 10, 37, tzinfo=UTC)
    summary = RatingSummary.objects.get(store=store, product=None)
    assert summary.count == 8225
    assert summary.verified_count == 0
    assert (
        summary.count_1 + summary.count_2 + summary.count_3 + summary.count_4 + summary.count_5
        == 8225
    )
