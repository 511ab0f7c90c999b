"""A clip's audio track, from the source's first audio stream (PyAV; the rules are in audio_cut.py).

During a chunk's decode, :class:`AudioWindow` keeps the source's audio packets (their
bytes, a few hundred kB a minute) from a little before the earliest clip still to be made.
When a clip's video is done and the audio past its end has been read, :meth:`track` adds
the clip's audio stream to its container and returns the packets to mux: the source's own
packets (stream copy) or AAC made from the decoded samples.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from ..probe import codec_name
from . import audio_cut
from .audio_cut import AudioPacket
from .bitexact import float_audio_codec_init

#: Packets are kept from this long before the earliest sample a clip may still need: more
#: than any pre-roll (an MP3 bit reservoir at 8 kbit/s spans about half a second).
KEEP_BEFORE_S = 1.0
#: Samples of a PCM sample format, scaled to [-1, 1) as AAC's float input wants.
_INTEGER_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


class AudioError(RuntimeError):
    """The clip's audio could not be made (the clip keeps its video; errors["audio"])."""


class AudioWindow:
    """The source's first audio stream during one chunk's decode."""

    def __init__(self, stream: Any):
        context = stream.codec_context
        self.stream = stream
        self.codec = codec_name(context)
        self.sample_rate = int(context.sample_rate or stream.rate or 0)
        if self.sample_rate <= 0:
            raise AudioError(f"audio stream of codec {self.codec} has no sample rate")
        self.copy = audio_cut.copies(self.codec)
        self.time_base = stream.time_base or Fraction(1, self.sample_rate)
        self.frame_size = int(context.frame_size or 0)
        self.packets: list[AudioPacket] = []
        self.data: list[tuple[bytes, int, int]] = []  # bytes, pts, duration (source time base)
        self.read_to = None  # end sample of the last packet read
        self.ended = False

    def sample_of(self, seconds: Fraction) -> int:
        """The sample (on the source's audio timeline) played at ``seconds`` of the container clock."""
        return round(seconds * self.sample_rate)

    def span_samples(self, start: Fraction, duration: Fraction) -> tuple[int, int]:
        """The samples ``[first, end)`` played from ``start`` for ``duration`` seconds. Both
        ends are rounded from their own time, so a span that ends where the next starts
        shares its boundary sample with it: at 44.1 kHz a 29.97 fps clip lasts fractional
        samples (45 frames: 66216.15), and a rounded duration added to a rounded start
        drifted off the next clip's start by a sample every few clips."""
        return self.sample_of(start), self.sample_of(start + duration)

    def add(self, packet: Any) -> None:
        if packet.pts is None or packet.size == 0:
            return  # nothing to place on the timeline (an empty flush packet)
        previous = self.packets[-1] if self.packets else None
        entry = audio_cut.continue_timeline(previous, packet.pts, packet.duration or 0, self.time_base,
                                            self.sample_rate, self.frame_size, packet.size)
        self.packets.append(entry)
        self.data.append((bytes(packet), packet.pts, packet.duration or 0))
        self.read_to = entry.end if self.read_to is None else max(self.read_to, entry.end)

    def covers(self, end: int) -> bool:
        """Whether every packet a clip ending at sample ``end`` needs has been read."""
        return self.ended or (self.read_to is not None and self.read_to >= end)

    def forget_before(self, sample: int) -> None:
        """Drop the packets that end well before ``sample`` (no clip still needs them)."""
        limit = sample - round(KEEP_BEFORE_S * self.sample_rate)
        drop = 0
        while drop < len(self.packets) and self.packets[drop].end < limit:
            drop += 1
        if drop:
            del self.packets[:drop], self.data[:drop]

    def track(self, container: Any, first: int, end: int) -> list[Any]:
        """Add the clip's audio stream to ``container`` (before anything is muxed) and return
        its packets for the audio of samples ``[first, end)``; [] when the source has none there."""
        if self.copy:
            selection = audio_cut.copy_selection(self.codec, self.packets, first, end)
            if not selection:
                return []
            out = container.add_stream_from_template(self.stream)
            return [self._copied(out, chosen) for chosen in selection]
        indices = audio_cut.decode_selection(self.packets, first, end, self.sample_rate)
        if not indices:
            return []
        return _AacTrack(self, container).encode(indices, first, end)

    def _copied(self, out: Any, chosen: audio_cut.CopiedPacket) -> Any:
        import av

        packet = av.Packet(self.data[chosen.index][0])
        packet.time_base = Fraction(1, self.sample_rate)
        packet.pts = packet.dts = chosen.start
        packet.duration = chosen.samples
        packet.is_keyframe = True
        packet.stream = out
        return packet

    def source_packet(self, index: int) -> Any:
        """A fresh packet of the source's ``index``-th kept packet, for its own decoder."""
        import av

        data, pts, duration = self.data[index]
        packet = av.Packet(data)
        packet.time_base, packet.pts, packet.dts, packet.duration = self.time_base, pts, pts, duration
        return packet


