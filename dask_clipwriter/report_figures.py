"""What ``report.html`` shows, gathered from the dataset's documents. Pure: summary.json, a
sample of clip metas and preview bytes come in (:mod:`.report_read` reads them), plain
numbers come out (:mod:`.report_html` draws them).

* histograms of clip duration, motion score (global mean, log scale) and aesthetic score,
  from the sampled metas;
* clips per video (passed and filtered), from summary.json's video entries;
* passed and filtered clips by reason, bytes per directory, errors by kind: the dataset's
  totals in summary.json (clip errors by key, failed videos by the error's type);
* the failed videos (the first ten) and a strip of previews.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Bars per histogram.
BINS = 30
#: Videos drawn one bar each; with more, clips per video is a histogram.
MAX_VIDEO_BARS = 30
NAMED_FAILURES = 10


@dataclass(frozen=True)
class Histogram:
    edges: tuple[float, ...]
    counts: tuple[int, ...]
    log: bool = False  # the edges are spaced evenly in log10
    values: int = 0
    left_out: int = 0  # values a log scale cannot show (0 or less)

    @property
    def left(self) -> list[float]:
        return list(self.edges[:-1])

    @property
    def right(self) -> list[float]:
        return list(self.edges[1:])


@dataclass(frozen=True)
class Preview:
    clip: str  # span uuid
    video: str
    span: tuple[float, float]
    data: bytes
    mime: str = "image/webp"


@dataclass
class ReportFigures:
    dataset: str
    headline: list[tuple[str, str]] = field(default_factory=list)
    durations: Histogram | None = None
    motion: Histogram | None = None
    aesthetic: Histogram | None = None
    #: (video, passed, filtered) per video, when there are few; else a histogram of clips per video
    clips_per_video: list[tuple[str, int, int]] = field(default_factory=list)
    clips_per_video_histogram: Histogram | None = None
    videos_listed: int = 0
    outcome: list[tuple[str, int]] = field(default_factory=list)
    bytes_per_directory: list[tuple[str, int]] = field(default_factory=list)
    errors: list[tuple[str, int]] = field(default_factory=list)
    failed_videos: list[tuple[str, str]] = field(default_factory=list)
    failed_count: int = 0
    previews: list[Preview] = field(default_factory=list)
    sample: str = ""


def histogram(values: Sequence[float], bins: int = BINS, log: bool = False) -> Histogram | None:
    """Counts of ``values`` in ``bins`` bars (log: evenly in log10, for values > 0 only)."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    left_out = 0
    if log:
        left_out = int((data <= 0).sum())
        data = data[data > 0]
    if not len(data):
        return None
    low, high = float(data.min()), float(data.max())
    if log:
        edges = np.logspace(math.log10(low), math.log10(high) if high > low else math.log10(low) + 1, bins + 1)
    else:
        edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    counts, edges = np.histogram(data, bins=edges)
    return Histogram(edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts), log=log,
                     values=int(len(data)), left_out=left_out)


def _short(video: str, input_path: str | None) -> str:
    prefix = (input_path or "").rstrip("/") + "/"
    return video[len(prefix):] if input_path and video.startswith(prefix) else os.path.basename(video)


