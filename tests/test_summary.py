"""summary.json from stats rows, and the cross-partition conflicts: pure, no Dask, no files."""

from __future__ import annotations

from collections import Counter

import pandas as pd
from clip_helpers import chunk_frame, clip_records

from dask_clipwriter.documents import chunk_stats
from dask_clipwriter.partitioning import conflicts, partition_keys
from dask_clipwriter.stats_rows import rows_frame, stats_row
from dask_clipwriter.summary import run_summary, totals, video_entry

V = "/in/a.mp4"


def row(chunk, n=2, *, video=V, status="written", written=None, errors=None, partition=0):
    stats = chunk_stats(video, chunk, clip_records(video, chunk, n), caption_models=("qwen",),
                        enhanced_caption_models=())
    return stats_row(stats, partition=partition, status=status, errors=Counter(errors or {}), missing=Counter(),
                     files_written=Counter(written or {}), bytes_written=Counter({k: 10 * v for k, v in (written or {}).items()}),
                     files_skipped=Counter(), started=100.0 + chunk, finished=101.0 + chunk)


def test_totals_add_counters_and_per_directory_counts():
    rows = rows_frame([row(0, 2, written={"clips": 2, "metas": 2}, errors={"transcode": 1}),
                       row(1, 3, written={"clips": 3}, errors={"transcode": 1, "motion_decode": 2}, status="resumed")])
    got = totals(rows)
    assert (got["chunks"], got["num_clips_passed"], got["chunks_resumed"]) == (2, 5, 1)
    assert got["files_written"] == {"clips": 5, "metas": 2} and got["bytes_written"] == {"clips": 50, "metas": 20}
    assert got["errors"] == {"motion_decode": 2, "transcode": 2}
    assert got["total_clip_duration"] == 50.0 and got["max_clip_duration"] == 10.0


def test_no_rows_total_zero():
    got = totals(rows_frame([]))
    assert got["chunks"] == got["num_clips_passed"] == 0 and got["max_clip_duration"] == 0.0
    assert got["files_written"] == {}


def test_video_entries_say_complete_missing_or_failed():
    rows = rows_frame([row(0)])
    assert video_entry(V, rows)["complete"] is True
    missing = video_entry(V, rows, missing_chunks=[1, 2])
    assert missing["complete"] is False and missing["missing_chunks"] == [1, 2]
    failed = video_entry("/in/bad.mp4", rows.iloc[:0], error="cannot open")
    assert failed["complete"] is False and failed["error"] == "cannot open" and failed["chunks"] == 0


def test_run_summary_counts_videos_and_adds_the_reductions_own_files():
    rows = rows_frame([row(0, written={"clips": 2})])
    entries = [video_entry(V, rows), video_entry("/in/bad.mp4", rows.iloc[:0], error="unreadable")]
    summary = run_summary(rows, entries, settings={"dry_run": False}, started=0.0, finished=1.5,
                          reduction_counts={"files_written": Counter({"processed_videos": 1}),
                                            "bytes_written": Counter({"processed_videos": 300})})
    assert (summary["started_at"], summary["finished_at"], summary["elapsed_s"]) == (
        "1970-01-01T00:00:00+00:00", "1970-01-01T00:00:01+00:00", 1.5)
    got = summary["totals"]
    assert (got["videos"], got["videos_complete"], got["videos_failed"]) == (2, 1, 1)
    assert got["files_written"] == {"clips": 2, "processed_videos": 1}
    assert got["bytes_written"] == {"clips": 20, "processed_videos": 300}
    assert summary["settings"] == {"dry_run": False} and summary["videos"] == entries


def test_partition_keys_are_one_row_per_chunk():
    frame = pd.concat([chunk_frame(V, 0, 2), chunk_frame(V, 1, 1)], ignore_index=True)
    keys = partition_keys(frame, 7)
    assert keys[["video", "clip_chunk_index", "partition"]].values.tolist() == [[V, 0, 7], [V, 1, 7]]
    assert keys["clip_uuids"][0].split("\n") == list(frame["span_uuid"][:2])


def test_conflicts_find_split_chunks_and_shared_uuids():
    a, b = chunk_frame(V, 0, 2), chunk_frame(V, 1, 1)
    assert conflicts(pd.concat([partition_keys(a, 0), partition_keys(b, 1)])) == []
    split = pd.concat([partition_keys(a[:1], 0), partition_keys(a[1:], 3)])
    [(message, chunks)] = conflicts(split)
    assert message.startswith(f"chunk 0 of video {V!r} is split across partitions [0, 3]") and chunks == {(V, 0)}
    shared = b.assign(span_uuid=a["span_uuid"][0])
    [(message, chunks)] = conflicts(pd.concat([partition_keys(a, 0), partition_keys(shared, 1)]))
    assert message == f"clip uuid {a['span_uuid'][0]} appears in chunk 0 of {V!r} and in chunk 1 of {V!r}"
    assert chunks == {(V, 0), (V, 1)}


def test_the_writers_stats_rows_are_read_by_the_same_check():
    # The reduction's last guard: rows of one chunk from two partitions.
    assert conflicts(rows_frame([row(0, partition=0), row(1, partition=1)])) == []
    [(message, _)] = conflicts(rows_frame([row(0, partition=0), row(0, partition=1)]))
    assert "split across partitions [0, 1]" in message
