"""A small circuit breaker: after N consecutive failures, stop calling for a cool-down period."""

from __future__ import annotations

import time


class CircuitBreaker:
    """Closed → (``failure_threshold`` consecutive failures) → open for ``cooldown_s`` → half-open:
    one trial call; success closes it, failure opens it again."""

    def __init__(self, failure_threshold: int = 5, cooldown_s: float = 30.0, clock=time.monotonic):
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self.times_opened = 0

    @property
    def is_open(self) -> bool:
        """True while calls should not be sent (the cool-down has not passed)."""
        return self._opened_at is not None and self._clock() - self._opened_at < self.cooldown_s

    def allow(self) -> bool:
        return not self.is_open

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.failure_threshold:
            if not self.is_open:
                self.times_opened += 1
            self._opened_at = self._clock()
