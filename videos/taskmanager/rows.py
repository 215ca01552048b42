"""Hot-path row reads and writes (task transitions, step writes, outbox and key bookkeeping) as SQL
written from the model's metadata.

Building a query costs the ORM 0.15-0.4 ms of CPU each time; a no-op task's claim and finish make eight,
which was most of its cost (bench/bench_tasks.py). These two helpers write the same statements without
the query compiler: columns, quoting, value adaptation (`get_db_prep_save`) and result conversion
(`Model.objects.raw`) are still Django's, so UUIDs, datetimes and JSON behave as through the ORM.
Filters are equality, `__in` and `IS NULL` on concrete fields: what the transitions need, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


def _field(model: type[models.Model], name: str) -> models.Field:
    return model._meta.pk if name == "pk" else model._meta.get_field(name)  # type: ignore[return-value]


def _column(field: models.Field) -> str:
    return connection.ops.quote_name(field.column or field.attname)  # concrete fields all have a column


def _where(model: type[models.Model], where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        name, _, lookup = key.partition("__")
        field = _field(model, name)
        column = _column(field)
        if lookup == "in":
            values = [field.get_db_prep_value(v, connection) for v in value]
            if not values:
                parts.append("1 = 0")
                continue
            parts.append(f"{column} IN ({', '.join(['%s'] * len(values))})")
            params.extend(values)
        elif lookup:
            raise ValueError(f"rows: unsupported lookup {key!r}")
        elif value is None:
            parts.append(f"{column} IS NULL")
        else:
            parts.append(f"{column} = %s")
            params.append(field.get_db_prep_value(value, connection))
    return " AND ".join(parts) or "1 = 1", params


def update(model: type[models.Model], where: Mapping[str, Any], **changes: Any) -> int:
    """UPDATE model's rows matching `where` with `changes` (field names); the number of rows changed."""
    quote = connection.ops.quote_name
    sets: list[str] = []
    params: list[Any] = []
    for name, value in changes.items():
        field = _field(model, name)
        sets.append(f"{_column(field)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    condition, where_params = _where(model, where)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {', '.join(sets)} WHERE {condition}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params + where_params)
        return cursor.rowcount


def select(
    model: type[M],
    where: Mapping[str, Any],
    *,
    order_by: Iterable[str] = (),
    limit: int | None = None,
    lock: bool = False,
    skip_locked: bool = False,
    defer: Iterable[str] = (),
) -> list[M]:
    """The rows matching `where` as model instances (`defer`: fields loaded only on access).

    `lock`: FOR UPDATE where the database has it (SQLite's IMMEDIATE transaction already excludes other
    writers); `skip_locked`: rows another transaction holds are passed over.
    """
    quote = connection.ops.quote_name
    skipped = set(defer)
    columns = ", ".join(_column(f) for f in model._meta.concrete_fields if f.name not in skipped)
    condition, params = _where(model, where)
    sql = f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {condition}"
    order = [
        f"{_column(_field(model, name.lstrip('-')))}{' DESC' if name.startswith('-') else ''}" for name in order_by
    ]
    if order:
        sql += f" ORDER BY {', '.join(order)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if lock and connection.features.has_select_for_update:
        sql += " FOR UPDATE"
        if skip_locked and connection.features.has_select_for_update_skip_locked:
            sql += " SKIP LOCKED"
    return list(model._default_manager.raw(sql, params))


def qualified(field: models.Field) -> str:
    """table.column of a concrete field, quoted: for hand-written joins."""
    return f"{connection.ops.quote_name(field.model._meta.db_table)}.{_column(field)}"


def prepared(field: models.Field, value: Any) -> Any:
    """`value` as the database takes it for `field` (a query parameter)."""
    return field.get_db_prep_value(value, connection)


def fetch(sql: str, params: list[Any], fields: list[models.Field]) -> list[list[Any]]:
    """Run a hand-written SELECT whose columns are `fields`, in order; values converted as the ORM
    converts them (UUIDs, datetimes, JSON)."""
    converters = []
    for i, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        if functions:
            converters.append((i, functions, column))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = [list(row) for row in cursor.fetchall()]
    for row in found:
        for i, functions, column in converters:
            value = row[i]
            for function in functions:
                value = function(value, column, connection)
            row[i] = value
    return found
