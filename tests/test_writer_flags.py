"""Every flag and input shape that changes what is written."""

from __future__ import annotations

import json
import logging

import dask
import numpy as np
import pandas as pd
from clip_helpers import encode_h264, make_clip, records_collection, tree

from dask_clipwriter.layout import chunk_uuid

V = "/in/cam/a.mp4"


def chunk_frame(video=V, chunk=0, n=3, **overrides):
    return pd.DataFrame([make_clip(video, chunk, chunk * 10 + i, **overrides) for i in range(n)])


def read_json(path):
    return json.loads(path.read_bytes())


def test_dry_run_writes_only_video_chunk_and_summary(writer_factory):
    full = writer_factory(output_path=str(writer_factory.out / "full"))
    dry = writer_factory(output_path=str(writer_factory.out / "dry"), dry_run=True)
    full.write(records_collection(chunk_frame()))
    summary = dry.write(records_collection(chunk_frame()))
    files = tree(writer_factory.out / "dry")
    assert set(files) == {"processed_videos/cam/a.mp4.json", "processed_clip_chunks/cam/a.mp4_0.json"}
    assert (writer_factory.out / "dry" / "summary.json").exists()
    # Counts are computed (and probed) the same way in a dry run.
    assert files["processed_clip_chunks/cam/a.mp4_0.json"] == (
        writer_factory.out / "full/processed_clip_chunks/cam/a.mp4_0.json").read_bytes()
    assert summary["totals"]["num_clips_with_embeddings"] == 3
    assert "clips" not in summary["totals"]["files_written"]


def test_upload_clips_false_keeps_locations_and_counts(writer_factory):
    writer = writer_factory(upload_clips=False)
    writer.write(records_collection(chunk_frame(n=2)))
    out = writer_factory.out
    assert not (out / "clips").exists()
    frame = chunk_frame(n=2)
    meta = read_json(out / "metas/v0" / f"{frame.span_uuid[0]}.json")
    assert meta["clip_location"] == f"{out}/clips/{frame.span_uuid[0]}.mp4"
    assert meta["num_bytes"] == len(frame.buffer[0])
    assert read_json(out / "processed_clip_chunks/cam/a.mp4_0.json")["num_clips_transcoded"] == 2


def test_no_embeddings(writer_factory, caplog):
    writer = writer_factory(generate_embeddings=True)
    with caplog.at_level(logging.ERROR, logger="dask_clipwriter"):
        summary = writer.write(records_collection(chunk_frame(n=2, embedding=None)))
    out = writer_factory.out
    assert not (out / "ce1_embd").exists() and not (out / "ce1_embd_parquet").exists()
    assert read_json(out / "processed_clip_chunks/cam/a.mp4_0.json")["num_clips_with_embeddings"] == 0
    assert summary["totals"]["missing"] == {"clips_without_embedding": 2}
    assert sum("has no cosmos-embed1-224p embedding" in r.getMessage() for r in caplog.records) == 2


def test_embeddings_written_even_when_not_generating(writer_factory):
    writer_factory(generate_embeddings=False).write(records_collection(chunk_frame(n=2)))
    parquet = writer_factory.out / "ce1_embd_parquet" / f"{chunk_uuid(V, 0)}.parquet"
    assert parquet.exists()
    assert len(list((writer_factory.out / "ce1_embd").iterdir())) == 2


def test_no_captions_when_models_are_none(writer_factory):
    writer = writer_factory(caption_models=None, enhanced_caption_models=None)
    frame = chunk_frame(n=2)
    writer.write(records_collection(frame))
    out = writer_factory.out
    meta = read_json(out / "metas/v0" / f"{frame.span_uuid[0]}.json")
    assert meta["windows"] == [{"start_frame": 0, "end_frame": 255}]
    chunk = read_json(out / "processed_clip_chunks/cam/a.mp4_0.json")
    assert chunk["num_clips_with_caption"] == 0
    assert chunk["all_windows"] == {u: {} for u in frame.span_uuid}
    assert chunk["all_windows_enhanced_caption"] == {u: {} for u in frame.span_uuid}


