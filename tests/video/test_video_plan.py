"""Spans, clip uuids and chunks (clip-records.md, "Deterministic ids")."""

from __future__ import annotations

import pickle
import uuid
from fractions import Fraction

import av
import pytest

from dask_clipwriter.probe import probe_video_file
from dask_clipwriter.video import samples
from dask_clipwriter.video.chunk import StageSettings, plan_video
from dask_clipwriter.video.plan import (
    ChunkPlan,
    ClipSpan,
    chunk_spans,
    clip_uuid,
    plan_chunks,
    plan_spans,
    planned_duration,
)


def spec_uuid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def test_25s_at_30fps_gives_three_spans_with_the_spec_uuids():
    spans = plan_spans("/in/a.mp4", num_frames=750, framerate=30.0)
    assert [(s.start, s.end) for s in spans] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert [s.uuid for s in spans] == [
        spec_uuid("/in/a.mp4_0_300"),
        spec_uuid("/in/a.mp4_300_600"),
        spec_uuid("/in/a.mp4_600_750"),
    ]
    assert all(s.video == "/in/a.mp4" for s in spans)


def test_a_tail_shorter_than_min_clip_length_is_dropped():
    spans = plan_spans("/in/a.mp4", num_frames=630, framerate=30.0)  # 21 s: the 1 s tail goes
    assert [(s.start, s.end) for s in spans] == [(0.0, 10.0), (10.0, 20.0)]


def test_a_tail_of_exactly_min_clip_length_is_kept():
    spans = plan_spans("/in/a.mp4", num_frames=660, framerate=30.0)  # 22 s
    assert [(s.start, s.end) for s in spans][-1] == (20.0, 22.0)


def test_duration_comes_from_num_frames_over_framerate():
    # 29.97 fps, 374 frames: 12.479... s; the last span ends there, not at a stream duration.
    rate = 30000 / 1001
    spans = plan_spans("v.mp4", num_frames=374, framerate=rate)
    assert spans[-1].end == 374 / rate
    assert spans[-1].uuid == spec_uuid(f"v.mp4_{int(10.0 * rate)}_{int(374 / rate * rate)}")


def test_start_accumulates_the_stride_like_the_reference_loop():
    # 0.1 added 8 times is 0.7999999999999999, not 8 * 0.1 == 0.8: int(start * 30) is 23, not 24.
    spans = plan_spans("v.mp4", num_frames=60, framerate=30.0, clip_len_s=0.5, clip_stride_s=0.1, min_clip_length_s=0.1)
    assert spans[8].start == 0.7999999999999999
    assert spans[8].uuid == spec_uuid(f"v.mp4_23_{int((0.7999999999999999 + 0.5) * 30.0)}")


def test_overlapping_and_gapped_strides():
    overlapping = plan_spans("v", num_frames=600, framerate=30.0, clip_len_s=10, clip_stride_s=5)
    assert [(s.start, s.end) for s in overlapping] == [(0.0, 10.0), (5.0, 15.0), (10.0, 20.0), (15.0, 20.0)]
    gapped = plan_spans("v", num_frames=600, framerate=30.0, clip_len_s=4, clip_stride_s=10)
    assert [(s.start, s.end) for s in gapped] == [(0.0, 4.0), (10.0, 14.0)]


@pytest.mark.parametrize(("num_frames", "framerate"), [(0, 30.0), (750, 0.0), (59, 30.0)])
def test_no_spans_without_frames_rate_or_length(num_frames, framerate):
    assert plan_spans("v", num_frames, framerate) == []


def test_the_uuid_depends_on_the_video_string_as_written():
    assert clip_uuid("/in/a.mp4", 0.0, 10.0, 30.0) == spec_uuid("/in/a.mp4_0_300")
    assert clip_uuid("/in//a.mp4", 0.0, 10.0, 30.0) != clip_uuid("/in/a.mp4", 0.0, 10.0, 30.0)


def test_bad_strides_are_refused():
    with pytest.raises(ValueError, match="clip_stride_s"):
        plan_spans("v", 300, 30.0, clip_stride_s=0)


def _spans(durations, video="v"):
    out, start = [], 0.0
    for d in durations:
        out.append(ClipSpan(video, start, start + d, clip_uuid(video, start, start + d, 30.0)))
        start += d
    return out


def test_chunk_closes_when_whole_seconds_reach_num_clips_per_chunk_times_8():
    chunks = chunk_spans(_spans([10.0] * 40))  # 26 clips make 260 >= 256
    assert [len(c) for c in chunks] == [26, 14]
    chunks = chunk_spans(_spans([9.9] * 40))  # int(9.9) == 9: 29 clips make 261
    assert [len(c) for c in chunks] == [29, 11]


def test_chunk_rule_with_small_chunks_and_short_clips():
    # limit 8: a 10 s clip closes a chunk alone; two 5 s clips (5 + 5) close one together
    assert [len(c) for c in chunk_spans(_spans([10, 10, 5, 5, 5]), num_clips_per_chunk=1)] == [1, 1, 2, 1]
    # int(end - start) of a 0.9 s clip is 0: such clips never close a chunk
    assert [len(c) for c in chunk_spans(_spans([0.9] * 5), num_clips_per_chunk=1)] == [5]


