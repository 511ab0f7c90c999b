"""Small synthetic source videos for the demo and the tests, made with PyAV.

Three kinds, all H.264 MP4 with the index at the front (so a truncated copy still opens):

* ``pan``: the camera pans across a large textured picture: every block moves;
* ``shapes``: textured discs move over a slowly drifting textured background (the drift
  matters: the motion filter's per-patch score is the *minimum* over the frame, so a still
  background would make it a small-motion clip);
* ``static``: one textured picture, unchanged: the motion filter must drop its clips.

The texture is smooth (sums of sines plus soft blobs), so files stay small and x264 finds
real motion vectors. Sizes default to 320x256, the smallest the motion filter scores.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .bitexact import reproducible_encoder_options

SAMPLE_KINDS = ("pan", "shapes", "static")
#: name -> (kind, seconds) of the default set made by :func:`make_sample_videos`.
DEFAULT_SAMPLES = {
    "pan_25s.mp4": ("pan", 25.0),
    "shapes_12s.mp4": ("shapes", 12.0),
    "static_8s.mp4": ("static", 8.0),
}
PAN_PIXELS_PER_FRAME = 6
BACKGROUND_DRIFT_PER_FRAME = 4


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, detailed RGB picture (uint8) that encodes small and tracks well."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    image = np.zeros((height, width, 3), np.float32)
    for channel in range(3):
        for _ in range(4):
            fx, fy = rng.uniform(0.01, 0.08, 2)
            phase = rng.uniform(0, 2 * np.pi)
            image[..., channel] += np.sin(fx * x + fy * y + phase)
    for _ in range(max(4, height * width // 6000)):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(6, 24)
        # Only the blob's neighbourhood: beyond 4 radii it adds nothing visible.
        r0, r1 = max(0, int(cy - 4 * radius)), min(height, int(cy + 4 * radius) + 1)
        c0, c1 = max(0, int(cx - 4 * radius)), min(width, int(cx + 4 * radius) + 1)
        yy, xx = y[r0:r1, c0:c1], x[r0:r1, c0:c1]
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        image[r0:r1, c0:c1] += blob[..., None] * rng.uniform(-3, 3, 3)
    image -= image.min()
    image *= 255.0 / max(float(image.max()), 1e-6)
    return image.astype(np.uint8)


def _pan_frames(n: int, height: int, width: int, seed: int) -> Iterator[np.ndarray]:
    travel = PAN_PIXELS_PER_FRAME * n
    world = texture(height, width + travel + 1, seed)
    for i in range(n):
        x0 = PAN_PIXELS_PER_FRAME * i
        yield world[:, x0:x0 + width]


def _shapes_frames(n: int, height: int, width: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    world = texture(height, width + BACKGROUND_DRIFT_PER_FRAME * n + 1, seed)
    discs = [
        (texture(64, 64, seed + 10 + k), rng.uniform(0, width - 64), rng.uniform(0, height - 64), rng.uniform(-4, 4, 2))
        for k in range(3)
    ]
    yy, xx = np.mgrid[0:64, 0:64]
    inside = (yy - 31.5) ** 2 + (xx - 31.5) ** 2 <= 31**2
    for i in range(n):
        x0 = BACKGROUND_DRIFT_PER_FRAME * i
        frame = world[:, x0:x0 + width].copy()
        for disc, px, py, (vx, vy) in discs:
            # Bounce inside the frame: positions fold back at the edges.
            cx = int(abs((px + vx * i) % (2 * (width - 64)) - (width - 64)))
            cy = int(abs((py + vy * i) % (2 * (height - 64)) - (height - 64)))
            region = frame[cy:cy + 64, cx:cx + 64]
            region[inside] = disc[inside]
        yield frame


def _static_frames(n: int, height: int, width: int, seed: int) -> Iterator[np.ndarray]:
    picture = texture(height, width, seed)
    for _ in range(n):
        yield picture


_FRAMES = {"pan": _pan_frames, "shapes": _shapes_frames, "static": _static_frames}


def write_sample_video(
    path: str | os.PathLike,
    kind: str = "pan",
    seconds: float = 4.0,
    *,
    fps: int = 30,
    width: int = 320,
    height: int = 256,
    seed: int = 0,
) -> Path:
    """Write one synthetic H.264 MP4 of ``round(seconds * fps)`` frames; returns its path."""
    import av

    if kind not in _FRAMES:
        raise ValueError(f"unknown sample kind {kind!r}; choose one of {', '.join(SAMPLE_KINDS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(1, round(seconds * fps))
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * fps  # key frames every 2 s: seeking has work to do
        stream.codec_context.options = reproducible_encoder_options("libx264", {"preset": "veryfast", "crf": "28"})
        for pixels in _FRAMES[kind](n, height, width, seed):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_sample_videos(
    dest_dir: str | os.PathLike,
    samples: dict[str, tuple[str, float]] | None = None,
    *,
    fps: int = 30,
    width: int = 320,
    height: int = 256,
) -> list[Path]:
    """Write a set of sample videos (default: a 25 s pan, 12 s of shapes, 8 s static)."""
    dest = Path(dest_dir)
    return [
        write_sample_video(dest / name, kind, seconds, fps=fps, width=width, height=height, seed=k)
        for k, (name, (kind, seconds)) in enumerate((samples or DEFAULT_SAMPLES).items())
    ]


def write_corrupt_video(path: str | os.PathLike, size: int = 4096, seed: int = 0) -> Path:
    """A file named like a video that holds random bytes: probing must fail on it."""
    return _write_bytes(path, np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())


def write_truncated_video(source: str | os.PathLike, path: str | os.PathLike, keep: float = 0.5) -> Path:
    """A copy of ``source`` cut after ``keep`` of its bytes: it opens (the index is at the
    front) and probes with the full duration, but the data ends early."""
    data = Path(source).read_bytes()
    return _write_bytes(path, data[: max(1, int(len(data) * keep))])


def write_damaged_video(
    source: str | os.PathLike, path: str | os.PathLike, at: float = 0.5, length: int = 5000
) -> Path:
    """A copy of ``source`` with ``length`` bytes zeroed from ``at`` of the way in: it opens
    and probes, but the packets there fail to decode."""
    data = bytearray(Path(source).read_bytes())
    start = int(len(data) * at)
    data[start:start + length] = bytes(len(data[start:start + length]))
    return _write_bytes(path, bytes(data))


def write_too_short_video(path: str | os.PathLike, seconds: float = 1.0, **kwargs) -> Path:
    """A valid video shorter than the default ``min_clip_length_s`` (2 s): it has no clips."""
    return write_sample_video(path, "pan", seconds, **kwargs)


def _write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
