"""Probing encoded video with PyAV, in-process (no ffprobe subprocess).

Two entry points:

* :func:`probe_clip_bytes` gives the clip-level keys of ``metas/v0`` (width, height,
  framerate, num_frames, video_codec) from a clip's encoded bytes: read from the MP4 header
  (``mp4_header.py``, about 40 times cheaper) where the header is one that module reads as
  FFmpeg does, else with PyAV; the values are the same either way.
* :func:`probe_video_file` gives the video-level values of ``processed_videos`` from an
  open binary file (local or fsspec).

Both follow the same rules: the frame rate is the stream's *average* rate (num/den), the
duration comes from the stream and falls back to the container, and
``num_frames = int(duration * framerate)``. The duration is the value ffprobe prints (see
:func:`printed_seconds`), because the reference reads it from ffprobe's text.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields
from typing import BinaryIO

from .mp4_header import read_clip_header
from .probe_values import frame_count, printed_seconds, stream_seconds

__all__ = ["PROBE_KEYS", "ClipProbe", "ProbeError", "VideoProbe", "printed_seconds", "probe_clip_bytes",
           "probe_clip_bytes_with_pyav", "probe_video_file"]


class ProbeError(ValueError):
    """The bytes could not be opened or have no video stream."""


@dataclass(frozen=True)
class ClipProbe:
    width: int
    height: int
    framerate: float
    num_frames: int
    video_codec: str


#: The clip-level values probed from a clip's bytes, in the order of the metas keys 8-12.
#: The one list of them: clip records, clip metas and the job's stages all use it.
PROBE_KEYS: tuple[str, ...] = tuple(f.name for f in fields(ClipProbe))


@dataclass(frozen=True)
class VideoProbe:
    width: int
    height: int
    framerate: float
    num_frames: int
    duration: float
    video_codec: str
    pixel_format: str | None
    audio_codec: str | None


def codec_name(context) -> str:
    """The codec's name as ffprobe's ``codec_name`` gives it (``mp3``), not the decoder's
    (``mp3float``, ``libdav1d``), which is what ``context.name`` says."""
    return str(context.codec.canonical_name)


def _open(source):
    import av  # imported lazily: PyAV is an optional extra

    try:
        return av.open(source, mode="r")
    except Exception as exc:  # PyAV raises many types (InvalidDataError, OSError, ...)
        raise ProbeError(f"cannot open as video: {exc}") from exc


def _stream_values(container):
    if not container.streams.video:
        raise ProbeError("no video stream")
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise ProbeError("video stream has no frame rate")
    framerate = float(rate)
    # ffprobe multiplies by the time base as a double (av_q2d), then prints (printed_seconds).
    if stream.duration is not None and stream.time_base is not None:
        duration = stream_seconds(stream.duration, stream.time_base.numerator, stream.time_base.denominator)
    elif container.duration is not None:
        duration = printed_seconds(container.duration * (1 / 1_000_000))  # av.time_base: microseconds
    else:
        raise ProbeError("neither the video stream nor the container has a duration")
    ctx = stream.codec_context
    return stream, ctx, framerate, duration


def probe_clip_bytes(data: bytes) -> ClipProbe:
    """Probe a clip's encoded bytes; raises :class:`ProbeError` when that is impossible."""
    if not data:
        raise ProbeError("no bytes")
    header = read_clip_header(data)
    if header is not None:
        return ClipProbe(width=header.width, height=header.height, framerate=header.framerate,
                         num_frames=header.num_frames, video_codec=header.video_codec)
    return probe_clip_bytes_with_pyav(data)


def probe_clip_bytes_with_pyav(data: bytes) -> ClipProbe:
    """:func:`probe_clip_bytes` by opening the clip with PyAV (its demuxer and decoder)."""
    if not data:
        raise ProbeError("no bytes")
    with _open(io.BytesIO(data)) as container:
        _, ctx, framerate, duration = _stream_values(container)
        return ClipProbe(
            width=int(ctx.width),
            height=int(ctx.height),
            framerate=framerate,
            num_frames=frame_count(duration, framerate),
            video_codec=codec_name(ctx),
        )


def _check_tail_decodes(container, stream, duration: float) -> None:
    """A truncated file often still has a complete index claiming the full duration: seek to
    its last second and require a frame to decode there (one GOP of work, not the file)."""
    target = max(duration - 1.0, 0.0)
    try:
        container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        for _ in container.decode(stream):
            return
    except Exception as exc:  # PyAV raises several error types for broken data
        raise ProbeError(f"truncated or damaged: decoding fails near the end ({exc})") from exc
    raise ProbeError(f"truncated: no frame decodes in the last second of the claimed {duration:.2f} s")


def probe_video_file(fileobj: BinaryIO | str, *, check_tail: bool = False) -> VideoProbe:
    """Probe a whole source video (a path or an open binary file object).

    ``check_tail`` also checks that the end of the video decodes (see
    :func:`_check_tail_decodes`); the job uses it so a truncated source becomes a video-level
    error instead of clips that fail one by one."""
    with _open(fileobj) as container:
        stream, ctx, framerate, duration = _stream_values(container)
        if check_tail:
            _check_tail_decodes(container, stream, duration)
        pix_fmt = getattr(ctx, "pix_fmt", None) or getattr(stream.format, "name", None)
        audio = container.streams.audio
        return VideoProbe(
            width=int(ctx.width),
            height=int(ctx.height),
            framerate=framerate,
            num_frames=frame_count(duration, framerate),
            duration=duration,
            video_codec=codec_name(ctx),
            pixel_format=pix_fmt,
            audio_codec=codec_name(audio[0].codec_context) if audio else None,
        )
