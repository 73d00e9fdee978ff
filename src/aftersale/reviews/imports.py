"""Reviews from a CSV file (reviews written elsewhere: a previous review app, a marketplace).

Columns (header row required, UTF-8, comma-separated; only `rating` is required):

    external_id   the review's id in the old system; a second import of the same id updates it
                  (default: a hash of product, author, date and text)
    product       product id (prd_…), handle or SKU; empty = a review of the shop overall
    rating        1 to 5
    title, text   the review's wording, kept as written
    author_name   the name shown with the review
    email         the customer's e-mail address (matched to a known customer, never shown)
    order         an order id (ord_…) or order number of this store (optional)
    created_at    ISO 8601 date or date-time (a time without zone is read in the store's zone);
                  default: now
    locale        en, pt-br, de …
    status        published or pending (default: the store's moderation rule decides)

Imported reviews are never "verified buyer": we did not ask for them ourselves. A file with any
bad row writes nothing and reports every bad row with its line number and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO

from django.db import transaction

from aftersale.catalog.models import Product, Variant
from aftersale.core import clock
from aftersale.core.models import Store
from aftersale.customers.models import Customer
from aftersale.orders.models import Order
from aftersale.reviews import moderation
from aftersale.reviews.models import ModerationFlag, Review
from aftersale.reviews.selectors import review_settings
from aftersale.reviews.services import AUTHOR_MAX, TEXT_MAX, TITLE_MAX, rating_summaries_rebuild

COLUMNS = (
    "external_id",
    "product",
    "rating",
    "title",
    "text",
    "author_name",
    "email",
    "order",
    "created_at",
    "locale",
    "status",
)
REQUIRED = {"rating"}
MAX_ROWS = 200_000


@dataclass(frozen=True)
class RowError:
    line: int  # line number in the file (the header is line 1)
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


class CsvImportError(Exception):
    """The file was refused; nothing was written. `errors` lists every bad row."""

    def __init__(self, errors: list[RowError]):
        self.errors = errors
        lines = [str(e) for e in errors[:20]]
        if len(errors) > 20:
            lines.append(f"… and {len(errors) - 20} more")
        super().__init__("\n".join(lines))


@dataclass
class CsvImportResult:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    held: int = 0
    errors: list[RowError] = field(default_factory=list)

    def as_table(self) -> str:
        return (
            f"{'read':<10}{self.read:>8,}\n{'created':<10}{self.created:>8,}\n"
            f"{'updated':<10}{self.updated:>8,}\n{'unchanged':<10}{self.unchanged:>8,}\n"
            f"{'held':<10}{self.held:>8,}"
        )


def _parse_time(raw: str, zone: zoneinfo.ZoneInfo) -> datetime:
    value = raw.strip()
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = datetime.combine(date.fromisoformat(value), time(12))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _open(source: str | Path | IO) -> IO[str]:
    if isinstance(source, str | Path):
        return Path(source).open(newline="", encoding="utf-8-sig")
    data = source.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CsvImportError([RowError(1, "file", "the file is not UTF-8 text")]) from None
    return io.StringIO(data, newline="")


def import_reviews_csv(store: Store, source: str | Path | IO) -> CsvImportResult:
    """Read, check every row, then write all of them in one transaction (or nothing)."""
    with _open(source) as fh:
        reader = csv.DictReader(fh)
        header = [(h or "").strip().lower() for h in reader.fieldnames or []]
        unknown = [h for h in header if h and h not in COLUMNS]
        missing = REQUIRED - set(header)
        if missing or unknown:
            problems = []
            if missing:
                problems.append(RowError(1, ", ".join(sorted(missing)), "missing column"))
            for h in unknown:
                problems.append(RowError(1, h, f"unknown column (known: {', '.join(COLUMNS)})"))
            raise CsvImportError(problems)
        reader.fieldnames = header
        try:
            rows = []
            last = 1  # a quoted text may span lines: number rows by where they start
            for r in reader:
                rows.append((last + 1, {k: (v or "").strip() for k, v in r.items() if k}))
                last = reader.line_num
        except csv.Error as exc:
            raise CsvImportError([RowError(reader.line_num, "file", str(exc))]) from None
    if len(rows) > MAX_ROWS:
        raise CsvImportError([RowError(1, "file", f"at most {MAX_ROWS:,} rows per file")])
    zone = zoneinfo.ZoneInfo(store.time_zone)
    result = CsvImportResult(read=len(rows))

    products = _lookup_products(store, {r["product"] for _, r in rows if r.get("product")})
    emails = {r["email"].lower() for _, r in rows if r.get("email")}
    customers = {
        c.email: c for c in Customer.objects.filter(store=store, email__in=emails).order_by("-id")
    }
    order_refs = {r["order"] for _, r in rows if r.get("order")}
    orders = {}
    for order in Order.objects.filter(store=store, public_id__in=order_refs):
        orders[order.public_id] = order
    for order in Order.objects.filter(store=store, number__in=order_refs).order_by("id"):
        orders.setdefault(order.number, order)

    errors: list[RowError] = []
    prepared: list[dict] = []
    seen_ids: dict[str, int] = {}
    now = clock.now()
    for line, row in rows:
        bad = len(errors)
        raw_rating = row.get("rating", "")
        try:
            rating = int(raw_rating)
            if not 1 <= rating <= 5:
                raise ValueError
        except ValueError:
            errors.append(RowError(line, "rating", f"{raw_rating!r} is not a whole number 1–5"))
            rating = 0
        product = None
        if row.get("product"):
            product = products.get(row["product"])
            if product is None:
                errors.append(RowError(line, "product", f"no product {row['product']!r}"))
        order = None
        if row.get("order"):
            order = orders.get(row["order"])
            if order is None:
                errors.append(RowError(line, "order", f"no order {row['order']!r}"))
        title, text = row.get("title", ""), row.get("text", "")
        if len(title) > TITLE_MAX:
            errors.append(RowError(line, "title", f"longer than {TITLE_MAX} characters"))
        if len(text) > TEXT_MAX:
            errors.append(RowError(line, "text", f"longer than {TEXT_MAX} characters"))
        author = row.get("author_name", "")
        if len(author) > AUTHOR_MAX:
            errors.append(RowError(line, "author_name", f"longer than {AUTHOR_MAX} characters"))
        created = now
        if row.get("created_at"):
            try:
                created = _parse_time(row["created_at"], zone)
            except ValueError:
                errors.append(RowError(line, "created_at", "not an ISO 8601 date or date-time"))
        if created > now:
            errors.append(RowError(line, "created_at", "in the future"))
        status = row.get("status", "").lower()
        if status and status not in (Review.Status.PUBLISHED, Review.Status.PENDING):
            errors.append(RowError(line, "status", "published or pending"))
        external = (
            row.get("external_id")
            or hashlib.sha256(
                "|".join(
                    [row.get("product", ""), author, row.get("created_at", ""), title, text]
                ).encode()
            ).hexdigest()[:40]
        )
        if len(external) > 100:
            errors.append(RowError(line, "external_id", "longer than 100 characters"))
        if external in seen_ids:
            errors.append(
                RowError(line, "external_id", f"{external!r} repeats line {seen_ids[external]}")
            )
        seen_ids.setdefault(external, line)
        if len(errors) > bad:
            continue
        prepared.append(
            {
                "external_id": external,
                "product": product,
                "order": order,
                "customer": customers.get(row.get("email", "").lower())
                or (order.customer if order else None),
                "rating": rating,
                "title": title,
                "text": text,
                "author_name": author,
                "locale": row.get("locale", "")[:10],
                "created_at": created,
                "status": status,
            }
        )
    if errors:
        raise CsvImportError(errors)
    _write(store, prepared, result)
    return result


def _lookup_products(store: Store, refs: set[str]) -> dict[str, Product]:
    found: dict[str, Product] = {}
    if not refs:
        return found
    for p in Product.objects.filter(store=store, public_id__in=refs):
        found[p.public_id] = p
    for p in Product.objects.filter(store=store, handle__in=refs).order_by("id"):
        found.setdefault(p.handle, p)
    for v in Variant.objects.filter(store=store, sku__in=refs).select_related("product"):
        found.setdefault(v.sku, v.product)
    return found


def _write(store: Store, prepared: list[dict], result: CsvImportResult) -> None:
    settings_row = review_settings(store)
    words = moderation.word_list(settings_row.extra_flagged_words)
    now = clock.now()
    with transaction.atomic():
        ids = [p["external_id"] for p in prepared]
        existing = {
            r.external_id: r
            for r in Review.objects.select_for_update()
            .filter(store=store, source=Review.Source.CSV, external_id__in=ids)
            .order_by("pk")
        }
        fresh: list[Review] = []
        flags_for: list[tuple[Review, list[moderation.Finding]]] = []
        for item in prepared:
            findings = moderation.scan_text(
                item["title"], field="title", words=words
            ) + moderation.scan_text(item["text"], field="text", words=words)
            status = item.pop("status")
            if not status:
                auto = (
                    settings_row.auto_publish
                    and item["rating"] >= settings_row.auto_publish_min_rating
                    and not findings
                )
                status = Review.Status.PUBLISHED if auto else Review.Status.PENDING
            review = existing.get(item["external_id"])
            if review is None:
                review = Review(
                    store=store,
                    source=Review.Source.CSV,
                    verified_buyer=False,
                    status=status,
                    published_at=item["created_at"] if status == Review.Status.PUBLISHED else None,
                    updated_at=now,
                    **item,
                )
                fresh.append(review)
                result.created += 1
            else:
                same = all(getattr(review, k) == v for k, v in item.items()) and (
                    review.status == status
                )
                if same:
                    result.unchanged += 1
                    continue
                for key, value in item.items():
                    setattr(review, key, value)
                review.status = status
                if status == Review.Status.PUBLISHED and review.published_at is None:
                    review.published_at = item["created_at"]
                review.updated_at = now
                review.save()
                result.updated += 1
            if status == Review.Status.PENDING:
                result.held += 1
            flags_for.append((review, findings))
        Review.objects.bulk_create(fresh, batch_size=1000)
        changed = [r.pk for r, _ in flags_for]
        ModerationFlag.objects.filter(review_id__in=changed).delete()
        ModerationFlag.objects.bulk_create(
            [
                ModerationFlag(
                    store=store, review=r, kind=f.kind, field=f.field, match=f.match[:200]
                )
                for r, findings in flags_for
                for f in findings
            ],
            batch_size=1000,
        )
        rating_summaries_rebuild(store)


def run_cli(path: str, store_slug: str) -> tuple[int, str]:
    """What `aftersale import reviews FILE --store SLUG` runs: (exit status, text to print)."""
    store = Store.objects.filter(slug=store_slug).first()
    if store is None:
        return 2, f"no store with slug {store_slug!r}"
    if not Path(path).is_file():
        return 2, f"{path} is not a file"
    try:
        result = import_reviews_csv(store, path)
    except CsvImportError as exc:
        return 1, f"nothing imported, {len(exc.errors)} problem(s):\n{exc}"
    return 0, result.as_table()
