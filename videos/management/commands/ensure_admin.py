"""`manage.py ensure_admin`: create the local admin account once and print its password that one time."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser 'admin' with a random password if there is none (prints it once)."

    def add_arguments(self, parser):  # noqa: ANN001, ANN201
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):  # noqa: ANN001, ANN201
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin account '{username}' exists (its password was printed when it was created).")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(
            self.style.SUCCESS(f"Created admin account: username '{username}', password '{password}' (shown once).")
        )
