"""Terminal progress for long runs: chunks done / total, clips, MB written, MB/s."""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

import pandas as pd


class ChunkProgress:
    """Fed with finished partitions' stats rows; prints one status line at a time.

    Counts partitions against ``total`` (labelled ``unit``: "chunks" when each partition is
    one chunk, as in the job), plus clips and bytes.

    On a terminal the line is redrawn in place; in a log file (CI, SLURM output) a line is
    printed at most every ``interval_s`` seconds and at the end.
    """

    def __init__(self, total: int, stream: TextIO | None = None, interval_s: float = 5.0, unit: str = "chunks"):
        self.total = total
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
        self.done += partitions
        self.clips += int(rows["num_clips_passed"].sum() + rows["num_clips_filtered"].sum())
        self.bytes += sum(sum(json.loads(text).values()) for text in rows["bytes_written"])
        now = time.monotonic()
        if self._tty or now - self._last_print >= self.interval_s or self.done >= self.total:
            self._last_print = now
            self._emit()

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        mb = self.bytes / 1e6
        return (f"{self.unit} {self.done}/{self.total} | clips {self.clips} | "
                f"{mb:.1f} MB written | {mb / elapsed:.2f} MB/s | {elapsed:.0f} s")

    def _emit(self) -> None:
        end = "" if self._tty and self.done < self.total else "\n"
        prefix = "\r" if self._tty else ""
        print(prefix + self.line(), end=end, file=self.stream, flush=True)

    def close(self) -> None:
        if self._tty and self.done < self.total:
            print(file=self.stream, flush=True)
