"""A real local HTTP receiver for webhook tests: records every request, answers as the test scripts it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


# (status, delay_s, body) for each request in turn; the last one repeats.
Script = list[tuple[int, float, bytes]]


class Receiver:
    """Listens on 127.0.0.1 only; `script` (or `respond`) decides each answer."""

    def __init__(
        self, script: Script | None = None, respond: Callable[[Received], tuple[int, float, bytes]] | None = None
    ):
        self.script = list(script or [(200, 0.0, b"ok")])
        self.respond = respond
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                item = Received({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                with receiver.lock:
                    receiver.received.append(item)
                    n = len(receiver.received)
                status, delay, body = (
                    receiver.respond(item) if receiver.respond else receiver.script[min(n, len(receiver.script)) - 1]
                )
                if delay:
                    receiver.closing.wait(delay)
                try:
                    self.send_response(status)
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ids(self) -> list[str]:
        with self.lock:
            return [r.headers.get("webhook-id", "") for r in self.received]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
