"""Cutting the clips of one chunk out of a source video and encoding each to H.264 MP4.

The source is decoded once per chunk: seek to the key frame before the chunk's first span,
decode through its last span's end, and hand every decoded frame to the encoder of each span
it belongs to. Only open encoders hold frames (x264's look-ahead), so memory does not grow
with the length of the video or of the chunk.

Frame selection is by timestamp, like ``ffmpeg -ss start -to end -i src`` in the reference:
a frame at time t (seconds since the stream's first timestamp) belongs to the span
[start, end) when ``start - tol <= t < end - tol``; ``tol`` (a quarter frame, at most 1 ms)
absorbs timestamps rounded to the container's time base (e.g. milliseconds in Matroska)
and span bounds such as 10.000000000000002 that accumulate from the stride. A 10 s span of
a 30 fps video gets 300 frames.

Clips are re-timed to constant frame rate (the source's average rate), encoded with libx264
in yuv420p (the reference's encoder, ffmpeg defaults unless set; bytes independent of the run
and the CPU, see bitexact.py), and muxed with
``movflags=+faststart``. FFmpeg's faststart pass re-opens the finished file by name to move
the index to the front, which an in-memory buffer cannot do, so each clip is written to a
temporary file and read back. Audio is not carried over (the reference copies it).
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO

from .bitexact import reproducible_encoder_options, scaler_flags
from .plan import ClipSpan

_NO_PICTURE_TYPE = 0  # AV_PICTURE_TYPE_NONE: let the encoder choose


class SourceVideoError(RuntimeError):
    """The source video cannot be opened or has no decodable video stream."""


@dataclass(frozen=True)
class EncodeSettings:
    """How clips are encoded. ``target_height`` None keeps the source size."""

    target_height: int | None = None
    encoder: str = "libx264"
    #: Extra encoder options (x264: ``preset``, ``crf`` ...); empty means FFmpeg's defaults.
    encoder_options: dict[str, str] = field(default_factory=dict)
    #: One thread per encoder, as the reference runs it: output is then the same on every
    #: machine, and Dask runs many chunks side by side anyway.
    encoder_threads: int = 1


@dataclass
class EncodedClip:
    """What transcoding one span gave: the mp4 bytes (None on failure) and what we know."""

    span: ClipSpan
    data: bytes | None = None
    num_frames: int = 0
    width: int | None = None
    height: int | None = None
    error: str | None = None  # goes to the clip's errors under "transcode"


def output_size(width: int, height: int, target_height: int | None) -> tuple[int, int]:
    """Encoded size: scaled to ``target_height`` keeping the aspect, both sides even
    (yuv420p subsamples chroma 2x2, so libx264 refuses odd sizes)."""
    if target_height is None:
        return max(2, width - width % 2), max(2, height - height % 2)
    if target_height < 2:
        raise ValueError(f"target_height must be >= 2, got {target_height}")
    out_h = target_height - target_height % 2
    # Halves round up, as FFmpeg's ``scale=-2:h`` does (av_rescale rounds to nearest, ties
    # away from zero): 320x256 at height 180 is 226 wide, not Python's round-half-even 224.
    out_w = 2 * max(1, math.floor(width * out_h / height / 2 + 0.5))
    return out_w, out_h


class TimestampGuesser:
    """Best-effort frame timestamps, as libavcodec's ``guess_correct_pts``.

    Some containers carry no real presentation times: AVI with B frames gives decoded frames
    pts in decode order (1, 4, 3, 5, 2 ...), or none at all. Count how often pts and dts go
    backwards and trust the one that does so less, as FFmpeg does for its
    ``best_effort_timestamp``.
    """

    def __init__(self) -> None:
        self.faulty_pts = self.faulty_dts = 0
        self.last_pts = self.last_dts = None

    def __call__(self, pts: int | None, dts: int | None) -> int | None:
        if dts is not None:
            self.faulty_dts += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.faulty_pts += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if pts is not None and (self.faulty_pts <= self.faulty_dts or dts is None):
            return pts
        return dts


def frame_tolerance(framerate: float) -> float:
    return min(0.001, 0.25 / framerate) if framerate > 0 else 0.001


class _ClipEncoder:
    """One span's encoder, writing to a temporary mp4 file (see the module docstring)."""

    def __init__(self, path: str, rate: Fraction, size: tuple[int, int], settings: EncodeSettings):
        import av

        self.path = path
        self.rate = rate
        self.size = size
        self.count = 0
        self.container = av.open(path, "w", format="mp4", options={"movflags": "+faststart"})
        stream = self.container.add_stream(settings.encoder, rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.codec_context.thread_count = settings.encoder_threads
        options = reproducible_encoder_options(settings.encoder, settings.encoder_options)
        if options:
            stream.codec_context.options = options
        self.stream = stream

    def add(self, frame: Any) -> None:
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
        picture.pts = self.count
        picture.time_base = 1 / self.rate
        for packet in self.stream.encode(picture):
            self.container.mux(packet)
        self.count += 1

    def finish(self) -> bytes:
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
        finally:
            self.container.close()
        with open(self.path, "rb") as f:
            data = f.read()
        os.unlink(self.path)
        return data

    def abandon(self) -> None:
        try:
            self.container.close()
        except Exception:  # noqa: BLE001 - a half-written encoder may fail to close; the file goes anyway
            pass
        if os.path.exists(self.path):
            os.unlink(self.path)


def transcode_spans(
    source: str | BinaryIO,
    spans: Sequence[ClipSpan],
    settings: EncodeSettings = EncodeSettings(),
) -> list[EncodedClip]:
    """Encode every span of ``spans`` (one video, any order) from ``source`` (a local path or an
    open, seekable binary file). Returns one :class:`EncodedClip` per span, in span order.

    Raises :class:`SourceVideoError` when the source cannot be opened at all. Failures after
    that are per clip: a span that decoding never reached, or during which a packet could not
    be decoded, gets ``error`` and no bytes; a span cut short by the end of the data keeps the
    frames it got and says so in ``error``.
    """
    import av

    results = [EncodedClip(span) for span in spans]
    if not spans:
        return results
    try:
        container = av.open(source, mode="r")
    except Exception as exc:  # PyAV raises many types (InvalidDataError, OSError, ...)
        raise SourceVideoError(f"cannot open source video {spans[0].video!r}: {exc}") from exc
    with container, tempfile.TemporaryDirectory(prefix="clipwriter-transcode-") as workdir:
        if not container.streams.video:
            raise SourceVideoError(f"source video {spans[0].video!r} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        _ChunkCutter(container, stream, spans, results, settings, workdir).run()
    return results


class _ChunkCutter:
    """The decode loop of :func:`transcode_spans`, with its bookkeeping."""

    def __init__(self, container, stream, spans, results, settings, workdir):
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise SourceVideoError(f"source video {spans[0].video!r} has no frame rate")
        self.container, self.stream, self.spans, self.results = container, stream, spans, results
        self.settings, self.workdir = settings, workdir
        self.rate = Fraction(rate)
        self.tol = frame_tolerance(float(self.rate))
        self.origin = stream.start_time or 0  # timestamps count from the stream's first one
        self.timestamp = TimestampGuesser()
        self.encoders: dict[int, _ClipEncoder] = {}
        self.done: set[int] = set()
        self.last_time: dict[int, float] = {}
        self.failed: dict[int, str] = {}

    def run(self) -> None:
        import av

        first = min(span.start for span in self.spans)
        if first > self.tol:
            # Backward seek lands on the key frame at or before the target; earlier frames are
            # then decoded and dropped by the timestamp test.
            target = self.origin + int(first / self.stream.time_base)
            try:
                self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
            except av.error.FFmpegError:
                pass  # an unseekable source is read from its start; it is only slower
        try:
            self._decode_all()
        except Exception as exc:  # noqa: BLE001 - demuxing a damaged file: stop, keep what we have
            self._fail_unfinished(f"reading the source failed: {type(exc).__name__}: {exc}")
        for index in range(len(self.spans)):
            if index not in self.done:
                self._close(index, ended_early=True)

    def _decode_all(self) -> None:
        import av

        last_end = max(span.end for span in self.spans)
        for packet in self.container.demux(self.stream):
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                # Every clip being cut when the damage came is marked failed; later ones go on.
                self._fail_open(f"decoding failed near t={self._packet_time(packet)}: {exc}")
                continue
            for frame in frames:
                t = self._frame_time(frame)
                if t is None:
                    continue
                self._route(frame, t)
                if t >= last_end - self.tol:
                    return

    def _frame_time(self, frame) -> float | None:
        timestamp = self.timestamp(frame.pts, frame.dts)
        if timestamp is None or frame.time_base is None:
            return None  # a frame with no time cannot be placed in a span
        return float((timestamp - self.origin) * frame.time_base)

    def _packet_time(self, packet) -> str:
        if packet.pts is None or packet.time_base is None:
            return "?"
        return f"{float((packet.pts - self.origin) * packet.time_base):.3f}s"

    def _route(self, frame, t: float) -> None:
        for index, span in enumerate(self.spans):
            if index in self.done:
                continue
            if t >= span.end - self.tol:
                self._close(index, ended_early=False)
            elif t >= span.start - self.tol:
                self._encoder(index, frame).add(frame)
                self.last_time[index] = t

    def _encoder(self, index: int, frame) -> _ClipEncoder:
        if index not in self.encoders:
            size = output_size(frame.width, frame.height, self.settings.target_height)
            path = os.path.join(self.workdir, f"{index}.mp4")
            self.encoders[index] = _ClipEncoder(path, self.rate, size, self.settings)
        return self.encoders[index]

    def _fail_open(self, message: str) -> None:
        for index in self.encoders:
            if index not in self.done:
                self.failed.setdefault(index, message)

    def _fail_unfinished(self, message: str) -> None:
        for index in range(len(self.spans)):
            if index not in self.done:
                self.failed.setdefault(index, message)

    def _close(self, index: int, *, ended_early: bool) -> None:
        self.done.add(index)
        result, span = self.results[index], self.spans[index]
        encoder = self.encoders.pop(index, None)
        if encoder is None:
            result.error = self.failed.get(index) or f"no frames decoded in [{span.start}, {span.end})"
            return
        result.num_frames = encoder.count
        result.width, result.height = encoder.size
        if index in self.failed:
            encoder.abandon()
            result.error = self.failed[index]
            return
        try:
            result.data = encoder.finish()
        except Exception as exc:  # noqa: BLE001 - one clip's encoder failing must not stop the chunk
            encoder.abandon()
            result.error = f"encoding failed: {type(exc).__name__}: {exc}"
            return
        # At the end of the data a span is short when its last frame is well before its end.
        if ended_early and self.last_time[index] + 1.5 / float(self.rate) < span.end:
            result.error = (
                f"source ended at {self.last_time[index]:.3f}s, before the clip's end {span.end:.3f}s "
                f"({encoder.count} frames)"
            )
