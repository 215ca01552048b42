"""`manage.py ensure_admin`: create the local admin account once, print its password and keep it in .admin-password."""

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create a superuser 'admin' with a random password if there is none; the password is printed once and "
        "kept in .admin-password (readable by you alone) for `make run` to point at later."
    )

    def add_arguments(self, parser):  # noqa: ANN001, ANN201
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", default=str(Path(settings.BASE_DIR) / ".admin-password"))

    def handle(self, *args, username, password_file, **options):  # noqa: ANN001, ANN201
        User = get_user_model()
        secret = Path(password_file)
        if User.objects.filter(username=username).exists():
            where = f"its password as created is in {secret}" if secret.is_file() else "its password was printed once"
            self.stdout.write(
                f"Admin account '{username}' exists ({where}; forgot it or changed it? "
                f"`.venv/bin/python manage.py changepassword {username}` sets a new one)."
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        # Created 0600 from the start: never readable by others, not even for a moment. .gitignore keeps it out of git.
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        os.chmod(secret, 0o600)  # an older file of other mode keeps its mode through O_TRUNC
        self.stdout.write(
            self.style.SUCCESS(
                f"Created admin account: username '{username}', password '{password}' (also kept in {secret})."
            )
        )
