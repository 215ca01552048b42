"""JSON bodies with bounded cost: a size cap and a nesting cap checked before json.loads recurses."""

from __future__ import annotations

import codecs
import json
import re
from typing import IO, Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from videos.exceptions import RequestTooLargeError

# No request of ours nests deeper than 3; 32 leaves room for any honest client.
MAX_JSON_DEPTH = 32
# Our largest honest JSON body (a composition of 200 clips) is ~10 KB; a cap keeps the checks below cheap.
MAX_JSON_BYTES = 1024 * 1024
# A JSON string literal, escapes included. The closing quote is optional so that an unterminated
# string matches to the end instead of failing and being retried from every later quote (quadratic).
_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET_RE = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """True when arrays/objects nest deeper than `limit`: one pass over the brackets outside strings."""
    brackets = _NOT_BRACKET_RE.sub("", _STRING_RE.sub("", text))
    if brackets.count("[") + brackets.count("{") <= limit:
        return False
    depth = 0
    for char in brackets:
        depth += 1 if char in "[{" else -1
        if depth > limit:
            return True
    return False


class BoundedJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing bodies over MAX_JSON_BYTES (413) or nested too deep (400).

    DRF reads a JSON body from the stream, past Django's own size check; and json.loads recurses per
    nesting level, so `[` x 100,000 was a RecursionError (500) on every JSON endpoint.
    """

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = min(MAX_JSON_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or MAX_JSON_BYTES)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLargeError(f"The JSON body is larger than {limit} bytes.")
        try:
            text = codecs.decode(raw, encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if json_depth_exceeds(text, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        try:
            return json.loads(text, parse_constant=_refuse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON (DRF refuses them in strict mode too).
    raise ValueError(f"{name} is not valid JSON")
