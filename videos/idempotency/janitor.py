"""A TaskManager companion that purges expired Idempotency-Key rows now and then."""

from __future__ import annotations

import logging
import threading

from django.db import connections

from videos.idempotency.services import idempotency_purge

log = logging.getLogger("montage.idempotency")
PURGE_INTERVAL_S = 600.0


class IdempotencyJanitor:
    def __init__(self, worker_id: str, interval: float = PURGE_INTERVAL_S) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="montage-idempotency-janitor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    idempotency_purge()
                except Exception:
                    log.exception("idempotency.purge_failed")
                finally:
                    connections.close_all()
        finally:
            connections.close_all()
