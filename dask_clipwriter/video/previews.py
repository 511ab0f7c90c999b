"""Animated WebP previews, one per caption window of a passed clip.

As the reference's PreviewStage (``ffmpeg -vf fps=1,scale=-1:240 -c:v libwebp -lossless 0
-compression_level 6 -q:v 50 -loop 0``): one frame per second of the window, 240 px high with
the aspect kept, lossy quality 50, each frame shown 1 s, looping forever. Made from the
encoded clip (what a reader of the dataset sees), not from the source.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from .frames import decode_frames, sample_indices
from .windows import FrameWindow

PREVIEW_FPS = 1.0
PREVIEW_HEIGHT = 240
PREVIEW_QUALITY = 50
#: libwebp's effort, 0-6 (FFmpeg's ``compression_level``); the reference uses 6.
PREVIEW_METHOD = 6


def encode_webp(
    frames: Sequence[np.ndarray],
    frame_duration_ms: int = round(1000 / PREVIEW_FPS),
    quality: int = PREVIEW_QUALITY,
) -> bytes:
    """An animated, looping, lossy WebP of RGB frames (all of the same size)."""
    from PIL import Image

    if not frames:
        raise ValueError("a preview needs at least one frame")
    images = [Image.fromarray(np.ascontiguousarray(frame)) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="WEBP",
        save_all=True,
        append_images=images[1:],
        duration=frame_duration_ms,
        loop=0,
        lossless=False,
        quality=quality,
        method=PREVIEW_METHOD,
    )
    return buffer.getvalue()


def make_window_previews(
    data: bytes,
    windows: Sequence[FrameWindow],
    framerate: float,
    *,
    fps: float = PREVIEW_FPS,
    height: int = PREVIEW_HEIGHT,
    quality: int = PREVIEW_QUALITY,
) -> list[bytes | None]:
    """One WebP per window of the clip ``data`` (frame rate ``framerate``), in window order.

    The clip is decoded once; only the sampled frames, already scaled, are kept. A window
    whose frames could not be decoded (a clip shorter than its probe said) gets None.
    """
    picks = [sample_indices(w.start_frame, w.end_frame, framerate, fps) for w in windows]
    frames = decode_frames(data, {i for pick in picks for i in pick}, height=height)
    previews: list[bytes | None] = []
    for pick in picks:
        chosen = [frames[i] for i in pick if i in frames]
        previews.append(encode_webp(chosen, round(1000 / fps), quality) if chosen else None)
    return previews
