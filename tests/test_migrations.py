from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_missing_migrations():
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exc:  # makemigrations --check exits 1 when a migration is missing
        pytest.fail(f"models changed without a migration:\n{out.getvalue()}")
        raise AssertionError from exc


@pytest.mark.django_db(transaction=True)
def test_reviews_imported_before_the_reviews_app_become_reviews():
    """importers.ImportedReview (Olist) rows become reviews.Review before the table goes."""
    import datetime as dt

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("importers", "0001_initial"), ("reviews", "0001_initial")]
    after = [("importers", "0002_retire_imported_reviews")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    store = old.get_model("core", "Store").objects.create(
        slug="olist", name="Olist", currency="BRL", time_zone="America/Sao_Paulo"
    )
    customer = old.get_model("customers", "Customer").objects.create(
        store=store, public_id="cus_1", email="a@example.com"
    )
    order = old.get_model("orders", "Order").objects.create(
        store=store,
        public_id="ord_1",
        number="1",
        source="olist",
        external_id="o1",
        currency="BRL",
        customer=customer,
        placed_at=dt.datetime(2018, 1, 2, tzinfo=dt.UTC),
    )
    written = dt.datetime(2018, 1, 20, tzinfo=dt.UTC)
    old.get_model("importers", "ImportedReview").objects.create(
        store=store,
        source="olist",
        external_id="r1:o1",
        order=order,
        score=2,
        title="Atrasou",
        text="Chegou muito depois do prazo",
        created_at=written,
    )

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    review = new.get_model("reviews", "Review").objects.get(store_id=store.pk)
    assert (review.rating, review.title, review.text) == (
        2,
        "Atrasou",
        "Chegou muito depois do prazo",
    )
    assert (review.source, review.external_id, review.verified_buyer) == ("olist", "r1:o1", False)
    assert (review.order_id, review.customer_id, review.status) == (
        order.pk,
        customer.pk,
        "published",
    )
    assert review.published_at == written and review.product_id is None
    summary = new.get_model("reviews", "RatingSummary").objects.get(store_id=store.pk, product=None)
    assert (summary.count, summary.rating_sum, summary.count_2) == (1, 2, 1)

    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
