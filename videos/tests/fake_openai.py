"""A real local HTTP server speaking OpenAI's audio transcription and chat completion protocol.

Tests point the official client at `server.base_url`. Every request is recorded (path, headers,
form fields, uploaded file bytes, JSON body). Answers are scripted per endpoint with a queue of
Reply objects (status, body, headers, delay) or callables; when a queue is empty the default
handler answers: transcriptions derive their segments from the uploaded WAV's duration, chat
completions group the lines they were sent two by two.

Other test folders get the `fake_openai` fixture with `from videos.tests.fake_openai import fake_openai`
in their conftest.py.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import wave
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    fields: dict[str, list[str]] = field(default_factory=dict)  # multipart form fields (not files)
    file_name: str | None = None
    file_bytes: bytes | None = None
    json: Any = None
    query: dict[str, list[str]] = field(default_factory=dict)

    @property
    def wav_duration(self) -> float | None:
        """Seconds of audio in the uploaded WAV, None if the upload is not a WAV."""
        return wav_duration(self.file_bytes) if self.file_bytes else None


@dataclass
class Reply:
    """A scripted answer: status, a JSON-able body (or raw str/bytes), extra headers, a delay before it."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Recorded], Reply]


def error_reply(status: int, message: str, kind: str = "server_error", **headers: str) -> Reply:
    """An error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers)


def chat_reply(content: str, status: int = 200) -> Reply:
    """A chat completion whose only choice says `content`."""
    return Reply(
        status,
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "fake-chat",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        },
    )


def wav_duration(data: bytes) -> float | None:
    try:
        with wave.open(io.BytesIO(data), "rb") as reader:
            return reader.getnframes() / reader.getframerate()
    except (wave.Error, EOFError):
        return None


def segment_text(start: float, end: float) -> str:
    """The text the default transcription gives a segment (its span within the uploaded file)."""
    return f"speech from {start:.2f} to {end:.2f}"


def default_transcription(request: Recorded, segment_seconds: float = 1.0) -> Reply:
    """verbose_json with back-to-back segments of segment_seconds over the uploaded WAV's duration."""
    duration = request.wav_duration
    if duration is None:
        return error_reply(400, "Invalid file format. Supported formats: ['wav', ...]", "invalid_request_error")
    segments: list[dict[str, Any]] = []
    start = 0.0
    while start < duration - 1e-9:
        end = min(duration, start + segment_seconds)
        segments.append(
            {
                "id": len(segments),
                "seek": 0,
                "start": round(start, 3),
                "end": round(end, 3),
                "text": " " + segment_text(start, end),
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": -0.2,
                "compression_ratio": 1.0,
                "no_speech_prob": 0.01,
            }
        )
        start = end
    text = " ".join(item["text"].strip() for item in segments)
    body: dict[str, Any] = {
        "task": "transcribe", "language": "english", "duration": duration, "text": text, "segments": segments,
    }  # fmt: skip
    if "word" in request.fields.get("timestamp_granularities[]", []):
        body["words"] = [word for item in segments for word in segment_words(item["start"], item["end"], item["text"])]
    return Reply(200, body)


def segment_words(start: float, end: float, text: str) -> list[dict[str, Any]]:
    """The API's word timestamps for a segment: its words back to back over its span, no spaces, no probability."""
    words = text.split()
    step = (end - start) / len(words)
    return [
        {"word": word, "start": round(start + k * step, 3), "end": round(start + (k + 1) * step, 3)}
        for k, word in enumerate(words)
    ]


def default_chat(request: Recorded) -> Reply:
    """Group the lines of the first user message (JSON after its first "{", with "lines": [{"n": ...}]) in pairs."""
    numbers: list[int] = []
    for message in (request.json or {}).get("messages") or []:
        text = message.get("content", "") if message.get("role") == "user" else ""
        if '"lines"' in text:
            numbers = [line["n"] for line in json.loads(text[text.find("{") :])["lines"]]
            break
    groups = [numbers[i : i + 2] for i in range(0, len(numbers), 2)]
    return chat_reply(json.dumps({"paragraphs": groups}))


