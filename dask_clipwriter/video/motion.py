"""Motion scores of a clip from its H.264 motion vectors (docs/spec/video-source.md, §5).

Two halves, kept apart so the math can be tested on hand-made arrays:

* pure math on numpy arrays: :func:`flow_field`, :func:`motion_scores`,
  :func:`downsample_linear`, :func:`is_small_motion`;
* PyAV I/O: :func:`decode_motion_vectors` (decode with ``flags2=+export_mvs``, sample frames)
  and :func:`score_clip_motion` (both together, errors as the reference records them).

Facts taken from the reference (NeMo Curator ``motion_vector_backend`` / ``motion_filter``)
and reproduced here on purpose:

* each vector fills its block (only 8x8, 16x16, 16x8 and 8x16 blocks, filled in that order;
  H.264's 4x4/8x4/4x8 partitions are ignored) around its destination with
  ``-motion / motion_scale``; pixels outside the frame are clamped onto the edge; where blocks
  overlap the last one written wins;
* the per-patch score is OpenCV's ``resize(fx=1/256, fy=1/256)`` with bilinear
  interpolation, which *samples* (it does not average a 256x256 patch): output size
  ``round(side/256)``, source coordinate ``(d + 0.5) * 256 - 0.5``;
* sampling: every ``round(fps / 2)``-th decoded frame, stopping after
  ``max(10, round(2 * 0.5 * whole_seconds))`` frames with vectors, where ``whole_seconds`` is
  the container duration truncated to whole seconds (the reference's stream-duration branch
  multiplies by ``int(time_base)``, which is 0, so it always falls back to that);
* a clip with no vectors, too small, or undecodable scores -1.0/-1.0 and counts as small
  motion (so it is filtered unless score-only), with ``errors["motion_decode"]`` set to
  ``no_motion_frames``, ``resolution_too_small`` or ``decode_failed``.

What is scored: the reference scores the clip it has just transcoded, and its transcode does
not scale: libx264 with FFmpeg's defaults at the source's size. The score is not
independent of that encoding (x264 codes a 1 px/frame pan at 640x512 with vectors, the same
pan scaled to 320x256 as no motion at all; VP9 exports no vectors), so our clips are scored
on that stream too: the clip itself when it is encoded that way, else a second encode of
the same frames made alongside it (transcode.py, ``EncodedClip.motion_bytes``). The decision
is then the reference's at every output height and with every encoder, at the cost of that
second encode (a 10 s 720p clip: about the time of its own encode).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

GLOBAL_MEAN_THRESHOLD = 0.00098
PER_PATCH_MIN_256_THRESHOLD = 0.000001
MIN_SIDE_RESOLUTION = 256
#: (w, h) of the blocks that contribute, in the order the reference writes them.
BLOCK_SIZES = ((8, 8), (16, 16), (16, 8), (8, 16))
NO_SCORE = -1.0
TARGET_FPS = 2.0
TARGET_DURATION_RATIO = 0.5
MIN_SAMPLED_FRAMES = 10


@dataclass(frozen=True)
class MotionScore:
    global_mean: float
    per_patch_min_256: float
    is_small_motion: bool
    error: str | None = None  # value of errors["motion_decode"], when scoring failed


# --------------------------------------------------------------------------------------
# Pure math


def _displacements(vectors: np.ndarray) -> np.ndarray:
    """Each vector's (dx, dy) = -motion / motion_scale, in float32 as the reference has it."""
    scale = vectors["motion_scale"].astype(np.float32)
    return np.stack([-vectors["motion_x"].astype(np.float32) / scale, -vectors["motion_y"].astype(np.float32) / scale],
                    axis=-1)


