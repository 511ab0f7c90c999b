"""Caption windows over the frames of a clip (docs/spec/clip-records.md).

A window is a range of frame indices inside the clip, end inclusive; the captioner gets one
window at a time and each window of a passed clip gets its own preview
(``previews/<clip uuid>/<start_frame>_<end_frame>.webp``).
"""

from __future__ import annotations

from typing import NamedTuple

DEFAULT_WINDOW_SIZE = 256
DEFAULT_REMAINDER_THRESHOLD = 128
#: A clip with fewer frames than this has no window (the reference's WINDOW_MIN_FRAMES).
MIN_WINDOW_FRAMES = 4


class FrameWindow(NamedTuple):
    start_frame: int
    end_frame: int  # inclusive

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame + 1


def caption_windows(
    num_frames: int,
    window_size: int = DEFAULT_WINDOW_SIZE,
    remainder_threshold: int = DEFAULT_REMAINDER_THRESHOLD,
) -> list[FrameWindow]:
    """Windows over ``num_frames`` frames.

    n < 4: none; n <= window_size: one window [0, n-1]; otherwise full windows of
    ``window_size`` frames, and the remainder is a window of its own when it has at least
    ``remainder_threshold`` frames, else it extends the last full window.
    """
    if window_size <= 0:
        raise ValueError(f"window_size must be > 0, got {window_size}")
    if num_frames < MIN_WINDOW_FRAMES:
        return []
    if num_frames <= window_size:
        return [FrameWindow(0, num_frames - 1)]
    num_full, remainder = divmod(num_frames, window_size)
    windows = [FrameWindow(i * window_size, (i + 1) * window_size - 1) for i in range(num_full)]
    # ``remainder > 0`` first: with remainder_threshold 0 the reference would append an
    # empty window (start n, end n-1), which the writer rightly refuses.
    if remainder > 0 and remainder >= remainder_threshold:
        windows.append(FrameWindow(num_frames - remainder, num_frames - 1))
    elif remainder > 0:
        windows[-1] = FrameWindow(windows[-1].start_frame, num_frames - 1)
    return windows