class FakeOpenAI:
    """The server: start() on 127.0.0.1 with a free port, stop() when done; thread-safe recording."""

    def __init__(
        self, *, api_key: str = "test-key", max_upload_bytes: int = 25 * 1024 * 1024, azure: bool = False
    ) -> None:
        self.api_key = api_key
        # Azure OpenAI's shape: `api-key` header, /openai/deployments/<name>/<operation>?api-version=...
        self.azure = azure
        self.max_upload_bytes = max_upload_bytes
        self.requests: list[Recorded] = []
        self.transcription_replies: deque[Reply | Handler] = deque()
        self.chat_replies: deque[Reply | Handler] = deque()
        self.transcription_default: Handler = default_transcription
        self.chat_default: Handler = default_chat
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def azure_endpoint(self) -> str:
        """What AZURE_OPENAI_ENDPOINT names: the resource's root (the client adds /openai/...)."""
        assert self._server is not None, "start() the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # Scripting and inspection -----------------------------------------------------------------
    def script_transcriptions(self, *replies: Reply | Handler) -> None:
        with self._lock:
            self.transcription_replies.extend(replies)

    def script_chat(self, *replies: Reply | Handler) -> None:
        with self._lock:
            self.chat_replies.extend(replies)

    def requests_to(self, suffix: str) -> list[Recorded]:
        with self._lock:
            return [request for request in self.requests if request.path.endswith(suffix)]

    @property
    def transcription_requests(self) -> list[Recorded]:
        return self.requests_to("/audio/transcriptions")

    @property
    def chat_requests(self) -> list[Recorded]:
        return self.requests_to("/chat/completions")

    # Serving ----------------------------------------------------------------------------------
    def _handle(self, http: BaseHTTPRequestHandler) -> None:
        length = int(http.headers.get("Content-Length") or 0)
        body = http.rfile.read(length) if length else b""
        request = Recorded(
            method="POST",
            path=http.path.split("?")[0],
            headers={k.lower(): v for k, v in http.headers.items()},
            body=body,
            query=parse_qs(http.path.partition("?")[2]),
        )
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/form-data"):
            _parse_multipart(request, content_type)
        elif body:
            try:
                request.json = json.loads(body)
            except ValueError:
                request.json = None
        with self._lock:
            self.requests.append(request)
            reply = self._next_reply(request)
        if reply.delay:
            time.sleep(reply.delay)
        self._send(http, reply)

    def _next_reply(self, request: Recorded) -> Reply:
        if self.azure:
            refused = _azure_refusal(request, self.api_key)
            if refused is not None:
                return refused
        elif request.headers.get("authorization") != f"Bearer {self.api_key}":
            return error_reply(401, "Incorrect API key provided.", "invalid_request_error")
        if request.path.endswith("/audio/transcriptions"):
            if len(request.body) > self.max_upload_bytes:
                return error_reply(413, "Maximum content size limit exceeded.", "invalid_request_error")
            queue, default = self.transcription_replies, self.transcription_default
        elif request.path.endswith("/chat/completions"):
            queue, default = self.chat_replies, self.chat_default
        else:
            return error_reply(404, f"Unknown path {request.path}", "invalid_request_error")
        scripted = queue.popleft() if queue else default
        return scripted(request) if callable(scripted) else scripted

    @staticmethod
    def _send(http: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            payload, content_type = reply.body, "application/octet-stream"
        elif isinstance(reply.body, str):
            payload, content_type = reply.body.encode(), "text/plain"
        else:
            payload, content_type = json.dumps(reply.body).encode(), "application/json"
        try:
            http.send_response(reply.status)
            http.send_header("Content-Type", content_type)
            http.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                http.send_header(name, value)
            http.end_headers()
            http.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass


AZURE_PATH = re.compile(r"^/openai/deployments/[A-Za-z0-9._-]+/(audio/transcriptions|chat/completions)$")


def _azure_refusal(request: Recorded, api_key: str) -> Reply | None:
    """Azure's answers to a request that is not in its shape (key header, deployment path, api-version)."""
    if request.headers.get("api-key") != api_key:
        return error_reply(401, "Access denied due to invalid subscription key.", "invalid_request_error")
    if not AZURE_PATH.match(request.path):
        return error_reply(404, f"Resource not found: {request.path}", "invalid_request_error")
    if not request.query.get("api-version"):
        return error_reply(400, "Missing API version.", "invalid_request_error")
    return None


def _parse_multipart(request: Recorded, content_type: str) -> None:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
    )
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        if filename is not None:
            request.file_name, request.file_bytes = filename, payload
        elif name:
            request.fields.setdefault(str(name), []).append(payload.decode("utf-8", "replace"))


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A started FakeOpenAI (its base_url and api_key go into settings in the test); stopped afterwards."""
    server = FakeOpenAI().start()
    yield server
    server.stop()
