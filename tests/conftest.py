"""Shared fixtures: record builders, real H.264 clips, a moto S3 server, a LocalCluster."""

from __future__ import annotations

import io
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests' own helper modules (reference.py, ...)

from dask_clipwriter import ClipWriter, clip_records_from_map  # noqa: E402


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


def records_collection(*frames: pd.DataFrame):
    """A Dask collection with one partition per given frame (built the package's way)."""
    frames = list(frames)
    return clip_records_from_map(lambda k: frames[k], range(len(frames)))


def tree(root) -> dict[str, bytes]:
    """Every file below ``root`` as {relative path: bytes} (summary.json left out)."""
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*")) if p.is_file() and p.name != "summary.json"
    }


@pytest.fixture
def writer_factory(tmp_path):
    out = tmp_path / "out"

    def factory(**kwargs):
        settings = {"output_path": str(out), "input_path": "/in", "caption_models": ["qwen"]}
        settings.update(kwargs)
        return ClipWriter(**settings)

    factory.out = out
    return factory


def encode_h264(width=64, height=48, frames=30, fps=30) -> bytes:
    """Real H.264 MP4 bytes made with PyAV."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for k in range(frames):
            img = np.zeros((height, width, 3), np.uint8)
            img[:, (k * 2) % width:] = 200
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="session")
def h264_clip() -> bytes:
    return encode_h264()


# ----------------------------------------------------------------------------------------
# Real S3: moto's server on 127.0.0.1, port 0.


@pytest.fixture(scope="session")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    port = server._server.server_port
    # Only these fake credentials exist; never real ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint):
    import s3fs

    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": s3_endpoint}}
    fs = s3fs.S3FileSystem(**options)
    name = f"clips-{uuid.uuid4().hex[:10]}"
    fs.mkdir(name)
    yield name, options, fs
    fs.rm(name, recursive=True)


# ----------------------------------------------------------------------------------------
# A distributed LocalCluster with worker processes (shared by the tests that need one).


@pytest.fixture(scope="session")
def cluster_client():
    from distributed import Client, LocalCluster

    # Not the default client: only tests that enter ``client.as_current()`` use it.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as client:
            yield client
