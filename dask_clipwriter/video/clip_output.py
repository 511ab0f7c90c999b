"""One clip's MP4 while it is made: its video encoder, then its audio, then the file's bytes.

Video packets are kept (encoded: a few MB for a 10 s 1080p clip) until the clip's video is
done and its audio is known; then both tracks are muxed, interleaved by time. The clip is
muxed with ``movflags=+faststart``: FFmpeg's faststart pass re-opens the finished file by
name to move the index to the front, which an in-memory buffer cannot do, so such a clip is
written to a temporary file and read back. A stream only the motion filter reads is made in
memory, without faststart.

A clip with audio counts its movie time (the edit lists, the track durations in the header)
in :func:`movie_timescale` units, a multiple of both the video's tick and the audio's
sample rate, so both tracks' edits are exact; FFmpeg's default of 1000 would round a 29.97
fps clip's audio edit to the millisecond (tens of samples at 44.1 kHz). A clip without
audio keeps the default, and with it the bytes it always had.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from .bitexact import reproducible_encoder_options, scaler_flags

_NO_PICTURE_TYPE = 0  # AV_PICTURE_TYPE_NONE: let the encoder choose
#: The mp4 muxer's ``movie_timescale`` is an int option (at most INT_MAX).
_MAX_TIMESCALE = 2**31 - 1


def movie_timescale(tick: Fraction, sample_rate: int) -> int:
    """The movie time scale of a clip with audio: lcm(the video tick's denominator, the
    sample rate), in which every whole number of ticks and of samples is exact (30000/1001
    fps with 44.1 kHz: 4410000). Should that not fit FFmpeg's int option (an exotic time
    base), the sample rate alone: the audio's edit stays exact, the video's rounds to it."""
    scale = math.lcm(Fraction(tick).denominator, int(sample_rate))
    return scale if scale <= _MAX_TIMESCALE else int(sample_rate)


class ClipOutput:
    """An MP4 being made from frames: ``path`` a temporary file (faststart) or None (memory)."""

    def __init__(self, path: str | None, *, encoder: str, options: dict[str, str], threads: int,
                 rate: Fraction, tick: Fraction, size: tuple[int, int]):
        self.path = path
        self.size = size
        self.tick = tick
        self.count = 0
        self.last_pts = -1
        self.packets: list[Any] = []
        self.audio_error: str | None = None
        self.container = self._open_container()
        stream = self.container.add_stream(encoder, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = tick
        stream.codec_context.thread_count = threads
        chosen = reproducible_encoder_options(encoder, options)
        if chosen:
            stream.codec_context.options = chosen
        self.stream = stream

    def _open_container(self) -> Any:
        import av

        if self.path is None:
            self._buffer = io.BytesIO()
            return av.open(self._buffer, "w", format="mp4")
        self._buffer = None
        return av.open(self.path, "w", format="mp4", options={"movflags": "+faststart"})

    def add(self, frame: Any, pts: int) -> None:
        """Encode ``frame`` at ``pts`` ticks (strictly increasing; the caller times the frames)."""
        width, height = self.size
        # reformat() returns the decoded frame itself when nothing changes, and overlapping
        # spans share it; re-timing it in place is still safe because the encoder takes its
        # own reference (with its own pts) when the frame is sent.
        picture = frame.reformat(width=width, height=height, format="yuv420p", interpolation=scaler_flags())
        # The decoder's picture type would force x264's frame types (libavcodec's libx264
        # wrapper obeys it): every source I frame would become an I frame of the clip, and
        # an mpeg4 source with a 12-frame GOP gives a clip whose motion samples are all I
        # frames, without motion vectors. FFmpeg's CLI clears it too.
        picture.pict_type = _NO_PICTURE_TYPE
        picture.pts = pts
        picture.time_base = self.tick
        self.packets += self.stream.encode(picture)
        self.count += 1
        self.last_pts = pts

    def finish(self, audio: Callable[[Any], list[Any]] | None = None) -> bytes:
        """Flush the encoder, add the audio (``audio(container)`` adds its stream and returns
        its packets), mux both by time, and return the file's bytes.

        Should the audio stream fail to start with the file (its codec does not open, or the
        muxer refuses it in the header), the clip is made without it and :attr:`audio_error`
        says why: bad audio must not cost the clip its video."""
        try:
            self.packets += self.stream.encode(None)
            extra = audio(self.container) if audio is not None else []
            if self.container.streams.audio:
                rate = self.container.streams.audio[0].codec_context.sample_rate
                # Read by the muxer when the header is written (start_encoding).
                self.container.options["movie_timescale"] = str(movie_timescale(self.tick, rate))
            try:
                self.container.start_encoding()
            except Exception as exc:  # noqa: BLE001 - FFmpeg's refusal, whatever its type
                if not self.container.streams.audio:
                    raise
                self.audio_error = f"the clip could not take the audio stream: {type(exc).__name__}: {exc}"
                extra = []
                self._reopen_without_audio()
            for packet in self.packets:
                packet.stream = self.stream
            for packet in sorted([*self.packets, *extra], key=_mux_time):
                self.container.mux(packet)
        finally:
            self.packets = []
            self.container.close()
        if self._buffer is not None:
            return self._buffer.getvalue()
        with open(self.path, "rb") as f:
            data = f.read()
        os.unlink(self.path)
        return data

    def _reopen_without_audio(self) -> None:
        """A fresh container holding only the encoded video (its packets are not muxed yet).
        The new one is made first, from the old one's video stream, and in a file of its own:
        closing the old container frees that stream and may still write to its file."""
        refused, path = self.container, self.path
        if path is not None:
            self.path = path + ".video.mp4"
        self.container = self._open_container()
        self.stream = self.container.add_stream_from_template(self.stream)
        try:
            refused.close()
        except Exception:  # noqa: BLE001 - the refused container goes whatever it says
            pass
        if path is not None and os.path.exists(path):
            os.unlink(path)

    def abandon(self) -> None:
        self.packets = []
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a half-written encoder may fail to close; the file goes anyway
            pass
        if self.path is not None and os.path.exists(self.path):
            os.unlink(self.path)


def _mux_time(packet: Any) -> Fraction:
    """When a packet is needed, in seconds: its decoding time (presentation where none)."""
    stamp = packet.dts if packet.dts is not None else packet.pts
    return Fraction(stamp or 0) * (packet.time_base or 1)