def _paint_blocks(image: np.ndarray, vectors: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Write each vector's value (``values[i]``) over its block of ``image`` (height, width,
    ...): the four block sizes in the reference's order, pixels outside the frame clamped
    onto the edge, the later of overlapping blocks winning."""
    height, width = image.shape[:2]
    w = vectors["w"].astype(np.int64)
    h = vectors["h"].astype(np.int64)
    dst_x = vectors["dst_x"].astype(np.int64)
    dst_y = vectors["dst_y"].astype(np.int64)
    for block_w, block_h in BLOCK_SIZES:
        chosen = np.flatnonzero((w == block_w) & (h == block_h))
        if chosen.size == 0:
            continue
        xs = dst_x[chosen, None, None] + np.arange(-block_w // 2, block_w // 2)[None, :, None]
        ys = dst_y[chosen, None, None] + np.arange(-block_h // 2, block_h // 2)[None, None, :]
        xs, ys = np.broadcast_arrays(np.clip(xs, 0, width - 1), np.clip(ys, 0, height - 1))
        block_values = np.broadcast_to(values[chosen].reshape(-1, *(1,) * 2, *values.shape[1:]),
                                       (*xs.shape, *values.shape[1:]))
        # Flattened in vector order, so that of overlapping blocks the later one wins.
        image[ys.reshape(-1), xs.reshape(-1)] = block_values.reshape(-1, *values.shape[1:])
    return image


def flow_field(vectors: np.ndarray, height: int, width: int) -> np.ndarray:
    """The (height, width, 2) displacement field of one frame's motion vectors.

    ``vectors`` is the structured array PyAV gives (fields w, h, dst_x, dst_y, motion_x,
    motion_y, motion_scale; others ignored).
    """
    flow = np.zeros((height, width, 2), dtype=np.float32)
    if len(vectors) == 0:
        return flow
    return _paint_blocks(flow, vectors, _displacements(vectors))


def motion_magnitude(vectors: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-pixel |flow| / (width + height) of one frame: the same numbers as computing it from
    :func:`flow_field` pixel by pixel, but each vector's magnitude is computed once and
    painted over its block (a pixel's flow is its block's vector's), one channel instead of
    two over the whole frame: about four times as fast at 720p."""
    magnitude = np.zeros((height, width), dtype=np.float64)
    if len(vectors) == 0:
        return magnitude
    delta = _displacements(vectors).astype(np.float64)
    per_vector = np.sqrt(delta[:, 0] ** 2 + delta[:, 1] ** 2) / (width + height)
    return _paint_blocks(magnitude, vectors, per_vector)


