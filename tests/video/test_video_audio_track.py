"""Each clip carries the source's audio for exactly its video, in sync (real videos, tone tracks).

The sources' audio is :func:`samples.tone`, a tone whose frequency steps every 0.25 s, so a
clip's audio can be placed in the source: by sample equality where it is copied (a copied
AAC cut decodes to the very samples of the whole source), by cross-correlation where it is
re-encoded.
"""

from __future__ import annotations

import io
import math
import tempfile
from fractions import Fraction

import av
import numpy as np
import pytest

from dask_clipwriter.probe import probe_clip_bytes, probe_video_file
from dask_clipwriter.video import samples
from dask_clipwriter.video.audio_track import AudioWindow
from dask_clipwriter.video.plan import ClipSpan, plan_spans, planned_duration
from dask_clipwriter.video.span_cutter import SpanCutter
from dask_clipwriter.video.transcode import EncodedClip, EncodeSettings, transcode_spans

FPS = 30


def decoded_audio(data_or_path) -> tuple[np.ndarray, int]:
    source = io.BytesIO(data_or_path) if isinstance(data_or_path, bytes) else data_or_path
    with av.open(source) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate
        frames = [frame.to_ndarray().astype(np.float32) for frame in container.decode(stream)]
    pcm = np.concatenate([f.reshape(f.shape[0], -1)[0] for f in frames])
    if pcm.dtype != np.float32 or np.abs(pcm).max() > 1.5:
        pcm = pcm / 32768.0
    return pcm, rate