def test_caption_model_priority_and_enhanced(writer_factory):
    windows = [
        {"start_frame": 0, "end_frame": 255, "caption": {"b": "from b", "a": "from a"},
         "enhanced_caption": {"x": "enh x"}},
        {"start_frame": 256, "end_frame": 400, "caption": {"b": "only b"}},
        {"start_frame": 401, "end_frame": 500, "caption": {"z": "unlisted"}},
    ]
    frame = chunk_frame(n=1, windows=windows)
    writer_factory(caption_models=["a", "b"], enhanced_caption_models=["x"]).write(records_collection(frame))
    out = writer_factory.out
    u = frame.span_uuid[0]
    meta = read_json(out / "metas/v0" / f"{u}.json")
    assert meta["windows"] == [
        {"start_frame": 0, "end_frame": 255, "a_caption": "from a", "b_caption": "from b", "x_enhanced_caption": "enh x"},
        {"start_frame": 256, "end_frame": 400, "b_caption": "only b"},
        {"start_frame": 401, "end_frame": 500},
    ]
    chunk = read_json(out / "processed_clip_chunks/cam/a.mp4_0.json")
    assert chunk["all_windows"] == {u: {"0_255": "from a", "256_400": "only b"}}
    assert chunk["all_windows_enhanced_caption"] == {u: {"0_255": "enh x"}}
    assert chunk["num_clips_with_caption"] == 1


def test_filtered_clips(writer_factory):
    frame = pd.concat([
        chunk_frame(n=2),
        pd.DataFrame([make_clip(V, 0, 7, filtered_by="motion"), make_clip(V, 0, 8, filtered_by="aesthetic"),
                      make_clip(V, 0, 9, filtered_by="blur")]),
    ], ignore_index=True)
    writer_factory().write(records_collection(frame))
    out = writer_factory.out
    chunk = read_json(out / "processed_clip_chunks/cam/a.mp4_0.json")
    assert (chunk["num_clips_passed"], chunk["num_clips_filtered_by_motion"], chunk["num_clips_filtered_by_aesthetic"]) == (2, 1, 1)
    assert chunk["num_clips_transcoded"] == 5
    assert chunk["num_clips_with_caption"] == 5  # filtered clips' captions count too
    assert chunk["num_clips_with_webp"] == 2 and chunk["num_clips_with_embeddings"] == 2
    assert chunk["filtered_clips"] == list(frame.span_uuid[2:])
    assert set(chunk["all_windows"]) == set(frame.span_uuid[:2])
    for u in frame.span_uuid[2:]:
        assert (out / "filtered_clips" / f"{u}.mp4").exists()
        assert not (out / "previews" / u).exists() and not (out / "ce1_embd" / f"{u}.pickle").exists()
        meta = read_json(out / "metas/v0" / f"{u}.json")
        assert meta["clip_location"].endswith(f"/filtered_clips/{u}.mp4") and meta["valid"] is True
    # Durations added passed first, then filtered: same float as the reference's order.
    total = 0.0
    for start, end in list(zip(frame.span_start, frame.span_end))[:2] + list(zip(frame.span_start, frame.span_end))[2:]:
        total += end - start
    assert chunk["total_clip_duration"] == total


