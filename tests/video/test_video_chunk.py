"""One chunk end to end: real source video in, clip records out."""

from __future__ import annotations

import dataclasses
import io
import pickle
import uuid

import fsspec
import numpy as np
import pytest
from PIL import Image

from dask_clipwriter.probe import probe_clip_bytes, probe_video_file
from dask_clipwriter.records import clip_records_meta, normalise_clip_partition
from dask_clipwriter.video import motion, samples
from dask_clipwriter.video.chunk import (
    SourceVideoError,
    StageSettings,
    plan_video,
    process_chunk,
)

WITH_PLUGINS = StageSettings(
    aesthetic_scorer="example_plugins:mean_brightness",
    embedder="example_plugins:colour_histogram_embedding",
    captioner="example_plugins:frame_count_caption",
    enhanced_captioner="example_plugins:shouting_enhancer",
)


@pytest.fixture(scope="module")
def pan_records(pan_video, pan_probe):
    (plan,) = plan_video(pan_video, pan_probe)
    return process_chunk(plan, pan_probe, WITH_PLUGINS)


def records_of(video_dir, name, settings=StageSettings(), **kwargs):
    path = str(video_dir / name)
    probe = probe_video_file(path)
    return process_chunk(plan_video(path, probe, settings)[0], probe, settings, **kwargs)


def test_the_frame_matches_the_record_contract(pan_records):
    meta = clip_records_meta()
    assert list(pan_records.columns) == list(meta.columns)
    assert pan_records.dtypes.to_dict() == meta.dtypes.to_dict()
    records = normalise_clip_partition(pan_records)  # the writer's own reading of it
    assert [r.passed and r.has_bytes for r in records] == [True, True]


def test_rows_are_the_planned_clips_in_span_order(pan_records, pan_video):
    assert pan_records["span_uuid"].tolist() == [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pan_video}_0_300")),
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pan_video}_300_360")),
    ]
    assert pan_records[["span_start", "span_end"]].values.tolist() == [[0.0, 10.0], [10.0, 12.0]]
    assert set(pan_records["video"]) == set(pan_records["source_video"]) == {pan_video}
    assert pan_records["clip_chunk_index"].tolist() == [0, 0]
    assert pan_records[["width_source", "height_source", "framerate_source"]].values.tolist() == [[320, 256, 30.0]] * 2


def test_probe_columns_describe_the_encoded_bytes(pan_records):
    for row in pan_records.itertuples():
        probe = probe_clip_bytes(row.buffer)
        assert (row.width, row.height, row.framerate, row.num_frames, row.video_codec) == (
            probe.width, probe.height, probe.framerate, probe.num_frames, probe.video_codec)
    assert pan_records["num_frames"].tolist() == [300, 60]


def test_moving_clips_pass_with_scores_and_no_errors(pan_records):
    assert pan_records["filtered_by"].tolist() == [None, None]
    assert (pan_records["motion_score_global_mean"] > motion.GLOBAL_MEAN_THRESHOLD).all()
    assert (pan_records["motion_score_per_patch_min_256"] > motion.PER_PATCH_MIN_256_THRESHOLD).all()
    assert pan_records["errors"].tolist() == [{}, {}]


def test_plugins_fill_scores_embeddings_and_captions(pan_records):
    assert pan_records["aesthetic_score"].between(0, 10).all()
    for embedding in pan_records["embedding"]:
        assert isinstance(embedding, np.ndarray) and embedding.shape == (256,)
    first, second = pan_records["windows"]
    assert [(w["start_frame"], w["end_frame"]) for w in first] == [(0, 299)]
    assert first[0]["caption"] == {"qwen": "20 frames of 320x256"}  # 10 s at 2 fps
    assert first[0]["enhanced_caption"] == {"qwen_lm": "ENHANCED: 20 FRAMES OF 320X256"}
    assert second[0]["caption"] == {"qwen": "4 frames of 320x256"}


