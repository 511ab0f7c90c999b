"""The cutter's one pass over a chunk: the audio it keeps, audio that ends before the video."""

from __future__ import annotations

import io
import tempfile

import av
import numpy as np

from dask_clipwriter.video import samples
from dask_clipwriter.video.audio_track import KEEP_BEFORE_S, AudioWindow
from dask_clipwriter.video.plan import plan_spans
from dask_clipwriter.video.span_cutter import SpanCutter
from dask_clipwriter.video.transcode import EncodedClip, EncodeSettings, transcode_spans


class CountingWindow(AudioWindow):
    """The real window, noting how many packets it holds at most."""

    most = 0

    def add(self, packet) -> None:
        super().add(packet)
        self.most = max(self.most, len(self.packets))


def test_the_audio_window_holds_only_what_the_clips_still_need(tmp_path):
    path = str(samples.write_sample_video(tmp_path / "long.mp4", "static", 20.0, width=64, height=48, audio="aac"))
    spans = plan_spans(path, 600, 30.0, clip_len_s=1.0, clip_stride_s=1.0, min_clip_length_s=0.5)
    results = [EncodedClip(span) for span in spans]
    with av.open(path) as container, tempfile.TemporaryDirectory() as workdir:
        window = CountingWindow(container.streams.audio[0])
        SpanCutter(container, container.streams.video[0], spans, results, EncodeSettings(), workdir,
                   audio=window).run()
    per_second = 48000 / 1024
    assert all(r.data and r.audio_error is None for r in results) and len(results) == 20
    # a second before the earliest clip still open, that clip, and one trimming interval of 64
    # packets: far less than the 20 s of the source (938 packets)
    assert window.most < (KEEP_BEFORE_S + 2) * per_second + 64 < 20 * per_second / 3


def test_audio_that_ends_before_the_video(tmp_path):
    """Clips after the audio's end have no audio track, without an error; the clip across
    its end has the audio there is."""
    path = tmp_path / "short_audio.mp4"
    with av.open(str(path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = container.add_stream("aac", rate=48000, layout="mono")
        pcm = samples.tone(2 * 48000, 48000)  # 2 s of audio, 6 s of video
        for start in range(0, len(pcm), 1024):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
        for i in range(180):
            picture = np.full((48, 64, 3), i % 256, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    clips = transcode_spans(str(path), plan_spans(str(path), 180, 30.0, clip_len_s=1.5, clip_stride_s=1.5,
                                                 min_clip_length_s=0.5))
    assert [c.audio_error for c in clips] == [None] * 4 and all(c.data for c in clips)
    seconds = []
    for clip in clips:
        with av.open(io.BytesIO(clip.data)) as container:
            audio = container.streams.audio
            seconds.append(float(audio[0].duration * audio[0].time_base) if audio else None)
    assert seconds[0] == 1.5 and 0.49 < seconds[1] < 0.52 and seconds[2:] == [None, None]