def test_video_with_no_clips(writer_factory):
    videos = pd.DataFrame([
        {"video": V, "height": 360, "width": 640, "framerate": 30.0, "num_frames": 900, "duration": 30.0,
         "video_codec": "h264", "pixel_format": "yuv420p", "audio_codec": None, "num_total_clips": 3,
         "num_clip_chunks": 1},
        {"video": "/in/empty.mp4", "height": 360, "width": 640, "framerate": 25.0, "num_frames": 25,
         "duration": 1.0, "video_codec": "h264", "pixel_format": "yuv420p", "audio_codec": "aac",
         "num_total_clips": 0, "num_clip_chunks": 0},
    ])
    summary = writer_factory().write(records_collection(chunk_frame()), videos)
    out = writer_factory.out
    assert (out / "processed_videos/empty.mp4.json").read_bytes() == (
        b'{\n    "video": "/in/empty.mp4",\n    "height": 360,\n    "width": 640,\n    "framerate": 25.0,\n'
        b'    "num_frames": 25,\n    "duration": 1.0,\n    "video_codec": "h264",\n    "pixel_format": "yuv420p",\n'
        b'    "audio_format": "aac",\n    "num_total_clips": 0,\n    "num_clip_chunks": 0\n}')
    assert (out / "processed_clip_chunks/empty.mp4_0.json").read_bytes() == (
        b'{\n    "video": "/in/empty.mp4",\n    "clip_chunk_index": 0,\n    "num_clips_filtered_by_motion": 0,\n'
        b'    "num_clips_filtered_by_aesthetic": 0,\n    "num_clips_passed": 0,\n    "num_clips_transcoded": 0,\n'
        b'    "num_clips_with_embeddings": 0,\n    "num_clips_with_caption": 0,\n    "num_clips_with_webp": 0,\n'
        b'    "total_clip_duration": 0.0,\n    "max_clip_duration": 0.0,\n    "clips": [],\n    "filtered_clips": [],\n'
        b'    "all_windows": {},\n    "all_windows_enhanced_caption": {}\n}')
    by_video = {v["video"]: v for v in summary["videos"]}
    assert by_video["/in/empty.mp4"]["complete"] is True
    assert by_video[V]["complete"] is True and by_video[V]["num_clips_passed"] == 3
    assert summary["totals"]["videos"] == 2


def test_without_video_records_counts_come_from_clips(writer_factory):
    frames = [chunk_frame(chunk=0, n=2), chunk_frame(chunk=1, n=3)]
    writer_factory().write(records_collection(*frames))
    doc = read_json(writer_factory.out / "processed_videos/cam/a.mp4.json")
    assert doc == {"video": V, "height": None, "width": None, "framerate": None, "num_frames": None,
                   "duration": None, "video_codec": None, "pixel_format": None, "audio_format": None,
                   "num_total_clips": 5, "num_clip_chunks": 2}


def test_non_ascii_captions_are_escaped(writer_factory):
    windows = [{"start_frame": 0, "end_frame": 10, "caption": {"qwen": "caf\u00e9 \u6771\u4eac \U0001f697"}}]
    frame = chunk_frame(n=1, windows=windows)
    writer_factory().write(records_collection(frame))
    data = (writer_factory.out / "metas/v0" / f"{frame.span_uuid[0]}.json").read_bytes()
    assert b'"qwen_caption": "caf\\u00e9 \\u6771\\u4eac \\ud83d\\ude97"' in data
    assert data.isascii() and not data.endswith(b"\n")
    chunk = (writer_factory.out / "processed_clip_chunks/cam/a.mp4_0.json").read_bytes()
    assert b'"0_10": "caf\\u00e9 \\u6771\\u4eac \\ud83d\\ude97"' in chunk


def test_several_chunks_per_partition(writer_factory):
    one_partition = pd.concat([chunk_frame(chunk=0, n=2), chunk_frame(chunk=1, n=2),
                               chunk_frame(video="/in/b.mp4", chunk=0, n=1)], ignore_index=True)
    summary = writer_factory().write(records_collection(one_partition))
    out = writer_factory.out
    for rel, n in (("cam/a.mp4_0", 2), ("cam/a.mp4_1", 2), ("b.mp4_0", 1)):
        assert read_json(out / f"processed_clip_chunks/{rel}.json")["num_clips_passed"] == n
    assert {p.stem for p in (out / "ce1_embd_parquet").iterdir()} == {
        chunk_uuid(V, 0), chunk_uuid(V, 1), chunk_uuid("/in/b.mp4", 0)}
    assert summary["totals"]["chunks"] == 3 and summary["totals"]["videos"] == 2


