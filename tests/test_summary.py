"""summary.json from stats rows, and the cross-partition conflicts: pure, no Dask, no files."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pandas as pd
from clip_helpers import chunk_frame, clip_records

from dask_clipwriter.documents import chunk_stats
from dask_clipwriter.partitioning import check_problems, check_rows, conflicts, partition_keys
from dask_clipwriter.records import normalise_clip_partition
from dask_clipwriter.stats_rows import rows_frame, stats_row
from dask_clipwriter.summary import (
    DATASET_COUNTERS,
    RUN_COUNTERS,
    SummaryPart,
    Totals,
    summary_document,
    video_entry,
)

V = "/in/a.mp4"


def row(chunk, n=2, *, video=V, status="written", written=None, errors=None, partition=0, filtered=None):
    stats = chunk_stats(video, chunk, clip_records(video, chunk, n), caption_models=("qwen",),
                        enhanced_caption_models=())
    return stats_row(stats, partition=partition, status=status, errors=Counter(errors or {}), missing=Counter(),
                     files_written=Counter(written or {}), bytes_written=Counter({k: 10 * v for k, v in (written or {}).items()}),
                     files_skipped=Counter(), chunk_bytes=Counter(written or {}), started=100.0 + chunk,
                     finished=101.0 + chunk, filtered=Counter(filtered or {}))


def test_totals_add_counters_and_per_directory_counts():
    rows = rows_frame([row(0, 2, written={"clips": 2, "metas": 2}, errors={"transcode": 1}),
                       row(1, 3, written={"clips": 3}, errors={"transcode": 1, "motion_decode": 2}, status="resumed")])
    got = Totals.of_rows(rows, RUN_COUNTERS).as_dict(RUN_COUNTERS, resumed=True)
    assert (got["chunks"], got["num_clips_passed"], got["chunks_resumed"]) == (2, 5, 1)
    assert got["files_written"] == {"clips": 5, "metas": 2} and got["bytes_written"] == {"clips": 50, "metas": 20}
    assert got["errors"] == {"motion_decode": 2, "transcode": 2} and got["files_skipped"] == {}
    assert got["total_clip_duration"] == 50.0 and got["max_clip_duration"] == 10.0


def test_filter_reasons_add_up_for_the_dataset_the_run_and_each_video():
    rows = rows_frame([row(0, filtered={"small_motion": 2}), row(1, filtered={"small_motion": 1, "too_small_to_score": 3}),
                       row(0, video="/in/b.mp4")])
    assert Totals.of_rows(rows, RUN_COUNTERS).as_dict(RUN_COUNTERS)["filtered"] == {
        "small_motion": 3, "too_small_to_score": 3}
    per_video = Totals.per_video(rows, DATASET_COUNTERS)
    assert video_entry(V, per_video[V])["filtered"] == {"small_motion": 3, "too_small_to_score": 3}
    assert video_entry("/in/b.mp4", per_video["/in/b.mp4"])["filtered"] == {}


def test_no_rows_total_zero():
    got = Totals.of_rows(rows_frame([]), DATASET_COUNTERS).as_dict(DATASET_COUNTERS)
    assert got["chunks"] == got["num_clips_passed"] == 0 and got["max_clip_duration"] == 0.0
    assert got["bytes"] == {} and "chunks_resumed" not in got


def test_totals_add_up_to_the_same_whatever_the_grouping():
    # Durations whose float sum depends on the order: the totals are exact, then rounded once.
    rows = rows_frame([row(i, 1) for i in range(6)])
    rows["total_clip_duration"] = [0.1, 0.2, 0.6, 1e16, 1.0, -1e16]
    one = Totals.of_rows(rows, DATASET_COUNTERS)
    halves = Totals.of_rows(rows[:3], DATASET_COUNTERS).add(Totals.of_rows(rows[3:], DATASET_COUNTERS))
    reversed_pairs = Totals()
    for i in (4, 2, 0):
        reversed_pairs.add(Totals.of_rows(rows[i:i + 2], DATASET_COUNTERS))
    expected = float(sum(Fraction(d) for d in rows["total_clip_duration"]))
    for totals in (one, halves, reversed_pairs):
        assert totals.as_dict(DATASET_COUNTERS)["total_clip_duration"] == expected == 1.9
    assert sum(rows["total_clip_duration"]) != 1.9  # what adding the floats in order gives


def test_totals_per_video_equal_totals_of_each_videos_rows():
    rows = rows_frame([row(0, 2), row(0, 3, video="/in/b.mp4"), row(1, 1, errors={"x": 1})])
    per_video = Totals.per_video(rows, DATASET_COUNTERS)
    for video, totals in per_video.items():
        alone = Totals.of_rows(rows[rows["video"] == video], DATASET_COUNTERS)
        assert totals.as_dict(DATASET_COUNTERS) == alone.as_dict(DATASET_COUNTERS)
    assert per_video[V].chunks == 2 and per_video[V].counters["errors"] == {"x": 1}


def test_video_entries_say_complete_missing_or_failed():
    totals = Totals.of_rows(rows_frame([row(0)]), DATASET_COUNTERS)
    assert video_entry(V, totals)["complete"] is True
    missing = video_entry(V, totals, missing_chunks=[1, 2])
    assert missing["complete"] is False and missing["missing_chunks"] == [1, 2]
    failed = video_entry("/in/bad.mp4", Totals(), error="cannot open")
    assert failed["complete"] is False and failed["error"] == "cannot open" and failed["chunks"] == 0


def part_of(videos, *, in_run=True, failed=()):
    part = SummaryPart()
    for video in videos:
        rows = rows_frame([row(0, video=video)])
        entry = video_entry(video, Totals.of_rows(rows, DATASET_COUNTERS), error="bad" if video in failed else None)
        part.add_entry(entry, in_run=in_run)
        part.dataset.add(Totals.of_rows(rows, DATASET_COUNTERS))
        if in_run:
            part.run.add(Totals.of_rows(rows, RUN_COUNTERS))
    return part


def test_summary_document_keeps_the_dataset_and_the_run_apart():
    part = part_of(["/in/b.mp4", "/in/c.mp4"], failed={"/in/c.mp4"}).add(part_of(["/in/a.mp4"], in_run=False))
    part.started = 0.0
    summary = summary_document(part, settings={"dry_run": False}, started=0.0, finished=1.5)
    assert (summary["started_at"], summary["finished_at"], summary["elapsed_s"]) == (
        "1970-01-01T00:00:00+00:00", "1970-01-01T00:00:01+00:00", 1.5)
    totals, run = summary["totals"], summary["run"]
    assert (totals["videos"], totals["videos_complete"], totals["videos_failed"], totals["chunks"]) == (3, 2, 1, 3)
    assert (run["videos"], run["videos_failed"], run["chunks"]) == (2, 1, 2)
    assert [e["video"] for e in summary["videos"]] == ["/in/a.mp4", "/in/b.mp4", "/in/c.mp4"]
    assert summary["settings"] == {"dry_run": False} and summary["videos_listed"] == 3


def test_the_listed_videos_are_bounded(monkeypatch):
    import dask_clipwriter.summary as summary_module

    monkeypatch.setattr(summary_module, "MAX_LISTED_VIDEOS", 2)
    part = part_of(["/in/d.mp4", "/in/b.mp4"]).add(part_of(["/in/c.mp4", "/in/a.mp4"]))
    assert [e["video"] for e in part.entries] == ["/in/a.mp4", "/in/b.mp4"] and part.videos == 4


def keys(frame, partition):
    return partition_keys(normalise_clip_partition(frame.reset_index(drop=True)), partition)


def test_partition_keys_are_one_row_per_chunk():
    frame = pd.concat([chunk_frame(V, 0, 2), chunk_frame(V, 1, 1)], ignore_index=True)
    keys = partition_keys(normalise_clip_partition(frame), 7)
    assert keys[["video", "clip_chunk_index", "partition"]].values.tolist() == [[V, 0, 7], [V, 1, 7]]
    assert keys["clip_uuids"][0].split("\n") == list(frame["span_uuid"][:2])


def test_conflicts_find_split_chunks_and_shared_uuids():
    a, b = chunk_frame(V, 0, 2), chunk_frame(V, 1, 1)
    assert conflicts(pd.concat([keys(a, 0), keys(b, 1)])) == []
    split = pd.concat([keys(a[:1], 0), keys(a[1:], 3)])
    [(message, chunks)] = conflicts(split)
    assert message.startswith(f"chunk 0 of video {V!r} is split across partitions [0, 3]") and chunks == {(V, 0)}
    shared = b.assign(span_uuid=a["span_uuid"][0])
    [(message, chunks)] = conflicts(pd.concat([keys(a, 0), keys(shared, 1)]))
    assert message == f"clip uuid {a['span_uuid'][0]} appears in chunk 0 of {V!r} and in chunk 1 of {V!r}"
    assert chunks == {(V, 0), (V, 1)}


def test_check_rows_group_chunks_by_video_and_uuids_by_uuid():
    other = "/in/other.mp4"
    a, b = chunk_frame(V, 0, 2), chunk_frame(other, 0, 1).assign(span_uuid=chunk_frame(V, 0, 2)["span_uuid"][1])
    rows = pd.concat([check_rows(normalise_clip_partition(a), 0), check_rows(normalise_clip_partition(b), 1)])
    assert rows[~rows["uuid_row"]]["group"].tolist() == [V, other]
    assert sorted(rows[rows["uuid_row"]]["group"]) == sorted([*a["span_uuid"], a["span_uuid"][1]])
    # The shared uuid's two rows fall in one group (whatever the bucket of either video).
    shared = rows[rows["group"] == a["span_uuid"][1]]
    assert check_problems(shared) == [
        f"clip uuid {a['span_uuid'][1]} appears in chunk 0 of {V!r} and in chunk 0 of {other!r}"]
    assert check_problems(rows[rows["group"] == V]) == []
    # One group holding both kinds of rows (as with one bucket): a uuid twice in one video's
    # chunks is said once, not by the chunk rows and the uuid rows each.
    twice = chunk_frame(V, 1, 1).assign(span_uuid=a["span_uuid"][0])
    both = pd.concat([check_rows(normalise_clip_partition(a), 0), check_rows(normalise_clip_partition(twice), 1)])
    assert check_problems(both) == [f"clip uuid {a['span_uuid'][0]} appears in chunk 0 of {V!r} and in chunk 1 of {V!r}"]
    split = pd.concat([check_rows(normalise_clip_partition(a[:1]), 0), check_rows(normalise_clip_partition(a[1:]), 2)])
    [message] = check_problems(split[split["group"] == V])
    assert "split across partitions [0, 2]" in message


def test_the_writers_stats_rows_are_read_by_the_same_check():
    # The reduction's last guard: rows of one chunk from two partitions.
    assert conflicts(rows_frame([row(0, partition=0), row(1, partition=1)])) == []
    [(message, _)] = conflicts(rows_frame([row(0, partition=0), row(0, partition=1)]))
    assert "split across partitions [0, 1]" in message
