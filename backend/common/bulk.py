"""Insert many model rows with PostgreSQL COPY.

`bulk_create` compiles every value of every row through the field machinery (a 30-column row costs
about a third of a millisecond); COPY sends the rows as they are. Ingest writes an instance, its frames
and an audit row per file, so this is most of the database-side cost of indexing a batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import connection, models
from django.utils import timezone

ModelT = TypeVar("ModelT", bound=models.Model)

_AS_IS: tuple[type[models.Field[Any, Any]], ...] = (
    models.CharField,
    models.TextField,
    models.IntegerField,  # and its subclasses: BigIntegerField, AutoField, ...
    models.FloatField,
    models.BooleanField,
    models.DateField,  # and DateTimeField, without auto_now
    models.ForeignKey,
)


def copy_insert(objs: Sequence[ModelT], *, assign_ids: bool = False, ids: Sequence[int] | None = None) -> None:
    """Insert unsaved instances of one model, as `bulk_create` would: defaults are those the instances
    were built with, auto_now(_add) fields get the time of the call. With `assign_ids`, primary keys
    are drawn from the table's sequence first (one query), set on the instances and sent with the rows;
    `ids` gives numbers drawn before (see `draw_ids_sql`), one per instance in order; without either,
    the table's default numbers the rows and the instances keep no pk.
    Must run inside the caller's transaction like any insert; no signals are sent (nor by bulk_create)."""
    if ids is not None and len(ids) != len(objs):
        raise ValueError(f"{len(ids)} ids for {len(objs)} rows")
    if not objs:
        return
    meta = type(objs[0])._meta
    pk = meta.pk
    assert pk is not None
    with_ids = assign_ids or ids is not None
    fields = [f for f in meta.concrete_fields if with_ids or f is not pk]
    now = timezone.now()
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        if assign_ids:
            cursor.execute(draw_ids_sql(type(objs[0])), [len(objs)])
            ids = [number for (number,) in cursor.fetchall()]
        if ids is not None:
            for obj, number in zip(objs, ids, strict=True):
                obj.pk = number
        values = [_column_value(field, now) for field in fields]
        columns = ", ".join(quote(field.column or field.attname) for field in fields)
        # The raw cursor's errors are psycopg's own; wrapped, they are Django's (IntegrityError, ...), which
        # callers catch to settle races.
        with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([value(obj) for value in values])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias


def draw_ids_sql(model: type[models.Model]) -> str:
    """A query that draws %s primary keys from the model's sequence, to send with its rows."""
    meta = model._meta
    assert meta.pk is not None
    sequence = f"pg_get_serial_sequence('{meta.db_table}', '{meta.pk.column}')"  # names from model metadata
    return f"SELECT nextval({sequence}) FROM generate_series(1, %s)"  # noqa: S608


def _column_value(field: models.Field[Any, Any], now: Any) -> Callable[[models.Model], Any]:
    attname = field.attname
    if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):

        def stamped(obj: models.Model) -> Any:
            setattr(obj, attname, now)  # what pre_save does, so the instance shows what was stored
            return now

        return stamped
    if isinstance(field, models.JSONField) and field.encoder is None:
        # None is SQL NULL, as bulk_create stores it; anything else is JSON text, which jsonb parses.
        return lambda obj: None if (v := getattr(obj, attname)) is None else json.dumps(v)
    if isinstance(field, _AS_IS) and not field.choices:
        return lambda obj: getattr(obj, attname)
    return lambda obj: field.get_db_prep_save(getattr(obj, attname), connection)