def test_probe_values_come_from_real_bytes(writer_factory):
    clip = encode_h264(width=96, height=64, frames=45, fps=15)
    frame = chunk_frame(n=1, buffer=clip, width=None, height=None, framerate=None, num_frames=None, video_codec=None)
    writer_factory().write(records_collection(frame))
    meta = read_json(writer_factory.out / "metas/v0" / f"{frame.span_uuid[0]}.json")
    assert (meta["width"], meta["height"], meta["framerate"], meta["num_frames"], meta["video_codec"]) == (
        96, 64, 15.0, 45, "h264")
    assert meta["num_bytes"] == len(clip)
    assert list(meta)[7:13] == ["width", "height", "framerate", "num_frames", "video_codec", "num_bytes"]


def test_unprobeable_bytes_are_recorded_and_the_run_goes_on(writer_factory):
    frame = chunk_frame(n=2, width=None, height=None, framerate=None, num_frames=None, video_codec=None,
                        errors={"upstream": "warned"})
    frame.at[1, "buffer"] = encode_h264()
    summary = writer_factory().write(records_collection(frame))
    meta = read_json(writer_factory.out / "metas/v0" / f"{frame.span_uuid[0]}.json")
    assert meta["errors"] == ["upstream", "extract_metadata"]
    assert "width" not in meta and "video_codec" not in meta
    assert meta["num_bytes"] == len(frame.buffer[0]) and meta["valid"] is True
    good = read_json(writer_factory.out / "metas/v0" / f"{frame.span_uuid[1]}.json")
    assert good["width"] == 64 and good["errors"] == ["upstream"]
    assert summary["totals"]["errors"] == {"extract_metadata": 1, "upstream": 2}


def test_clip_without_bytes_or_windows(writer_factory):
    frame = chunk_frame(n=2)
    frame.at[0, "buffer"] = None
    frame.at[1, "windows"] = []
    writer_factory().write(records_collection(frame))
    out = writer_factory.out
    no_bytes = read_json(out / "metas/v0" / f"{frame.span_uuid[0]}.json")
    assert "num_bytes" not in no_bytes and "width" not in no_bytes and no_bytes["valid"] is False
    assert not (out / "clips" / f"{frame.span_uuid[0]}.mp4").exists()
    no_windows = read_json(out / "metas/v0" / f"{frame.span_uuid[1]}.json")
    assert no_windows["windows"] == [] and no_windows["valid"] is False
    chunk = read_json(out / "processed_clip_chunks/cam/a.mp4_0.json")
    assert chunk["num_clips_transcoded"] == 1 and chunk["num_clips_passed"] == 2


def test_absent_scores_leave_keys_out(writer_factory):
    frame = chunk_frame(n=1, motion_score_global_mean=np.nan, aesthetic_score=pd.NA)
    writer_factory().write(records_collection(frame))
    meta = read_json(writer_factory.out / "metas/v0" / f"{frame.span_uuid[0]}.json")
    assert "motion_score" not in meta and "aesthetic_score" not in meta and "errors" not in meta


def test_rerun_skips_existing_files_by_default(writer_factory):
    writer = writer_factory()
    first = writer.write(records_collection(chunk_frame()))
    before = tree(writer_factory.out)
    second = writer.write(records_collection(chunk_frame()))
    assert tree(writer_factory.out) == before
    assert second["totals"]["files_skipped"] == {k: v for k, v in first["totals"]["files_written"].items()}
    assert second["totals"]["files_written"] == {}


def test_overwrite_replaces_files(writer_factory):
    writer_factory().write(records_collection(chunk_frame()))
    changed = chunk_frame(buffer=b"new bytes")
    summary = writer_factory(existing="overwrite").write(records_collection(changed))
    assert (writer_factory.out / "clips" / f"{changed.span_uuid[0]}.mp4").read_bytes() == b"new bytes"
    assert summary["totals"]["files_skipped"] == {}


