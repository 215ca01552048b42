"""WSGI entry point (gunicorn backend.wsgi). The TaskManager starts in gunicorn.conf.py, after the fork."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings")
application = get_wsgi_application()
