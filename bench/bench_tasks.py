"""Task system benchmark, side by side in one run.

1. API: POST that creates a task (retry -> task_submit with the limits) and GET TaskProgress, against
   bare DRF views doing one insert / one select on the same database, served by the same gunicorn,
   16 concurrent keep-alive loopback clients. Throughput and p50/p99 latency, median of --runs. The
   creates again on a server without its TaskManager: the request alone, not the run it causes.
2. Drain: 2,000 no-op tasks submitted while an in-process TaskManager runs: tasks/s and enqueue
   latency (started_at - created_at), against a bare loop doing the same three row writes per task.

    .venv/bin/python bench/bench_tasks.py [--runs 3] [--requests 100] [--tasks 2000] [--database-url URL]
                                          [--api-only] [--sqlite-engine django.db.backends.sqlite3]

Figures go to docs/BENCHMARKS.md (section "Task system").
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIENTS = 16

from bench.harness import gunicorn, migrate_and_setup  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100, help="requests per client per phase")
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/BENCHMARKS.md alone")
    parser.add_argument("--api-only", action="store_true", help="the API phases alone (implies --no-write)")
    parser.add_argument(
        "--sqlite-engine", default="", help="another SQLite backend, e.g. django.db.backends.sqlite3 (Django's own)"
    )
    return parser.parse_args()


def configure(database_url: str, workdir: Path, sqlite_engine: str = "") -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(workdir / "media"),
        "TASK_EXTRA_JOB_MODULES": "videos.tests.jobs_for_tests",
        "MAX_CONCURRENT_TASKS_PER_USER": "1000000",
        "MAX_GLOBAL_CONCURRENT_TASKS": "1000000",
        "THROTTLE_USER": "100000000/min",
        "THROTTLE_ANON": "100000000/min",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-only",
        "TASK_POLL_SECONDS": "0.5",
        # Persistent connections, as the README recommends for PostgreSQL (ignored cost on SQLite).
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),
        "BENCH_SQLITE_ENGINE": sqlite_engine,
    }
    os.environ.update(env)
    return env


def load(port: int, requests: list[list[tuple]]) -> dict[str, float]:
    """Each client thread sends its (method, path, token[, extra headers]) list over one keep-alive connection."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    barrier = threading.Barrier(len(requests) + 1)

    def client(batch: list[tuple]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        barrier.wait()
        for method, path, token, *extra in batch:
            started = time.perf_counter()
            headers = {"Authorization": f"Token {token}", "Content-Length": "0", **(extra[0] if extra else {})}
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            if response.status >= 400:
                errors.append(f"{method} {path} -> {response.status}")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(batch,)) for batch in requests]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} errors, e.g. {errors[:3]}")
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def settle(env: dict[str, str], timeout: float = 120) -> None:
    """Wait until the server has run every task it queued, so that the next phase starts on a quiet server."""
    from videos.models import ProcessingTask

    active = ProcessingTask.objects.filter(status__in=["pending", "processing"])
    deadline = time.monotonic() + timeout
    while env.get("TASK_AUTOSTART") != "0" and active.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{active.count()} tasks still active after {timeout:.0f} s")
        time.sleep(0.05)


