"""Weighted, monotonic task progress with an ETA, and the throttle that persists it."""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

log = logging.getLogger("montage.tasks")

# Before completion the total stops just short of 100: 100 means "completed" and nothing else.
CAP_BEFORE_COMPLETION = 99.9
ETA_WINDOW_SECONDS = 30.0
ETA_MIN_ELAPSED = 0.5


class ProgressTracker:
    """Each step's progress (0..1) and weight; the weighted total never goes down or past 100 early."""

    def __init__(
        self,
        weights: Mapping[str, float],
        *,
        floor: float = 0.0,
        done: Mapping[str, float] | None = None,
        resumed: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`resumed`: steps an interrupted attempt had got into, with the fraction readers saw. Such a
        step starts over, so its new work is shown on the part still to go: reported fraction f reads
        as b + (1 - b) * f. The total moves at once instead of freezing until the step catches up."""
        self.weights = dict(weights)
        self._weight_sum = sum(self.weights.values()) or 1.0
        self._fractions = {name: 0.0 for name in self.weights}
        for name, fraction in (done or {}).items():
            if name in self._fractions:
                self._fractions[name] = _clamp(fraction)
        self._resumed = {n: _clamp(b) for n, b in (resumed or {}).items() if n in self._fractions and b < 1.0}
        for name, base in self._resumed.items():
            self._fractions[name] = max(self._fractions[name], base)
        # A resumed or recovered task starts from what readers already saw.
        self._floor = min(max(float(floor), 0.0), CAP_BEFORE_COMPLETION)
        self._finished = False
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()
        self._best = self._compute()
        self._record(self._best)

    def update(self, name: str, fraction: float) -> float:
        """Set step `name` to `fraction` (clamped to 0..1; a step never goes back). Returns the total."""
        with self._lock:
            if name not in self._fractions:
                raise KeyError(f"unknown step {name!r}")
            value = _clamp(fraction)
            base = self._resumed.get(name)
            if base is not None:
                value = base + (1.0 - base) * value
            self._fractions[name] = max(self._fractions[name], value)
            return self._refresh()

    def complete(self, name: str) -> float:
        return self.update(name, 1.0)

    def fraction(self, name: str) -> float:
        return self._fractions[name]

    @property
    def total(self) -> float:
        return self._best

    def eta_seconds(self) -> float | None:
        """Seconds left at the rate observed over the last half minute; None until there is a rate."""
        with self._lock:
            if self._finished:
                return 0.0
            if len(self._samples) < 2:
                return None
            (t0, p0), (t1, p1) = self._samples[0], self._samples[-1]
            elapsed, gained = t1 - t0, p1 - p0
            if elapsed < ETA_MIN_ELAPSED or gained <= 0:
                return None
            # Time since the last update counts too, so a stalled task's ETA does not freeze.
            now = self._clock()
            rate = gained / max(elapsed, now - t0)
            return (100.0 - self._best) / rate

    def _compute(self) -> float:
        weighted = sum(self.weights[n] * f for n, f in self._fractions.items()) * 100.0 / self._weight_sum
        return min(max(weighted, self._floor), CAP_BEFORE_COMPLETION)

    def _refresh(self) -> float:
        if not self._finished:
            value = self._compute()
            if value > self._best:
                self._best = value
                self._record(value)
        return self._best

    def _record(self, value: float) -> None:
        now = self._clock()
        self._samples.append((now, value))
        while len(self._samples) > 2 and now - self._samples[0][0] > ETA_WINDOW_SECONDS:
            self._samples.popleft()


class _Timers:
    """One daemon thread runs every throttle's trailing save when due: no thread started per task."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = 0
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, func: Callable[[], None]) -> None:
        with self._cond:
            self._count += 1
            heapq.heappush(self._heap, (when, self._count, func))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="montage-progress-timers", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, func = heapq.heappop(self._heap)
            try:
                func()
            except Exception:  # a failed save must not stop the others' (the next change saves again)
                log.exception("progress.save_failed")


_timers = _Timers()


class Throttle:
    """Calls `save` at most once per `interval`; the last change always gets saved (by a timer).

    Saves never overlap: the timer's trailing save and a flush from the job's thread would otherwise
    each read the state and commit in either order, and an older total could land last (progress
    readers see going down)."""

    def __init__(self, save: Callable[[], None], interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._save = save
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._last = float("-inf")
        self._pending = 0  # the generation of the scheduled trailing save (0: none)
        self._generation = 0
        self._closed = False
        self._saving = threading.RLock()  # held across a save: reading the state and committing it

    def touch(self) -> None:
        """Something changed: save now if allowed, otherwise make sure a save follows soon."""
        with self._lock:
            if self._closed:
                return
            wait = self._last + self._interval - self._clock()
            if wait > 0:
                if not self._pending:
                    self._generation += 1
                    self._pending = generation = self._generation
                    _timers.call_at(time.monotonic() + wait, lambda: self._fire(generation))
                return
            self._last = self._clock()
        self._run_save()

    def flush(self) -> None:
        """Save now and drop any pending trailing save."""
        with self._lock:
            self._pending = 0
            self._last = self._clock()
        self._run_save()

    def saved_elsewhere(self) -> None:
        """The state was just written by someone else (the claim): the next save waits its interval."""
        with self._lock:
            self._pending = 0
            self._last = self._clock()

    def close(self) -> None:
        """No save starts after this, and one under way has ended when it returns."""
        with self._saving, self._lock:
            self._closed = True
            self._pending = 0

    def _fire(self, generation: int) -> None:
        with self._saving:  # decided under it: a save close() has waited for cannot start after it
            with self._lock:
                if self._closed or self._pending != generation:  # closed, flushed, or an older schedule
                    return
                self._pending = 0
                self._last = self._clock()
            self._save()

    def _run_save(self) -> None:
        with self._saving:
            if not self._closed:  # decided under it, as in _fire
                self._save()


def _clamp(value: float) -> float:
    if value != value:  # NaN
        return 0.0
    return min(max(float(value), 0.0), 1.0)
