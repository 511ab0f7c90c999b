"""Cutting the clips of one chunk out of a source video and encoding each to an MP4 clip.

The source is decoded once per chunk: seek to the key frame before the chunk's first span,
decode through its last span's end, and hand every decoded frame to the encoder of each span
it belongs to. Only open encoders hold frames (x264's look-ahead), so memory does not grow
with the length of the video or of the chunk.

Frame selection is by timestamp, like ``ffmpeg -ss start -to end -i src`` in the reference:
a frame at time t (seconds since the stream's first timestamp) belongs to the span
[start, end) when ``start - tol <= t < end - tol``; ``tol`` (a quarter frame, at most 1 ms)
absorbs timestamps rounded to the container's time base (e.g. milliseconds in Matroska)
and span bounds such as 10.000000000000002 that accumulate from the stride. A 10 s span of
a 30 fps video gets 300 frames. A span that ends at the video's planned end also gets the
frames after it (plan.py: the planned duration can be a frame short of the stream's).

Timing: a clip's time 0 is its first frame. Each frame keeps its time in the source: for a
constant-rate source it is put on the grid of the average frame rate (so a Matroska file's
millisecond timestamps become exact 1/30 s steps, and a frame the source lacks leaves a gap
instead of pulling the rest of the clip early); a variable-rate source keeps its own time
base and timestamps. The clip's audio (audio_cut.py) covers the same source time as its
video, so the two stay in sync.

Encoding: the chosen encoder (encoders.py) in yuv420p, bytes independent of the run and the
CPU (bitexact.py), muxed with its audio by clip_output.py. When the motion filter cannot
score the clip itself as the reference would (motion.py), the same frames also go to a
second encoder, libx264 with FFmpeg's defaults at the source's size: the reference's clip.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import BinaryIO

from .audio_track import AudioError, AudioWindow
from .plan import ClipSpan

#: A source whose nominal rate (r_frame_rate) is this close to its average rate is taken
#: as constant-rate: its frames are put on the average rate's grid.
CONSTANT_RATE_TOLERANCE = 0.005
#: Seek this much earlier when audio is carried: a container interleaves audio and video
#: within about a second, and the audio just before the first span's key frame holds the
#: first clip's pre-roll.
AUDIO_SEEK_MARGIN_S = 1.0


class SourceVideoError(RuntimeError):
    """The source video cannot be opened or has no decodable video stream."""


@dataclass(frozen=True)
class EncodeSettings:
    """How clips are encoded. ``target_height`` None keeps the source size."""

    target_height: int | None = None
    encoder: str = "libx264"
    #: The encoder's options (x264: ``preset``, ``crf`` ...); empty means FFmpeg's defaults.
    encoder_options: dict[str, str] = field(default_factory=dict)
    #: One thread per encoder, as the reference runs it: output is then the same on every
    #: machine, and Dask runs many chunks side by side anyway.
    encoder_threads: int = 1
    #: Carry the source's first audio stream into each clip.
    audio: bool = True
    #: Also make the stream the motion filter scores, when the clip itself is not it
    #: (:meth:`clip_is_motion_stream`).
    motion_stream: bool = False

    def clip_is_motion_stream(self, width: int, height: int) -> bool:
        """Whether the clip is what the reference scores motion on: libx264 with FFmpeg's
        defaults, one thread, at the source's size (the reference's transcode does not scale)."""
        return (self.encoder == "libx264" and not self.encoder_options and self.encoder_threads == 1
                and output_size(width, height, self.target_height) == output_size(width, height, None))


#: The reference's clip encoding: what the motion filter scores (motion.py).
MOTION_STREAM = EncodeSettings(audio=False)


@dataclass
class EncodedClip:
    """What transcoding one span gave: the mp4 bytes (None on failure) and what we know."""

    span: ClipSpan
    data: bytes | None = None
    num_frames: int = 0
    width: int | None = None
    height: int | None = None
    error: str | None = None  # goes to the clip's errors under "transcode"
    #: The separate motion stream (H.264 at the source's size), when one was made.
    motion_data: bytes | None = None
    motion_stream_made: bool = False
    audio_error: str | None = None  # goes to the clip's errors under "audio"

    @property
    def motion_bytes(self) -> bytes | None:
        """What the motion filter scores: the motion stream where one was needed, else the clip."""
        return self.motion_data if self.motion_stream_made else self.data


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


def clip_tick(average_rate: Fraction, nominal_rate: Fraction | None, time_base: Fraction) -> Fraction:
    """The time base of a source's clips: one frame of the average rate for a constant-rate
    source, the source's own time base for a variable-rate one (its nominal rate, FFmpeg's
    r_frame_rate, is not its average rate)."""
    if not nominal_rate or abs(Fraction(nominal_rate) / average_rate - 1) <= CONSTANT_RATE_TOLERANCE:
        return 1 / Fraction(average_rate)
    return Fraction(time_base)


def clip_pts(seconds_since_first: Fraction, tick: Fraction, previous: int) -> int:
    """A frame's pts in its clip: its time on the tick grid, after the previous frame's."""
    return max(round(seconds_since_first / tick), previous + 1)


def transcode_spans(
    source: str | BinaryIO,
    spans: Sequence[ClipSpan],
    settings: EncodeSettings = EncodeSettings(),
    *,
    video_end: float | None = None,
    on_clip: Callable[[EncodedClip], None] | None = None,
) -> list[EncodedClip]:
    """Encode every span of ``spans`` (one video, any order) from ``source`` (a local path or an
    open, seekable binary file). Returns one :class:`EncodedClip` per span, in span order.
    Spans ending at ``video_end`` (the planned end, plan.py) run to the end of the stream.
    ``on_clip`` is called with each clip as soon as it is made (progress).

    Raises :class:`SourceVideoError` when the source cannot be opened at all. Failures after
    that are per clip: a span that decoding never reached, or during which a packet could not
    be decoded, gets ``error`` and no bytes; a span cut short by the end of the data keeps the
    frames it got and says so in ``error``.
    """
    import av

    from .span_cutter import SpanCutter

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
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise SourceVideoError(f"source video {spans[0].video!r} has no frame rate")
        audio = None
        if settings.audio and container.streams.audio:
            try:
                audio = AudioWindow(container.streams.audio[0])
            except Exception as exc:  # noqa: BLE001 - an audio stream we cannot read costs the clips their audio
                for result in results:
                    result.audio_error = str(exc) if isinstance(exc, AudioError) else f"{type(exc).__name__}: {exc}"
        SpanCutter(container, stream, spans, results, settings, workdir, audio=audio, video_end=video_end,
                   on_clip=on_clip).run()
    return results
