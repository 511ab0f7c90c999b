"""The small per-chunk statistics rows that partitions return, and the run summary built from them.

A partition returns one row per chunk (never clip bytes). Per-directory counters and error
counts travel as JSON text, so the row's dtypes are plain (str, int, float) and survive
Dask's string conversion unchanged. :func:`video_entry` and :func:`run_summary` turn the
rows into ``summary.json`` (output-format.md §5). Pure: no I/O.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pandas as pd

from .documents import COUNTER_KEYS, ChunkStats

#: Row columns and dtypes; the writer's ``map_partitions`` meta is built from this.
STATS_COLUMNS: dict[str, str] = {
    "video": "str",
    "clip_chunk_index": "int64",
    "partition": "int64",
    "status": "str",  # "written" or "resumed"; "video" for a carried video record
    **{key: "int64" for key in COUNTER_KEYS},
    "num_clips_filtered": "int64",
    "total_clip_duration": "float64",
    "max_clip_duration": "float64",
    "clip_uuids": "str",  # newline-separated, for the cross-partition duplicate check
    "errors": "str",  # JSON {error key: clip count}
    "missing": "str",  # JSON {what: count}
    "files_written": "str",  # JSON {directory: files}
    "bytes_written": "str",  # JSON {directory: bytes}
    "files_skipped": "str",  # JSON {directory: files}
    "started": "float64",
    "finished": "float64",
    "video_record": "str",  # JSON of a video record (status "video" rows only)
}


def stats_meta() -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series([], dtype=dt) for name, dt in STATS_COLUMNS.items()})


def stats_row(
    stats: ChunkStats,
    *,
    partition: int,
    status: str,
    errors: Counter,
    missing: Counter,
    files_written: Counter,
    bytes_written: Counter,
    files_skipped: Counter,
    started: float,
    finished: float,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "video": stats.video,
        "clip_chunk_index": stats.clip_chunk_index,
        "partition": partition,
        "status": status,
    }
    row.update({key: getattr(stats, key) for key in COUNTER_KEYS})
    row.update(
        num_clips_filtered=len(stats.filtered_clips),
        total_clip_duration=stats.total_clip_duration,
        max_clip_duration=stats.max_clip_duration,
        clip_uuids="\n".join(stats.clips + stats.filtered_clips),
        errors=json.dumps(dict(errors)),
        missing=json.dumps(dict(missing)),
        files_written=json.dumps(dict(files_written)),
        bytes_written=json.dumps(dict(bytes_written)),
        files_skipped=json.dumps(dict(files_skipped)),
        started=started,
        finished=finished,
        video_record="",
    )
    return row


def video_record_rows(videos: pd.DataFrame) -> pd.DataFrame:
    """Video records as rows of the stats frame, so the one reduction over the stats rows
    also sees them (status "video", the record as JSON; counters zero)."""
    # to_dict, not to_json: pandas' JSON writer rounds floats to 10 digits.
    records = videos.to_dict(orient="records")
    rows = []
    for record in records:
        row = stats_row(ChunkStats(video=str(record.get("video")), clip_chunk_index=-1), partition=-1,
                        status="video", errors=Counter(), missing=Counter(), files_written=Counter(),
                        bytes_written=Counter(), files_skipped=Counter(), started=float("nan"),
                        finished=float("nan"))
        row["video_record"] = json.dumps(record, default=_plain)
        rows.append(row)
    return rows_frame(rows)


def _plain(value: Any) -> Any:
    """numpy scalars and pandas' missing values as JSON-able Python values."""
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def split_video_rows(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(chunk rows, video records or None) from the reduction's input."""
    is_video = rows["status"] == "video"
    records = [json.loads(text) for text in rows.loc[is_video, "video_record"]]
    return rows[~is_video], (pd.DataFrame(records) if records else None)


def rows_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    # Column by column: a whole-frame astype costs ~15 ms per partition under pandas 3.
    return pd.DataFrame({name: pd.Series([row[name] for row in rows], dtype=dtype)
                         for name, dtype in STATS_COLUMNS.items()})


def _sum_json(column) -> dict[str, int]:
    total: Counter = Counter()
    for text in column:
        total.update(json.loads(text))
    return dict(sorted(total.items()))


def totals(rows: pd.DataFrame) -> dict[str, Any]:
    """Counters summed over the given rows (a video's chunks, or the whole run)."""
    out: dict[str, Any] = {"chunks": len(rows)}
    for key in COUNTER_KEYS:
        out[key] = int(rows[key].sum()) if len(rows) else 0
    out["num_clips_filtered"] = int(rows["num_clips_filtered"].sum()) if len(rows) else 0
    # Summed in chunk order so a re-run gives the same float.
    out["total_clip_duration"] = float(sum(rows["total_clip_duration"].tolist()))
    out["max_clip_duration"] = float(rows["max_clip_duration"].max()) if len(rows) else 0.0
    out["chunks_resumed"] = int((rows["status"] == "resumed").sum()) if len(rows) else 0
    out["errors"] = _sum_json(rows["errors"])
    out["missing"] = _sum_json(rows["missing"])
    out["files_written"] = _sum_json(rows["files_written"])
    out["bytes_written"] = _sum_json(rows["bytes_written"])
    out["files_skipped"] = _sum_json(rows["files_skipped"])
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


def run_summary(rows: pd.DataFrame, entries: list[dict[str, Any]], *, settings: dict[str, Any],
                reduction_counts, started: float, finished: float) -> dict[str, Any]:
    """summary.json: run times, settings (no secrets), run totals and the video entries.

    ``reduction_counts`` are the files the reduction itself wrote (video JSONs), added to
    the partitions' counts."""
    from datetime import UTC, datetime

    run_totals = totals(rows)
    run_totals["videos"] = len(entries)
    run_totals["videos_complete"] = sum(e["complete"] for e in entries)
    run_totals["videos_failed"] = sum("error" in e for e in entries)
    for name in ("files_written", "bytes_written", "files_skipped"):
        merged = Counter(run_totals[name]) + getattr(reduction_counts, name)
        run_totals[name] = dict(sorted(merged.items()))

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")

    return {
        "started_at": iso(started),
        "finished_at": iso(finished),
        "elapsed_s": round(finished - started, 3),
        "settings": settings,
        "totals": run_totals,
        "videos": entries,
    }


def conflicts(rows: pd.DataFrame) -> list[tuple[str, set[tuple[str, int]]]]:
    """Problems only visible across partitions: a chunk split over partitions, a clip uuid in
    two chunks. Each comes as (message naming chunks and partitions, the chunks involved)."""
    problems = []
    for (video, index), group in rows.groupby(["video", "clip_chunk_index"], sort=True):
        if len(group) > 1:
            parts = sorted(int(p) for p in group["partition"])
            problems.append((
                f"chunk {index} of video {video!r} is split across partitions {parts}; "
                "every clip of a (video, clip_chunk_index) must be in one partition",
                {(video, int(index))},
            ))
    owner: dict[str, tuple[str, int]] = {}
    for video, index, uuids in zip(rows["video"], rows["clip_chunk_index"], rows["clip_uuids"], strict=True):
        chunk = (video, int(index))
        for clip in filter(None, uuids.split("\n")):
            first = owner.setdefault(clip, chunk)
            if first != chunk:
                problems.append((
                    f"clip uuid {clip} appears in chunk {first[1]} of {first[0]!r} and in chunk {index} of {video!r}",
                    {first, chunk},
                ))
    return problems
