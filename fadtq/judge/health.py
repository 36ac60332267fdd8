"""Stop a run whose judge keeps failing, instead of letting FAD-TQ quietly become plain GPG.

A failed judge call scores ``r_tq = judge_fallback_tq`` (0 by default), so a dead judge removes the
thinking-quality term without stopping anything. The trainer feeds each step's judge failure rate
to :class:`JudgeFailureGuard`; after ``patience`` consecutive steps above ``max_fail_rate`` it
answers with the reason to stop. A step that sent nothing to the judge (no correct answer) neither
counts nor resets the streak.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class JudgeUnhealthy(RuntimeError):
    """The judge failed too often for too long; the message is one line with the cause and the fix."""


@dataclass
class JudgeFailureGuard:
    max_fail_rate: float = 0.5
    patience: int = 3
    _streak: list[float] = field(default_factory=list)

    def __post_init__(self):
        if not 0.0 <= self.max_fail_rate <= 1.0:
            raise ValueError(f"fadtq.judge_max_fail_rate={self.max_fail_rate} must lie in [0, 1] (1 never stops)")
        if self.patience < 1:
            raise ValueError(f"fadtq.judge_fail_patience={self.patience} must be >= 1")

    def observe(self, fail_rate: float | None, last_error: str = "") -> str | None:
        """Record one step's failure rate (None: no judge call); the reason to stop, or None to go on."""
        if fail_rate is None:
            return None
        if fail_rate <= self.max_fail_rate:
            self._streak.clear()
            return None
        self._streak.append(fail_rate)
        if len(self._streak) < self.patience:
            return None
        rates = ", ".join(f"{rate:.0%}" for rate in self._streak[-self.patience:])
        cause = f"; last error: {last_error}" if last_error else ""
        return (f"the judge failed on {rates} of its calls in {self.patience} consecutive steps (limit "
                f"{self.max_fail_rate:.0%}, fadtq.judge_max_fail_rate){cause} — check the judge (fadtq judge-check "
                f"URL), or set fadtq.judge_max_fail_rate=1 to train on with the fallback thinking-quality score")
