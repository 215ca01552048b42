"""A local HTTP server for import tests: files with Range support, a request log, slow bodies, redirects.

Binds a loopback address only (127.0.0.1 unless told). Routes: any file under `root` (`Range: bytes=N-`
answered 206), `/redirect?to=URL` (302), anything else 404; `rate` (bytes per second, 0 = full speed)
slows every body down; `stall_after` stops sending mid-body.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

TYPES = {".mp4": "video/mp4", ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".html": "text/html"}


@dataclass
class Served:
    path: str
    range_start: int | None  # the first byte asked for with Range, None for a whole-file GET
    status: int
    sent: int = 0  # body bytes written before the request ended


class MediaServer:
    def __init__(
        self, root: Path, *, rate: int = 0, chunk: int = 16 * 1024, host: str = "127.0.0.1", stall_after: int = 0
    ) -> None:
        assert host.startswith("127."), "tests reach loopback only"
        self.root, self.rate, self.chunk, self.host = root, rate, chunk, host
        self.stall_after = stall_after  # > 0: send this many body bytes, then nothing (the connection stays open)
        self.closing = threading.Event()
        self.log: list[Served] = []
        handler = self._handler()
        self.httpd = ThreadingHTTPServer((host, 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}/{path.lstrip('/')}"

    def __enter__(self) -> MediaServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def bytes_sent(self, path: str) -> int:
        return sum(item.sent for item in self.log if item.path == path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(head=True)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(head=False)

            def _serve(self, *, head: bool) -> None:
                parts = urlsplit(self.path)
                if parts.path == "/redirect":
                    target = parse_qs(parts.query)["to"][0]
                    server.log.append(Served(parts.path, None, 302))
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                file = (server.root / parts.path.lstrip("/")).resolve()
                if not file.is_file() or server.root.resolve() not in file.parents:
                    server.log.append(Served(parts.path, None, 404))
                    body = b"not found"
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                data = file.read_bytes()
                start = None
                header = self.headers.get("Range", "")
                if header.startswith("bytes=") and header[6:].split("-")[0].isdigit():
                    start = int(header[6:].split("-")[0])
                entry = Served(parts.path, start, 206 if start else 200)
                server.log.append(entry)
                body = data[start or 0 :]
                self.send_response(entry.status)
                self.send_header("Content-Type", TYPES.get(file.suffix, "application/octet-stream"))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if head:
                    return
                try:
                    for i in range(0, len(body), server.chunk):
                        piece = body[i : i + server.chunk]
                        self.wfile.write(piece)
                        self.wfile.flush()
                        entry.sent += len(piece)
                        if server.stall_after and entry.sent >= server.stall_after:
                            server.closing.wait(60)
                            return
                        if server.rate:
                            time.sleep(len(piece) / server.rate)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


if __name__ == "__main__":  # a server in a process of its own (benchmarks): prints its port, serves until killed
    import sys

    with MediaServer(Path(sys.argv[1]), chunk=1024 * 1024) as served:
        print(served.port, flush=True)
        threading.Event().wait()
