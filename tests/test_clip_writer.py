"""ClipWriter end to end: the one write path, through Dask, onto a local disk.

What each file contains is tested where it is decided (test_documents, test_chunk_files,
test_summary); these tests check what only the whole path shows: which files land, re-runs,
the lazy form inside a user's graph, progress, logging.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging

import dask
import dask.dataframe as dd
import pandas as pd
from clip_helpers import chunk_frame, read_json, records_collection, tree

from dask_clipwriter import ClipWriter, WriterSettings, clip_records_from_map

V = "/in/cam/a.mp4"
VIDEO_RECORD = {"video": V, "height": 360, "width": 640, "framerate": 30.0, "num_frames": 900, "duration": 30.0,
                "video_codec": "h264", "pixel_format": "yuv420p", "audio_codec": None, "num_total_clips": 3,
                "num_clip_chunks": 1}


def test_signature_matches_writer_settings():
    params = inspect.signature(ClipWriter.__init__).parameters
    fields = {f.name: f for f in dataclasses.fields(WriterSettings)}
    assert [p for p in params if p != "self"] == list(fields)
    for name, field in fields.items():
        default = params[name].default
        expected = field.default if field.default is not dataclasses.MISSING else (
            field.default_factory() if field.default_factory is not dataclasses.MISSING else inspect.Parameter.empty)
        if default is None and expected in ((), {}):
            continue  # None is accepted for the empty model lists and storage options
        assert default == expected, name
    writer = ClipWriter("/out", "/in", max_workers=2, storage_options={"key": "k"})
    assert writer.settings.max_workers == 2 and writer.settings.storage_options == {"key": "k"}
    assert "'k'" not in repr(writer)


def test_every_file_lands_and_nothing_else(writer_factory):
    frame = chunk_frame(V, n=2)
    summary = writer_factory().write(records_collection(frame))
    files = tree(writer_factory.out)
    # 2 clips: mp4, meta, preview, pickle each; one Parquet, one chunk and one video JSON.
    assert len(files) == 11 and (writer_factory.out / "summary.json").exists()
    assert files[f"clips/{frame.span_uuid[0]}.mp4"] == frame.buffer[0]
    assert summary["run"]["files_written"] == {
        "ce1_embd": 2, "ce1_embd_parquet": 1, "clips": 2, "metas": 2, "previews": 2,
        "processed_clip_chunks": 1, "processed_videos": 1}


def test_dry_run_writes_only_video_chunk_and_summary(writer_factory):
    full = writer_factory(output_path=str(writer_factory.out / "full"))
    dry = writer_factory(output_path=str(writer_factory.out / "dry"), dry_run=True)
    full.write(records_collection(chunk_frame(V)))
    summary = dry.write(records_collection(chunk_frame(V)))
    files = tree(writer_factory.out / "dry")
    assert set(files) == {"processed_videos/cam/a.mp4.json", "processed_clip_chunks/cam/a.mp4_0.json"}
    assert files["processed_clip_chunks/cam/a.mp4_0.json"] == (
        writer_factory.out / "full/processed_clip_chunks/cam/a.mp4_0.json").read_bytes()
    assert summary["totals"]["num_clips_with_embeddings"] == 2 and "clips" not in summary["run"]["files_written"]


def test_video_records_and_a_video_without_clips(writer_factory):
    videos = pd.DataFrame([VIDEO_RECORD, {**VIDEO_RECORD, "video": "/in/empty.mp4", "num_total_clips": 0,
                                          "num_clip_chunks": 0, "audio_codec": "aac"}])
    summary = writer_factory().write(records_collection(chunk_frame(V, n=3)), videos)
    out = writer_factory.out
    assert read_json(out / "processed_videos/empty.mp4.json")["audio_format"] == "aac"
    assert read_json(out / "processed_clip_chunks/empty.mp4_0.json")["clips"] == []
    by_video = {v["video"]: v for v in summary["videos"]}
    assert by_video["/in/empty.mp4"]["complete"] is True
    assert by_video[V]["complete"] is True and by_video[V]["num_clips_passed"] == 3
    assert read_json(out / "metas/v0" / f"{chunk_frame(V).span_uuid[0]}.json")["width_source"] == 640


def test_only_video_records(writer_factory):
    summary = writer_factory().write(None, pd.DataFrame([{**VIDEO_RECORD, "num_total_clips": 0, "num_clip_chunks": 0}]))
    assert set(tree(writer_factory.out)) == {"processed_videos/cam/a.mp4.json", "processed_clip_chunks/cam/a.mp4_0.json"}
    assert summary["totals"]["videos"] == summary["totals"]["videos_complete"] == 1


def test_without_video_records_counts_come_from_clips(writer_factory):
    writer_factory().write(records_collection(chunk_frame(V, 0, 2), chunk_frame(V, 1, 3)))
    doc = read_json(writer_factory.out / "processed_videos/cam/a.mp4.json")
    assert (doc["num_total_clips"], doc["num_clip_chunks"], doc["width"]) == (5, 2, None)


def test_several_chunks_per_partition(writer_factory):
    one_partition = pd.concat([chunk_frame(V, 0), chunk_frame(V, 1), chunk_frame("/in/b.mp4", 0, 1)],
                              ignore_index=True)
    summary = writer_factory().write(records_collection(one_partition))
    for rel, n in (("cam/a.mp4_0", 2), ("cam/a.mp4_1", 2), ("b.mp4_0", 1)):
        assert read_json(writer_factory.out / f"processed_clip_chunks/{rel}.json")["num_clips_passed"] == n
    assert summary["totals"]["chunks"] == 3 and summary["totals"]["videos"] == 2


def test_rerun_skips_existing_files_by_default_and_overwrite_replaces_them(writer_factory):
    first = writer_factory().write(records_collection(chunk_frame(V)))
    before = tree(writer_factory.out)
    second = writer_factory().write(records_collection(chunk_frame(V, buffer=b"new bytes")))
    assert tree(writer_factory.out) == before
    assert second["run"]["files_skipped"] == first["run"]["files_written"]
    assert second["run"]["files_written"] == {}
    third = writer_factory(existing="overwrite").write(records_collection(chunk_frame(V, buffer=b"new bytes")))
    assert (writer_factory.out / "clips" / f"{chunk_frame(V).span_uuid[0]}.mp4").read_bytes() == b"new bytes"
    assert third["run"]["files_skipped"] == {}


def test_resume_skips_completed_chunks(writer_factory):
    writer_factory().write(records_collection(chunk_frame(V, chunk=0)))
    (writer_factory.out / "clips").rename(writer_factory.out / "clips-moved")
    summary = writer_factory(resume=True).write(records_collection(chunk_frame(V, 0), chunk_frame(V, 1)))
    assert not (writer_factory.out / "clips" / f"{chunk_frame(V, 0).span_uuid[0]}.mp4").exists()
    assert (writer_factory.out / "clips" / f"{chunk_frame(V, 1).span_uuid[0]}.mp4").exists()
    assert summary["run"]["chunks_resumed"] == 1
    assert summary["totals"]["num_clips_passed"] == 4  # the resumed chunk's counts read from its marker


def counted_records(calls, n_chunks=3):
    """Records whose partitions append their number to ``calls`` each time they are built."""
    def build(part):
        with calls.open("a") as fh:
            fh.write(f"{part}\n")
        return chunk_frame(V, chunk=part)

    return clip_records_from_map(build, range(n_chunks))


def test_compute_false_joins_a_users_graph_sharing_the_partitions(writer_factory, tmp_path):
    calls = tmp_path / "calls.log"
    clips = counted_records(calls)
    # check_partitioning off: it would build each from_map partition once more, by design.
    lazy = writer_factory().write(clips, pd.DataFrame([{"video": V, "width": 640}]), compute=False,
                                  check_records=False)
    assert not writer_factory.out.exists()
    per_video = clips.groupby("video")["span_end"].max()
    other = dd.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), npartitions=2)["x"].sum()
    result, maxima, total = dask.compute(lazy, per_video, other)
    assert sorted(calls.read_text().split()) == ["0", "1", "2"]  # each partition built once
    assert maxima[V] == 220.0 and total == 6 and result.iloc[0]["totals"]["chunks"] == 3
    assert (writer_factory.out / "summary.json").exists()


class RecordingHook:
    def __init__(self):
        self.rows, self.closed = [], False

    def update(self, rows, partitions=1):
        assert partitions == 1  # without a client, each partition is told on its own
        self.rows.append(rows)

    def close(self):
        self.closed = True


def test_a_progress_hook_hears_each_partition_once_without_a_client(writer_factory, tmp_path):
    calls, hook = tmp_path / "calls.log", RecordingHook()
    summary = writer_factory().write(counted_records(calls), progress=hook, check_records=False)
    assert sorted(calls.read_text().split()) == ["0", "1", "2"]
    assert sorted(int(r["clip_chunk_index"].iloc[0]) for r in hook.rows) == [0, 1, 2] and hook.closed
    assert summary["totals"]["chunks"] == 3


def test_verbose_logs_per_file_and_per_chunk_quiet_by_default(writer_factory, caplog):
    with caplog.at_level(logging.INFO, logger="dask_clipwriter"):
        writer_factory().write(records_collection(chunk_frame(V, n=1)))
    assert not [r for r in caplog.records if r.getMessage().startswith(("wrote ", "chunk "))]
    with caplog.at_level(logging.INFO, logger="dask_clipwriter"):
        writer_factory(verbose=True, existing="overwrite").write(records_collection(chunk_frame(V, n=1)))
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("wrote ") and "/clips/" in m for m in messages)
    assert any(m.startswith("chunk 0 of /in/cam/a.mp4 written") for m in messages)


def test_unreadable_video_gets_an_error_entry(writer_factory):
    videos = pd.DataFrame([{"video": "/in/broken.mp4", "error": "cannot open as video: Invalid data"}])
    summary = writer_factory().write(records_collection(chunk_frame(V)), videos)
    entry = {v["video"]: v for v in summary["videos"]}["/in/broken.mp4"]
    assert entry["error"] == "cannot open as video: Invalid data" and entry["complete"] is False
    assert summary["totals"]["videos_failed"] == 1 and summary["totals"]["videos_complete"] == 1
    assert not (writer_factory.out / "processed_videos/broken.mp4.json").exists()


def test_unprobeable_bytes_are_counted_in_the_summary(writer_factory):
    frame = chunk_frame(V, width=None, height=None, framerate=None, num_frames=None, video_codec=None,
                        errors={"upstream": "warned"})
    summary = writer_factory().write(records_collection(frame))
    assert summary["totals"]["errors"] == {"extract_metadata": 2, "upstream": 2}
    assert read_json(writer_factory.out / "metas/v0" / f"{frame.span_uuid[0]}.json")["errors"] == [
        "upstream", "extract_metadata"]
