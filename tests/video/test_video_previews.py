"""Frame sampling and animated WebP previews."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dask_clipwriter.video.frames import decode_frames, sample_indices, scaled_size
from dask_clipwriter.video.plan import plan_spans
from dask_clipwriter.video.previews import encode_webp, make_window_previews
from dask_clipwriter.video.transcode import transcode_spans
from dask_clipwriter.video.windows import FrameWindow, caption_windows


def test_sample_indices_at_one_fps():
    assert sample_indices(0, 299, 30.0, 1.0) == list(range(0, 300, 30))  # 10 s: 10 frames
    assert len(sample_indices(0, 255, 30.0, 1.0)) == 9  # 8.53 s
    assert sample_indices(256, 299, 30.0, 1.0) == [256, 286]
    assert sample_indices(0, 3, 30.0, 1.0) == [0]
    assert sample_indices(0, 59, 30.0, 2.0) == [0, 15, 30, 45]
    assert sample_indices(0, 99, 29.97, 1.0) == [0, 30, 60, 90]
    assert sample_indices(5, 4, 30.0, 1.0) == []
    with pytest.raises(ValueError):
        sample_indices(0, 10, 0.0, 1.0)


def test_scaled_size_keeps_aspect():
    assert scaled_size(320, 256, 240) == (300, 240)
    assert scaled_size(1920, 1080, 240) == (427, 240)
    assert scaled_size(320, 256, None) == (320, 256)


@pytest.fixture(scope="module")
def clip(pan_video, pan_probe):
    spans = plan_spans(pan_video, pan_probe.num_frames, pan_probe.framerate)
    return transcode_spans(pan_video, spans[:1])[0]


def test_decode_frames_returns_the_asked_frames(clip):
    frames = decode_frames(clip.data, [0, 150, 299, 400])
    assert sorted(frames) == [0, 150, 299]  # 400 is past the end
    assert frames[0].shape == (256, 320, 3) and frames[0].dtype == np.uint8
    assert decode_frames(clip.data, [10], height=120)[10].shape == (120, 150, 3)


def animation(data: bytes):
    image = Image.open(io.BytesIO(data))
    durations = []
    for k in range(image.n_frames):
        image.seek(k)
        image.load()  # Pillow fills in a frame's duration when it decodes it
        durations.append(image.info["duration"])
    image.seek(0)
    return image, durations


def test_one_animated_webp_per_window(clip):
    windows = caption_windows(clip.num_frames, window_size=128, remainder_threshold=32)
    assert windows == [FrameWindow(0, 127), FrameWindow(128, 255), FrameWindow(256, 299)]
    previews = make_window_previews(clip.data, windows, 30.0)
    counts = []
    for data in previews:
        image, durations = animation(data)
        assert image.format == "WEBP" and image.size == (300, 240)
        assert image.info["loop"] == 0 and set(durations) == {1000}
        counts.append(image.n_frames)
    assert counts == [5, 5, 2]  # 4.27 s, 4.27 s, 1.47 s at 1 fps


def test_preview_of_a_whole_10s_clip(clip):
    (data,) = make_window_previews(clip.data, caption_windows(clip.num_frames), 30.0)
    image, _ = animation(data)
    assert image.n_frames == 10 and image.is_animated and image.size[1] == 240


def test_lossy_quality_changes_the_size():
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (240, 300, 3), dtype=np.uint8) for _ in range(2)]
    assert len(encode_webp(frames, quality=10)) < len(encode_webp(frames, quality=50)) < len(encode_webp(frames, quality=90))
    with pytest.raises(ValueError):
        encode_webp([])
