"""Example model plug-ins, loaded by import path in the tests (``example_plugins:...``)."""

from __future__ import annotations

import numpy as np

from dask_clipwriter.video.plugins import ClipMedia

EMBEDDING_SIZE = 256


def colour_histogram_embedding(clip: ClipMedia) -> np.ndarray:
    """A deterministic 256-long embedding: the clip's colour histogram, L2-normalised.

    Colours are quantised to 3 bits of red, 3 of green and 2 of blue (8*8*4 = 256 bins).
    """
    counts = np.zeros(EMBEDDING_SIZE, dtype=np.float64)
    for frame in clip.frames:
        pixels = frame.reshape(-1, 3).astype(np.int64)
        bins = (pixels[:, 0] >> 5) << 5 | (pixels[:, 1] >> 5) << 2 | pixels[:, 2] >> 6
        counts += np.bincount(bins, minlength=EMBEDDING_SIZE)
    norm = np.linalg.norm(counts)
    return (counts / norm if norm else counts).astype(np.float32)


def mean_brightness(frames) -> float:
    """An 'aesthetic' score: mean pixel value in 0..10."""
    return float(np.mean([frame.mean() for frame in frames]) / 25.5)


def frame_count_caption(frames) -> str:
    height, width = frames[0].shape[:2]
    return f"{len(frames)} frames of {width}x{height}"


def shouting_enhancer(frames, caption) -> str:
    return f"ENHANCED: {caption or ''}".upper()


def broken_captioner(frames) -> str:
    raise RuntimeError("model exploded")


def wrong_type_scorer(frames):
    return "very pretty"


class CountingScorer:
    """A class plug-in: constructed once per process, then called per clip."""

    instances = 0

    def __init__(self):
        type(self).instances += 1

    def __call__(self, frames) -> float:
        return float(len(frames))


class FailingConstructor:
    def __init__(self):
        raise OSError("weights not found")


NOT_CALLABLE = 42