def test_previews_are_animated_webp_per_window(pan_records):
    counts = []
    for windows in pan_records["windows"]:
        image = Image.open(io.BytesIO(windows[0]["webp"]))
        assert image.format == "WEBP" and image.size == (300, 240)
        counts.append(image.n_frames)
    assert counts == [10, 2]


def test_a_static_clip_is_filtered_by_motion(video_dir):
    df = records_of(video_dir, "static_4s.mp4", WITH_PLUGINS)
    row = df.iloc[0]
    assert row["filtered_by"] == "motion"
    assert row["motion_score_global_mean"] < motion.GLOBAL_MEAN_THRESHOLD
    assert isinstance(row["buffer"], bytes) and row["num_frames"] == 120
    # filtered clips stop there, as in the reference: no aesthetics, embedding or windows
    assert np.isnan(row["aesthetic_score"]) and row["embedding"] is None and row["windows"] is None


def test_score_only_and_disabled_motion(video_dir):
    scored = records_of(video_dir, "static_4s.mp4", StageSettings(motion_filter="score-only")).iloc[0]
    assert scored["filtered_by"] is None and scored["motion_score_global_mean"] < motion.GLOBAL_MEAN_THRESHOLD
    assert [(w["start_frame"], w["end_frame"]) for w in scored["windows"]] == [(0, 119)]
    assert scored["windows"][0]["webp"].startswith(b"RIFF")  # previews are on by default
    no_previews = StageSettings(motion_filter="score-only", make_previews=False)
    assert records_of(video_dir, "static_4s.mp4", no_previews).iloc[0]["windows"][0]["webp"] is None
    off = records_of(video_dir, "static_4s.mp4", StageSettings(motion_filter="disable")).iloc[0]
    assert off["filtered_by"] is None and np.isnan(off["motion_score_global_mean"])


def test_aesthetic_threshold_filters(video_dir):
    settings = StageSettings(motion_filter="disable", aesthetic_scorer="example_plugins:mean_brightness",
                             aesthetic_threshold=10.5, embedder="example_plugins:colour_histogram_embedding")
    row = records_of(video_dir, "shapes_4s.mp4", settings).iloc[0]
    assert row["filtered_by"] == "aesthetic" and 0 < row["aesthetic_score"] <= 10
    assert row["embedding"] is None and row["windows"] is None


def test_a_failing_plugin_is_the_clips_error_not_the_chunks(video_dir):
    settings = StageSettings(aesthetic_scorer="example_plugins:wrong_type_scorer",
                             captioner="example_plugins:broken_captioner")
    row = records_of(video_dir, "shapes_4s.mp4", settings).iloc[0]
    assert row["filtered_by"] is None and np.isnan(row["aesthetic_score"])
    assert "finite number" in row["errors"]["aesthetic"]
    assert row["errors"]["caption"] == "RuntimeError: model exploded"
    assert row["windows"][0]["caption"] == {}


def test_a_tiny_video_is_filtered_with_motion_decode(video_dir):
    row = records_of(video_dir, "tiny_3s.mp4").iloc[0]
    assert row["errors"] == {"motion_decode": "resolution_too_small"}
    assert row["filtered_by"] == "motion" and row["motion_score_global_mean"] == -1.0


def test_a_truncated_video_records_errors_and_goes_on(pan_video, pan_probe, tmp_path):
    cut = str(samples.write_truncated_video(pan_video, tmp_path / "cut.mp4", keep=0.5))
    (plan,) = plan_video(cut, pan_probe)
    df = process_chunk(plan, pan_probe)
    first, second = df.to_dict("records")
    assert first["errors"]["transcode"].startswith("source ended at") and first["buffer"]
    assert second["buffer"] is None and second["errors"] == {
        "transcode": "no frames decoded in [10.0, 12.0)", "buffer": "empty"}
    assert second["filtered_by"] == "motion" and second["motion_score_global_mean"] == -1.0
    assert len(normalise_clip_partition(df)) == 2


