"""A small circuit breaker: after N consecutive failures, stop calling for a cool-down period."""

from __future__ import annotations

import time


class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive failures) → open for ``cooldown_s`` → half-open.

    While open, :meth:`allow` answers False at once, so callers fall back without touching the
    network. When the cool-down has passed, exactly one caller is let through as a trial and the
    cool-down restarts for everybody else: a success closes the breaker, a failure keeps it open.
    A trial that never reports back (cancelled) simply lets another one through a cool-down later.
    """

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0, clock=time.monotonic):
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        #: How many times the breaker went from closed to open (a health statistic).
        self.times_opened = 0
        #: How many half-open trial calls were let through.
        self.trials = 0

    @property
    def is_open(self) -> bool:
        """True while the breaker is open (including a half-open trial in flight)."""
        return self._opened_at is not None

    def allow(self) -> bool:
        """May a request be sent now? Closed: yes. Open: only one trial per cool-down."""
        if self._opened_at is None:
            return True
        now = self._clock()
        if now - self._opened_at >= self.cooldown_s:
            self._opened_at = now  # the trial's own cool-down: everybody else keeps falling back
            self.trials += 1
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self._failures += 1
        if self._opened_at is not None:
            self._opened_at = self._clock()  # a failed trial (or a late failure) restarts the cool-down
        elif self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self.times_opened += 1
