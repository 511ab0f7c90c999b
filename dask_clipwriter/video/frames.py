"""Picking and decoding frames of an encoded clip, for previews and model plug-ins.

Frames are addressed by their index in the clip (0 = first frame), the same numbering as the
caption windows. A clip is decoded once per request and only the asked-for frames are
converted to RGB, so a caller holds a handful of pictures, never the whole clip.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable

import numpy as np

from .bitexact import scaler_flags


def sample_indices(start_frame: int, end_frame: int, framerate: float, sample_fps: float) -> list[int]:
    """Indices in [start_frame, end_frame] (inclusive) taken every 1/sample_fps seconds.

    Sample k is the frame nearest to ``k / sample_fps`` seconds after the window's start,
    for every k whose time is within the window; so a 10 s window at 1 fps gives 10 frames
    (0 s .. 9 s) and an 8.5 s window 9, as FFmpeg's ``fps`` filter does.
    """
    if end_frame < start_frame:
        return []
    if framerate <= 0 or sample_fps <= 0:
        raise ValueError(f"framerate and sample_fps must be > 0, got {framerate} and {sample_fps}")
    step = framerate / sample_fps  # frames between samples
    count = math.floor((end_frame - start_frame) / step + 1e-9) + 1
    return [min(end_frame, start_frame + round(k * step)) for k in range(count)]


def scaled_size(width: int, height: int, target_height: int | None) -> tuple[int, int]:
    """(width, height) scaled to ``target_height`` keeping the aspect (as ``scale=-1:h``)."""
    if target_height is None:
        return width, height
    return max(1, round(width * target_height / height)), target_height


def decode_frames(data: bytes, indices: Iterable[int], height: int | None = None) -> dict[int, np.ndarray]:
    """RGB uint8 arrays (H, W, 3) of the clip's frames at ``indices``, optionally scaled to
    ``height`` (bicubic and bit-exact, aspect kept). Indices past the clip's end are missing from the result.
    """
    import av

    wanted = set(indices)
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    last = max(wanted)
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                width, out_height = scaled_size(frame.width, frame.height, height)
                rgb = frame.reformat(width=width, height=out_height, format="rgb24", interpolation=scaler_flags())
                out[index] = rgb.to_ndarray()
            if index >= last:
                break
    return out
