"""What one chunk writes, and the rules around it: no Dask, no files."""

from __future__ import annotations

import json

import pytest
from clip_helpers import clip_records, encode_h264

from dask_clipwriter import layout
from dask_clipwriter.chunk_files import (
    chunk_files,
    chunk_rels,
    empty_video_marker,
    group_chunks,
    probe_clips,
)
from dask_clipwriter.documents import chunk_document, chunk_stats, dumps
from dask_clipwriter.records import RecordError
from dask_clipwriter.settings import WriterSettings

V = "/in/cam/a.mp4"
OUT = "/out"


def planned(clips, **settings):
    values = {"output_path": OUT, "input_path": "/in", "caption_models": ["qwen"], **settings}
    return chunk_files(V, 0, "cam/a.mp4", clips, settings=WriterSettings(**values), source=None,
                       probes={c.span_uuid: None for c in clips})


def directories(plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path, _ in plan.files:
        counts[layout.directory_of(OUT, path)] = counts.get(layout.directory_of(OUT, path), 0) + 1
    return counts


def test_every_directory_of_a_passed_chunk():
    clips = clip_records(V, n=2)
    plan = planned(clips)
    assert directories(plan) == {"clips": 2, "previews": 2, "ce1_embd": 2, "metas": 2, "ce1_embd_parquet": 1}
    assert dict(plan.files)[f"{OUT}/clips/{clips[0].span_uuid}.mp4"] == clips[0].buffer
    assert plan.marker == (f"{OUT}/processed_clip_chunks/cam/a.mp4_0.json",
                           dumps(chunk_document(chunk_stats(V, 0, clips, caption_models=("qwen",),
                                                            enhanced_caption_models=()))))
    parquet = f"{OUT}/ce1_embd_parquet/{layout.chunk_uuid(V, 0)}.parquet"
    assert parquet in dict(plan.files)


def test_dry_run_plans_only_the_marker_with_the_same_counts():
    clips = clip_records(V, n=2)
    dry, full = planned(clips, dry_run=True), planned(clips)
    assert dry.files == [] and dry.marker == full.marker and dry.stats.num_clips_with_embeddings == 2


def test_upload_clips_false_keeps_locations_and_sizes():
    clips = clip_records(V, n=2)
    plan = planned(clips, upload_clips=False)
    assert "clips" not in directories(plan)
    meta = json.loads(dict(plan.files)[f"{OUT}/metas/v0/{clips[0].span_uuid}.json"])
    assert meta["clip_location"] == f"{OUT}/clips/{clips[0].span_uuid}.mp4"
    assert meta["num_bytes"] == len(clips[0].buffer) and plan.stats.num_clips_transcoded == 2


def test_filtered_clips_go_to_filtered_clips_without_previews_or_embeddings():
    clips = clip_records(V, n=2, filtered_by="motion")
    plan = planned(clips)
    assert directories(plan) == {"filtered_clips": 2, "metas": 2}
    meta = json.loads(dict(plan.files)[f"{OUT}/metas/v0/{clips[0].span_uuid}.json"])
    assert meta["clip_location"] == f"{OUT}/filtered_clips/{clips[0].span_uuid}.mp4" and meta["valid"] is True


def test_missing_embeddings_are_counted_only_when_asked_for():
    clips = clip_records(V, n=2, embedding=None)
    assert planned(clips, generate_embeddings=True).missing == {"clips_without_embedding": 2}
    assert planned(clips).missing == {}
    assert "ce1_embd_parquet" not in directories(planned(clips))


def test_embeddings_are_written_even_when_not_generating():
    assert directories(planned(clip_records(V, n=2), generate_embeddings=False))["ce1_embd"] == 2


def test_missing_previews_and_bytes_are_counted():
    clips = clip_records(V, n=2, windows=[{"start_frame": 0, "end_frame": 9}])
    clips[0].buffer = None
    plan = planned(clips, generate_previews=True)
    assert plan.missing == {"windows_without_webp": 2, "clips_without_bytes": 1}
    assert "previews" not in directories(plan) and directories(plan)["clips"] == 1


def test_records_group_into_chunks_in_order_of_first_appearance():
    a0, b0, a1 = clip_records(V, 0, 1), clip_records("/in/b.mp4", 0, 1), clip_records(V, 1, 1)
    chunks = group_chunks([*a0, *b0, *a1, *clip_records(V, 0, 2)[1:]])
    assert list(chunks) == [(V, 0), ("/in/b.mp4", 0), (V, 1)]
    assert len(chunks[(V, 0)]) == 2
    assert chunk_rels(chunks, "/in") == {(V, 0): "cam/a.mp4", ("/in/b.mp4", 0): "b.mp4", (V, 1): "cam/a.mp4"}


def test_a_repeated_clip_uuid_is_refused():
    a, b = clip_records(V, 0, 1), clip_records(V, 1, 1)
    b[0].span_uuid = a[0].span_uuid
    with pytest.raises(RecordError, match=f"clip record {a[0].span_uuid}: duplicate clip uuid .in chunk 0 .* chunk 1"):
        chunk_rels(group_chunks(a + b), "/in")
    with pytest.raises(RecordError, match="duplicate clip uuid"):
        chunk_rels(group_chunks(a + a), "/in")


def test_a_video_outside_input_path_is_refused_by_chunk():
    with pytest.raises(RecordError, match=r"chunk 0 of video '/elsewhere/a.mp4': video .* is not inside input_path"):
        chunk_rels(group_chunks(clip_records("/elsewhere/a.mp4")), "/in")


def test_probe_values_come_from_the_record_or_the_bytes():
    given, real, broken, empty = clip_records(V, n=4)
    real.buffer = encode_h264(width=96, height=64, frames=45, fps=15)
    for clip in (real, broken):
        clip.width = clip.height = clip.framerate = clip.num_frames = clip.video_codec = None
    empty.buffer = None
    probes = probe_clips([given, real, broken, empty])
    assert probes[given.span_uuid] == {"width": 640, "height": 360, "framerate": 30.0, "num_frames": 300,
                                       "video_codec": "h264"}
    assert probes[real.span_uuid] == {"width": 96, "height": 64, "framerate": 15.0, "num_frames": 45,
                                      "video_codec": "h264"}
    assert probes[broken.span_uuid] is None and "extract_metadata" in broken.errors
    assert probes[empty.span_uuid] is None and empty.errors == {}


def test_a_video_without_clips_gets_an_empty_chunk_zero():
    path, data = empty_video_marker(OUT, "/in/empty.mp4", "empty.mp4")
    assert path == f"{OUT}/processed_clip_chunks/empty.mp4_0.json"
    assert json.loads(data) == {
        "video": "/in/empty.mp4", "clip_chunk_index": 0, "num_clips_filtered_by_motion": 0,
        "num_clips_filtered_by_aesthetic": 0, "num_clips_passed": 0, "num_clips_transcoded": 0,
        "num_clips_with_embeddings": 0, "num_clips_with_caption": 0, "num_clips_with_webp": 0,
        "total_clip_duration": 0.0, "max_clip_duration": 0.0, "clips": [], "filtered_clips": [],
        "all_windows": {}, "all_windows_enhanced_caption": {}}
