"""The reference's rules for a video's duration and frame count, shared by both probes
(PyAV's in ``probe.py``, the MP4 header's in ``mp4_header.py``). Pure."""

from __future__ import annotations


def printed_seconds(seconds: float) -> float:
    """A time as ffprobe prints it (``%f``: rounded to the microsecond), read back as a float.

    The reference takes a video's duration from ffprobe's JSON text, so its num_frames, and
    with them its spans and clip uuids, follow from that rounded value: 361 frames at 30 fps
    last 12.033333 s in print, and int(12.033333 * 30) is 360. Using the exact duration would
    give 361 frames here and another last span and uuid than the reference's.
    """
    return float(f"{seconds:f}")


def stream_seconds(duration: int, time_base_numerator: int, time_base_denominator: int) -> float:
    """A stream's duration in seconds as ffprobe prints it: ``duration * av_q2d(time_base)``
    (a double product), then :func:`printed_seconds`."""
    return printed_seconds(duration * (time_base_numerator / time_base_denominator))


def frame_count(seconds: float, framerate: float) -> int:
    """``num_frames = int(duration * fps)``, as the reference computes it."""
    return int(seconds * framerate)
