"""Cutting and encoding the clips of a chunk from real H.264 sources."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
import pytest

from dask_clipwriter.probe import ClipProbe, probe_clip_bytes, probe_video_file
from dask_clipwriter.video import samples
from dask_clipwriter.video.motion import score_clip_motion
from dask_clipwriter.video.plan import plan_spans, planned_duration
from dask_clipwriter.video.transcode import (
    EncodeSettings,
    SourceVideoError,
    TimestampGuesser,
    output_size,
    transcode_spans,
)


def first_frame(data_or_path, index=0) -> np.ndarray:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with av.open(source) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == index:
                return frame.to_ndarray(format="gray").astype(np.int16)
    raise AssertionError(f"no frame {index}")


@pytest.fixture(scope="module")
def pan_clips(pan_video, pan_probe):
    spans = plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate)
    return transcode_spans(pan_video, spans)


def test_each_clip_has_its_frames_and_probes_as_h264(pan_clips):
    assert [(c.span.start, c.span.end) for c in pan_clips] == [(0.0, 10.0), (10.0, 12.0)]
    assert [c.num_frames for c in pan_clips] == [300, 60]
    assert [c.error for c in pan_clips] == [None, None]
    assert [probe_clip_bytes(c.data) for c in pan_clips] == [
        ClipProbe(width=320, height=256, framerate=30.0, num_frames=300, video_codec="h264"),
        ClipProbe(width=320, height=256, framerate=30.0, num_frames=60, video_codec="h264"),
    ]


def test_clips_are_faststart_mp4(pan_clips):
    data = pan_clips[0].data
    assert data[4:8] == b"ftyp"
    assert 0 < data.find(b"moov") < data.find(b"mdat")


def test_the_second_clip_starts_at_the_right_source_frame(pan_video, pan_clips):
    # The pan moves 6 px a frame, so a clip off by one frame would differ a lot.
    source_300 = first_frame(pan_video, 300)
    assert np.abs(first_frame(pan_clips[1].data) - source_300).mean() < 4
    assert np.abs(first_frame(pan_video, 299) - source_300).mean() > 3 * np.abs(first_frame(pan_clips[1].data) - source_300).mean()


def test_a_later_chunk_alone_seeks_and_gets_the_same_frames(pan_video, pan_probe, pan_clips):
    spans = plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate)
    alone = transcode_spans(pan_video, spans[1:])
    assert alone[0].num_frames == 60
    assert np.abs(first_frame(alone[0].data) - first_frame(pan_clips[1].data)).mean() < 1


def test_overlapping_spans_share_one_decode(pan_video, pan_probe):
    spans = plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate, clip_len_s=4, clip_stride_s=3)
    clips = transcode_spans(pan_video, spans)
    assert [c.num_frames for c in clips] == [120, 120, 120, 90]  # [0,4) [3,7) [6,10) [9,12)


def test_scaling_keeps_aspect_with_even_sides(pan_video, pan_probe):
    spans = plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate)[1:]
    clip = transcode_spans(pan_video, spans, EncodeSettings(target_height=181))[0]
    probe = probe_clip_bytes(clip.data)
    assert (probe.width, probe.height, probe.num_frames) == (226, 180, 60)


def test_output_size_rules():
    assert output_size(320, 256, None) == (320, 256)
    assert output_size(335, 271, None) == (334, 270)
    assert output_size(1920, 1080, 240) == (426, 240)
    assert output_size(1920, 1080, 241) == (426, 240)
    with pytest.raises(ValueError):
        output_size(320, 256, 1)


def test_a_truncated_source_records_errors_per_clip(pan_video, pan_probe, tmp_path):
    # Half the bytes: the data stops around 5-6 s, inside the first clip.
    cut = samples.write_truncated_video(pan_video, tmp_path / "cut.mp4", keep=0.5)
    spans = plan_spans(str(cut), pan_probe.num_frames, pan_probe.framerate)
    first, second = transcode_spans(str(cut), spans)
    assert 0 < first.num_frames < 300 and first.data is not None  # keeps what it got ...
    assert first.error.startswith("source ended at")  # ... and says it is short
    assert probe_clip_bytes(first.data).num_frames == first.num_frames
    assert (second.data, second.num_frames, second.error) == (None, 0, "no frames decoded in [10.0, 12.0)")


def test_a_decode_failure_fails_only_the_clip_it_hit(pan_video, pan_probe, tmp_path):
    damaged = samples.write_damaged_video(pan_video, tmp_path / "damaged.mp4", at=0.5)
    spans = plan_spans(str(damaged), pan_probe.num_frames, pan_probe.framerate)
    first, second = transcode_spans(str(damaged), spans)
    assert first.data is None and first.error.startswith("decoding failed near t=")
    assert second.error is None and probe_clip_bytes(second.data).num_frames == 60


def test_a_corrupt_source_raises_a_clear_error(tmp_path, pan_video, pan_probe):
    bad = samples.write_corrupt_video(tmp_path / "bad.mp4")
    spans = plan_spans(str(bad), pan_probe.num_frames, pan_probe.framerate)
    with pytest.raises(SourceVideoError, match="cannot open source video"):
        transcode_spans(str(bad), spans)


def test_no_spans_no_work(tmp_path):
    bad = samples.write_corrupt_video(tmp_path / "bad.mp4")
    assert transcode_spans(str(bad), []) == []  # not even opened


def test_timestamps_fall_back_to_dts_when_pts_run_backwards():
    guess = TimestampGuesser()
    assert [guess(p, d) for p, d in [(0, 0), (1, 1), (2, 2)]] == [0, 1, 2]
    # AVI with B frames: "pts" in decode order, dts monotonic -> dts wins once pts misbehave
    guess = TimestampGuesser()
    assert [guess(p, d) for p, d in [(1, 2), (4, 3), (3, 4), (5, 5), (2, 6)]] == [1, 4, 4, 5, 6]
    assert TimestampGuesser()(None, 7) == 7 and TimestampGuesser()(None, None) is None


def test_source_frame_types_do_not_force_the_clips_frame_types(tmp_path):
    """An mpeg4 AVI with a key frame every 12 frames: were its I frames forced on x264, every
    frame the motion filter samples at 25 fps (each 12th) would be an I frame without vectors."""
    path = tmp_path / "gop12.avi"
    world = samples.texture(256, 320 + 6 * 100)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 256, "yuv420p"
        stream.codec_context.gop_size = 12
        for i in range(100):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(world[:, 6 * i:6 * i + 320]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    (clip,) = transcode_spans(str(path), plan_spans(str(path), 100, 25.0))
    assert clip.num_frames == 100
    with av.open(io.BytesIO(clip.data)) as container:
        types = [frame.pict_type for frame in container.decode(video=0)]
    assert types.count(av.video.frame.PictureType.I) == 1
    score = score_clip_motion(clip.data)
    assert score.error is None and not score.is_small_motion


def test_the_last_clip_keeps_the_frames_the_plan_truncates(tmp_path):
    # 76 frames at 30 fps: the reference's plan ends at 75 / 30 = 2.5 s (plan.py), one frame
    # before the last; that frame goes to the clip whose span ends there.
    path = str(samples.write_sample_video(tmp_path / "v.mp4", "pan", 76 / 30, width=64, height=48))
    probe = probe_video_file(path)
    assert probe.num_frames == 75
    spans = plan_spans(path, probe.num_frames, probe.framerate, clip_len_s=1.0, clip_stride_s=1.0, min_clip_length_s=0.4)
    assert [(s.start, s.end) for s in spans] == [(0.0, 1.0), (1.0, 2.0), (2.0, 2.5)]
    cut_at_plan = transcode_spans(path, spans, EncodeSettings(audio=False))
    to_the_end = transcode_spans(path, spans, EncodeSettings(audio=False), video_end=planned_duration(75, 30.0))
    assert [c.num_frames for c in cut_at_plan] == [30, 30, 15]
    assert [c.num_frames for c in to_the_end] == [30, 30, 16]
    assert np.abs(first_frame(to_the_end[2].data, 15) - first_frame(path, 75)).mean() < 4  # the source's last frame
    # The metas' num_frames is the reference's formula: 16 frames last 0.533333 s in print,
    # int(0.533333 * 30) is 15, as the reference's ffprobe would say of its own clip.
    assert probe_clip_bytes(to_the_end[2].data).num_frames == 15


def test_frames_keep_their_source_times_across_a_missing_frame(tmp_path):
    """A frame the source lacks leaves a gap in the clip; it does not pull the rest early."""
    times = [Fraction(i, 30) for i in range(60) if i != 20]
    path = str(samples.write_variable_rate_video(tmp_path / "gap.mp4", times, time_base=Fraction(1, 15360)))
    spans = plan_spans(path, 60, 30.0, clip_len_s=2.0)
    (clip,) = transcode_spans(path, spans, EncodeSettings(audio=False))
    with av.open(io.BytesIO(clip.data)) as container:
        stream = container.streams.video[0]
        shown = sorted(frame.pts * stream.time_base for frame in container.decode(stream))
    assert shown == times
