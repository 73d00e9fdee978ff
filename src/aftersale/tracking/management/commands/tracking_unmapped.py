"""`aftersale manage tracking_unmapped [--store SLUG]`: provider codes waiting for a mapping."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from aftersale.core.models import Store
from aftersale.tracking.selectors import tracking_unmapped_codes


class Command(BaseCommand):
    help = (
        "List the tracking codes that providers sent and the crosswalk does not know yet "
        "(events kept as in transit with mapped=false), with counts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--store", help="only this store (its slug); all stores by default")

    def handle(self, *args, **options):
        store = None
        if options["store"]:
            store = Store.objects.filter(slug=options["store"]).first()
            if store is None:
                raise CommandError(f"no store {options['store']!r}")
        rows = tracking_unmapped_codes(store=store)
        if not rows:
            self.stdout.write("Every tracking code received so far is mapped.")
            return
        header = ("provider", "raw code", "events", "shipments", "last seen (UTC)")
        table = [
            (
                r.source,
                r.raw_status or "(empty)",
                str(r.events),
                str(r.shipments),
                f"{r.last_seen:%Y-%m-%d %H:%M}",
            )
            for r in rows
        ]
        widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header))]
        for row in [header, tuple("-" * w for w in widths), *table]:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
        self.stdout.write(
            f"\n{len(rows)} code(s) need a mapping: add them to "
            "src/aftersale/tracking/providers/crosswalk.py and run scripts/crosswalk_doc.py."
        )