def _megabytes(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def headline(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    totals = summary.get("totals") or {}
    hours = float(totals.get("total_clip_duration", 0.0)) / 3600
    return [
        ("videos", f"{totals.get('videos', 0):,} ({totals.get('videos_complete', 0):,} complete, "
                   f"{totals.get('videos_failed', 0):,} failed)"),
        ("chunks", f"{totals.get('chunks', 0):,}"),
        ("clips", f"{totals.get('num_clips_passed', 0):,} passed, {totals.get('num_clips_filtered', 0):,} filtered"),
        ("clip time", f"{hours:,.2f} h"),
        ("stored", _megabytes(sum((totals.get("bytes") or {}).values()))),
        ("last run", f"{summary.get('finished_at', '?')} ({summary.get('elapsed_s', 0):,.1f} s)"),
    ]


def outcome(totals: Mapping[str, Any]) -> list[tuple[str, int]]:
    motion = int(totals.get("num_clips_filtered_by_motion", 0))
    aesthetic = int(totals.get("num_clips_filtered_by_aesthetic", 0))
    other = int(totals.get("num_clips_filtered", 0)) - motion - aesthetic
    rows = [("passed", int(totals.get("num_clips_passed", 0))), ("filtered: motion", motion),
            ("filtered: aesthetic", aesthetic)]
    return rows + ([("filtered: other", other)] if other else [])


def errors_by_kind(summary: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Clip errors by key (``clip: transcode``) and failed videos by the error's type
    (``video: InvalidDataError``; videos failed beyond the listed ones as ``video: unlisted``)."""
    totals = summary.get("totals") or {}
    kinds = Counter({f"clip: {key}": int(n) for key, n in (totals.get("errors") or {}).items() if n})
    failed = [v for v in summary.get("videos") or [] if "error" in v]
    kinds.update(f"video: {str(v['error']).split(':', 1)[0].strip() or 'error'}" for v in failed)
    unlisted = int(totals.get("videos_failed", 0)) - len(failed)
    if unlisted > 0:
        kinds["video: unlisted"] += unlisted
    return sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))


def clips_per_video(summary: Mapping[str, Any], input_path: str | None):
    """(bars, histogram): one (video, passed, filtered) bar per video when there are few,
    else a histogram of clips per video; both from summary.json's entries (at most 10,000)."""
    entries = [v for v in summary.get("videos") or [] if "error" not in v]
    rows = [(_short(v["video"], input_path), int(v.get("num_clips_passed", 0)), int(v.get("num_clips_filtered", 0)))
            for v in entries]
    if len(rows) <= MAX_VIDEO_BARS:
        return sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0])), None
    return [], histogram([p + f for _, p, f in rows], bins=min(BINS, max(5, len(rows) // 20)))


def gather(summary: Mapping[str, Any], metas: Sequence[Mapping[str, Any]], previews: Sequence[Preview] = (), *,
           dataset: str = "", sample: str = "") -> ReportFigures:
    """The figures of the report: ``summary`` is summary.json, ``metas`` a sample of clip
    metas (``metas/v0`` documents), ``previews`` the images of the strip."""
    totals = summary.get("totals") or {}
    input_path = (summary.get("settings") or {}).get("input_path")
    bars, per_video_histogram = clips_per_video(summary, input_path)
    failed = [v for v in summary.get("videos") or [] if "error" in v]
    durations = [m["duration_span"][1] - m["duration_span"][0] for m in metas
                 if isinstance(m.get("duration_span"), list) and len(m["duration_span"]) == 2]
    motion = [(m.get("motion_score") or {}).get("global_mean") for m in metas]
    aesthetic = [m.get("aesthetic_score") for m in metas]
    return ReportFigures(
        dataset=dataset,
        headline=headline(summary),
        durations=histogram(durations),
        motion=histogram([v for v in motion if v is not None], log=True),
        aesthetic=histogram([v for v in aesthetic if v is not None]),
        clips_per_video=bars,
        clips_per_video_histogram=per_video_histogram,
        videos_listed=len(summary.get("videos") or []),
        outcome=outcome(totals),
        bytes_per_directory=sorted(((d, int(n)) for d, n in (totals.get("bytes") or {}).items() if n),
                                   key=lambda kv: -kv[1]),
        errors=errors_by_kind(summary),
        failed_videos=[(_short(v["video"], input_path), str(v["error"])) for v in failed[:NAMED_FAILURES]],
        failed_count=max(int(totals.get("videos_failed", 0)), len(failed)),
        previews=list(previews),
        sample=sample,
    )


__all__ = ["Histogram", "Preview", "ReportFigures", "gather", "histogram"]
