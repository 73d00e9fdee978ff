"""Demo reviews: a few hundred reviews of the demo store's delivered orders, written as if through
the review page (verified buyers), with realistic English text, some held for moderation with
their flags, small photos (drawn with Pillow), and a merchant reply. Deterministic from the rng.
"""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta

from django.core.files.base import ContentFile
from django.db.models import Count
from PIL import Image, ImageDraw

from aftersale.core.bulk import insert_rows
from aftersale.core.models import Store
from aftersale.orders.models import OrderLine
from aftersale.reviews import moderation
from aftersale.reviews.kinds import write_token
from aftersale.reviews.models import ModerationFlag, Review, ReviewPhoto, ReviewReply
from aftersale.reviews.photos import PhotoUpload, clean_photo
from aftersale.reviews.services import rating_summaries_rebuild, settings_for_update
from aftersale.tracking.models import Shipment

RATINGS = [5] * 55 + [4] * 22 + [3] * 10 + [2] * 6 + [1] * 7

TITLES = {
    5: ["Exactly what I hoped for", "Love it", "Excellent quality", "Worth every cent", "Perfect"],
    4: ["Very good", "Happy with it", "Good value", "Nice, one small thing", "Solid choice"],
    3: ["It's okay", "Decent but not great", "Mixed feelings", "Average"],
    2: ["Disappointed", "Not as described", "Expected more"],
    1: ["Fell apart quickly", "Would not buy again", "Poor quality"],
}
TEXTS = {
    5: [
        "The {title} arrived well packed and looks even better than in the photos. "
        "I have used it every day since.",
        "Great {title}. Sturdy, well made and exactly the size I needed.",
        "Bought the {title} as a gift and it was a hit. Will order again.",
        "Second time I buy the {title}; quality is as good as the first one.",
    ],
    4: [
        "Good {title} for the price. The colour is slightly darker than shown.",
        "Very happy with the {title}, only the instructions could be clearer.",
        "Does the job well. Delivery took a day longer than promised.",
    ],
    3: [
        "The {title} is fine, nothing special. Sizing runs a bit small.",
        "Works, but the finish is not as nice as I expected for the price.",
    ],
    2: [
        "The {title} looked worn after two weeks. Customer service was friendly though.",
        "Smaller than described and the stitching came loose.",
    ],
    1: [
        "The {title} broke on the first use. Very disappointed.",
        "Arrived damaged and the replacement took ages.",
    ],
}
STORE_TEXTS = {
    5: "Fast delivery and friendly support. Will shop here again.",
    4: "Good shop, parcel arrived a day late but well packed.",
    3: "Ordering was easy, delivery was slow.",
    2: "Took two weeks to arrive and nobody answered my e-mail.",
    1: "Parcel was lost and I had to chase the refund.",
}
# Held for moderation: what each one contains is what its flag will say.
HELD_TEXTS = [
    "Love the {title}! Questions? Write me at jenny.m@example.com",
    "Great {title}, cheaper at www.bargain-outdoor.biz though",
    "Call me on +49 151 2345 6789 if you want my old one",
    "The {title} is crap, the strap snapped after a day",
]
NAMES = [
    "Jenny M.", "Tom B.", "Sara K.", "Lukas W.", "Emma R.", "Noah P.", "Mia S.", "Ben H.",
    "Olivia T.", "Finn D.", "Hannah L.", "Paul G.", "Lea F.", "Jonas A.", "Clara V.", "Max N.",
]  # fmt: skip
COLORS = [(31, 78, 121), (11, 110, 79), (180, 83, 9), (190, 24, 93), (75, 85, 99), (2, 132, 199)]


