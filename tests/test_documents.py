"""The JSON documents, built from normalised records with no Dask and no files."""

from __future__ import annotations

import json

import pytest
from clip_helpers import clip_records

from dask_clipwriter.documents import (
    ChunkStats,
    chunk_document,
    chunk_stats,
    clip_meta,
    dumps,
    read_chunk_document,
    video_document,
)
from dask_clipwriter.records import VideoRecord

V = "/in/cam/a.mp4"
PROBE = {"width": 640, "height": 360, "framerate": 30.0, "num_frames": 300, "video_codec": "h264"}


def meta(clip, *, probe=PROBE, source=None, caption_models=("qwen",), enhanced=()):
    return clip_meta(clip, clip_location=f"/out/clips/{clip.span_uuid}.mp4", source=source, probe=probe,
                     caption_models=caption_models, enhanced_caption_models=enhanced)


def test_clip_meta_keys_in_spec_order():
    [clip] = clip_records(V, n=1, errors={"upstream": "warned", "transcode": "short"}, aesthetic_score=4.5)
    doc = meta(clip, source=VideoRecord(video=V, width=1920, height=1080, framerate=25.0))
    assert list(doc) == ["span_uuid", "source_video", "duration_span", "width_source", "height_source",
                         "framerate_source", "clip_location", "width", "height", "framerate", "num_frames",
                         "video_codec", "num_bytes", "motion_score", "aesthetic_score", "errors", "windows", "valid"]
    assert (doc["width_source"], doc["height_source"], doc["framerate_source"]) == (1920, 1080, 25.0)
    assert doc["errors"] == ["upstream", "transcode"] and doc["num_bytes"] == len(clip.buffer)


def test_a_clip_without_bytes_or_windows_is_not_valid():
    no_bytes, no_windows = clip_records(V)
    no_bytes.buffer, no_windows.windows = None, []
    doc = meta(no_bytes)
    assert "num_bytes" not in doc and "width" not in doc and doc["valid"] is False
    assert doc["clip_location"] == f"/out/clips/{no_bytes.span_uuid}.mp4"  # always there
    assert meta(no_windows)["windows"] == [] and meta(no_windows)["valid"] is False


def test_unprobed_bytes_keep_num_bytes_but_no_probe_keys():
    [clip] = clip_records(V, n=1)
    doc = meta(clip, probe=None)
    assert "width" not in doc and "video_codec" not in doc and doc["num_bytes"] == len(clip.buffer)


def test_absent_scores_leave_keys_out():
    [clip] = clip_records(V, n=1, motion_score_global_mean=None, aesthetic_score=float("nan"))
    doc = meta(clip)
    assert "motion_score" not in doc and "aesthetic_score" not in doc and "errors" not in doc


CAPTIONED = [
    {"start_frame": 0, "end_frame": 255, "caption": {"b": "from b", "a": "from a"}, "enhanced_caption": {"x": "enh x"}},
    {"start_frame": 256, "end_frame": 400, "caption": {"b": "only b"}},
    {"start_frame": 401, "end_frame": 500, "caption": {"z": "unlisted"}},
]


def test_captions_follow_the_model_lists_in_order():
    [clip] = clip_records(V, n=1, windows=CAPTIONED)
    assert meta(clip, caption_models=("a", "b"), enhanced=("x",))["windows"] == [
        {"start_frame": 0, "end_frame": 255, "a_caption": "from a", "b_caption": "from b", "x_enhanced_caption": "enh x"},
        {"start_frame": 256, "end_frame": 400, "b_caption": "only b"},
        {"start_frame": 401, "end_frame": 500},
    ]
    stats = chunk_stats(V, 0, [clip], caption_models=("a", "b"), enhanced_caption_models=("x",))
    assert stats.all_windows == {clip.span_uuid: {"0_255": "from a", "256_400": "only b"}}
    assert stats.all_windows_enhanced_caption == {clip.span_uuid: {"0_255": "enh x"}}
    assert stats.num_clips_with_caption == 1