def test_a_corrupt_video_raises(pan_probe, tmp_path):
    bad = str(samples.write_corrupt_video(tmp_path / "bad.mp4"))
    (plan,) = plan_video(bad, pan_probe)
    with pytest.raises(SourceVideoError, match="bad.mp4"):
        process_chunk(plan, pan_probe)


def test_fsspec_sources_give_the_same_bytes_as_local_ones(video_dir):
    local = str(video_dir / "shapes_4s.mp4")
    url = "memory://videos/shapes_4s.mp4"
    fsspec.filesystem("memory").pipe(url, open(local, "rb").read())
    try:
        probe = probe_video_file(local)
        remote = process_chunk(plan_video(url, probe)[0], probe, storage_options={})
    finally:
        fsspec.filesystem("memory").rm("/videos", recursive=True)
    here = records_of(video_dir, "shapes_4s.mp4")
    assert remote["video"].tolist() == [url]
    assert remote["buffer"].tolist() == here["buffer"].tolist()  # x264 on one thread is deterministic
    with pytest.raises(SourceVideoError, match="memory://videos/gone.mp4"):
        process_chunk(plan_video("memory://videos/gone.mp4", probe)[0], probe)


def test_plan_video_and_probe_values_as_a_mapping(video_dir, tmp_path, pan_probe):
    short = str(samples.write_too_short_video(tmp_path / "short.mp4"))
    assert plan_video(short, probe_video_file(short)) == []
    values = dataclasses.asdict(pan_probe)
    (plan,) = plan_video("/in/x.mp4", values, StageSettings(clip_len_s=5, clip_stride_s=5))
    assert [(s.start, s.end) for s in plan.spans] == [(0.0, 5.0), (5.0, 10.0), (10.0, 12.0)]
    with pytest.raises(ValueError, match="framerate and num_frames"):
        plan_video("/in/x.mp4", {"width": 1})


def test_stage_settings_defaults_and_validation():
    settings = StageSettings()
    assert (settings.clip_len_s, settings.clip_stride_s, settings.min_clip_length_s) == (10.0, 10.0, 2.0)
    assert (settings.num_clips_per_chunk, settings.window_size, settings.remainder_threshold) == (32, 256, 128)
    assert (settings.motion_filter, settings.motion_global_mean_threshold) == ("enable", 0.00098)
    assert settings.extensions == ("mp4", "mov", "mkv", "avi", "webm") and settings.limit is None
    assert (settings.encoder, settings.encoder_option_values(), settings.audio) == ("libx264", {}, True)
    assert StageSettings(encoder_preset="veryfast", encoder_crf=30).encoder_option_values() == {
        "preset": "veryfast", "crf": "30"}
    assert pickle.loads(pickle.dumps(WITH_PLUGINS)) == WITH_PLUGINS and hash(WITH_PLUGINS) == hash(pickle.loads(pickle.dumps(WITH_PLUGINS)))
    with pytest.raises(ValueError, match="motion_filter must be one of") as info:
        StageSettings(motion_filter="on", clip_len_s=0, target_height=1, extensions=(), encoder_crf=60)
    for problem in ("clip_len_s must be > 0", "target_height", "extensions", "encoder-crf must be within 0..51"):
        assert problem in str(info.value)


def test_encoder_settings_reach_the_encoder(video_dir):
    default = records_of(video_dir, "shapes_4s.mp4").iloc[0]["buffer"]
    fast = records_of(video_dir, "shapes_4s.mp4", StageSettings(encoder_preset="ultrafast", encoder_crf=40)).iloc[0]
    assert fast["buffer"] != default and len(fast["buffer"]) < len(default)
    assert fast["num_frames"] == 120
    scaled = records_of(video_dir, "shapes_4s.mp4", StageSettings(target_height=128, motion_filter="disable")).iloc[0]
    assert (scaled["width"], scaled["height"], scaled["width_source"], scaled["height_source"]) == (160, 128, 320, 256)