def test_plan_chunks_numbers_chunks_and_counts_clips():
    spans = plan_spans("/in/videos/sub/a.mp4", num_frames=30 * 600, framerate=30.0)  # 60 spans
    chunks = plan_chunks(spans)
    assert [c.chunk_index for c in chunks] == [0, 1, 2]
    assert [len(c.spans) for c in chunks] == [26, 26, 8]
    assert {c.num_chunks for c in chunks} == {3} and {c.num_total_clips for c in chunks} == {60}
    assert [s for c in chunks for s in c.spans] == spans
    assert (chunks[1].decode_start, chunks[1].decode_end) == (260.0, 520.0)
    assert chunks[0].chunk_uuid == "369b16fc-c9e7-5c6a-8009-d100871d91b2"  # output-format.md, §1


def test_plan_chunks_of_nothing_and_of_mixed_videos():
    assert plan_chunks([]) == []
    with pytest.raises(ValueError, match="one video"):
        plan_chunks(_spans([10], "a") + _spans([10], "b"))


def test_plans_survive_pickling_for_the_workers():
    plan = plan_chunks(plan_spans("s3://b/v.mp4", 750, 30.0))[0]
    assert isinstance(plan, ChunkPlan)
    assert pickle.loads(pickle.dumps(plan)) == plan


# --------------------------------------------------------------------------------------
# The reference's planning, on real videos at the common frame rates


def reference_plan(path: str, clip_len_s: float, clip_stride_s: float, min_clip_length_s: float):
    """NeMo Curator's planning, step by step as it runs (decoder_utils.extract_video_metadata
    then FixedStrideExtractorStage), from what ffprobe prints for the file: the duration as
    ``%f`` of ``ts * av_q2d(time_base)``, the average rate as ``num/den``."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        if stream.duration is not None:
            printed = "%f" % (stream.duration * (stream.time_base.numerator / stream.time_base.denominator))
        else:
            printed = "%f" % (container.duration * (1 / 1000000))
        num, den = stream.average_rate.numerator, stream.average_rate.denominator
    fps = num / den
    num_frames = int(float(printed) * fps)
    duration = num_frames / fps if fps > 0 else -1
    bounds, start = [], 0.0
    while start < duration:
        end = min(start + clip_len_s, duration)
        if end - start >= min_clip_length_s:
            bounds.append((start, end))
        start += clip_stride_s
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path}_{int(s * fps)}_{int(e * fps)}")) for s, e in bounds]
    return num_frames, bounds, ids


#: (rate, frames): frame counts for which the reference's num_frames is one short of the
#: file's (its printed duration rounds down) while the exact duration is not, but at 25 fps,
#: where no count between 2.5 and 4.7 s differs and 113 frames truncate both ways.
TRUNCATED = [(Fraction(24000, 1001), 64), (Fraction(25), 113), (Fraction(30000, 1001), 74), (Fraction(30), 76),
             (Fraction(60000, 1001), 151), (Fraction(60), 152)]


@pytest.mark.parametrize(("rate", "frames"), TRUNCATED, ids=lambda v: f"{float(v):.3f}" if isinstance(v, Fraction) else None)
def test_spans_and_uuids_are_the_references_at_every_common_rate(tmp_path, rate, frames):
    path = str(samples.write_sample_video(tmp_path / "v.mp4", "pan", frames / rate, fps=rate, width=64, height=48))
    probe = probe_video_file(path)
    settings = StageSettings(clip_len_s=1.0, clip_stride_s=1.0, min_clip_length_s=0.5)
    plans = plan_video(path, probe, settings)
    spans = [s for plan in plans for s in plan.spans]
    num_frames, bounds, ids = reference_plan(path, 1.0, 1.0, 0.5)
    assert num_frames == frames - 1 and probe.num_frames == num_frames  # truncated, as in the reference
    assert [(s.start, s.end) for s in spans] == bounds
    assert [s.uuid for s in spans] == ids
    assert {plan.video_end for plan in plans} == {num_frames / probe.framerate}


def test_a_variable_rate_video_is_planned_as_the_reference_plans_it(tmp_path):
    # 30 fps for 2 s, 15 fps for 2 s, 30 fps again: the average rate is ~25 fps.
    times = [Fraction(i, 30) for i in range(60)] + [2 + Fraction(i, 15) for i in range(30)] + \
        [4 + Fraction(i, 30) for i in range(60)]
    path = str(samples.write_variable_rate_video(tmp_path / "vfr.mp4", times))
    probe = probe_video_file(path)
    plans = plan_video(path, probe, StageSettings(clip_len_s=2.0, clip_stride_s=2.0, min_clip_length_s=1.0))
    num_frames, bounds, ids = reference_plan(path, 2.0, 2.0, 1.0)
    assert 24 < probe.framerate < 26 and probe.num_frames == num_frames
    assert [(s.start, s.end) for plan in plans for s in plan.spans] == bounds
    assert [s.uuid for plan in plans for s in plan.spans] == ids


def test_planned_duration():
    assert planned_duration(300, 30.0) == 10.0
    assert planned_duration(300, 0.0) == -1.0  # no frame rate, no clips