def api_benchmark(env: dict[str, str], args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, float]]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from videos.models import ProcessingTask

    users = [get_user_model().objects.create_user(f"bench{i}") for i in range(CLIENTS)]
    tokens = [Token.objects.create(user=u).key for u in users]
    n = args.requests
    names = ("create", "bare_insert", "status", "bare_select", "create_alone", "bare_insert_alone")
    phases: dict[str, list[dict[str, float]]] = {k: [] for k in names}

    def creates(port: int, run: int, suffix: str = "", env: dict[str, str] = env) -> None:
        order = ["create", "bare_insert"] if run % 2 == 0 else ["bare_insert", "create"]
        for phase in order:
            if phase == "create":  # a fresh failed task per request: a task is retried at most once
                batches = [
                    [
                        ("POST", f"/api/v1/tasks/{source.pk}/retry", tokens[c])
                        for source in ProcessingTask.objects.bulk_create(
                            ProcessingTask(owner=users[c], kind="test_noop", status="failed") for _ in range(n)
                        )
                    ]
                    for c in range(CLIENTS)
                ]
            else:
                batches = [[("POST", "/bench/insert", tokens[c])] * n for c in range(CLIENTS)]
            phases[phase + suffix].append(load(port, batches))
            settle(env)

    with gunicorn(env, workdir / "gunicorn.log") as port:
        for run in range(args.runs):
            creates(port, run)
            targets = [
                list(ProcessingTask.objects.filter(owner=u, retry_of__isnull=False).values_list("pk", flat=True)[:n])
                for u in users
            ]
            order = ["status", "bare_select"] if run % 2 == 0 else ["bare_select", "status"]
            for phase in order:
                path = "/api/v1/tasks/{}/" if phase == "status" else "/bench/select/{}"
                batches = [[("GET", path.format(pk), tokens[c]) for pk in targets[c]] for c in range(CLIENTS)]
                phases[phase].append(load(port, batches))
    # The create request alone: the same server without its TaskManager, so the tasks created are not
    # run meanwhile (above, every create also costs the server the run of the task it queued).
    idle = {**env, "TASK_AUTOSTART": "0"}
    with gunicorn(idle, workdir / "gunicorn-idle.log") as port:
        for run in range(args.runs):
            creates(port, run, "_alone", idle)
    return {name: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for name, runs in phases.items()}


