"""The database cache's table (the request throttles' counters), so that `migrate` alone sets it up."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor) -> None:  # noqa: ANN001
    # Idempotent: createcachetable skips a table that exists (`make install` runs it again anyway).
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("videos", "0003_reliability")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
