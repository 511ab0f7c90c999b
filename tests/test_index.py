"""The dataset index tables: buckets, merges, storage. Pure, no Dask, no files."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest
from clip_helpers import clip_records

from dask_clipwriter.documents import chunk_stats
from dask_clipwriter.index import (
    bucket_count,
    bucket_of,
    empty_chunks,
    in_bucket,
    marker_indices,
    merge_chunks,
    merge_videos,
    read_table,
    table_bytes,
)
from dask_clipwriter.records import VideoRecord, video_records_meta
from dask_clipwriter.stats_rows import rows_frame, stats_row

V = "/in/a.mp4"


def rows(*chunks, status="written", sizes=None, video=V):
    out = []
    for chunk in chunks:
        stats = chunk_stats(video, chunk, clip_records(video, chunk, 2), caption_models=(), enhanced_caption_models=())
        out.append(stats_row(stats, partition=0, status=status, errors=Counter(), missing=Counter(),
                             files_written=Counter(), bytes_written=Counter(), files_skipped=Counter(),
                             chunk_bytes=Counter(sizes or {}), started=1.0, finished=2.0))
    return rows_frame(out)


@pytest.mark.parametrize("video", ["/in/a.mp4", "s3://b/x/\u6771\u4eac.mp4", "/in/bad-\udc80.mp4"])
def test_buckets_are_stable_and_nest(video):
    assert bucket_of(video, 1) == 0
    for buckets in (2, 8, 64):
        b = bucket_of(video, buckets)
        assert 0 <= b < buckets and bucket_of(video, buckets // 2) == b % (buckets // 2)
    assert bucket_of(video, 1024) == bucket_of(video, 1024)  # no per-process hash seed


def test_bucket_count_grows_in_powers_of_two_and_never_shrinks():
    assert bucket_count(0, 0, 100) == 1
    assert bucket_count(100, 0, 100) == 1 and bucket_count(101, 0, 100) == 2
    assert bucket_count(1_000, 0, 100) == 16
    assert bucket_count(10, 16, 100) == 16 and bucket_count(5_000, 16, 100) == 64


def test_a_run_replaces_its_chunks_and_keeps_the_rest():
    first = merge_chunks(empty_chunks(), rows(0, 1, sizes={"clips": 100}))
    second = merge_chunks(first, rows(1, 2, sizes={"clips": 7}))
    assert second["clip_chunk_index"].tolist() == [0, 1, 2]
    assert second["bytes"].tolist() == ['{"clips": 100}', '{"clips": 7}', '{"clips": 7}']


def test_a_resumed_chunk_keeps_what_its_marker_does_not_hold():
    written = rows(0, sizes={"clips": 100})
    written["errors"], written["missing"] = '{"transcode": 2}', '{"clips_without_bytes": 1}'
    first = merge_chunks(empty_chunks(), written)
    again = merge_chunks(first, rows(0, 1, status="resumed"))
    assert again["bytes"].tolist() == ['{"clips": 100}', "{}"]
    assert again["errors"].tolist() == ['{"transcode": 2}', "{}"]
    assert again["missing"].tolist() == ['{"clips_without_bytes": 1}', "{}"]


def test_video_records_replace_earlier_ones():
    old = merge_videos(video_records_meta(), {V: VideoRecord(video=V, width=1), "/in/b.mp4": VideoRecord("/in/b.mp4")})
    new = merge_videos(old, {V: VideoRecord(video=V, width=2)})
    assert new["video"].tolist() == [V, "/in/b.mp4"] and new["width"].tolist()[0] == 2


def test_tables_round_trip_through_parquet():
    chunks = merge_chunks(empty_chunks(), rows(0, 1, sizes={"clips": 3}))
    back = read_table(table_bytes(chunks), empty_chunks())
    pd.testing.assert_frame_equal(back, chunks)
    videos = merge_videos(video_records_meta(), {V: VideoRecord(video=V, width=640, error=None, audio_codec="aac")})
    back = read_table(table_bytes(videos), video_records_meta())
    assert back.dtypes.to_dict() == video_records_meta().dtypes.to_dict()
    assert back.iloc[0]["audio_codec"] == "aac" and back.iloc[0]["width"] == 640


def test_in_bucket_splits_a_part_when_the_bucket_count_doubles():
    videos = [f"/in/{i}.mp4" for i in range(40)]
    table = pd.concat([rows(0, video=v) for v in videos], ignore_index=True)
    halves = [in_bucket(table, b, 2) for b in (0, 1)]
    assert sorted(pd.concat(halves)["video"]) == sorted(videos) and all(len(h) for h in halves)


def test_marker_indices_belong_to_one_video():
    prefix = "/out/processed_clip_chunks/cam/a.mp4_"
    names = ["a.mp4_0.json", "a.mp4_12.json", "a.mp4_x.mp4_3.json", "a.mp4_1.json.tmp", "ab.mp4_4.json"]
    assert marker_indices(names, prefix) == {0, 12}


def test_a_part_written_before_the_filter_reasons_reads_as_none(tmp_path):
    table = merge_chunks(empty_chunks(), rows(0, 1))
    older = table_bytes(table.drop(columns=["filtered"]))  # an index part of an earlier version
    back = read_table(older, empty_chunks())
    assert back["filtered"].tolist() == ["{}", "{}"]
    assert back.drop(columns=["filtered"]).equals(table.drop(columns=["filtered"]))


def test_a_resumed_chunk_keeps_its_filter_reasons():
    first = rows(0)
    first.loc[0, "filtered"] = '{"small_motion": 2}'
    merged = merge_chunks(merge_chunks(empty_chunks(), first), rows(0, status="resumed"))
    assert merged["filtered"].tolist() == ['{"small_motion": 2}']
