"""Progress a person can read: done of total, the rate, and an estimate of the time left."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Counts work done against a total and says it in one line."""

    total: int
    unit: str = "items"
    started: float = field(default_factory=time.perf_counter)
    done: int = 0

    def advance(self, count: int = 1) -> str:
        self.done += count
        return self.line()

    def line(self) -> str:
        """E.g. "12 of 50 models, 0.4/s, about 1 min 35 s left"."""
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        return (
            f"{self.done} of {self.total} {self.unit}, {_rate(rate)}, "
            f"{'done' if self.done >= self.total else 'about ' + _duration(left) + ' left'}"
        )


def _rate(per_second: float) -> str:
    return f"{per_second:.1f}/s" if per_second >= 1 else f"{per_second * 60:.1f}/min"


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN: nothing done yet
        return "unknown time"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
