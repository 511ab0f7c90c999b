"""The spec's worked example (shared/spec/examples, copied into tests/data/reference) as records.

Clip and preview bytes in the example are given by size only; here they are deterministic
filler bytes of that size, and the clip records carry the probe values the reference
probed (1920x1080, 30 fps, 300 frames, h264), so the writer does not probe them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).parent / "data" / "reference"
EXAMPLE = json.loads((DATA / "input_records_video_00000.mp4_0.json").read_text())
SETTINGS = EXAMPLE["writer_settings"]
VIDEO_RECORD = EXAMPLE["video_record"]


def expected(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _size(placeholder: str) -> int:
    return int(re.match(r"<(\d+) bytes", placeholder).group(1))


def filler(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def embedding_for(uuid: str) -> np.ndarray:
    seed = int(uuid.replace("-", "")[:8], 16)
    return np.random.default_rng(seed).standard_normal((1, 256)).astype(np.float16)


def clip_records() -> pd.DataFrame:
    """The five clip records of the example chunk, as a pandas frame with object columns."""
    rows = []
    for i, rec in enumerate(EXAMPLE["clip_records"]):
        row = dict(rec)
        row["buffer"] = filler(_size(rec["buffer"]), i)
        row.update(width=1920, height=1080, framerate=30.0, num_frames=300, video_codec="h264")
        row["embedding"] = embedding_for(rec["span_uuid"]) if rec["embedding"] else None
        row["windows"] = [
            {**w, "webp": filler(_size(w["webp"]), 100 + 10 * i + j)} for j, w in enumerate(rec["windows"])
        ]
        rows.append(row)
    return pd.DataFrame(rows)


def video_records() -> pd.DataFrame:
    return pd.DataFrame([VIDEO_RECORD])
