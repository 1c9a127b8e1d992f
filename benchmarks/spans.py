"""Wall-clock spans: named functions wrapped with timers for the length of a measurement, so
one run's wall time splits into what each function did (its own time, the spans inside it
taken out) and what no span covers. Unlike cProfile this adds microseconds per call, not a
cost per Python call, so numeric and Python-heavy stages keep their true proportions.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """A function to time: `module` and a dotted attribute ("find_run", "Class.method"),
    where callers look it up; `wrap_argument` names a callable argument (position, keyword)
    to time too, as its own stage (a callback the function calls back)."""

    stage: str
    module: str
    attribute: str
    wrap_argument: tuple[int, str] | None = None
    argument_stage: str = ""


@dataclass
class Spans:
    """Own wall seconds per stage, and own CPU seconds (every thread of the process): on
    shared cores the wall time grows with the load, the CPU time much less."""

    own: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    own_cpu: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _inside: list[list[float]] = field(default_factory=list)

    def timed(self, stage: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            self._inside.append([0.0, 0.0])
            started, started_cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                total = time.perf_counter() - started
                total_cpu = time.process_time() - started_cpu
                nested, nested_cpu = self._inside.pop()
                self.own[stage] += total - nested
                self.own_cpu[stage] += total_cpu - nested_cpu
                self.calls[stage] += 1
                if self._inside:
                    self._inside[-1][0] += total
                    self._inside[-1][1] += total_cpu

        return wrapper

    def with_timed_argument(self, target: Target, function: Callable) -> Callable:
        position, keyword = target.wrap_argument  # type: ignore[misc]

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            if keyword in kwargs and kwargs[keyword] is not None:
                kwargs[keyword] = self.timed(target.argument_stage, kwargs[keyword])
            elif len(args) > position and args[position] is not None:
                args = (*args[:position], self.timed(target.argument_stage, args[position]),
                        *args[position + 1 :])  # fmt: skip
            return function(*args, **kwargs)

        return self.timed(target.stage, wrapper)

    def reset(self) -> None:
        self.own.clear()
        self.own_cpu.clear()
        self.calls.clear()


def _owner_and_name(target: Target) -> tuple[object, str]:
    owner: object = importlib.import_module(target.module)
    *path, name = target.attribute.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, name


@contextmanager
def timing(targets: list[Target]) -> Iterator[tuple[Spans, list[str]]]:
    """Every target wrapped while the block runs (restored after); yields the spans and the
    targets not found (code that moved: the benchmark says so instead of failing)."""
    spans, missing, undo = Spans(), [], []
    for target in targets:
        try:
            owner, name = _owner_and_name(target)
            original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        except (ImportError, AttributeError, KeyError):
            missing.append(f"{target.module}:{target.attribute}")
            continue
        function = original.__func__ if isinstance(original, staticmethod) else original
        wrapped = (
            spans.with_timed_argument(target, function)
            if target.wrap_argument
            else spans.timed(target.stage, function)
        )
        setattr(owner, name, staticmethod(wrapped) if function is not original else wrapped)
        undo.append((owner, name, original))
    try:
        yield spans, missing
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)
