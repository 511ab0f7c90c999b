"""Small synthetic source videos for the demo and the tests, made with PyAV.

Three kinds, all H.264 MP4 with the index at the front (so a truncated copy still opens),
optionally with an audio track of known content (:func:`tone`):

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
from fractions import Fraction
from pathlib import Path

import numpy as np

from .bitexact import float_audio_codec_init, reproducible_encoder_options

SAMPLE_KINDS = ("pan", "shapes", "static")
#: name -> (kind, seconds) of the default set made by :func:`make_sample_videos`.
DEFAULT_SAMPLES = {
    "pan_25s.mp4": ("pan", 25.0),
    "shapes_12s.mp4": ("shapes", 12.0),
    "static_8s.mp4": ("static", 8.0),
}
PAN_PIXELS_PER_FRAME = 6
BACKGROUND_DRIFT_PER_FRAME = 4
#: The audio tone: frequency TONE_BASE_HZ + TONE_STEP_HZ * k during step k of TONE_STEP_S.
TONE_STEP_S = 0.25
TONE_BASE_HZ = 300.0
TONE_STEP_HZ = 37.0
TONE_AMPLITUDE = 0.5


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


def tone(samples: int, sample_rate: int, start: int = 0) -> np.ndarray:
    """The sample videos' audio, samples ``[start, start + samples)``: a tone whose frequency
    steps every :data:`TONE_STEP_S` (300 Hz, then 37 Hz higher each step, a new frequency for
    a minute), phase-continuous. Where a clip's audio sits in the source is measurable from
    its content: no two moments of the signal look alike."""
    index = np.arange(start, start + samples, dtype=np.float64)
    step = np.floor(index / (TONE_STEP_S * sample_rate))
    # Phase = sum of 2*pi*f/sr over the samples before: closed form per step, so that any
    # stretch can be made alone and equals the same stretch of the whole.
    step_len = TONE_STEP_S * sample_rate
    freq = TONE_BASE_HZ + TONE_STEP_HZ * step
    done_steps = step  # whole steps before this sample
    phase_before = 2 * np.pi * step_len / sample_rate * (TONE_BASE_HZ * done_steps
                                                         + TONE_STEP_HZ * done_steps * (done_steps - 1) / 2)
    phase = phase_before + 2 * np.pi * freq * (index - done_steps * step_len) / sample_rate
    return (TONE_AMPLITUDE * np.sin(phase)).astype(np.float32)


def write_sample_video(
    path: str | os.PathLike,
    kind: str = "pan",
    seconds: float = 4.0,
    *,
    fps: int | Fraction = 30,
    width: int = 320,
    height: int = 256,
    seed: int = 0,
    audio: str | None = None,
    sample_rate: int = 48000,
) -> Path:
    """Write one synthetic H.264 video of ``round(seconds * fps)`` frames; returns its path.

    The container follows the extension (``.mp4``, ``.mov``, ``.mkv``). ``audio`` names an
    audio codec (``aac``, ``pcm_s16le``, ``libopus`` ...) for a mono :func:`tone` track as long
    as the video; AAC is made without perceptual noise substitution, whose decoder adds
    random noise, so that a decoded cut can equal the decoded source sample for sample.
    """
    import av

    if kind not in _FRAMES:
        raise ValueError(f"unknown sample kind {kind!r}; choose one of {', '.join(SAMPLE_KINDS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps)
    n = max(1, round(seconds * rate))
    options = {"movflags": "+faststart"} if path.suffix.lower() in (".mp4", ".mov", "") else {}
    with av.open(str(path), "w", format="mp4" if path.suffix == "" else None, options=options) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = 2 * round(rate)  # key frames every 2 s: seeking has work to do
        stream.codec_context.options = reproducible_encoder_options("libx264", {"preset": "veryfast", "crf": "28"})
        sound = _ToneWriter(container, audio, sample_rate, float(n / rate)) if audio else None
        pictures = ((index / rate, None, pixels) for index, pixels in enumerate(_FRAMES[kind](n, height, width, seed)))
        _encode_pictures(container, stream, pictures, sound)
    return path


def _encode_pictures(container, stream, pictures, sound: _ToneWriter | None) -> None:
    """Encode ``(seconds, pts or None, pixels)`` in order, the tone track interleaved with them
    (as a muxer expects), then flush both."""
    import av

    for seconds, pts, pixels in pictures:
        if sound is not None:
            sound.write_until(seconds)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts, stream.codec_context.time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    if sound is not None:
        sound.write_until(None)


class _ToneWriter:
    """The audio track of a sample video, written a little at a time between video frames."""

    def __init__(self, container, codec: str, sample_rate: int, seconds: float):
        self.stream = container.add_stream(codec, rate=sample_rate, layout="mono")
        self.container, self.sample_rate = container, sample_rate
        self.total = round(seconds * sample_rate)
        self.written = 0
        if codec == "aac":
            self.stream.codec_context.options = {"aac_pns": "0"}
        with float_audio_codec_init():
            self.stream.codec_context.open()
        self.frame_size = self.stream.codec_context.frame_size or 1024
        self.format = self.stream.codec_context.format.name

    def write_until(self, seconds: Fraction | None) -> None:
        import av

        until = self.total if seconds is None else min(self.total, round(seconds * self.sample_rate))
        while self.written < until:
            count = min(self.frame_size, self.total - self.written)
            pcm = tone(count, self.sample_rate, self.written)
            if self.format.startswith("s16"):
                pcm = np.round(pcm * 32767).astype(np.int16)
            elif self.format.startswith("s32"):
                pcm = np.round(pcm.astype(np.float64) * 2147483647).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(pcm[None], format=self.format, layout="mono")
            frame.sample_rate, frame.pts = self.sample_rate, self.written
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.written += count
        if seconds is None:
            for packet in self.stream.encode():
                self.container.mux(packet)


def write_variable_rate_video(path: str | os.PathLike, frame_times: list[Fraction], *, width: int = 64,
                              height: int = 48, time_base: Fraction = Fraction(1, 90000),
                              audio: str | None = None, sample_rate: int = 48000) -> Path:
    """A pan whose frames are shown at ``frame_times`` (seconds, increasing): a variable
    frame rate, as phones and screen recorders write, in an MP4 with ``time_base``."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    times = [Fraction(t) for t in frame_times]
    average = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else Fraction(30)
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=average.limit_denominator(1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.codec_context.options = reproducible_encoder_options("libx264", {"preset": "veryfast", "crf": "28"})
        seconds = float(times[-1] + (times[-1] - times[-2] if len(times) > 1 else Fraction(1, 30)))
        sound = _ToneWriter(container, audio, sample_rate, seconds) if audio else None
        pictures = ((at, round(at / time_base), pixels)
                    for at, pixels in zip(times, _pan_frames(len(times), height, width, 0), strict=True))
        _encode_pictures(container, stream, pictures, sound)
    return path


def make_sample_videos(
    dest_dir: str | os.PathLike,
    samples: dict[str, tuple[str, float]] | None = None,
    *,
    fps: int = 30,
    width: int = 320,
    height: int = 256,
    audio: str | None = None,
) -> list[Path]:
    """Write a set of sample videos (default: a 25 s pan, 12 s of shapes, 8 s static)."""
    dest = Path(dest_dir)
    return [
        write_sample_video(dest / name, kind, seconds, fps=fps, width=width, height=height, seed=k, audio=audio)
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
