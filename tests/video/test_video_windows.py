"""Caption windows over n frames (window_size 256, remainder_threshold 128)."""

from __future__ import annotations

import pytest

from dask_clipwriter.video.windows import FrameWindow, caption_windows


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, []),
        (3, []),
        (4, [(0, 3)]),
        (256, [(0, 255)]),
        (257, [(0, 256)]),  # remainder 1 < 128: extends the last window
        (300, [(0, 299)]),
        (383, [(0, 382)]),  # remainder 127: still extends
        (384, [(0, 255), (256, 383)]),  # remainder 128: a window of its own
        (512, [(0, 255), (256, 511)]),
        (700, [(0, 255), (256, 511), (512, 699)]),  # remainder 188
        (600, [(0, 255), (256, 599)]),  # remainder 88 extends the second window
    ],
)
def test_default_windows(n, expected):
    assert caption_windows(n) == [FrameWindow(*w) for w in expected]


def test_custom_window_size_and_threshold():
    assert caption_windows(100, window_size=30, remainder_threshold=10) == [(0, 29), (30, 59), (60, 89), (90, 99)]
    assert caption_windows(95, window_size=30, remainder_threshold=10) == [(0, 29), (30, 59), (60, 94)]


def test_threshold_zero_never_makes_an_empty_window():
    assert caption_windows(512, remainder_threshold=0) == [(0, 255), (256, 511)]
    assert caption_windows(513, remainder_threshold=0) == [(0, 255), (256, 511), (512, 512)]


def test_window_frame_counts_cover_the_clip():
    windows = caption_windows(1000)
    assert sum(w.num_frames for w in windows) == 1000
    assert windows[0].start_frame == 0 and windows[-1].end_frame == 999