class _AacTrack:
    """Re-encoding: decode the chosen packets, keep samples [first, end), encode AAC."""

    def __init__(self, window: AudioWindow, container: Any):
        self.window = window
        self.container = container

    def encode(self, indices: range, first: int, end: int) -> list[Any]:
        samples, layout = self._decoded(indices, first, end)
        rate, layout = audio_cut.aac_format(self.window.sample_rate, layout)
        if rate != self.window.sample_rate or layout != self._layout_name:
            samples = _converted(samples, self._layout_name, self.window.sample_rate, layout, rate)
        stream = self.container.add_stream("aac", rate=rate, layout=layout)
        stream.bit_rate = audio_cut.aac_bit_rate(samples.shape[0])
        with float_audio_codec_init():
            stream.codec_context.open()
        packets = []
        size = 1024  # AAC's frame
        for start in range(0, samples.shape[1], size):
            frame = _float_frame(samples[:, start:start + size], layout, rate, start)
            packets += stream.encode(frame)
        packets += stream.encode(None)
        for packet in packets:
            packet.stream = stream
        return packets

    def _decoded(self, indices: range, first: int, end: int) -> tuple[np.ndarray, str]:
        """Planar float samples of [first, end) (silence where the source has none)."""
        window = self.window
        decoder = window.stream.codec_context
        if not decoder.is_open:
            with float_audio_codec_init():
                decoder.open()
        decoder.flush_buffers()  # each clip is decoded afresh from its own pre-roll
        pieces: list[tuple[int, np.ndarray]] = []
        previous = None
        self._layout_name = decoder.layout.name
        for index in indices:
            for frame in decoder.decode(window.source_packet(index)):
                if frame.pts is None:
                    continue
                previous = audio_cut.continue_timeline(previous, frame.pts, 0, frame.time_base or window.time_base,
                                                       window.sample_rate, frame.samples)
                pieces.append((previous.start, _planar_float(frame)))
                self._layout_name = frame.layout.name
        channels = pieces[0][1].shape[0] if pieces else decoder.layout.nb_channels
        out = np.zeros((max(1, channels), end - first), np.float32)
        for start, block in pieces:
            lo, hi = max(start, first), min(start + block.shape[1], end)
            if lo < hi:
                out[:, lo - first:hi - first] = block[:, lo - start:hi - start]
        return out, self._layout_name


def _planar_float(frame: Any) -> np.ndarray:
    """A decoded frame as (channels, samples) float32 in [-1, 1): exact for PCM, no resampler."""
    array = frame.to_ndarray()
    name = frame.format.name
    if not frame.format.is_planar:
        array = array.reshape(-1, frame.layout.nb_channels).T
    base = name.rstrip("p")
    if base in _INTEGER_SCALE:
        offset = 128.0 if base == "u8" else 0.0
        return ((array.astype(np.float64) - offset) / _INTEGER_SCALE[base]).astype(np.float32)
    return array.astype(np.float32)


def _float_frame(block: np.ndarray, layout: str, rate: int, pts: int) -> Any:
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=layout)
    frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
    return frame


def _converted(samples: np.ndarray, layout: str, rate: int, out_layout: str, out_rate: int) -> np.ndarray:
    """Another layout or rate for AAC, through swresample (rare: sources AAC cannot take)."""
    import av

    resampler = av.AudioResampler(format="fltp", layout=out_layout, rate=out_rate)
    frames: list[Any] = []
    with float_audio_codec_init():  # swresample, too, picks its SIMD when it starts
        frames += resampler.resample(_float_frame(samples, layout, rate, 0))
    frames += resampler.resample(None)
    blocks = [frame.to_ndarray() for frame in frames]
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((1, 0), np.float32)