def test_no_caption_models_means_no_captions():
    clips = clip_records(V, windows=CAPTIONED)
    assert meta(clips[0], caption_models=())["windows"][0] == {"start_frame": 0, "end_frame": 255}
    stats = chunk_stats(V, 0, clips, caption_models=(), enhanced_caption_models=())
    assert stats.num_clips_with_caption == 0
    assert stats.all_windows == stats.all_windows_enhanced_caption == {c.span_uuid: {} for c in clips}


def test_chunk_stats_split_passed_and_filtered():
    passed = clip_records(V, n=2)
    filtered = [clip_records(V, n=1, filtered_by=reason)[0] for reason in ("motion", "aesthetic", "blur")]
    for i, clip in enumerate(filtered):
        clip.span_uuid = f"00000000-0000-0000-0000-00000000000{i}"
    stats = chunk_stats(V, 0, [filtered[0], *passed, *filtered[1:]], caption_models=("qwen",),
                        enhanced_caption_models=())
    assert (stats.num_clips_passed, stats.num_clips_filtered_by_motion, stats.num_clips_filtered_by_aesthetic) == (2, 1, 1)
    assert stats.num_clips_transcoded == 5 and stats.num_clips_with_caption == 5  # filtered clips' captions count
    assert stats.num_clips_with_webp == 2 and stats.num_clips_with_embeddings == 2
    assert stats.clips == [c.span_uuid for c in passed]
    assert stats.filtered_clips == [c.span_uuid for c in filtered]
    assert set(stats.all_windows) == {c.span_uuid for c in passed}


def test_durations_are_added_passed_clips_first_then_filtered():
    # Floats: 0.1 + 0.6 + 0.2 (the reference's order) is 0.8999999999999999; in record
    # order, 0.1 + 0.2 + 0.6, it is 0.9.
    clips = clip_records(V, n=3)
    for clip, length in zip(clips, (0.1, 0.2, 0.6), strict=True):
        clip.span_start, clip.span_end = 0.0, length
    clips[1].filtered_by = "motion"
    stats = chunk_stats(V, 0, clips, caption_models=(), enhanced_caption_models=())
    assert stats.total_clip_duration == 0.1 + 0.6 + 0.2 != 0.1 + 0.2 + 0.6
    assert stats.max_clip_duration == 0.6


def test_chunk_document_reads_back_as_the_same_stats():
    stats = chunk_stats(V, 3, clip_records(V, 3), caption_models=("qwen",), enhanced_caption_models=())
    assert read_chunk_document(dumps(chunk_document(stats))) == stats
    assert list(chunk_document(stats)) == list(ChunkStats.__dataclass_fields__)


def test_video_document_takes_counts_from_the_record_when_it_has_them():
    record = VideoRecord(video=V, height=360, width=640, framerate=30.0, num_frames=900, duration=30.0,
                         video_codec="h264", pixel_format="yuv420p", audio_codec="aac", num_total_clips=3,
                         num_clip_chunks=1)
    doc = video_document(V, record, num_total_clips=99, num_clip_chunks=99)
    assert list(doc) == ["video", "height", "width", "framerate", "num_frames", "duration", "video_codec",
                         "pixel_format", "audio_format", "num_total_clips", "num_clip_chunks"]
    assert (doc["audio_format"], doc["num_total_clips"], doc["num_clip_chunks"]) == ("aac", 3, 1)
    bare = video_document(V, None, num_total_clips=5, num_clip_chunks=2)
    assert bare == {"video": V, "height": None, "width": None, "framerate": None, "num_frames": None,
                    "duration": None, "video_codec": None, "pixel_format": None, "audio_format": None,
                    "num_total_clips": 5, "num_clip_chunks": 2}


@pytest.mark.parametrize("document", [
    {"qwen_caption": "caf\u00e9 \u6771\u4eac \U0001f697"},
    {"nested": [1.0, 0.1, None, True]},
])
def test_dumps_is_json_dumps_indent_4_ascii_without_newline(document):
    data = dumps(document)
    assert data == json.dumps(document, indent=4).encode("ascii")
    assert data.isascii() and not data.endswith(b"\n")
    assert b'"caf\\u00e9 \\u6771\\u4eac \\ud83d\\ude97"' in dumps({"c": "caf\u00e9 \u6771\u4eac \U0001f697"})
