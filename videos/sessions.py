"""Django's database sessions, ignoring a cookie that cannot be one of its keys.

Any string was looked up: a NUL in the cookie reached PostgreSQL, which refuses NUL in text (a 500 on
every page and API call). Django makes keys of lowercase letters and digits only.
"""

from __future__ import annotations

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS

_KEY_CHARS = frozenset(VALID_KEY_CHARS)


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: str | None) -> bool:
        return bool(super()._validate_session_key(key)) and set(key or "") <= _KEY_CHARS
