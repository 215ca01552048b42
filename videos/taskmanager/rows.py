"""Hot-path row reads and writes (task transitions, step writes, status polls, outbox and key
bookkeeping) as SQL written from the model's metadata.

Building a query costs the ORM 0.15-0.4 ms of CPU each time; a no-op task's claim and finish make eight,
which was most of its cost (bench/bench_tasks.py). These helpers write the same statements without the
query compiler: columns, quoting, value adaptation (`get_db_prep_save`) and result conversion (the
fields' and backend's converters, `Model.from_db`) are still Django's, so UUIDs, datetimes and JSON
behave as through the ORM. Filters are equality, `__in` and `IS NULL` on concrete fields: what the hot
paths need, nothing more. Each call looks the thread's connection up once (through the `connection`
proxy every attribute costs a thread-local lookup).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)


def _db() -> BaseDatabaseWrapper:
    return connections[DEFAULT_DB_ALIAS]


def _field(model: type[models.Model], name: str) -> models.Field:
    return model._meta.pk if name == "pk" else model._meta.get_field(name)  # type: ignore[return-value]


def _column(db: BaseDatabaseWrapper, field: models.Field) -> str:
    return db.ops.quote_name(field.column or field.attname)  # concrete fields all have a column


def _table(db: BaseDatabaseWrapper, model: type[models.Model]) -> str:
    return db.ops.quote_name(model._meta.db_table)


_column_lists: dict[tuple[str, tuple[models.Field, ...]], str] = {}


def _column_list(db: BaseDatabaseWrapper, fields: tuple[models.Field, ...]) -> str:
    """The quoted column list, built once per database kind and field list (a select of a task names 22)."""
    key = (db.vendor, fields)
    if key not in _column_lists:
        _column_lists[key] = ", ".join(_column(db, f) for f in fields)
    return _column_lists[key]


def _where(db: BaseDatabaseWrapper, model: type[models.Model], where: Mapping[str, Any]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        name, _, lookup = key.partition("__")
        field = _field(model, name)
        column = _column(db, field)
        if lookup == "in":
            values = [field.get_db_prep_value(v, db) for v in value]
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
            params.append(field.get_db_prep_value(value, db))
    return " AND ".join(parts) or "1 = 1", params


def update(model: type[models.Model], where: Mapping[str, Any], **changes: Any) -> int:
    """UPDATE model's rows matching `where` with `changes` (field names); the number of rows changed."""
    db = _db()
    sets: list[str] = []
    params: list[Any] = []
    for name, value in changes.items():
        field = _field(model, name)
        sets.append(f"{_column(db, field)} = %s")
        params.append(field.get_db_prep_save(value, db))
    condition, where_params = _where(db, model, where)
    sql = f"UPDATE {_table(db, model)} SET {', '.join(sets)} WHERE {condition}"
    with db.cursor() as cursor:
        cursor.execute(sql, params + where_params)
        return cursor.rowcount


def update_each(model: type[models.Model], name: str, values: Mapping[Any, Any]) -> None:
    """Set field `name` row by row: {primary key: value}, one statement run for every row (executemany)."""
    db = _db()
    field, pk = _field(model, name), _field(model, "pk")
    sql = f"UPDATE {_table(db, model)} SET {_column(db, field)} = %s WHERE {_column(db, pk)} = %s"
    params = [(field.get_db_prep_save(v, db), pk.get_db_prep_value(key, db)) for key, v in values.items()]
    if params:
        with db.cursor() as cursor:
            cursor.executemany(sql, params)


def insert(objs: list[M]) -> list[M]:
    """INSERT new rows of one model in one statement; their primary keys must come from a Python default
    (UUIDs), since nothing is read back. Field defaults and auto_now(_add) apply as in save()."""
    if not objs:
        return objs
    if any(obj.pk is None for obj in objs):
        raise ValueError("rows.insert: primary keys must be set before the insert")
    db = _db()
    model = type(objs[0])
    fields = tuple(model._meta.concrete_fields)
    values = [f.get_db_prep_save(f.pre_save(obj, True), db) for obj in objs for f in fields]
    one = f"({', '.join(['%s'] * len(fields))})"
    sql = f"INSERT INTO {_table(db, model)} ({_column_list(db, fields)}) VALUES {', '.join([one] * len(objs))}"
    with db.cursor() as cursor:
        cursor.execute(sql, values)
    for obj in objs:
        obj._state.adding, obj._state.db = False, db.alias
    return objs


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
    db = _db()
    skipped = set(defer)
    fields = tuple(f for f in model._meta.concrete_fields if f.name not in skipped)
    condition, params = _where(db, model, where)
    sql = f"SELECT {_column_list(db, fields)} FROM {_table(db, model)} WHERE {condition}"
    order = [f"{_column(db, _field(model, n.lstrip('-')))}{' DESC' if n.startswith('-') else ''}" for n in order_by]
    if order:
        sql += f" ORDER BY {', '.join(order)}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    if lock and db.features.has_select_for_update:
        sql += " FOR UPDATE"
        if skip_locked and db.features.has_select_for_update_skip_locked:
            sql += " SKIP LOCKED"
    names = [f.attname for f in fields]
    return [model.from_db(db.alias, names, row) for row in _fetch(db, sql, params, fields)]


def first(model: type[M], where: Mapping[str, Any], **options: Any) -> M | None:
    """The first row `select` finds (LIMIT 1), or None."""
    found = select(model, where, limit=1, **options)
    return found[0] if found else None


def table(model: type[models.Model]) -> str:
    """The model's table, quoted: for hand-written joins."""
    return _table(_db(), model)


def qualified(field: models.Field) -> str:
    """table.column of a concrete field, quoted: for hand-written joins."""
    db = _db()
    return f"{_table(db, field.model)}.{_column(db, field)}"


def prepared(field: models.Field, value: Any) -> Any:
    """`value` as the database takes it for `field` (a query parameter)."""
    return field.get_db_prep_value(value, _db())


def fetch(sql: str, params: list[Any], fields: Iterable[models.Field]) -> list[list[Any]]:
    """Run a hand-written SELECT whose columns are `fields`, in order; values converted as the ORM
    converts them (UUIDs, datetimes, JSON)."""
    return _fetch(_db(), sql, params, fields)


def _fetch(db: BaseDatabaseWrapper, sql: str, params: list[Any], fields: Iterable[models.Field]) -> list[list[Any]]:
    converters = []
    for i, field in enumerate(fields):
        column = field.get_col(field.model._meta.db_table)
        functions = db.ops.get_db_converters(column) + field.get_db_converters(db)
        if functions:
            converters.append((i, functions, column))
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        found = [list(row) for row in cursor.fetchall()]
    for row in found:
        for i, functions, column in converters:
            value = row[i]
            for function in functions:
                value = function(value, column, db)
            row[i] = value
    return found
