"""Reviews from a CSV file: every row checked first, nothing written on a bad file."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from aftersale.catalog.models import Product
from aftersale.reviews.imports import CsvImportError, import_reviews_csv
from aftersale.reviews.models import RatingSummary, Review

pytestmark = pytest.mark.django_db

GOOD = """external_id,product,rating,title,text,author_name,email,order,created_at,locale,status
r-1,trail-mug,5,Great,"Keeps it hot,
even outside",Ana S.,ana@example.com,#1001,2025-03-01T10:00:00,en,
r-2,MUG-1,1,Broke,Handle came off,Bo,,,2025-03-02,en,published
r-3,,4,Nice shop,Fast,Cy,,,2025-03-03T09:00:00Z,en,
r-4,wool-socks,5,Cozy,Call me 0151 23456789,Di,,,2025-03-04,de,
"""


def run(store, text):
    return import_reviews_csv(store, io.BytesIO(text.encode()))


def test_a_good_file_imports_unverified_reviews_and_counts_them(store, order):
    result = run(store, GOOD)

    assert (result.read, result.created, result.updated, result.held) == (4, 4, 0, 1)
    first = Review.objects.get(external_id="r-1")
    assert first.source == "csv" and first.verified_buyer is False
    assert first.text == "Keeps it hot,\neven outside"
    assert first.order == order and first.customer == order.customer
    assert first.created_at == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # Berlin wall clock
    assert first.status == "published" and first.published_at == first.created_at
    # "published" given explicitly wins over the store's rule (1 star)
    assert Review.objects.get(external_id="r-2").status == "published"
    assert Review.objects.get(external_id="r-3").product is None
    held = Review.objects.get(external_id="r-4")
    assert held.status == "pending" and held.flags.get().kind == "phone"
    mug = Product.objects.get(handle="trail-mug")
    summary = RatingSummary.objects.get(store=store, product=mug)
    assert (summary.count, summary.rating_sum, summary.verified_count) == (2, 6, 0)


def test_importing_the_same_file_again_changes_nothing(store, order):
    run(store, GOOD)
    again = run(store, GOOD)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 4)
    assert Review.objects.count() == 4
    changed = run(store, GOOD.replace("Broke,Handle came off", "Broke,Handle snapped"))
    assert (changed.created, changed.updated, changed.unchanged) == (0, 1, 3)


def test_a_bad_file_reports_every_bad_row_and_writes_nothing(store, order):
    bad = (
        "external_id,product,rating,title,text,order,created_at\n"
        "a,trail-mug,5,ok,ok,,2025-01-01\n"
        "b,no-such-product,3,,,,\n"
        "c,trail-mug,6,,,,\n"
        "d,,4,,,#999,not a date\n"
        "a,trail-mug,4,,,,2099-01-01\n"
    )
    with pytest.raises(CsvImportError) as exc:
        run(store, bad)
    assert [str(e) for e in exc.value.errors] == [
        "line 3, product: no product 'no-such-product'",
        "line 4, rating: '6' is not a whole number 1–5",
        "line 5, order: no order '#999'",
        "line 5, created_at: not an ISO 8601 date or date-time",
        "line 6, created_at: in the future",
        "line 6, external_id: 'a' repeats line 2",
    ]
    assert not Review.objects.exists() and not RatingSummary.objects.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("product,title\nx,y\n", "line 1, rating: missing column"),
        ("rating,stars\n5,5\n", "line 1, stars: unknown column"),
    ],
)
def test_a_wrong_header_is_refused(store, text, message):
    with pytest.raises(CsvImportError) as exc:
        run(store, text)
    assert str(exc.value.errors[0]).startswith(message)
    assert not Review.objects.exists()


def test_not_utf8_is_refused(store):
    with pytest.raises(CsvImportError) as exc:
        import_reviews_csv(store, io.BytesIO("rating,text\n5,Ótimo\n".encode("latin-1")))
    assert str(exc.value.errors[0]) == "line 1, file: the file is not UTF-8 text"


def test_rows_never_reach_another_store(store, other_store, order):
    Product.objects.create(store=other_store, title="Caneca", handle="caneca")
    with pytest.raises(CsvImportError):
        run(store, "product,rating\ncaneca,5\n")
    run(other_store, "product,rating\ncaneca,5\n")
    assert Review.objects.get().store == other_store


def test_row_numbers_follow_multi_line_texts(store, order):
    text = 'rating,text\n5,"one\ntwo\nthree"\n9,bad\n'
    with pytest.raises(CsvImportError) as exc:
        run(store, text)
    assert str(exc.value.errors[0]) == "line 5, rating: '9' is not a whole number 1–5"


def test_the_cli_function(store, order, tmp_path):
    from aftersale.reviews.imports import run_cli

    good = tmp_path / "reviews.csv"
    good.write_text(GOOD, encoding="utf-8")
    status, text = run_cli(str(good), "acme")
    assert status == 0 and "created          4" in text
    bad = tmp_path / "bad.csv"
    bad.write_text("rating\nx\n", encoding="utf-8")
    assert run_cli(str(bad), "acme") == (
        1,
        "nothing imported, 1 problem(s):\nline 2, rating: 'x' is not a whole number 1–5",
    )
    assert run_cli(str(good), "nope") == (2, "no store with slug 'nope'")
