"""Seconds and peak memory of each stage of a pipeline run, so a user can see where the time goes.

Peak memory per stage: Linux keeps one high-water mark of a process's resident memory (``VmHWM``); writing
``5`` to ``/proc/self/clear_refs`` resets it to the current size (proc(5), Linux 4.0+), so each stage's peak
is its own. Where that is not possible the figure is the process's peak so far (``getrusage``), and says so.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["StageClock"]

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


class StageClock:
    """Times named stages: ``with clock.stage("segment"): ...``; ``clock.stages`` is JSON-ready, in order."""

    def __init__(self) -> None:
        self.stages: dict[str, dict[str, float | str]] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        own_peak = _reset_peak()
        wall, cpu = time.perf_counter(), time.process_time()
        yield
        record: dict[str, float | str] = {
            "seconds": round(time.perf_counter() - wall, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),  # every thread of the process
            "peak_rss_mb": round(_peak_rss_bytes() / 2**20, 1),
        }
        if not own_peak:
            record["peak_rss_scope"] = "process so far"
        self.stages[name] = record

    def total_seconds(self) -> float:
        return round(sum(float(s["seconds"]) for s in self.stages.values()), 2)


def _reset_peak() -> bool:
    """Reset the high-water mark of resident memory; False when the system does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB on Linux