def _photo_bytes(rng: random.Random) -> bytes:
    """A small picture: a coloured background with a few shapes (like a product snapshot)."""
    image = Image.new("RGB", (320, 240), rng.choice(COLORS))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x, y = rng.randrange(0, 260), rng.randrange(0, 180)
        size = rng.randrange(30, 90)
        fill = tuple(min(255, c + 90) for c in rng.choice(COLORS))
        if rng.random() < 0.5:
            draw.ellipse((x, y, x + size, y + size), fill=fill)
        else:
            draw.rectangle((x, y, x + size, y + size // 2), fill=fill)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()


def seed(store: Store, rng: random.Random, now: datetime) -> dict[str, int]:
    settings_for_update(store)
    delivered = dict(
        Shipment.objects.filter(store=store, delivered_at__isnull=False, delivered_at__lt=now)
        .order_by("order_id", "delivered_at")
        .values_list("order_id", "delivered_at")
    )
    lines = list(
        OrderLine.objects.filter(order_id__in=list(delivered), product__isnull=False)
        .select_related("order", "product")
        .order_by("order_id", "id")
    )
    by_order: dict[int, list[OrderLine]] = {}
    for line in lines:
        by_order.setdefault(line.order_id, []).append(line)
    order_ids = sorted(by_order)
    rng.shuffle(order_ids)
    chosen = sorted(order_ids[:260])

    rows: list[dict] = []
    held: list[tuple[int, str]] = []  # (row index, text) of flagged reviews
    for n, order_id in enumerate(chosen):
        order_lines = by_order[order_id]
        order = order_lines[0].order
        written = delivered[order_id] + timedelta(days=rng.randint(3, 12), hours=rng.randint(0, 20))
        if written >= now:
            continue
        name = rng.choice(NAMES)
        seen: set[int] = set()
        for line in order_lines:
            if line.product_id in seen or rng.random() < 0.25:
                continue
            seen.add(line.product_id)
            rating = rng.choice(RATINGS)
            title = rng.choice(TITLES[rating])
            text = rng.choice(TEXTS[rating]).format(title=line.product.title)
            status = Review.Status.PUBLISHED if rating >= 4 else Review.Status.PENDING
            if n % 23 == 5:  # a few carry something the moderator must see
                text = HELD_TEXTS[(n // 23) % len(HELD_TEXTS)].format(title=line.product.title)
                status = Review.Status.PENDING
                held.append((len(rows), text))
            elif status == Review.Status.PENDING and rng.random() < 0.7:
                status = Review.Status.PUBLISHED  # most low ratings were approved long ago
            rows.append(_row(store, order, line, name, rating, title, text, status, written))
        if rng.random() < 0.35:
            rating = rng.choice(RATINGS)
            rows.append(
                _row(
                    store,
                    order,
                    None,
                    name,
                    rating,
                    "",
                    STORE_TEXTS[rating],
                    Review.Status.PUBLISHED,
                    written,
                )
            )
    insert_rows(Review, rows)

    reviews = {
        (r.order_id, r.product_id): r
        for r in Review.objects.filter(store=store, source=Review.Source.REQUEST)
    }
    flags = []
    for index, text in held:
        row = rows[index]
        review = reviews[(row["order_id"], row["product_id"])]
        for finding in moderation.scan(title=row["title"], text=text):
            flags.append(
                ModerationFlag(
                    store=store,
                    review=review,
                    kind=finding.kind,
                    field=finding.field,
                    match=finding.match,
                    created_at=row["created_at"],
                )
            )
    ModerationFlag.objects.bulk_create(flags)

    photos = _photos(store, rng, [r for r in reviews.values() if r.product_id])
    replies = _reply(store, reviews.values(), now)
    rating_summaries_rebuild(store)
    return {
        "reviews": len(rows),
        "held reviews": sum(1 for r in rows if r["status"] == Review.Status.PENDING),
        "review flags": len(flags),
        "review photos": photos,
        "review replies": replies,
    }


def _row(store, order, line, name, rating, title, text, status, written) -> dict:
    published = status == Review.Status.PUBLISHED
    return {
        "store_id": store.pk,
        "product_id": line.product_id if line else None,
        "order_id": order.pk,
        "order_line_id": line.pk if line else None,
        "customer_id": order.customer_id,
        "author_name": name,
        "rating": rating,
        "title": title,
        "text": text,
        "locale": "en",
        "status": status,
        "verified_buyer": True,
        "incentivised": False,
        "source": Review.Source.REQUEST,
        "created_at": written,
        "updated_at": written,
        "published_at": written + timedelta(minutes=1) if published else None,
    }


def _photos(store: Store, rng: random.Random, product_reviews: list[Review]) -> int:
    ordered = sorted(product_reviews, key=lambda r: r.pk)
    picked = [r for r in ordered if r.rating >= 3 and rng.random() < 0.08][:30]
    count = 0
    for review in picked:
        status = (
            ReviewPhoto.Status.APPROVED
            if review.status == Review.Status.PUBLISHED
            else ReviewPhoto.Status.PENDING
        )
        for _ in range(rng.randint(1, 3)):
            clean = clean_photo(PhotoUpload("demo.jpg", _photo_bytes(rng)))
            photo = ReviewPhoto(
                store=store,
                review=review,
                content_type=clean.content_type,
                extension=clean.extension,
                width=clean.width,
                height=clean.height,
                size_bytes=len(clean.data),
                sha256=clean.sha256,
                status=status,
                created_at=review.created_at,
            )
            photo.image.save(f"{photo.public_id}.jpg", ContentFile(clean.data), save=False)
            photo.save()
            count += 1
        review.photo_count = review.photos.filter(status=ReviewPhoto.Status.APPROVED).count()
        review.save(update_fields=["photo_count"])
    return count


def _reply(store: Store, reviews, now: datetime) -> int:
    low = sorted(
        (
            r
            for r in reviews
            if r.status == Review.Status.PUBLISHED and r.rating <= 2 and r.product_id
        ),
        key=lambda r: r.pk,
    )
    if not low:
        return 0
    review = low[0]
    ReviewReply.objects.create(
        store=store,
        review=review,
        text=(
            "We are sorry this did not live up to your expectations. Our team has sent you a "
            "prepaid return label and a replacement is on its way."
        ),
        created_at=min(now, review.created_at + timedelta(days=1)),
        updated_at=min(now, review.created_at + timedelta(days=1)),
    )
    return 1


def highlights(store: Store, base_url: str) -> list[str]:
    lines = [f"review queue    {base_url}/admin/reviews/desk/ (held reviews with their flags)"]
    top = (
        Review.objects.filter(store=store, status=Review.Status.PUBLISHED, product__isnull=False)
        .values("product_id", "product__public_id")
        .annotate(n=Count("id"))
        .order_by("-n", "product_id")
        .first()
    )
    if top:
        prd = top["product__public_id"]
        lines.append(f"review widget   {base_url}/reviews/w/{store.slug}/{prd}/demo")
        lines.append(
            f"reviews API     {base_url}/api/v1/public/reviews/{store.slug}/products/{prd}"
        )
    lines.append(f"reviews feed    {base_url}/reviews/feed/{store.slug}.xml")
    reviewed = (
        Review.objects.filter(store=store, source=Review.Source.REQUEST, order__isnull=False)
        .select_related("order")
        .order_by("id")
        .first()
    )
    if reviewed:
        token = write_token(reviewed.order.public_id)
        lines.append(f"review page     {base_url}/reviews/w/{token} (a shopper's order)")
    return lines
