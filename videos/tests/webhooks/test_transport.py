"""The webhook transport on real sockets (loopback only): kept-alive connections, answers longer than we keep,
receivers that close idle connections, and TLS that verifies the name it was given, not the address."""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from videos.webhooks.transport import Connections, Target

KEEP = 4096


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - the standard library's name
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.seen.append((self.client_address[1], self.headers.get("host")))  # type: ignore[attr-defined]
        answer = b"x" * self.server.answer_bytes  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("content-length", str(len(answer)))
        if self.server.close_after:  # type: ignore[attr-defined]
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A client dropping a connection it won't reuse (an answer cut short) resets it: expected, not printed."""
        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.seen, httpd.answer_bytes, httpd.close_after = [], 2, False  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def target(port: int, *, scheme: str = "http", sni: str | None = None) -> Target:
    return Target(scheme=scheme, address="127.0.0.1", port=port, host=f"hooks.test:{port}", sni=sni, path="/in?a=1")


def test_posts_reuse_one_kept_alive_connection_and_send_the_name_as_host(server: ThreadingHTTPServer) -> None:
    with Connections() as pool:
        for _ in range(3):
            assert pool.post(target(server.server_port), b"{}", {}, timeout=5, keep=KEEP) == (200, b"xx")
    ports = {client_port for client_port, _ in server.seen}  # type: ignore[attr-defined]
    assert len(server.seen) == 3 and len(ports) == 1  # type: ignore[attr-defined]
    assert {host for _, host in server.seen} == {f"hooks.test:{server.server_port}"}  # type: ignore[attr-defined]


def test_an_answer_longer_than_we_keep_is_cut_and_its_connection_not_reused(server: ThreadingHTTPServer) -> None:
    server.answer_bytes = 3 * KEEP  # type: ignore[attr-defined]
    with Connections() as pool:
        status, kept = pool.post(target(server.server_port), b"{}", {}, timeout=5, keep=KEEP)
        assert status == 200 and kept == b"x" * KEEP
        assert pool.post(target(server.server_port), b"{}", {}, timeout=5, keep=KEEP)[1] == b"x" * KEEP
    assert len({client_port for client_port, _ in server.seen}) == 2  # type: ignore[attr-defined]


def test_a_receiver_that_closes_its_connections_costs_no_failed_attempt(server: ThreadingHTTPServer) -> None:
    server.close_after = True  # type: ignore[attr-defined]
    with Connections() as pool:
        for _ in range(3):
            assert pool.post(target(server.server_port), b"{}", {}, timeout=5, keep=KEEP) == (200, b"xx")
    assert len({client_port for client_port, _ in server.seen}) == 3  # type: ignore[attr-defined]


def test_tls_goes_to_the_pinned_address_and_verifies_the_given_name(tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=hooks.test",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment]
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            pass  # the client refuses the self-signed certificate
        finally:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with Connections() as pool, pytest.raises(ssl.SSLCertVerificationError):
        pool.post(target(listener.getsockname()[1], scheme="https", sni="hooks.test"), b"{}", {}, timeout=5, keep=KEEP)
    thread.join(5)
    listener.close()
    assert names == ["hooks.test"]  # the name, not the address it was pinned to
