"""Many threads at once on the real database: unique ids, limits that hold, nothing run twice."""

import random
import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from videos.exceptions import NotCancellableError, ServerBusyError, TaskConflictError, UserTaskLimitError
from videos.models import ProcessingTask, Video
from videos.services.tasks import task_cancel, task_submit
from videos.tests import jobs_for_tests
from videos.tests.taskmanager.helpers import wait_for


def in_threads(count: int, func):
    """Run func(i) in `count` threads released together; return results or exceptions."""
    barrier = threading.Barrier(count)

    def run(i):
        barrier.wait()
        try:
            return func(i)
        except Exception as exc:  # collected, asserted by the caller
            return exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@given(threads=st.integers(2, 8), per_thread=st.integers(1, 6))
@hsettings(max_examples=6, deadline=None)
def test_task_ids_are_unique_under_concurrent_creation(transactional_db, user, settings, threads, per_thread):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 10_000
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 10_000
    before = ProcessingTask.objects.count()
    results = in_threads(threads, lambda i: [task_submit(owner=user, kind="test_noop").pk for _ in range(per_thread)])
    ids = [pk for batch in results for pk in batch]
    assert len(ids) == len(set(ids)) == threads * per_thread
    assert ProcessingTask.objects.count() - before == threads * per_thread


