"""Token authentication that refuses, before any query, a key no token can have.

Apart from the views (DRF imports authentication classes while it builds its views module).
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework import authentication
from rest_framework.exceptions import AuthenticationFailed

_TOKEN_KEY_RE = re.compile(r"[0-9a-f]{40}")  # what DRF's Token.generate_key() makes


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token check; a NUL in the header reached PostgreSQL (which refuses NUL in text): a 500, not a 401."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        if not _TOKEN_KEY_RE.fullmatch(key):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