def _linear_axis(n_in: int, n_out: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV INTER_LINEAR source taps along one axis: (index0, index1, weight of index1)."""
    position = (np.arange(n_out) + 0.5) * scale - 0.5
    i0 = np.floor(position).astype(np.int64)
    frac = position - i0
    frac[i0 < 0] = 0.0
    i0 = np.maximum(i0, 0)
    at_end = i0 >= n_in - 1
    frac[at_end] = 0.0
    i0[at_end] = n_in - 1
    return i0, np.minimum(i0 + 1, n_in - 1), frac


def downsample_linear(image: np.ndarray, factor: int = 256) -> np.ndarray:
    """``cv2.resize(image, None, fx=1/factor, fy=1/factor)`` (bilinear) without OpenCV."""
    n_rows, n_cols = image.shape
    out_rows, out_cols = round(n_rows / factor), round(n_cols / factor)
    if out_rows == 0 or out_cols == 0:
        raise ValueError(f"image {n_cols}x{n_rows} is too small to downsample by {factor}")
    r0, r1, fr = _linear_axis(n_rows, out_rows, float(factor))
    c0, c1, fc = _linear_axis(n_cols, out_cols, float(factor))
    rows = image[r0] * (1 - fr)[:, None] + image[r1] * fr[:, None]
    return rows[:, c0] * (1 - fc)[None, :] + rows[:, c1] * fc[None, :]


def is_small_motion(
    global_mean: float,
    per_patch_min_256: float,
    global_mean_threshold: float = GLOBAL_MEAN_THRESHOLD,
    per_patch_min_256_threshold: float = PER_PATCH_MIN_256_THRESHOLD,
) -> bool:
    return global_mean < global_mean_threshold or per_patch_min_256 < per_patch_min_256_threshold


def motion_scores(
    frames_vectors: list[np.ndarray],
    height: int,
    width: int,
    global_mean_threshold: float = GLOBAL_MEAN_THRESHOLD,
    per_patch_min_256_threshold: float = PER_PATCH_MIN_256_THRESHOLD,
) -> MotionScore:
    """Scores over sampled frames' vectors (one array per frame that had vectors)."""
    if not frames_vectors:
        return unscored("no_motion_frames")
    per_pixel_sum = np.zeros((height, width), dtype=np.float64)
    for vectors in frames_vectors:
        per_pixel_sum += motion_magnitude(vectors, height, width)
    per_pixel_mean = per_pixel_sum / len(frames_vectors)
    global_mean = float(per_pixel_sum.sum() / (len(frames_vectors) * height * width))
    per_patch_min_256 = float(downsample_linear(per_pixel_mean, 256).min())
    small = is_small_motion(global_mean, per_patch_min_256, global_mean_threshold, per_patch_min_256_threshold)
    return MotionScore(global_mean, per_patch_min_256, small)


def unscored(error: str | None) -> MotionScore:
    """The reference's stand-in for a clip it could not score: -1/-1, counted as small."""
    return MotionScore(NO_SCORE, NO_SCORE, True, error)


def max_sampled_frames(container_duration_s: float | None) -> int:
    whole_seconds = int(container_duration_s) if container_duration_s else 0
    if whole_seconds <= 0:
        whole_seconds = 30  # the reference's guess when the duration is unknown
    return max(MIN_SAMPLED_FRAMES, round(TARGET_FPS * whole_seconds * TARGET_DURATION_RATIO))


def sample_step(framerate: float | None) -> int:
    return max(1, round((framerate or 30.0) / TARGET_FPS))


# --------------------------------------------------------------------------------------
# PyAV I/O


class ResolutionTooSmall(ValueError):
    pass


def decode_motion_vectors(data: bytes) -> tuple[list[np.ndarray], int, int]:
    """Motion vectors of the sampled frames of an encoded clip, and its (height, width).

    Raises :class:`ResolutionTooSmall` for a clip smaller than 256 px on a side.
    """
    import av

    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        # Frame threading makes the exported motion vectors vary from run to run (seen with
        # FFmpeg 8): decode single-threaded so the same bytes always score the same.
        stream.thread_type = "NONE"
        rate = stream.average_rate or stream.base_rate
        step = sample_step(float(rate) if rate else None)
        duration = container.duration / 1_000_000 if container.duration is not None else None
        limit = max_sampled_frames(duration)
        height = width = 0
        sampled: list[np.ndarray] = []
        for index, frame in enumerate(container.decode(stream)):
            if index % step:
                continue
            if index == 0:
                height, width = frame.height, frame.width
                if min(height, width) < MIN_SIDE_RESOLUTION:
                    raise ResolutionTooSmall(f"{width}x{height} is below {MIN_SIDE_RESOLUTION} px on a side")
            vectors = frame.side_data.get("MOTION_VECTORS")
            if vectors is not None:
                sampled.append(vectors.to_ndarray())
                if len(sampled) >= limit:
                    break
    return sampled, height, width


def score_clip_motion(
    data: bytes,
    global_mean_threshold: float = GLOBAL_MEAN_THRESHOLD,
    per_patch_min_256_threshold: float = PER_PATCH_MIN_256_THRESHOLD,
) -> MotionScore:
    """Motion scores of a clip's mp4 bytes; never raises for a bad clip (see module doc).

    A clip without bytes is the caller's business (the reference records
    ``errors["buffer"] = "empty"`` and scores it like an unscorable clip: ``unscored(None)``).
    """
    try:
        sampled, height, width = decode_motion_vectors(data)
    except ResolutionTooSmall:
        return unscored("resolution_too_small")
    except Exception:  # noqa: BLE001 - any decoding failure is the clip's, recorded as such
        return unscored("decode_failed")
    return motion_scores(sampled, height, width, global_mean_threshold, per_patch_min_256_threshold)
