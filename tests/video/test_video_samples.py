"""The synthetic sample videos are what the demo and the other tests take them for."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
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


def test_the_tone_is_the_same_signal_in_pieces_and_changes_every_step():
    whole = samples.tone(48000, 48000)
    pieces = np.concatenate([samples.tone(12345, 48000, 0), samples.tone(48000 - 12345, 48000, 12345)])
    assert np.array_equal(whole, pieces)
    # the frequency of each 0.25 s step, counted by zero crossings: 300, 337, 374, 411 Hz
    steps = whole.reshape(4, 12000)
    crossings = [(np.diff(np.signbit(step).astype(int)) != 0).sum() / 2 / 0.25 for step in steps]
    assert crossings == pytest.approx([300, 337, 374, 411], abs=4)


@pytest.mark.parametrize(("name", "codec"), [("a.mp4", "aac"), ("a.mov", "pcm_s16le"), ("a.mkv", "libopus")])
def test_samples_with_a_tone_track(tmp_path, name, codec):
    path = samples.write_sample_video(tmp_path / name, "pan", 1.0, width=64, height=48, audio=codec)
    with av.open(str(path)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == codec.removeprefix("lib") and audio.codec_context.sample_rate == 48000
        decoded = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio)])
    if codec == "pcm_s16le":  # lossless: the tone itself
        assert np.array_equal(decoded, np.round(samples.tone(48000, 48000) * 32767).astype(np.int16))
    assert probe_video_file(str(path)).audio_codec == codec.removeprefix("lib")


def test_variable_rate_samples_keep_their_frame_times(tmp_path):
    times = [Fraction(i, 30) for i in range(10)] + [Fraction(1, 3) + Fraction(i, 10) for i in range(5)]
    path = samples.write_variable_rate_video(tmp_path / "vfr.mp4", times)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        got = sorted(frame.pts * stream.time_base for frame in container.decode(stream))
    assert got == times
