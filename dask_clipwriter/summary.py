"""``summary.json`` (output-format.md §5) [ours]: chunk statistics rows added up per video and
for the run. Pure: the rows come in, dicts go out; the reduction decides where they are written.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from .documents import COUNTER_KEYS

#: Per-directory counters of files, summed from the rows' JSON text.
FILE_COUNTERS = ("files_written", "bytes_written", "files_skipped")


def _sum_json(column) -> dict[str, int]:
    total: Counter = Counter()
    for text in column:
        total.update(json.loads(text))
    return dict(sorted(total.items()))


def totals(rows: pd.DataFrame) -> dict[str, Any]:
    """Counters summed over the given rows (a video's chunks, or the whole run)."""
    out: dict[str, Any] = {"chunks": len(rows)}
    for key in (*COUNTER_KEYS, "num_clips_filtered"):
        out[key] = int(rows[key].sum()) if len(rows) else 0
    # Summed in chunk order so a re-run gives the same float.
    out["total_clip_duration"] = float(sum(rows["total_clip_duration"].tolist()))
    out["max_clip_duration"] = float(rows["max_clip_duration"].max()) if len(rows) else 0.0
    out["chunks_resumed"] = int((rows["status"] == "resumed").sum()) if len(rows) else 0
    for name in ("errors", "missing", *FILE_COUNTERS):
        out[name] = _sum_json(rows[name])
    return out


def video_entry(video: str, chunk_rows: pd.DataFrame, *, missing_chunks: list[int] | None = None,
                error: str | None = None) -> dict[str, Any]:
    """One video's entry of summary.json: its counters summed over its chunks."""
    entry: dict[str, Any] = {"video": video}
    if error is not None:
        entry.update(complete=False, error=error)
    else:
        entry.update(complete=not missing_chunks, missing_chunks=list(missing_chunks or []))
    return {**entry, **totals(chunk_rows)}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def run_summary(rows: pd.DataFrame, entries: list[dict[str, Any]], *, settings: dict[str, Any],
                reduction_counts: Mapping[str, Counter], started: float, finished: float) -> dict[str, Any]:
    """summary.json: run times, settings (no secrets), run totals and the video entries.

    ``reduction_counts`` ({files_written: ..., bytes_written: ..., files_skipped: ...}) are the
    files the reduction itself wrote (video JSONs), added to the partitions' counts."""
    run_totals = totals(rows)
    run_totals["videos"] = len(entries)
    run_totals["videos_complete"] = sum(e["complete"] for e in entries)
    run_totals["videos_failed"] = sum("error" in e for e in entries)
    for name in FILE_COUNTERS:
        merged = Counter(run_totals[name]) + Counter(reduction_counts.get(name, {}))
        run_totals[name] = dict(sorted(merged.items()))
    return {
        "started_at": _iso(started),
        "finished_at": _iso(finished),
        "elapsed_s": round(finished - started, 3),
        "settings": settings,
        "totals": run_totals,
        "videos": entries,
    }
