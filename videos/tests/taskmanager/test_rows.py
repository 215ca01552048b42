"""taskmanager.rows writes and reads what the ORM would: same rows matched, same values back."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from videos.models import ProcessingTask, SubTask
from videos.taskmanager import rows

STATUSES = [s.value for s in ProcessingTask.Status]
FIELDS = [f.attname for f in ProcessingTask._meta.concrete_fields]
# PostgreSQL's jsonb refuses NUL in text (through the ORM too): every other character is fair game.
text = st.text(st.characters(blacklist_characters="\x00"), max_size=8)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)


def as_tuples(tasks):
    return [tuple(getattr(task, name) for name in FIELDS) for task in tasks]


@pytest.fixture
def tasks(user):
    base = timezone.now()
    return [
        ProcessingTask.objects.create(
            owner=user,
            kind="test_noop",
            status=status,
            worker_id="w1" if i % 2 else "",
            args={"n": i, "name": f"clip {i}", "nested": [1, {"a": None}]},
            heartbeat_at=base - timedelta(seconds=i) if i % 3 else None,
            attempts_log=[{"attempt": i}],
        )
        for i, status in enumerate(STATUSES * 2)
    ]


@pytest.mark.django_db
def test_select_reads_every_field_as_the_orm_does(user, tasks):
    where = {"owner_id": user.pk, "status__in": ["pending", "processing", "failed"]}
    ours = rows.select(ProcessingTask, where, order_by=("-created_at", "pk"))
    orm = ProcessingTask.objects.filter(owner_id=user.pk, status__in=where["status__in"]).order_by("-created_at", "pk")
    assert len(ours) == 6
    assert as_tuples(ours) == as_tuples(orm)


@pytest.mark.django_db
def test_select_limit_defer_and_null_filter(user, tasks):
    first = rows.select(ProcessingTask, {"heartbeat_at": None}, order_by=("created_at",), limit=1, defer=("result",))
    assert [task.pk for task in first] == [tasks[0].pk]
    assert first[0].get_deferred_fields() == {"result"}
    assert first[0].result is None  # loaded on access


@pytest.mark.django_db
def test_an_empty_in_matches_nothing_and_an_unknown_lookup_is_refused(tasks):
    assert rows.select(ProcessingTask, {"pk__in": []}) == []
    assert rows.update(ProcessingTask, {"pk__in": []}, stage="x") == 0
    with pytest.raises(ValueError, match="unsupported lookup 'status__startswith'"):
        rows.update(ProcessingTask, {"status__startswith": "p"}, stage="x")


@pytest.mark.django_db
def test_lock_asks_for_a_row_lock_where_the_database_has_one(tasks):
    with CaptureQueriesContext(connection) as queries:
        rows.select(ProcessingTask, {"status": "pending"}, limit=1, lock=True, skip_locked=True)
    sql = queries.captured_queries[-1]["sql"]
    assert ("FOR UPDATE" in sql) == connection.features.has_select_for_update
    assert ("SKIP LOCKED" in sql) == connection.features.has_select_for_update_skip_locked


@pytest.mark.django_db
@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    statuses=st.lists(st.sampled_from(STATUSES), min_size=1, max_size=6),
    chosen=st.sets(st.sampled_from(STATUSES)),
    worker=st.sampled_from(["", "w1"]),
    result=json_values,
    progress=st.floats(0, 100),
    eta=st.none() | st.floats(0, 1e6),
    shift=st.integers(-(10**6), 10**6),
)
def test_update_matches_and_writes_as_the_orm_would(user, statuses, chosen, worker, result, progress, eta, shift):
    ProcessingTask.objects.filter(owner=user).delete()
    created = [
        ProcessingTask.objects.create(owner=user, kind="test_noop", status=s, worker_id="w1" if i % 2 else "")
        for i, s in enumerate(statuses)
    ]
    when = timezone.now() + timedelta(microseconds=shift)
    where = {"owner_id": user.pk, "status__in": sorted(chosen), "worker_id": worker}
    expected = {t.pk for t in created if t.status in chosen and t.worker_id == worker}

    changed = rows.update(
        ProcessingTask, where, result=result, progress=progress, eta_seconds=eta, heartbeat_at=when, stage="moved"
    )

    assert changed == len(expected)
    after = ProcessingTask.objects.filter(owner=user)
    assert {t.pk for t in after if t.stage == "moved"} == expected
    for task in after:
        if task.pk in expected:
            assert (task.result, task.progress, task.eta_seconds, task.heartbeat_at) == (result, progress, eta, when)


@pytest.mark.django_db
def test_select_of_steps_by_their_task(user):
    task = ProcessingTask.objects.create(owner=user, kind="test_noop")
    SubTask.objects.bulk_create(
        SubTask(task=task, name=name, position=i, weight=1, result={"i": i}) for i, name in enumerate("cab")
    )
    steps = rows.select(SubTask, {"task_id": task.pk}, order_by=("position",))
    assert [(s.name, s.result, s.task_id) for s in steps] == [
        ("c", {"i": 0}, task.pk),
        ("a", {"i": 1}, task.pk),
        ("b", {"i": 2}, task.pk),
    ]


@pytest.mark.django_db
def test_fetch_converts_a_hand_written_select_as_values_would(user, tasks):
    names = ["id", "owner_id", "args", "heartbeat_at", "cancel_requested", "attempts_log", "created_at", "video_id"]
    fields = [ProcessingTask._meta.get_field(name) for name in names]
    sql = f"SELECT {', '.join(rows.qualified(f) for f in fields)} FROM {ProcessingTask._meta.db_table}"
    sql += f" WHERE {rows.qualified(ProcessingTask._meta.get_field('owner'))} = %s"
    found = rows.fetch(sql + " ORDER BY created_at, id", [rows.prepared(fields[1], user.pk)], fields)
    expected = ProcessingTask.objects.filter(owner=user).order_by("created_at", "id").values_list(*names)
    assert [tuple(row) for row in found] == list(expected)
    assert len(found) == len(tasks)


@pytest.mark.django_db
def test_insert_writes_defaults_and_auto_dates_as_save_would(user):
    new = [ProcessingTask(owner=user, kind="test_noop", args={"n": i}) for i in range(3)]
    assert rows.insert(new) == new
    stored = {task.pk: task for task in ProcessingTask.objects.filter(owner=user)}
    assert set(stored) == {task.pk for task in new}
    for task in new:
        assert not task._state.adding
        assert task.created_at is not None and task.created_at == stored[task.pk].created_at
        assert as_tuples([stored[task.pk]]) == as_tuples([task])
        assert (stored[task.pk].status, stored[task.pk].attempts_log) == ("pending", [])


@pytest.mark.django_db
def test_insert_refuses_rows_whose_key_the_database_would_make(user):
    task = ProcessingTask.objects.create(owner=user, kind="test_noop")
    with pytest.raises(ValueError, match="primary keys must be set"):
        rows.insert([SubTask(task=task, name="a", position=0, weight=1)])
    assert not SubTask.objects.exists()


@pytest.mark.django_db
def test_update_each_sets_one_value_per_row(user, tasks):
    rows.update_each(ProcessingTask, "error_message", {tasks[0].pk: "first", tasks[3].pk: 'a "quoted" one'})
    messages = dict(ProcessingTask.objects.values_list("pk", "error_message"))
    assert messages[tasks[0].pk] == "first" and messages[tasks[3].pk] == 'a "quoted" one'
    assert sum(message is not None for message in messages.values()) == 2


@pytest.mark.django_db
def test_first_is_the_first_row_in_order_or_none(user, tasks):
    assert rows.first(ProcessingTask, {"status": "failed"}, order_by=("created_at",)).pk == tasks[3].pk
    assert rows.first(ProcessingTask, {"status": "failed", "owner": user.pk + 1}) is None
