"""Fast inserts for bulk loads (imports, the demo): executemany with values prepared once.

Django's bulk_create builds every row through the model layer; for tens of thousands of rows that
is most of the time spent. Rows here are plain dicts keyed by field name; missing fields take the
field's default (public ids included), auto_now fields take the current time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC

from django.db import connection, models

from aftersale.core import clock


def _sqlite_datetime(value):
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ")


def _converter(field: models.Field) -> Callable | None:
    """How to turn a Python value into a database parameter; None where it passes as it is."""
    ops = connection.ops
    if isinstance(field, models.JSONField):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(field, models.DateTimeField):
        # The same text Django's SQLite backend writes, without its per-value overhead.
        return _sqlite_datetime if connection.vendor == "sqlite" else None
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    return None


def insert_rows(model: type[models.Model], rows: Iterable[dict], *, chunk: int = 2000) -> int:
    """INSERT the rows; returns how many. Foreign keys are given as `<name>_id` values."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    now = clock.now()
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table = connection.ops.quote_name(model._meta.db_table)
    # Table and column names come from the model; every value is a bound parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
    plan = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            fallback, per_row = now, False
        elif f.has_default() and callable(f.default):
            fallback, per_row = f.default, True
        else:
            fallback, per_row = f.get_default(), False
        plan.append((f.attname, _converter(f), fallback, per_row))
    total = 0
    batch: list[tuple] = []
    with connection.cursor() as cursor:
        for row in rows:
            values = []
            for name, convert, fallback, per_row in plan:
                value = row[name] if name in row else (fallback() if per_row else fallback)
                values.append(convert(value) if convert else value)
            batch.append(tuple(values))
            if len(batch) >= chunk:
                cursor.executemany(sql, batch)
                total += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            total += len(batch)
    return total


def insert_objects(
    model: type[models.Model], objects: list[models.Model], *, fetch_ids: bool = True
) -> None:
    """INSERT unsaved instances through insert_rows: bulk_create without the per-value ORM work.

    Foreign keys are read from the related objects, so rows saved just before (an order's
    customer) are referred to by their new keys. auto_now fields are set to the insert time, on
    the rows and on the objects. With fetch_ids, the objects get their primary keys back, found by
    their `public_id`; one more query.
    """
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    relations = [f for f in fields if f.is_relation]
    auto = [
        f.attname
        for f in fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    now = clock.now()
    rows = []
    for obj in objects:
        for f in relations:
            if f.is_cached(obj):
                related = f.get_cached_value(obj)
                setattr(obj, f.attname, related.pk if related is not None else None)
        for name in auto:
            setattr(obj, name, now)
        rows.append({f.attname: getattr(obj, f.attname) for f in fields})
    insert_rows(model, rows)
    if not fetch_ids:
        return
    by_public_id = {obj.public_id: obj for obj in objects}
    public_ids = list(by_public_id)
    for start in range(0, len(public_ids), 500):
        chunk = public_ids[start : start + 500]
        keys = model._base_manager.filter(public_id__in=chunk).values_list("public_id", "pk")
        for public_id, pk in keys:
            obj = by_public_id[public_id]
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = connection.alias
