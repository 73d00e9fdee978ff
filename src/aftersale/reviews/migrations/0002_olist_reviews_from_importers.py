"""Reviews imported before the reviews app existed (importers.ImportedReview, Olist) become
store-level Reviews — never verified, published at their answer time — before that table goes."""

from django.db import migrations
from django.db.models import Count, Q, Sum

from aftersale.core.ids import new_public_id


def carry_over(apps, schema_editor):
    try:
        imported = apps.get_model("importers", "ImportedReview")
    except LookupError:
        return
    Review = apps.get_model("reviews", "Review")
    RatingSummary = apps.get_model("reviews", "RatingSummary")
    stores = set()
    batch = []
    for old in imported.objects.select_related("order").iterator(chunk_size=2000):
        if Review.objects.filter(
            store_id=old.store_id, source=old.source, external_id=old.external_id
        ).exists():
            continue
        stores.add(old.store_id)
        batch.append(
            Review(
                public_id=new_public_id("rev"),
                store_id=old.store_id,
                order_id=old.order_id,
                customer_id=old.order.customer_id,
                rating=old.score,
                title=old.title[:200],
                text=old.text,
                locale="pt-br",
                status="published",
                verified_buyer=False,
                incentivised=False,
                source=old.source,
                external_id=old.external_id,
                created_at=old.created_at,
                updated_at=old.answered_at or old.created_at,
                published_at=old.answered_at or old.created_at,
            )
        )
        if len(batch) >= 2000:
            Review.objects.bulk_create(batch)
            batch = []
    Review.objects.bulk_create(batch)
    for store_id in stores:
        published = Review.objects.filter(
            store_id=store_id, product__isnull=True, status="published"
        )
        totals = published.aggregate(
            count=Count("id"),
            rating_sum=Sum("rating"),
            verified=Count("id", filter=Q(verified_buyer=True)),
            photos=Count("id", filter=Q(photo_count__gt=0)),
            **{f"count_{n}": Count("id", filter=Q(rating=n)) for n in range(1, 6)},
        )
        summary, _ = RatingSummary.objects.get_or_create(store_id=store_id, product=None)
        summary.count = totals["count"]
        summary.rating_sum = totals["rating_sum"] or 0
        summary.verified_count = totals["verified"]
        summary.with_photos = totals["photos"]
        for n in range(1, 6):
            setattr(summary, f"count_{n}", totals[f"count_{n}"])
        summary.version += 1
        summary.save()


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0001_initial"),
        ("importers", "0001_initial"),
    ]

    operations = [migrations.RunPython(carry_over, migrations.RunPython.noop)]
