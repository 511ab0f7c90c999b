"""The synthetic sample videos are what the demo and the other tests take them for."""

from __future__ import annotations

import pytest

from dask_clipwriter.probe import ProbeError, probe_video_file
from dask_clipwriter.video import samples
from dask_clipwriter.video.plan import plan_spans


@pytest.mark.parametrize(("name", "frames"), [("pan_12s.mp4", 360), ("shapes_4s.mp4", 120), ("static_4s.mp4", 120)])
def test_samples_probe_as_small_h264_videos(video_dir, name, frames):
    probe = probe_video_file(str(video_dir / name))
    assert (probe.width, probe.height, probe.framerate, probe.num_frames) == (320, 256, 30.0, frames)
    assert (probe.video_codec, probe.pixel_format, probe.audio_codec) == ("h264", "yuv420p", None)
    assert (video_dir / name).stat().st_size < 40_000 * frames / 30  # well under 40 kB a second


def test_the_default_set_is_declared_with_the_spec_lengths():
    assert {kind for kind, _ in samples.DEFAULT_SAMPLES.values()} == set(samples.SAMPLE_KINDS)
    assert max(seconds for _, seconds in samples.DEFAULT_SAMPLES.values()) == 25.0


def test_helpers_for_bad_inputs(tmp_path, video_dir):
    with pytest.raises(ProbeError):
        probe_video_file(str(samples.write_corrupt_video(tmp_path / "bad.mp4")))
    short = samples.write_too_short_video(tmp_path / "short.mp4")
    probe = probe_video_file(str(short))
    assert probe.num_frames == 30 and plan_spans(str(short), probe.num_frames, probe.framerate) == []
    damaged = samples.write_damaged_video(video_dir / "pan_12s.mp4", tmp_path / "damaged.mp4")
    assert probe_video_file(str(damaged)).num_frames == 360  # still opens and probes
    with pytest.raises(ValueError, match="unknown sample kind"):
        samples.write_sample_video(tmp_path / "x.mp4", "zoom")


def test_samples_are_reproducible(tmp_path):
    a = samples.write_sample_video(tmp_path / "a.mp4", "shapes", 1.0, seed=3).read_bytes()
    b = samples.write_sample_video(tmp_path / "b.mp4", "shapes", 1.0, seed=3).read_bytes()
    assert a == b
