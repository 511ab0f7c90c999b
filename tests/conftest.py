"""Shared fixtures: record builders, real H.264 clips, a moto S3 server, a LocalCluster."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests' own helper modules (reference.py, ...)

from clip_helpers import encode_h264  # noqa: E402

from dask_clipwriter import ClipWriter  # noqa: E402


@pytest.fixture
def writer_factory(tmp_path):
    out = tmp_path / "out"

    def factory(**kwargs):
        settings = {"output_path": str(out), "input_path": "/in", "caption_models": ["qwen"]}
        settings.update(kwargs)
        return ClipWriter(**settings)

    factory.out = out
    return factory


@pytest.fixture(scope="session")
def h264_clip() -> bytes:
    return encode_h264()


@pytest.fixture(scope="session")
def job_videos(tmp_path_factory) -> Path:
    """Source videos for the job: a moving 12 s video (two chunks with STAGES), a static 6 s
    one (both with an AAC tone track), a 1 s one (no clips: shorter than min_clip_length_s), a corrupt file and a truncated
    video, one in a sub-folder so <rel> keeps folders, and a file that is not a video."""
    from dask_clipwriter.video import samples

    root = tmp_path_factory.mktemp("job-videos")
    samples.make_sample_videos(root, {"pan.mp4": ("pan", 12.0)}, audio="aac")
    samples.make_sample_videos(root / "cams", {"static.mp4": ("static", 6.0)}, audio="aac")
    samples.write_too_short_video(root / "short.mp4", seconds=1.0)
    samples.write_corrupt_video(root / "corrupt.mp4")
    samples.write_truncated_video(root / "pan.mp4", root / "truncated.mov", keep=0.3)
    (root / "notes.txt").write_text("not a video")
    return root


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


@pytest.fixture(params=["local", "s3"])
def sink_root(request, tmp_path):
    """One sink contract, run against every backend."""
    if request.param == "local":
        yield str(tmp_path / "out"), {}
    else:
        name, options, _ = request.getfixturevalue("s3_bucket")
        yield f"s3://{name}/out", options


# ----------------------------------------------------------------------------------------
# A distributed LocalCluster with worker processes (shared by the tests that need one).


@pytest.fixture(scope="session")
def cluster_client():
    from distributed import Client, LocalCluster

    # Not the default client: only tests that enter ``client.as_current()`` use it.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with Client(cluster, set_as_default=False) as client:
            yield client


# In CI (CI=true) a skipped test fails: see require_all.py.
from require_all import pytest_runtest_makereport  # noqa: E402,F401
