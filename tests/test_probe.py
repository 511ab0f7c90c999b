"""PyAV probing of real encoded bytes."""

import io

import pytest
from clip_helpers import encode_h264

from dask_clipwriter.probe import ProbeError, printed_seconds, probe_clip_bytes, probe_video_file


def test_probe_clip_bytes(h264_clip):
    probe = probe_clip_bytes(h264_clip)
    assert (probe.width, probe.height, probe.framerate, probe.num_frames, probe.video_codec) == (64, 48, 30.0, 30, "h264")


def test_probe_video_file_values():
    data = encode_h264(width=128, height=72, frames=50, fps=25)
    probe = probe_video_file(io.BytesIO(data))
    assert (probe.width, probe.height, probe.framerate, probe.num_frames) == (128, 72, 25.0, 50)
    assert probe.duration == pytest.approx(2.0) and probe.pixel_format == "yuv420p" and probe.audio_codec is None


@pytest.mark.parametrize("data", [b"", b"\x00" * 1000, b"not a video at all"])
def test_unprobeable_bytes(data):
    with pytest.raises(ProbeError):
        probe_clip_bytes(data)


def test_truncated_clip_is_refused_or_probed_consistently(h264_clip):
    # The moov atom of a non-faststart MP4 is at the end: cutting it makes the file unreadable.
    with pytest.raises(ProbeError):
        probe_clip_bytes(h264_clip[: len(h264_clip) // 2])


def test_tail_check_catches_a_truncated_video_with_a_full_index(tmp_path):
    from dask_clipwriter.video import samples

    samples.make_sample_videos(tmp_path, {"pan.mp4": ("pan", 6.0)})
    samples.write_truncated_video(tmp_path / "pan.mp4", tmp_path / "cut.mp4", keep=0.4)
    whole = probe_video_file(str(tmp_path / "pan.mp4"), check_tail=True)
    assert whole.duration == pytest.approx(6.0)
    cut = probe_video_file(str(tmp_path / "cut.mp4"))  # the index alone still claims 6 s
    assert cut.duration == pytest.approx(6.0)
    with pytest.raises(ProbeError, match="truncated"):
        probe_video_file(str(tmp_path / "cut.mp4"), check_tail=True)


def test_durations_are_read_as_ffprobe_prints_them():
    # The reference reads ffprobe's "%f" text: 361 frames at 30 fps last 12.033333 s there,
    # and int(12.033333 * 30) is 360.
    assert printed_seconds(361 * 512 / 15360) == 12.033333
    assert printed_seconds(2.0) == 2.0 and printed_seconds(10.0100004) == 10.01
    probe = probe_video_file(io.BytesIO(encode_h264(width=64, height=48, frames=361, fps=30)))
    assert (probe.duration, probe.num_frames) == (12.033333, 360)
