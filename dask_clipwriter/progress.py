"""Terminal progress for long runs: chunks done / total, clips, MB written, MB/s."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

import pandas as pd


class ChunkProgress:
    """Fed with finished partitions' stats rows; prints one status line at a time.

    Counts partitions against ``total`` (labelled ``unit``: "chunks" when each partition is
    one chunk, as in the job), plus clips and bytes. Given ``clips_planned`` (the job), it
    also counts clips as the chunk tasks encode them (:meth:`encoded`), so the line moves
    during a chunk, and says how long the rest should take.

    On a terminal the line is redrawn in place; in a log file (CI, SLURM output) a line is
    printed at most every ``interval_s`` seconds and at the end.
    """

    def __init__(self, total: int, stream: TextIO | None = None, interval_s: float = 5.0, unit: str = "chunks",
                 clips_planned: int | None = None):
        self.total = total
        self.clips_planned = clips_planned
        self.clips_encoded = 0
        self._lock = threading.Lock()
        self.unit = unit
        self.stream = stream or sys.stderr
        self.interval_s = interval_s
        self.done = 0
        self.clips = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._last_print = float("-inf")  # the first update always prints
        self._tty = getattr(self.stream, "isatty", lambda: False)()

    def update(self, rows: pd.DataFrame, partitions: int = 1) -> None:
        with self._lock:
            self.done += partitions
            self.clips += int(rows["num_clips_passed"].sum() + rows["num_clips_filtered"].sum())
            self.bytes += sum(sum(json.loads(text).values()) for text in rows["bytes_written"])
            resumed = rows[rows["status"] == "resumed"]  # chunks not encoded again: their clips are done
            self.clips_encoded += int(resumed["num_clips_passed"].sum() + resumed["num_clips_filtered"].sum())
            self._maybe_emit(final=self.done >= self.total)

    def encoded(self, clips: int, nbytes: int = 0) -> None:
        """``clips`` more clips were encoded (by chunks still running)."""
        with self._lock:
            self.clips_encoded += clips
            self._maybe_emit(final=False)

    def _maybe_emit(self, *, final: bool) -> None:
        now = time.monotonic()
        if self._tty or now - self._last_print >= self.interval_s or final:
            self._last_print = now
            self._emit()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        mb = self.bytes / 1e6
        if self.clips_planned is None:
            clips = f"clips {self.clips}"
            left = ""
        else:
            encoded = min(self.clips_encoded, self.clips_planned)
            clips = f"clips {encoded}/{self.clips_planned} encoded"
            left = f", {_duration(elapsed * (self.clips_planned - encoded) / encoded)} left" if (
                0 < encoded < self.clips_planned) else ""
        return f"{self.unit} {self.done}/{self.total} | {clips} | {mb:.1f} MB written | {mb / elapsed:.2f} MB/s | " \
               f"{elapsed:.0f} s{left}"

    def _emit(self) -> None:
        end = "" if self._tty and self.done < self.total else "\n"
        prefix = "\r" if self._tty else ""
        print(prefix + self.line(), end=end, file=self.stream, flush=True)

    def close(self) -> None:
        if self._tty and self.done < self.total:
            print(file=self.stream, flush=True)


def _duration(seconds: float) -> str:
    """About how long: ``40 s``, ``3 min``, ``2 h 10 min``."""
    if seconds < 90:
        return f"about {seconds:.0f} s"
    if seconds < 5400:
        return f"about {seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"about {hours} h {minutes} min"