def audio_stream(data: bytes):
    with av.open(io.BytesIO(data)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        video = container.streams.video[0]
        return {"codec": stream.codec_context.codec.canonical_name, "seconds": stream.duration * stream.time_base,
                "video_seconds": video.duration * video.time_base, "start": stream.start_time,
                "packets": [bytes(p) for p in container.demux(stream) if p.size]}


def cut(path, clip_len_s, settings=EncodeSettings()):
    probe = probe_video_file(str(path))
    spans = plan_spans(str(path), probe.num_frames, probe.framerate, clip_len_s, clip_len_s, 0.5)
    return transcode_spans(str(path), spans, settings, video_end=video_end(path))


def video_end(path) -> float:
    probe = probe_video_file(str(path))
    return planned_duration(probe.num_frames, probe.framerate)


def first_frame_time(start: float) -> Fraction:
    """The source time of a clip's first frame: the first 1/30 s step at or after its start
    (less the cutter's tolerance of 1 ms, which absorbs 3.4 * 30 = 102.00000000000001)."""
    return Fraction(math.ceil(start * FPS - 0.03), FPS)


@pytest.fixture(scope="module")
def aac_source(tmp_path_factory):
    return samples.write_sample_video(tmp_path_factory.mktemp("audio") / "aac.mp4", "pan", 6.0, width=64, height=48,
                                      audio="aac")


@pytest.fixture(scope="module")
def aac_clips(aac_source):
    # 1.7 s clips: starts at 1.7, 3.4, 5.1 s fall inside AAC frames (81600 / 1024 = 79.7 ...)
    return cut(aac_source, 1.7)


def test_copied_aac_is_the_sources_audio_from_the_first_frame_for_the_videos_duration(aac_source, aac_clips):
    whole, rate = decoded_audio(str(aac_source))
    source_packets = audio_stream(aac_source.read_bytes())["packets"]
    assert [(c.span.start, c.span.end) for c in aac_clips] == [(0.0, 1.7), (1.7, 3.4), (3.4, 5.1), (5.1, 6.0)]
    for clip in aac_clips:
        track = audio_stream(clip.data)
        assert track["codec"] == "aac" and track["start"] == 0
        assert track["seconds"] == track["video_seconds"] == Fraction(clip.num_frames, FPS)
        # copied: the clip's packets are a run of the source's packets, byte for byte
        first = source_packets.index(track["packets"][0])
        assert track["packets"] == source_packets[first:first + len(track["packets"])]
        # in sync: its first sample is the one the source plays with the clip's first frame
        offset = round(first_frame_time(clip.span.start) * rate)
        got, _ = decoded_audio(clip.data)
        n = round(track["seconds"] * rate)
        assert np.array_equal(got[:n], whole[offset:offset + n])
        # decoders that decode the last packet whole give less than one AAC frame more
        assert n <= len(got) < n + 1024


def test_consecutive_clips_tile_the_sources_audio(aac_clips):
    lengths = [audio_stream(c.data)["seconds"] for c in aac_clips]
    assert sum(lengths) == 6  # 1.7 + 1.7 + 1.7 + 0.9: no sample twice, none left out


@pytest.fixture(scope="module")
def pcm_source(tmp_path_factory):
    return samples.write_sample_video(tmp_path_factory.mktemp("audio") / "pcm.mov", "pan", 4.0, width=64, height=48,
                                      audio="pcm_s16le", sample_rate=44100)


def best_lag(got: np.ndarray, want: np.ndarray, offset: int, search: int = 256) -> tuple[int, float]:
    """Where ``got`` sits in ``want`` relative to ``offset`` (want[offset + lag + i] ~ got[i]),
    by cross-correlation over got's inside, and the normalised correlation there."""
    n = min(len(got), len(want) - offset - search) - 2 * search
    inside = got[search:search + n]

    def score(lag):
        at = offset + lag + search
        return float(np.dot(inside, want[at:at + n])) if at >= 0 else -np.inf

    lag = max(range(-search, search + 1), key=score)
    at = offset + lag + search
    return lag, score(lag) / float(np.linalg.norm(inside) * np.linalg.norm(want[at:at + n]))


def test_pcm_is_re_encoded_to_aac_sample_exact_at_both_ends(pcm_source):
    clips = cut(pcm_source, 1.7)
    tone = samples.tone(4 * 44100, 44100)
    for clip in clips:
        track = audio_stream(clip.data)
        assert track["codec"] == "aac"
        assert track["seconds"] == track["video_seconds"] == Fraction(clip.num_frames, FPS)
        got, rate = decoded_audio(clip.data)
        offset = round(first_frame_time(clip.span.start) * rate)
        lag, correlation = best_lag(got[:round(track["seconds"] * rate)], tone, offset)
        assert lag == 0 and correlation > 0.99


def test_no_audio_when_asked_or_when_the_source_has_none(aac_source, video_dir):
    quiet = cut(aac_source, 3.0, EncodeSettings(audio=False))
    assert [audio_stream(c.data) for c in quiet] == [None, None]
    silent_source = cut(video_dir / "shapes_4s.mp4", 2.0)
    assert [audio_stream(c.data) for c in silent_source] == [None, None]
    assert all(c.audio_error is None for c in silent_source)
    # the video is the same either way
    loud = cut(aac_source, 3.0)
    assert [probe_clip_bytes(c.data) for c in quiet] == [probe_clip_bytes(c.data) for c in loud]


@pytest.mark.parametrize(("name", "encoder", "codec", "exact"), [("ms.mkv", "aac", "aac", False),
                                                                 ("mp3.mp4", "libmp3lame", "mp3", True)])
def test_other_copied_sources(tmp_path, name, encoder, codec, exact):
    """Matroska's millisecond timestamps put back on the sample grid; MP3 with its bit reservoir."""
    path = samples.write_sample_video(tmp_path / name, "pan", 3.0, width=64, height=48, audio=encoder)
    whole, rate = decoded_audio(str(path))
    for clip in cut(path, 1.3):
        track = audio_stream(clip.data)
        assert track["codec"] == codec and track["seconds"] == Fraction(clip.num_frames, FPS)
        got, _ = decoded_audio(clip.data)
        offset = round(first_frame_time(clip.span.start) * rate)
        n = round(track["seconds"] * rate)
        if exact:
            assert np.array_equal(got[:n], whole[offset:offset + n])
        else:  # Matroska's clock: within its millisecond
            lag, correlation = best_lag(got[:n], whole, offset)
            assert abs(lag) <= rate // 1000 and correlation > 0.999


def test_variable_rate_clips_keep_their_frame_times_and_their_audio(tmp_path):
    times = [Fraction(i, 30) for i in range(60)] + [2 + Fraction(i, 15) for i in range(30)] + \
        [4 + Fraction(i, 30) for i in range(30)]
    path = samples.write_variable_rate_video(tmp_path / "vfr.mp4", times, audio="aac")
    whole, rate = decoded_audio(str(path))
    clips = cut(path, 1.5)
    for clip in clips:
        with av.open(io.BytesIO(clip.data)) as container:
            video = container.streams.video[0]
            shown = sorted(frame.pts * video.time_base for frame in container.decode(video))
        start = next(t for t in times if t >= clip.span.start - Fraction(1, 1000))
        # a clip ending at the planned end runs to the end of the stream
        end = math.inf if clip.span.end >= video_end(path) else clip.span.end - 0.001
        in_span = [t - start for t in times if clip.span.start - Fraction(1, 1000) <= t < end]
        assert shown == in_span[:len(shown)] and len(shown) == len(in_span)  # each frame at its own time
        track = audio_stream(clip.data)
        got, _ = decoded_audio(clip.data)
        offset, n = round(start * rate), round(track["seconds"] * rate)
        assert np.array_equal(got[:n], whole[offset:offset + n])


def movie_timescale(data: bytes) -> int:
    """The MP4's movie time scale (``mvhd``): edit lists and track durations count in it."""
    at = data.find(b"mvhd")
    version = data[at + 4]
    return int.from_bytes(data[at + 16:at + 20] if version == 0 else data[at + 24:at + 28], "big")


NTSC = Fraction(30000, 1001)


@pytest.fixture(scope="module")
def ntsc_source(tmp_path_factory):
    """29.97 fps with 44.1 kHz AAC: neither a frame nor a sample is a whole number of ms."""
    return samples.write_sample_video(tmp_path_factory.mktemp("audio") / "ntsc.mp4", "pan", 6.0, fps=NTSC,
                                      width=64, height=48, audio="aac", sample_rate=44100)


@pytest.mark.parametrize("audio", [True, False])
def test_edit_lists_are_exact_at_29_97_fps_with_44_1_khz_audio(ntsc_source, audio):
    """The edit lists count in the movie time scale; FFmpeg's default of 1000 rounded a
    45-frame clip's audio to 1.501 or 1.502 s (66194 or 66238 samples, not 66216). With audio
    the time scale is lcm(30000, 44100): the audio lasts the video's time to the sample."""
    clips = cut(ntsc_source, 1.5, EncodeSettings(audio=audio))
    assert len(clips) == 4
    for clip in clips:
        video_seconds = Fraction(clip.num_frames * 1001, 30000)
        if not audio:
            assert movie_timescale(clip.data) == 1000 and audio_stream(clip.data) is None  # as before
            continue
        assert movie_timescale(clip.data) == math.lcm(30000, 44100) == 4410000
        track = audio_stream(clip.data)
        assert track["video_seconds"] == video_seconds
        start = math.ceil(clip.span.start * NTSC - Fraction(3, 100)) / NTSC  # its first frame's time
        assert track["seconds"] * 44100 == round((start + video_seconds) * 44100) - round(start * 44100)


def test_consecutive_clips_audio_tiles_at_29_97_fps_and_44_1_khz(tmp_path):
    """Each clip's audio is samples [round(t0 * rate), round((t0 + duration) * rate)): the end
    rounded from the span's time, not the start plus a rounded duration. 1.5015 s is 66216.15
    samples, so the fractions add up: with the start and the duration rounded apart, clip 3
    ended at sample 264864 and clip 4 began at 264865 (6.006 s), a sample that no clip had."""
    source = samples.write_sample_video(tmp_path / "ntsc.mp4", "pan", 9.0, fps=NTSC, width=64, height=48,
                                        audio="aac", sample_rate=44100)
    whole, rate = decoded_audio(str(source))
    clips = cut(source, 1.5)
    assert len(clips) == 6 and rate == 44100
    ranges = []
    for clip in clips:
        first_frame = math.ceil(clip.span.start * NTSC - Fraction(3, 100)) / NTSC
        first = round(first_frame * rate)
        track = audio_stream(clip.data)
        ranges.append((first, first + int(track["seconds"] * rate)))
        got, _ = decoded_audio(clip.data)
        n = ranges[-1][1] - first
        assert np.array_equal(got[:n], whole[first:first + n])  # in place, to the sample
    assert [end for _, end in ranges[:-1]] == [first for first, _ in ranges[1:]]  # no gap, no overlap
    # the last clip runs to the end of the stream: 270 frames, 9.009 s, 397296.9 samples
    assert ranges[0][0] == 0 and ranges[-1][1] == round(Fraction(270) / NTSC * rate) == 397297


class FirstPacketWindow(AudioWindow):
    """The real window, noting the time of the first audio packet the demuxer gave it."""

    first_read = None

    def add(self, packet) -> None:
        if self.first_read is None and packet.pts is not None:
            self.first_read = packet.pts * packet.time_base
        super().add(packet)


@pytest.mark.parametrize(("name", "codec", "rate"), [("aac.mp4", "aac", 48000), ("pcm.mov", "pcm_s16le", 44100)])
def test_clips_well_into_the_source_are_cut_after_a_seek_with_exactly_their_audio(tmp_path, name, codec, rate):
    """A chunk of clips [8, 9.3) and [9.3, 10.6) s seeks (key frames every 2 s) rather than
    reading from the start; each clip's audio is still the tone of its span: copied AAC to the
    sample, re-encoded PCM at lag 0. The first starts on a key frame, so the AAC pre-roll it
    needs lies before the video's seek point (the cutter seeks a second earlier with audio)."""
    path = str(samples.write_sample_video(tmp_path / name, "pan", 12.0, width=64, height=48, audio=codec,
                                          sample_rate=rate))
    spans = [ClipSpan(path, 8.0, 9.3, "first"), ClipSpan(path, 9.3, 10.6, "second")]
    results = [EncodedClip(span) for span in spans]
    with av.open(path) as container, tempfile.TemporaryDirectory() as workdir:
        window = FirstPacketWindow(container.streams.audio[0])
        SpanCutter(container, container.streams.video[0], spans, results, EncodeSettings(), workdir,
                   audio=window).run()
    assert 4 < window.first_read < 8  # it seeked: the first 4 s were never read
    whole = decoded_audio(path)[0] if codec == "aac" else samples.tone(12 * rate, rate)
    for result in results:
        assert result.data and result.error is None and result.audio_error is None
        track = audio_stream(result.data)
        assert result.num_frames == 39 and track["codec"] == "aac"
        assert track["seconds"] == track["video_seconds"] == Fraction(39, 30)
        got, _ = decoded_audio(result.data)
        offset, n = round(Fraction(result.span.start).limit_denominator(10) * rate), round(Fraction(39, 30) * rate)
        if codec == "aac":  # copied: the source's own samples from the clip's start
            assert np.array_equal(got[:n], whole[offset:offset + n])
        else:  # re-encoded: the tone from the clip's start, not a sample early or late
            lag, correlation = best_lag(got[:n], whole, offset)
            assert lag == 0 and correlation > 0.99
