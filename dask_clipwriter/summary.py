"""``summary.json`` (output-format.md §5) [ours], added up as a tree.

Chunk statistics rows are added up per video, per bucket of videos, then pairwise
(:meth:`SummaryPart.add`). No step needs more than a bounded number of rows, and the result
does not depend on how the rows were grouped. Durations are summed exactly (as fractions)
and rounded once at the end. Pure: rows come in, dicts go out; the reduction decides where
they are written.

The document has two sets of figures:

* ``totals``: the whole dataset after this run (every video and chunk the dataset index
  knows, from this run and earlier ones);
* ``run``: this run's own work (chunks written or resumed, files written and skipped).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pandas as pd

from .documents import COUNTER_KEYS

#: Per-directory or per-key counters that rows carry as JSON text.
DATASET_COUNTERS = ("errors", "missing", "bytes", "filtered")
RUN_COUNTERS = ("errors", "missing", "files_written", "bytes_written", "files_skipped", "filtered")
#: At most this many video entries are listed in summary.json (the dataset index has all).
MAX_LISTED_VIDEOS = 10_000


@dataclass
class Totals:
    """Counters added up over chunks. Two Totals add up to the Totals of all their chunks."""

    chunks: int = 0
    counts: Counter = field(default_factory=Counter)  # COUNTER_KEYS and num_clips_filtered
    duration: Fraction = Fraction(0)
    max_duration: float = 0.0
    chunks_resumed: int = 0
    counters: dict[str, Counter] = field(default_factory=dict)

    @classmethod
    def of_rows(cls, rows: pd.DataFrame, counters: Iterable[str]) -> Totals:
        return cls.per_video(rows, counters, key=None).get(None, cls())

    @classmethod
    def per_video(cls, rows: pd.DataFrame, counters: Iterable[str], *, key: str | None = "video") -> dict[Any, Totals]:
        """Totals of ``rows`` per value of their ``key`` column (None: one Totals of all),
        in one pass over the rows (a bucket task adds up thousands of videos this way)."""
        counters = tuple(counters)
        keys = rows[key].tolist() if key is not None else [None] * len(rows)
        columns = {name: rows[name].tolist() for name in (*COUNTER_KEYS, "num_clips_filtered", "total_clip_duration",
                                                            "max_clip_duration", *counters)}
        resumed = (rows["status"] == "resumed").tolist() if "status" in rows else [False] * len(rows)
        out: dict[Any, Totals] = {}
        for i, group in enumerate(keys):
            totals = out.get(group)
            if totals is None:
                totals = out[group] = cls(counters={name: Counter() for name in counters})
            totals.chunks += 1
            for name in (*COUNTER_KEYS, "num_clips_filtered"):
                totals.counts[name] += int(columns[name][i])
            totals.duration += Fraction(columns["total_clip_duration"][i])
            totals.max_duration = max(totals.max_duration, float(columns["max_clip_duration"][i]))
            totals.chunks_resumed += bool(resumed[i])
            for name in counters:
                totals.counters[name].update(json.loads(columns[name][i]))
        return out

    def add(self, other: Totals) -> Totals:
        self.chunks += other.chunks
        self.counts.update(other.counts)
        self.duration += other.duration
        self.max_duration = max(self.max_duration, other.max_duration)
        self.chunks_resumed += other.chunks_resumed
        for name, counter in other.counters.items():
            self.counters.setdefault(name, Counter()).update(counter)
        return self

    def as_dict(self, counters: Iterable[str], *, resumed: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"chunks": self.chunks}
        out.update((key, int(self.counts[key])) for key in (*COUNTER_KEYS, "num_clips_filtered"))
        out["total_clip_duration"] = float(self.duration)
        out["max_clip_duration"] = self.max_duration
        if resumed:
            out["chunks_resumed"] = self.chunks_resumed
        for name in counters:
            out[name] = dict(sorted((k, int(v)) for k, v in self.counters.get(name, Counter()).items() if v))
        return out


def sum_totals(parts: Iterable[Totals]) -> Totals:
    total = Totals()
    for part in parts:
        total.add(part)
    return total


def video_entry(video: str, totals: Totals, *, missing_chunks: list[int] | None = None,
                error: str | None = None) -> dict[str, Any]:
    """One video's entry: whether it is complete (or why it failed), and its counters summed
    over all its chunks in the dataset (``totals``)."""
    entry: dict[str, Any] = {"video": video}
    if error is not None:
        entry.update(complete=False, error=error)
    else:
        entry.update(complete=not missing_chunks, missing_chunks=list(missing_chunks or []))
    return {**entry, **totals.as_dict(DATASET_COUNTERS)}


@dataclass
class SummaryPart:
    """The summary of some buckets of videos; parts add up pairwise to the whole."""

    dataset: Totals = field(default_factory=Totals)
    run: Totals = field(default_factory=Totals)
    videos: int = 0
    videos_complete: int = 0
    videos_failed: int = 0
    videos_in_run: int = 0
    videos_failed_in_run: int = 0
    #: the first MAX_LISTED_VIDEOS entries by video path
    entries: list[dict[str, Any]] = field(default_factory=list)
    started: float | None = None

    def add_entry(self, entry: dict[str, Any], *, in_run: bool) -> None:
        self.videos += 1
        self.videos_complete += bool(entry["complete"])
        self.videos_failed += "error" in entry
        self.videos_in_run += in_run
        self.videos_failed_in_run += in_run and "error" in entry
        self.entries.append(entry)

    def trim_entries(self) -> None:
        """Keep the first MAX_LISTED_VIDEOS entries by video path."""
        self.entries = sorted(self.entries, key=lambda e: e["video"])[:MAX_LISTED_VIDEOS]

    def add(self, other: SummaryPart) -> SummaryPart:
        self.dataset.add(other.dataset)
        self.run.add(other.run)
        self.videos += other.videos
        self.videos_complete += other.videos_complete
        self.videos_failed += other.videos_failed
        self.videos_in_run += other.videos_in_run
        self.videos_failed_in_run += other.videos_failed_in_run
        self.entries += other.entries
        self.trim_entries()
        starts = [s for s in (self.started, other.started) if s is not None]
        self.started = min(starts) if starts else None
        return self


def summary_time(ts: float) -> str:
    """A time as summary.json writes it (UTC, ISO 8601, seconds)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def summary_document(part: SummaryPart, *, settings: Mapping[str, Any], started: float,
                     finished: float) -> dict[str, Any]:
    """summary.json: this run's times and settings (no secrets), the dataset's totals, this
    run's own figures, and the video entries (the first MAX_LISTED_VIDEOS by path)."""
    totals = part.dataset.as_dict(DATASET_COUNTERS)
    totals.update(videos=part.videos, videos_complete=part.videos_complete, videos_failed=part.videos_failed)
    run = part.run.as_dict(RUN_COUNTERS, resumed=True)
    run.update(videos=part.videos_in_run, videos_failed=part.videos_failed_in_run)
    entries = part.entries  # sorted and bounded as the parts were added up
    return {
        "started_at": summary_time(started),
        "finished_at": summary_time(finished),
        "elapsed_s": round(finished - started, 3),
        "settings": dict(settings),
        "totals": totals,
        "run": run,
        "videos": entries,
        "videos_listed": len(entries),
    }


def add_run_figures(first: Mapping[str, Any] | None, second: Mapping[str, Any]) -> dict[str, Any]:
    """The ``run`` figures of two writes into one dataset, added up (the job's waves)."""
    if first is None:
        return dict(second)
    out: dict[str, Any] = {}
    for key, value in second.items():
        earlier = first.get(key)
        if key == "max_clip_duration":
            out[key] = max(earlier or 0.0, value)
        elif isinstance(value, Mapping):
            out[key] = dict(sorted((Counter(earlier or {}) + Counter(value)).items()))
        else:
            out[key] = (earlier or 0) + value
    return out