def drain_benchmark(args: argparse.Namespace) -> dict[str, float]:
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.utils import timezone

    from videos.models import ProcessingTask
    from videos.services.tasks import task_submit
    from videos.taskmanager.manager import get_task_manager, reset_task_manager

    owner = get_user_model().objects.create_user("drain")
    results = []
    for _ in range(args.runs):
        ProcessingTask.objects.filter(owner=owner).delete()
        reset_task_manager()
        manager = get_task_manager()  # the singleton: task_submit wakes it on commit
        manager.workers = 2
        manager.start()
        started = time.perf_counter()
        ids = [task_submit(owner=owner, kind="test_noop").pk for _ in range(args.tasks)]
        submitted = time.perf_counter()
        while (
            ProcessingTask.objects.filter(pk__in=ids[-1:], status="completed").count() < 1
            or ProcessingTask.objects.filter(owner=owner, status__in=["pending", "processing"]).exists()
        ):
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        rows = ProcessingTask.objects.filter(owner=owner).values_list("created_at", "started_at")
        backlog = sorted((s - c).total_seconds() for c, s in rows)
        # The drain proper: a queue filled first, then emptied by the workers alone (no submitter competing).
        manager.stop()
        ProcessingTask.objects.filter(owner=owner).delete()
        for _ in range(args.tasks):
            task_submit(owner=owner, kind="test_noop")
        reset_task_manager()
        manager = get_task_manager()
        manager.workers = 2
        drain_started = time.perf_counter()
        manager.start()
        while ProcessingTask.objects.filter(owner=owner, status__in=["pending", "processing"]).exists():
            time.sleep(0.02)
        drained = args.tasks / (time.perf_counter() - drain_started)
        # Enqueue latency proper: tasks submitted at a pace the workers keep up with (20/s), so the
        # figure is commit -> wake -> claim, not time spent queued behind a backlog.
        ProcessingTask.objects.filter(owner=owner).delete()
        paced = []
        for _ in range(200):
            paced.append(task_submit(owner=owner, kind="test_noop").pk)
            time.sleep(0.05)
        while ProcessingTask.objects.filter(pk__in=paced, status__in=["pending", "processing"]).exists():
            time.sleep(0.05)
        manager.stop()
        rows = ProcessingTask.objects.filter(pk__in=paced).values_list("created_at", "started_at")
        waits = sorted((s - c).total_seconds() for c, s in rows)
        results.append(
            {
                "tasks_per_s": args.tasks / elapsed,
                "drain_per_s": drained,
                "submit_per_s": args.tasks / (submitted - started),
                "backlog_p50_ms": backlog[len(backlog) // 2] * 1000,
                "enqueue_p50_ms": waits[len(waits) // 2] * 1000,
                "enqueue_p99_ms": waits[int(len(waits) * 0.99)] * 1000,
            }
        )
        # Reference: the same three row writes per task (insert, claim, finish) in a bare loop.
        ProcessingTask.objects.filter(owner=owner).delete()
        started = time.perf_counter()
        for _ in range(args.tasks):
            task = ProcessingTask.objects.create(owner=owner, kind="test_noop")
            ProcessingTask.objects.filter(pk=task.pk, status="pending").update(
                status="processing", started_at=timezone.now()
            )
            ProcessingTask.objects.filter(pk=task.pk, status="processing").update(
                status="completed", progress=100, finished_at=timezone.now()
            )
        results[-1]["bare_rows_per_s"] = args.tasks / (time.perf_counter() - started)
        connections.close_all()
    return {k: statistics.median(r[k] for r in results) for k in results[0]}


def query_counts() -> dict[str, float]:
    """SQL statements per operation, counted in-process: what each figure above pays per task."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from videos.models import ProcessingTask
    from videos.services.tasks import task_submit
    from videos.taskmanager.backends import run_pending_inline

    owner = get_user_model().objects.create_user("queries")
    token = Token.objects.create(user=owner).key
    n = 20
    with CaptureQueriesContext(connection) as submits:
        ids = [task_submit(owner=owner, kind="test_noop").pk for _ in range(n)]
    with CaptureQueriesContext(connection) as runs:
        ran = run_pending_inline(limit=n)
    assert ran == n and ProcessingTask.objects.filter(pk__in=ids, status="completed").count() == n
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    sources = ProcessingTask.objects.bulk_create(
        ProcessingTask(owner=owner, kind="test_noop", status="failed") for _ in range(n)
    )
    client.get(f"/api/v1/tasks/{ids[0]}/")  # warm up: auth, throttles' cache table, URL resolver
    with CaptureQueriesContext(connection) as posts:
        for source in sources:
            assert client.post(f"/api/v1/tasks/{source.pk}/retry").status_code == 202
    with CaptureQueriesContext(connection) as gets:
        for pk in ids:
            assert client.get(f"/api/v1/tasks/{pk}/").status_code == 200
    ProcessingTask.objects.filter(owner=owner).delete()
    return {
        "submit": len(submits) / n,
        "run": len(runs) / n,
        "post": len(posts) / n,
        "get": len(gets) / n,
    }


def api_report(api: dict[str, dict[str, float]], args: argparse.Namespace, vendor: str) -> str:
    def row(name: str, ours: str, bare: str) -> str:
        o, b = api[ours], api[bare]
        return (
            f"| {name} | {o['rps']:.0f} | {b['rps']:.0f} | {o['rps'] / b['rps']:.2f} | "
            f"{o['p50_ms']:.1f} / {o['p99_ms']:.1f} | {b['p50_ms']:.1f} / {b['p99_ms']:.1f} |"
        )

    engine = f" ({args.sqlite_engine})" if args.sqlite_engine else ""
    return "\n".join(
        [
            f"Database: {vendor}{engine}; {CLIENTS} concurrent loopback clients, {args.requests} requests each per "
            f"phase; gunicorn 2 workers x 8 threads with the TaskManager running; median of {args.runs} runs.",
            "",
            "| operation | ours req/s | bare DRF req/s | ratio | ours p50 / p99 ms | bare p50 / p99 ms |",
            "|---|---|---|---|---|---|",
            row("create a task (POST .../retry: limits + task + subtasks) vs one insert", "create", "bare_insert"),
            row("read TaskProgress (GET /api/v1/tasks/<id>/) vs one select", "status", "bare_select"),
            row(
                "create a task, the request alone (the same server with no TaskManager: created tasks stay queued)",
                "create_alone",
                "bare_insert_alone",
            ),
        ]
    )


def report(
    api: dict[str, dict[str, float]],
    drain: dict[str, float],
    args: argparse.Namespace,
    vendor: str,
    queries: dict[str, float],
) -> str:
    return "\n".join(
        [
            api_report(api, args, vendor),
            "",
            f"Drain of {args.tasks} no-op tasks (2 worker threads, submitted from one thread while they run):",
            "",
            "| figure | value |",
            "|---|---|",
            f"| tasks/s, first submit to last finish | {drain['tasks_per_s']:.0f} |",
            f"| tasks/s, a queue of {args.tasks} filled first, emptied by the workers alone | "
            f"{drain['drain_per_s']:.0f} |",
            f"| submits/s (task_submit alone) | {drain['submit_per_s']:.0f} |",
            f"| enqueue latency p50 / p99 (created -> started), 200 tasks submitted at 20/s | "
            f"{drain['enqueue_p50_ms']:.1f} ms / {drain['enqueue_p99_ms']:.1f} ms |",
            f"| time queued behind the {args.tasks}-task backlog, p50 | {drain['backlog_p50_ms'] / 1000:.1f} s |",
            f"| reference: bare insert+claim+finish rows/s, one thread | {drain['bare_rows_per_s']:.0f} |",
            f"| ratio drain tasks/s to bare rows/s | {drain['drain_per_s'] / drain['bare_rows_per_s']:.2f} |",
            "",
            "SQL statements per task (counted in-process as Django logs them; a one-step no-op task):",
            "",
            "| operation | statements |",
            "|---|---|",
            f"| task_submit (limits, task, steps) | {queries['submit']:.1f} |",
            f"| claim + run + finish (one worker, the queue never empty) | {queries['run']:.1f} |",
            f"| POST .../retry, whole request (auth, throttle, lookup, submit) | {queries['post']:.1f} |",
            f"| GET /api/v1/tasks/<id>/, whole request (auth, throttle, read) | {queries['get']:.1f} |",
            "",
            "Reading: a no-op task costs two short write transactions (the claim, which also starts its first "
            "step, and the final status carrying the step's end), each visible to readers at once; the bare loop "
            "writes three rows in three statements. Creating a task takes the owner's lock, inserts the task (a "
            "trigger bumps the active-task counter row, held to commit), counts the owner's and everyone's active"
            " tasks in one statement and inserts its steps; TaskProgress is one query and no serializer. The hot "
            "statements are written without the ORM's query compiler (videos/taskmanager/rows.py). In the first "
            "create row every request also costs the server the run of the task it queued (the bare insert queues"
            " nothing), and on SQLite every create, throttle write and task transition queues for the one write "
            "lock (the p99 is SQLite's sleeping retries); the third row is the request alone. On this shared "
            "2-core machine figures move by a third from run to run: compare ratios within one run.",
        ]
    )


def write_section(name: str, body: str, command: str) -> None:
    """Replace (or add) the named section of docs/BENCHMARKS.md."""
    path = ROOT / "docs" / "BENCHMARKS.md"
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nMeasured on the project's 2-core machine; each section names its command.\n"
    )
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    section = f"{start}\n## {name}\n\n`{command}` ({time.strftime('%Y-%m-%d')})\n\n{body}\n{end}"
    if start in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text)


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = configure(args.database_url, workdir, args.sqlite_engine)
        migrate_and_setup()
        from django.db import connection

        api = api_benchmark(env, args, workdir)
        if args.api_only:
            print(api_report(api, args, connection.vendor))
            return
        drain = drain_benchmark(args)
        queries = query_counts()
        body = report(api, drain, args, connection.vendor, queries)
    print(body)
    if not args.no_write:
        command = (
            "make bench"
            if not args.database_url
            else f".venv/bin/python bench/bench_tasks.py --database-url {args.database_url}"
        )
        write_section(
            f"Task system ({connection.vendor})",
            body,
            command if args.database_url else ".venv/bin/python bench/bench_tasks.py",
        )


if __name__ == "__main__":
    main()
