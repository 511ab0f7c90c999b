"""The benchmarks' clip records, in a module of their own so that Dask sends the builders to
the workers by reference (a function of a script's ``__main__`` is pickled by value with
every task, which costs the scheduler more than a small task itself).

Each builder makes the records of one chunk, deterministically from its number:

* :func:`probe_free_chunk`: real H.264 clips (made once with PyAV), no probe values: the
  writer probes every clip, as for most upstream pipelines;
* :func:`metadata_chunk`: tiny clips with their probe values, a preview and an embedding per
  passed clip, one clip in four filtered: the cost is in the files, not the bytes;
* :func:`bulk_chunk`: large clips (random, incompressible bytes) with probe values.
"""

from __future__ import annotations

import functools
import io
from fractions import Fraction

import numpy as np
import pandas as pd

INPUT = "/bench/in"


def _uuid(chunk: int, clip: int) -> str:
    return f"{chunk:08x}-0000-4000-8000-{clip:012x}"


def _record(chunk: int, clip: int, *, chunks_per_video: int, buffer: bytes, probe: bool, filtered: bool,
            webp: bytes | None, embedding: np.ndarray | None) -> dict:
    start = 10.0 * clip
    record = {
        "video": f"{INPUT}/video_{chunk // chunks_per_video:07d}.mp4",
        "clip_chunk_index": chunk % chunks_per_video,
        "span_uuid": _uuid(chunk, clip),
        "span_start": start, "span_end": start + 10.0,
        "filtered_by": "motion" if filtered else None,
        "buffer": buffer,
        "motion_score_global_mean": 0.01, "motion_score_per_patch_min_256": 0.001,
        "embedding": embedding,
        "windows": [{"start_frame": 0, "end_frame": 255, "caption": {"qwen": f"a clip of chunk {chunk}"},
                     "webp": webp}],
    }
    if probe:
        record.update(width=1280, height=720, framerate=30.0, num_frames=300, video_codec="h264")
    return record


@functools.lru_cache(maxsize=4)
def real_clips(kb: int, count: int = 4) -> tuple[bytes, ...]:
    """``count`` different H.264 MP4 clips of about ``kb`` KB each (made once per process)."""
    import av

    from dask_clipwriter.video.bitexact import reproducible_encoder_options

    clips = []
    for seed in range(count):
        rng = np.random.default_rng(seed)
        out = io.BytesIO()
        with av.open(out, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=Fraction(30))
            stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
            frames = 30
            # The bit rate that gives about kb KB over the clip's second.
            stream.options = reproducible_encoder_options("libx264", {"b": f"{kb * 8 * 1024 // 1}"})
            base = rng.integers(0, 255, (272, 352, 3), dtype=np.uint8)
            for i in range(frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[i:i + 240, i:i + 320]), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        clips.append(out.getvalue())
    return tuple(clips)


def probe_free_chunk(chunk: int, clips: int = 32, clip_kb: int = 200) -> pd.DataFrame:
    mp4s = real_clips(clip_kb)
    return pd.DataFrame([_record(chunk, i, chunks_per_video=4, buffer=mp4s[(chunk + i) % len(mp4s)], probe=False,
                                 filtered=i % 8 == 7, webp=None, embedding=None) for i in range(clips)])


def metadata_chunk(chunk: int, clips: int = 4, clip_kb: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(chunk)
    payload = rng.integers(0, 256, clip_kb * 1024, dtype=np.uint8).tobytes()
    webp = payload[:2048]
    return pd.DataFrame([_record(chunk, i, chunks_per_video=8, buffer=payload, probe=True, filtered=i == clips - 1,
                                 webp=webp, embedding=rng.standard_normal(256).astype(np.float32))
                         for i in range(clips)])


def bulk_chunk(chunk: int, clips: int = 16, clip_kb: int = 1024) -> pd.DataFrame:
    rng = np.random.default_rng(chunk)
    return pd.DataFrame([_record(chunk, i, chunks_per_video=4,
                                 buffer=rng.integers(0, 256, clip_kb * 1024, dtype=np.uint8).tobytes(), probe=True,
                                 filtered=False, webp=None, embedding=None) for i in range(clips)])