def test_per_user_limit_holds_under_20_concurrent_submissions(transactional_db, user, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 5
    results = in_threads(20, lambda i: task_submit(owner=user, kind="test_gate", args={"gate_name": f"limit-{i}"}))
    accepted = [r for r in results if isinstance(r, ProcessingTask)]
    refused = [r for r in results if isinstance(r, UserTaskLimitError)]
    assert len(accepted) == 5 and len(refused) == 15, results
    assert refused[0].retry_after > 0 and refused[0].status_code == 429
    assert ProcessingTask.objects.filter(owner=user, status__in=ProcessingTask.ACTIVE).count() == 5


def test_global_limit_holds_across_users(transactional_db, make_user, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 5
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 7
    users = [make_user() for _ in range(4)]
    results = in_threads(16, lambda i: task_submit(owner=users[i % 4], kind="test_noop"))
    assert sum(isinstance(r, ProcessingTask) for r in results) == 7
    assert all(isinstance(r, (ProcessingTask, ServerBusyError)) for r in results), results
    assert ProcessingTask.objects.filter(status__in=ProcessingTask.ACTIVE).count() == 7


def test_per_user_limit_answers_before_the_global_one(transactional_db, user, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 2
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 2
    task_submit(owner=user, kind="test_noop")
    task_submit(owner=user, kind="test_noop")
    try:
        task_submit(owner=user, kind="test_noop")
    except UserTaskLimitError:
        return
    raise AssertionError("third task accepted")


def test_one_active_task_per_video_and_kind_under_concurrency(transactional_db, user):
    video = Video.objects.create(owner=user, file="videos/none.mp4")
    results = in_threads(10, lambda i: task_submit(owner=user, kind="test_noop", video=video))
    accepted = [r for r in results if isinstance(r, ProcessingTask)]
    conflicts = [r for r in results if isinstance(r, TaskConflictError)]
    assert len(accepted) == 1 and len(conflicts) == 9, results
    assert all(c.extra["task_id"] == str(accepted[0].pk) for c in conflicts)


def test_force_replaces_the_active_task(transactional_db, user):
    video = Video.objects.create(owner=user, file="videos/none.mp4")
    first = task_submit(owner=user, kind="test_noop", video=video)
    second = task_submit(owner=user, kind="test_noop", video=video, force=True)
    first.refresh_from_db()
    assert first.status == "cancelled" and "force" in first.error_message
    assert second.status == "pending"


def test_the_database_itself_refuses_a_duplicate_active_task(transactional_db, user):
    from django.db import IntegrityError, transaction

    video = Video.objects.create(owner=user, file="videos/none.mp4")
    ProcessingTask.objects.create(owner=user, kind="x", video=video)
    try:
        with transaction.atomic():
            ProcessingTask.objects.create(owner=user, kind="x", video=video, status="processing")
    except IntegrityError:
        return
    raise AssertionError("partial unique index missing")


def test_submit_cancel_and_run_from_many_threads_runs_each_task_at_most_once(task_manager, user, settings):
    settings.MAX_CONCURRENT_TASKS_PER_USER = 10_000
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 10_000
    task_manager.stop()
    from videos.taskmanager.manager import TaskManager

    manager = TaskManager(workers=4).start()
    created: list = []
    lock = threading.Lock()

    def submitter(i):
        for _ in range(15):
            task = task_submit(owner=user, kind="test_noop")
            with lock:
                created.append(task.pk)

    def canceller(i):
        rng = random.Random(i)
        for _ in range(30):
            with lock:
                pick = rng.choice(created) if created else None
            if pick is not None:
                try:
                    task_cancel(task=ProcessingTask.objects.get(pk=pick), wait=0.05)
                except NotCancellableError:
                    pass

    try:
        results = in_threads(8, lambda i: submitter(i) if i < 6 else canceller(i))
        assert not [r for r in results if isinstance(r, Exception)], results
        assert wait_for(
            lambda: not ProcessingTask.objects.filter(pk__in=created, status__in=ProcessingTask.ACTIVE).exists(), 30
        )
    finally:
        manager.stop()
    assert len(created) == len(set(created)) == 90
    statuses = dict(ProcessingTask.objects.filter(pk__in=created).values_list("pk", "status"))
    for pk, status in statuses.items():
        runs = jobs_for_tests.RUNS.get(str(pk), 0)
        assert runs <= 1, f"{pk} ran {runs} times"
        if status == "completed":
            assert runs == 1
    assert set(statuses.values()) <= {"completed", "cancelled"}


def test_kinds_of_one_video_group_exclude_each_other_also_on_retry(transactional_db, user):
    from videos.services.tasks import task_retry

    video = Video.objects.create(owner=user, file="videos/none.mp4")
    old = task_submit(owner=user, kind="transcription", video=video)
    ProcessingTask.objects.filter(pk=old.pk).update(status="failed")
    running = task_submit(owner=user, kind="reprocess", video=video)
    try:
        task_retry(task=ProcessingTask.objects.get(pk=old.pk))
    except TaskConflictError as conflict:
        assert conflict.extra["task_id"] == str(running.pk)
    else:
        raise AssertionError("a transcription was queued beside an active reprocess")
    task_submit(owner=user, kind="test_noop", video=video)  # another group is not in the way


def test_deleting_a_video_and_starting_work_on_it_never_both_succeed(transactional_db, user, settings):
    """Delete vs composition and delete vs a task on the video, released together many times."""
    from django.core.files.base import ContentFile

    from videos.exceptions import InvalidInputError, VideoGoneError
    from videos.services.compositions import composition_start
    from videos.services.videos import video_delete

    settings.MAX_CONCURRENT_TASKS_PER_USER = 1000
    settings.MAX_GLOBAL_CONCURRENT_TASKS = 1000
    for round_ in range(8):
        video = Video.objects.create(owner=user)
        video.file.save(f"race{round_}.mp4", ContentFile(b"x"), save=True)
        other = Video.objects.create(owner=user, file="videos/other.mp4")
        if round_ % 2:
            start = lambda: composition_start(owner=user, videos=[video.pk, other.pk])  # noqa: E731
            refused_start = InvalidInputError
        else:
            start = lambda: task_submit(owner=user, kind="test_noop", video=video)  # noqa: E731
            refused_start = VideoGoneError
        deleted, started = in_threads(2, lambda i: video_delete(video=Video.objects.get(pk=video.pk)) if i == 0 else start())
        if isinstance(started, ProcessingTask):
            assert isinstance(deleted, TaskConflictError) and deleted.extra["task_id"] == str(started.pk)
            assert Video.objects.filter(pk=video.pk).exists()
            ProcessingTask.objects.filter(pk=started.pk).update(status="cancelled")
        else:
            assert isinstance(started, refused_start), started
            assert deleted is None and not Video.objects.filter(pk=video.pk).exists()
