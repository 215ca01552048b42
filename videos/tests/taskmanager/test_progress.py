"""ProgressTracker and Throttle: pure logic, property-tested."""

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from videos.taskmanager.progress import CAP_BEFORE_COMPLETION, ProgressTracker, Throttle

weights_st = st.lists(st.integers(1, 100), min_size=1, max_size=6).map(
    lambda ws: {f"s{i}": w * 100 / sum(ws) for i, w in enumerate(ws)}
)
fraction_st = st.one_of(st.floats(-2, 3), st.floats(allow_nan=True, allow_infinity=True), st.just(1.0), st.just(0.0))


@given(weights=weights_st, data=st.data())
def test_total_is_monotonic_and_bounded_below_100(weights, data):
    tracker = ProgressTracker(weights)
    names = list(weights)
    seen = [tracker.total]
    updates = data.draw(st.lists(st.tuples(st.sampled_from(names), fraction_st), max_size=60))
    for name, value in updates:
        tracker.update(name, value)
        seen.append(tracker.total)
    assert seen == sorted(seen)
    assert all(0 <= p <= CAP_BEFORE_COMPLETION < 100 for p in seen)


@given(weights=weights_st)
def test_all_steps_complete_is_still_below_100(weights):
    """100 belongs to the final status alone (store.finish; models.shown_progress)."""
    tracker = ProgressTracker(weights)
    for name in weights:
        tracker.complete(name)
    assert tracker.total == CAP_BEFORE_COMPLETION


@given(weights=weights_st, floor=st.floats(0, 100), data=st.data())
def test_resumed_tracker_never_reports_less_than_what_readers_saw(weights, floor, data):
    names = list(weights)
    done = {n: 1.0 for n in data.draw(st.lists(st.sampled_from(names), unique=True))}
    tracker = ProgressTracker(weights, floor=floor, done=done)
    assert tracker.total >= min(floor, CAP_BEFORE_COMPLETION)
    before = tracker.total
    tracker.update(names[0], 0.0)
    assert tracker.total >= before


def test_weighted_sum():
    tracker = ProgressTracker({"extract": 10, "transcribe": 90})
    tracker.complete("extract")
    tracker.update("transcribe", 0.5)
    assert tracker.total == 55


def test_unknown_step_is_an_error():
    tracker = ProgressTracker({"a": 100})
    with pytest.raises(KeyError):
        tracker.update("b", 0.5)


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_eta_from_observed_rate():
    clock = FakeClock()
    tracker = ProgressTracker({"a": 100}, clock=clock)
    assert tracker.eta_seconds() is None
    for second in range(1, 11):
        clock.now = float(second)
        tracker.update("a", second / 100)  # 1% a second
    eta = tracker.eta_seconds()
    assert eta is not None and 85 <= eta <= 95


def test_eta_grows_when_the_task_stalls():
    clock = FakeClock()
    tracker = ProgressTracker({"a": 100}, clock=clock)
    for second in range(1, 6):
        clock.now = float(second)
        tracker.update("a", second / 10)
    fresh = tracker.eta_seconds()
    clock.now = 30.0
    stalled = tracker.eta_seconds()
    assert fresh is not None and stalled is not None and stalled > fresh


def test_throttle_saves_at_most_once_per_interval_and_always_the_last_change():
    saves = []
    done = threading.Event()

    def save():
        saves.append(len(saves))
        if len(saves) >= 2:
            done.set()

    throttle = Throttle(save, interval=0.2)
    for _ in range(50):
        throttle.touch()
    assert len(saves) == 1  # the first one at once, the rest coalesced
    assert done.wait(2), "the trailing change was never saved"
    assert len(saves) == 2
    throttle.close()


class HeldTrailingSave:
    """A throttle whose timer's save reads the state, then waits to be let go before it commits."""

    def __init__(self):
        self.state = 0
        self.log = []
        self.timer_saving = threading.Event()
        self.let_go = threading.Event()
        self.throttle = Throttle(self.save, interval=0.05)
        self.throttle.touch()  # saved at once, in this thread
        self.throttle.touch()  # the trailing save, by the timer
        assert self.timer_saving.wait(5), "the trailing save never ran"

    def save(self):
        read = self.state
        if threading.current_thread().name == "montage-progress-timers":
            self.timer_saving.set()
            assert self.let_go.wait(5)
        self.log.append(f"committed {read}")

    def then(self, action):
        """Run `action` in a thread while the timer's save is held, then let that save go."""
        thread = threading.Thread(target=action)
        thread.start()
        thread.join(0.3)  # the bound a racing action would need to finish first
        self.let_go.set()
        thread.join(5)
        assert not thread.is_alive()


def test_a_flush_waits_for_the_timers_save_so_the_newest_state_commits_last():
    held = HeldTrailingSave()
    held.state = 1

    held.then(held.throttle.flush)

    assert held.log == ["committed 0", "committed 0", "committed 1"]
    held.throttle.close()


def test_close_returns_only_once_a_save_under_way_has_ended():
    held = HeldTrailingSave()

    held.then(lambda: (held.throttle.close(), held.log.append("closed")))

    assert held.log == ["committed 0", "committed 0", "closed"]


@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=40))
def test_throttle_rate_bound_with_fake_clock(gaps):
    clock = FakeClock()
    saved_at = []
    throttle = Throttle(lambda: saved_at.append(clock.now), interval=0.25, clock=clock)
    for gap in gaps:
        clock.now += gap
        throttle.touch()
    throttle.close()
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(saved_at, saved_at[1:], strict=False))


def test_a_resumed_step_continues_from_what_readers_saw():
    """Step b was at 50% when its attempt died; it starts over, and its new work fills the other half."""
    tracker = ProgressTracker({"a": 20, "b": 80}, floor=60.0, done={"a": 1.0}, resumed={"b": 0.5})
    assert tracker.total == 60.0
    assert tracker.update("b", 0.1) == 20 + 80 * 0.55  # moves at once, not after catching up with 50%
    assert tracker.update("b", 1.0) == 99.9  # capped until completion
    assert tracker.fraction("b") == 1.0