def test_resume_skips_completed_chunks(writer_factory):
    writer_factory().write(records_collection(chunk_frame(chunk=0)))
    (writer_factory.out / "clips").rename(writer_factory.out / "clips-moved")
    summary = writer_factory(resume=True).write(records_collection(chunk_frame(chunk=0), chunk_frame(chunk=1)))
    assert not (writer_factory.out / "clips" / f"{chunk_frame(chunk=0).span_uuid[0]}.mp4").exists()
    assert (writer_factory.out / "clips" / f"{chunk_frame(chunk=1).span_uuid[0]}.mp4").exists()
    assert summary["totals"]["chunks_resumed"] == 1
    assert summary["totals"]["num_clips_passed"] == 6  # resumed chunk's counts read from its marker


def test_compute_false_joins_a_users_graph(writer_factory):
    lazy = writer_factory().write(records_collection(chunk_frame()), compute=False)
    assert not writer_factory.out.exists()
    import dask.dataframe as dd

    other = dd.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), npartitions=2)["x"].sum()
    result, total = dask.compute(lazy, other)
    assert total == 6 and result.iloc[0]["totals"]["num_clips_passed"] == 3
    assert (writer_factory.out / "summary.json").exists()


def counted_records(calls, n_chunks=3):
    """Records whose partitions append their number to ``calls`` each time they are built."""
    from dask_clipwriter import clip_records_from_map

    def build(part):
        with calls.open("a") as fh:
            fh.write(f"{part}\n")
        return chunk_frame(chunk=part, n=2)

    return clip_records_from_map(build, range(n_chunks))


def test_users_work_on_the_same_records_shares_the_partitions(writer_factory, tmp_path):
    calls = tmp_path / "calls.log"
    clips = counted_records(calls)
    lazy = writer_factory().write(clips, pd.DataFrame([{"video": V, "width": 640}]), compute=False)
    per_video = clips.groupby("video")["span_end"].max()
    result, maxima = dask.compute(lazy, per_video)
    assert sorted(calls.read_text().split()) == ["0", "1", "2"]  # each partition built once
    assert maxima[V] == 220.0 and result.iloc[0]["totals"]["chunks"] == 3


def test_verbose_logs_per_file_and_per_chunk(writer_factory, caplog):
    with caplog.at_level(logging.INFO, logger="dask_clipwriter"):
        writer_factory(verbose=True).write(records_collection(chunk_frame(n=1)))
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("wrote ") and "/clips/" in m for m in messages)
    assert any(m.startswith("chunk 0 of /in/cam/a.mp4 written") for m in messages)


def test_quiet_by_default(writer_factory, caplog):
    with caplog.at_level(logging.INFO, logger="dask_clipwriter"):
        writer_factory().write(records_collection(chunk_frame(n=1)))
    assert not [r for r in caplog.records if r.getMessage().startswith(("wrote ", "chunk "))]


def test_partitions_and_reduction_run_once(writer_factory, tmp_path):
    calls = tmp_path / "calls.log"
    summary = writer_factory().write(counted_records(calls))
    assert sorted(calls.read_text().split()) == ["0", "1", "2"]
    assert summary["totals"]["chunks"] == 3


def test_unreadable_video_gets_an_error_entry(writer_factory):
    videos = pd.DataFrame([{"video": "/in/broken.mp4", "error": "cannot open as video: Invalid data"}])
    summary = writer_factory().write(records_collection(chunk_frame()), videos)
    entry = {v["video"]: v for v in summary["videos"]}["/in/broken.mp4"]
    assert entry["error"] == "cannot open as video: Invalid data" and entry["complete"] is False
    assert summary["totals"]["videos_failed"] == 1 and summary["totals"]["videos_complete"] == 1
    assert not (writer_factory.out / "processed_videos/broken.mp4.json").exists()
