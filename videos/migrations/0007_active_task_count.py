"""The active-task counter the global limit reads, kept by triggers on the task table.

Triggers rather than Python: every write path (workers, admin, cascades, bulk updates) keeps the count
true, and the row's lock lasts from a creating insert to its commit, no longer.
"""

from django.db import migrations, models

ACTIVE = "('pending', 'processing')"

POSTGRES = [
    f"""
CREATE OR REPLACE FUNCTION videos_count_active_tasks() RETURNS trigger AS $$
DECLARE delta integer := 0;
BEGIN
  IF TG_OP <> 'DELETE' THEN
    IF NEW.status IN {ACTIVE} THEN delta := delta + 1; END IF;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    IF OLD.status IN {ACTIVE} THEN delta := delta - 1; END IF;
  END IF;
  IF delta > 0 THEN
    INSERT INTO videos_activetaskcount (id, active) VALUES (1, 1)
      ON CONFLICT (id) DO UPDATE SET active = videos_activetaskcount.active + 1;
  ELSIF delta < 0 THEN
    UPDATE videos_activetaskcount SET active = active - 1 WHERE id = 1;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER videos_count_active_tasks AFTER INSERT OR DELETE OR UPDATE OF status ON videos_processingtask
        FOR EACH ROW EXECUTE FUNCTION videos_count_active_tasks()""",
    f"""INSERT INTO videos_activetaskcount (id, active)
        SELECT 1, count(*) FROM videos_processingtask WHERE status IN {ACTIVE}""",
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS videos_count_active_tasks ON videos_processingtask",
    "DROP FUNCTION IF EXISTS videos_count_active_tasks()",
]


# Up creates the row when missing; down never does (a flush that empties the counter before the
# tasks must not leave it negative).
SQLITE_UP = (
    "INSERT INTO videos_activetaskcount (id, active) VALUES (1, 1) "
    "ON CONFLICT(id) DO UPDATE SET active = active + 1;"
)
SQLITE_DOWN = "UPDATE videos_activetaskcount SET active = active - 1 WHERE id = 1;"
SQLITE = [
    f"""CREATE TRIGGER videos_active_tasks_insert AFTER INSERT ON videos_processingtask
        WHEN NEW.status IN {ACTIVE} BEGIN {SQLITE_UP} END;""",
    f"""CREATE TRIGGER videos_active_tasks_delete AFTER DELETE ON videos_processingtask
        WHEN OLD.status IN {ACTIVE} BEGIN {SQLITE_DOWN} END;""",
    f"""CREATE TRIGGER videos_active_tasks_start AFTER UPDATE OF status ON videos_processingtask
        WHEN OLD.status NOT IN {ACTIVE} AND NEW.status IN {ACTIVE} BEGIN {SQLITE_UP} END;""",
    f"""CREATE TRIGGER videos_active_tasks_end AFTER UPDATE OF status ON videos_processingtask
        WHEN OLD.status IN {ACTIVE} AND NEW.status NOT IN {ACTIVE} BEGIN {SQLITE_DOWN} END;""",
    f"""INSERT INTO videos_activetaskcount (id, active)
        SELECT 1, count(*) FROM videos_processingtask WHERE status IN {ACTIVE};""",
]
SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS videos_active_tasks_{op};" for op in ("insert", "delete", "start", "end")
]


def install(apps, schema_editor) -> None:  # noqa: ANN001
    statements = {"postgresql": POSTGRES, "sqlite": SQLITE}.get(schema_editor.connection.vendor)
    if statements is None:
        raise RuntimeError(f"no active-task triggers for {schema_editor.connection.vendor}")
    for sql in statements:
        schema_editor.execute(sql)


def uninstall(apps, schema_editor) -> None:  # noqa: ANN001
    vendor = schema_editor.connection.vendor
    for sql in {"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}.get(vendor, []):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("videos", "0006_video_import")]

    operations = [
        migrations.CreateModel(
            name="ActiveTaskCount",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("active", models.IntegerField(default=0)),
            ],
        ),
        migrations.RunPython(install, uninstall),
    ]
