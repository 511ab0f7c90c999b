"""The reduction: video JSONs, the dataset index and summary.json, over several runs.

The bucket count is made small here (ROWS_PER_BUCKET patched; these tests use Dask's local
scheduler, in this process) so that small runs already spread over several buckets.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from clip_helpers import chunk_frame, read_json, records_collection

from dask_clipwriter import index, reduction

A, B = "/in/a.mp4", "/in/b.mp4"


def record(video, chunks):
    return {"video": video, "height": 360, "width": 640, "framerate": 30.0, "num_frames": 900, "duration": 30.0,
            "video_codec": "h264", "pixel_format": "yuv420p", "audio_codec": None,
            "num_total_clips": 2 * chunks, "num_clip_chunks": chunks}


def frames(video, *chunks):
    return [chunk_frame(video, chunk) for chunk in chunks]


def without_times(summary):
    return {k: v for k, v in summary.items() if k not in ("started_at", "finished_at", "elapsed_s")}


def test_later_runs_complete_a_video_and_the_summary_covers_the_dataset(writer_factory):
    first = writer_factory().write(records_collection(*frames(A, 0), *frames(B, 0)))
    assert first["totals"]["videos"] == 2 and first["totals"]["chunks"] == 2
    doc = read_json(writer_factory.out / "processed_videos/a.mp4.json")
    assert (doc["num_clip_chunks"], doc["num_total_clips"]) == (1, 2)

    second = writer_factory().write(records_collection(*frames(A, 1, 2)))
    # processed_videos/a.mp4.json follows the dataset: 3 chunks now, not the first run's 1.
    doc = read_json(writer_factory.out / "processed_videos/a.mp4.json")
    assert (doc["num_clip_chunks"], doc["num_total_clips"]) == (3, 6)
    assert second["run"]["files_written"]["processed_videos"] == 1  # replaced, not skipped
    totals, run = second["totals"], second["run"]
    assert (totals["videos"], totals["chunks"], totals["num_clips_passed"]) == (2, 4, 8)  # B is still counted
    assert (run["videos"], run["chunks"], run["num_clips_passed"]) == (1, 2, 4)
    entries = {e["video"]: e for e in second["videos"]}
    assert entries[A]["chunks"] == 3 and entries[B]["chunks"] == 1 and all(e["complete"] for e in entries.values())


def test_a_video_is_complete_once_all_its_chunks_are_in_the_dataset(writer_factory):
    videos = pd.DataFrame([record(A, 2)])
    first = writer_factory().write(records_collection(*frames(A, 0)), videos)
    assert first["videos"][0]["missing_chunks"] == [1] and first["totals"]["videos_complete"] == 0
    second = writer_factory().write(records_collection(*frames(A, 1)))
    assert second["videos"][0]["complete"] is True and second["totals"]["videos_complete"] == 1
    # The video record given in the first run still decides the video's document.
    assert read_json(writer_factory.out / "processed_videos/a.mp4.json")["num_total_clips"] == 4


def test_the_summary_does_not_depend_on_the_bucket_count(writer_factory, monkeypatch):
    clips = [*frames(A, 0, 1, 2), *frames(B, 0), *[chunk_frame(f"/in/v{i}.mp4", 0, 1) for i in range(8)]]
    # Output paths of the same length: the metas' bytes (clip_location) are counted.
    one = writer_factory(output_path=str(writer_factory.out / "one")).write(records_collection(*clips))
    monkeypatch.setattr(index, "ROWS_PER_BUCKET", 2)
    many = writer_factory(output_path=str(writer_factory.out / "six")).write(records_collection(*clips))
    manifest = read_json(writer_factory.out / "six/.clipwriter/manifest.json")
    assert manifest["index_buckets"] == 8 and len(list((writer_factory.out / "six/.clipwriter/index/b8").iterdir())) == 16
    assert json.dumps(without_times(many)).replace("/six", "/one") == json.dumps(without_times(one))


def test_the_bucket_count_grows_with_the_dataset_without_losing_it(writer_factory, monkeypatch):
    monkeypatch.setattr(index, "ROWS_PER_BUCKET", 2)

    def buckets():
        return read_json(writer_factory.out / ".clipwriter/manifest.json")["index_buckets"]

    writer_factory().write(records_collection(*frames(A, 0, 1)))  # 2 chunks: 1 bucket
    assert buckets() == 1
    second = writer_factory().write(records_collection(*[chunk_frame(f"/in/v{i}.mp4", 0, 1) for i in range(7)]))
    assert buckets() == 8  # 9 chunks in the dataset, about 2 a bucket
    assert second["totals"]["videos"] == 8 and second["totals"]["chunks"] == 9
    third = writer_factory().write(None, pd.DataFrame([record(B, 0)]))  # no chunks added: 8 buckets still
    assert third["totals"]["videos"] == 9 and third["totals"]["chunks"] == 9 and buckets() == 8
    # Small runs add up: the dataset's size, not the run's, sets the count.
    for i in range(4):
        last = writer_factory().write(records_collection(*frames(f"/in/w{i}.mp4", 0, 1)))
    assert buckets() == 16 and last["totals"]["chunks"] == 17 and last["totals"]["videos"] == 13


def test_chunks_of_a_run_that_never_reached_the_reduction_are_found_by_their_markers(writer_factory):
    writer_factory().write(records_collection(*frames(A, 0, 1)), pd.DataFrame([record(A, 3)]))
    shutil.rmtree(writer_factory.out / ".clipwriter")  # as if that run had died before its reduction
    (writer_factory.out / "summary.json").unlink()
    summary = writer_factory().write(records_collection(*frames(A, 2)), pd.DataFrame([record(A, 3)]))
    [entry] = summary["videos"]
    assert entry["complete"] is True and entry["chunks"] == 3 and entry["num_clips_passed"] == 6
    assert summary["run"]["chunks"] == 1


@pytest.mark.parametrize("damage", ["garbage", "missing"])
def test_a_damaged_or_missing_index_part_is_named_with_the_way_out(writer_factory, damage):
    writer_factory().write(records_collection(*frames(A, 0)))
    part = writer_factory.out / ".clipwriter/index/b1/chunks-00000.parquet"
    part.write_bytes(b"not parquet") if damage == "garbage" else part.unlink()
    with pytest.raises(reduction.IndexPartError, match=f"cannot read the dataset index part {part}: .*remove "
                                                       f"{writer_factory.out}/.clipwriter and run again with resume"):
        writer_factory().write(records_collection(*frames(A, 1)))
    # The way out works: the index is rebuilt, from the markers for what the run does not bring.
    shutil.rmtree(writer_factory.out / ".clipwriter")
    summary = writer_factory(resume=True).write(records_collection(*frames(A, 0, 1)))
    # Both chunks were complete (the failed run's writers had finished chunk 1).
    assert summary["totals"]["chunks"] == 2 and summary["run"]["chunks_resumed"] == 2


def test_buckets_follow_the_chunks_the_check_counted_not_the_partitions(writer_factory, monkeypatch):
    monkeypatch.setattr(index, "ROWS_PER_BUCKET", 2)
    one_partition = pd.concat([chunk_frame(f"/in/v{i}.mp4", 0, 1) for i in range(8)], ignore_index=True)
    writer_factory().write(records_collection(one_partition))
    assert read_json(writer_factory.out / ".clipwriter/manifest.json")["index_buckets"] == 4


def test_a_video_record_given_before_its_clips_does_not_hide_them(writer_factory):
    bare = {"video": A, "width": 640}  # no chunk count: nothing says the video has no clips
    writer_factory().write(None, pd.DataFrame([bare]))
    assert not (writer_factory.out / "processed_clip_chunks/a.mp4_0.json").exists()
    summary = writer_factory(resume=True).write(records_collection(*frames(A, 0)))
    assert summary["run"]["chunks_resumed"] == 0 and summary["totals"]["num_clips_passed"] == 2
    assert read_json(writer_factory.out / "processed_clip_chunks/a.mp4_0.json")["num_clips_passed"] == 2
