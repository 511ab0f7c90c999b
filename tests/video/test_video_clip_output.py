"""One clip's MP4: encoded frames and audio muxed by time, faststart or in memory."""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np

from dask_clipwriter.video import samples
from dask_clipwriter.video.clip_output import ClipOutput


def pictures(path, count):
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= count:
                return
            yield frame


def aac_track(seconds: float):
    """``audio(container)`` for ClipOutput.finish: an AAC stream of the tone, its packets."""

    def add(container):
        stream = container.add_stream("aac", rate=48000, layout="mono")
        pcm = samples.tone(round(seconds * 48000), 48000)
        packets = []
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            packets += stream.encode(frame)
        packets += stream.encode(None)
        for packet in packets:
            packet.stream = stream
        return packets

    return add


def output(path):
    return ClipOutput(path, encoder="libx264", options={}, threads=1, rate=Fraction(30), tick=Fraction(1, 30),
                      size=(64, 48))


def test_a_clip_file_is_faststart_with_audio_and_video_interleaved(tmp_path, pan_video):
    clip = output(str(tmp_path / "clip.mp4"))
    for index, frame in enumerate(pictures(pan_video, 360)):  # 12 s: longer than FFmpeg's own
        clip.add(frame, index)                               # interleaving queue (10 s)
    data = clip.finish(aac_track(12.0))
    assert not (tmp_path / "clip.mp4").exists()  # read back and removed
    assert data[4:8] == b"ftyp" and 0 < data.find(b"moov") < data.find(b"mdat")
    with av.open(io.BytesIO(data)) as container:
        order = [(p.stream.type, float(p.dts * p.time_base)) for p in container.demux() if p.size]
    assert {kind for kind, _ in order} == {"video", "audio"}
    # interleaved by time in the file: no packet comes more than half a second after a later one
    latest = np.maximum.accumulate([t for _, t in order])
    assert (latest - np.array([t for _, t in order])).max() < 0.5


def test_a_stream_made_in_memory_needs_no_file(pan_video):
    clip = output(None)
    for index, frame in enumerate(pictures(pan_video, 30)):
        clip.add(frame, 2 * index)  # every other tick: the caller times the frames
    data = clip.finish()
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert [s.type for s in container.streams] == ["video"]
        shown = sorted(frame.pts * stream.time_base for frame in container.decode(stream))
    assert shown == [Fraction(2 * i, 30) for i in range(30)]


def test_an_abandoned_clip_leaves_no_file(tmp_path, pan_video):
    clip = output(str(tmp_path / "clip.mp4"))
    clip.add(next(pictures(pan_video, 1)), 0)
    clip.abandon()
    assert list(tmp_path.iterdir()) == []


def test_an_audio_stream_that_cannot_start_costs_the_clip_its_audio_not_its_video(tmp_path, pan_video):
    clip = output(str(tmp_path / "clip.mp4"))
    for index, frame in enumerate(pictures(pan_video, 30)):
        clip.add(frame, index)
    # An audio stream that cannot start when the file does: FFmpeg's Vorbis encoder is
    # "experimental" and refuses to open (PyAV opens every stream's codec with the header)
    data = clip.finish(lambda container: [] if container.add_stream("vorbis", rate=48000) is None else [])
    assert clip.audio_error.startswith("the clip could not take the audio stream: ExperimentalError")
    with av.open(io.BytesIO(data)) as container:
        assert [s.type for s in container.streams] == ["video"]
        assert sum(1 for _ in container.decode(video=0)) == 30
    assert list(tmp_path.iterdir()) == []
