"""Record builders and tree readers shared by the tests (importable on workers too).

Kept out of conftest.py on purpose: worker processes import test helpers by module name,
and several conftest.py files would shadow each other there.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from dask_clipwriter import clip_records_from_map
from dask_clipwriter.video.bitexact import reproducible_encoder_options

#: Short clips and one-clip chunks, so the small job videos give several clips and chunks.
STAGES = dict(clip_len_s=4.0, clip_stride_s=4.0, min_clip_length_s=2.0, num_clips_per_chunk=1)


def spec_uuid(video: str, start: float, end: float, fps: int = 30) -> str:
    """A clip's uuid as clip-records.md defines it: from the video and its frame span."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{video}_{int(start * fps)}_{int(end * fps)}"))


def clip_uuid(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "_".join(map(str, parts))))


def make_clip(video: str, chunk: int, i: int, **overrides) -> dict:
    """A plausible clip record: passed, 10 s span, probe values given, no bytes-probing."""
    start = 10.0 * i
    record = {
        "video": video,
        "clip_chunk_index": chunk,
        "span_uuid": clip_uuid(video, chunk, i),
        "span_start": start,
        "span_end": start + 10.0,
        "filtered_by": None,
        "buffer": f"mp4:{video}:{i}".encode() * 10,
        "width": 640, "height": 360, "framerate": 30.0, "num_frames": 300, "video_codec": "h264",
        "motion_score_global_mean": 0.01,
        "motion_score_per_patch_min_256": 0.001,
        "windows": [{"start_frame": 0, "end_frame": 255, "caption": {"qwen": f"clip {i}"},
                     "webp": b"RIFF-webp-" + str(i).encode()}],
        "embedding": np.full(8, i, dtype=np.float32),
    }
    record.update(overrides)
    return record


def chunk_frame(video: str, chunk: int = 0, n: int = 2, **overrides) -> pd.DataFrame:
    """The ``n`` clip records of one chunk (clips ``10 * chunk + i``), as a pandas frame."""
    return pd.DataFrame([make_clip(video, chunk, chunk * 10 + i, **overrides) for i in range(n)])


def clip_records(video: str, chunk: int = 0, n: int = 2, **overrides):
    """The same records as :func:`chunk_frame`, normalised as the writer reads them."""
    from dask_clipwriter.records import normalise_clip_partition

    return normalise_clip_partition(chunk_frame(video, chunk, n, **overrides))


def read_json(path):
    return json.loads(Path(path).read_bytes())


def records_collection(*frames: pd.DataFrame):
    """A Dask collection with one partition per given frame (built the package's way)."""
    frames = list(frames)
    return clip_records_from_map(lambda k: frames[k], range(len(frames)))


def tree(root) -> dict[str, bytes]:
    """Every file of the reference's layout below ``root`` as {relative path: bytes}: our
    summary.json, report.html and .clipwriter/ bookkeeping (which hold run times) left out."""
    root = Path(root)
    files = {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}
    return {name: path.read_bytes() for name, path in files.items()
            if name not in ("summary.json", "report.html") and not name.startswith(".clipwriter/")}


def encode_h264(width=64, height=48, frames=30, fps=30) -> bytes:
    """Real H.264 MP4 bytes made with PyAV."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = reproducible_encoder_options("libx264", {})
        for k in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, (k * 2) % width:] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()
