"""Timing: variants measured run by run, interleaved, so machine noise hits all of them alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any


def summary(values: list[float], digits: int = 3) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "n": len(values),
    }


def calibrate(run: Callable[[], object], *, target_seconds: float = 0.004, cap: int = 50) -> int:
    """How many calls make one timed run last about `target_seconds` (short queries are batched)."""
    run()
    started = time.perf_counter()
    run()
    once = max(time.perf_counter() - started, 1e-6)
    return max(1, min(cap, int(target_seconds / once)))


def interleaved(
    variants: Mapping[str, Callable[[], object]], *, repeat: int, inner: int = 1, warmup: int = 2
) -> dict[str, list[float]]:
    """Milliseconds per call of each variant, one list entry per run; entry i of every list comes
    from the same round. The order inside a round rotates so no variant always goes first."""
    names = list(variants)
    for _ in range(warmup):
        for name in names:
            variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(repeat):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            run = variants[name]
            started = time.perf_counter()
            for _ in range(inner):
                run()
            times[name].append((time.perf_counter() - started) * 1000 / inner)
    return times


def pair_ratios(numerator: list[float], denominator: list[float]) -> list[float]:
    return [a / b for a, b in zip(numerator, denominator) if b > 0]


def pair_differences_us(a: list[float], b: list[float]) -> list[float]:
    return [(x - y) * 1000 for x, y in zip(a, b)]
