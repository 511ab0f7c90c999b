"""Faults, for real: killed workers and clients, an object store that goes away, a full disk, a
read-only disk, a source that disappears. After each, a re-run completes, verify finds
nothing, and the tree is byte for byte a clean run's (summary.json's times aside).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from clip_helpers import STAGES, chunk_frame, records_collection, tree
from fault_helpers import PausableProxy, small_disk

from dask_clipwriter import ChunkWriteError, ClipWriter, SinkError, clip_records_from_map, verify
from dask_clipwriter.stored_records import clip_records_to_table

V = "/in/a.mp4"


def same_tree(a: Path | str, b: Path | str) -> bool:
    """The reference's layout below ``a`` and ``b`` holds the same bytes (the output path,
    which the metas name, aside)."""
    def strip(root):
        return {name: data.replace(str(root).encode(), b"ROOT") for name, data in tree(root).items()}
    return strip(a) == strip(b)


def big_chunk(chunk: int, clips: int = 6, mb: int = 8) -> pd.DataFrame:
    """A chunk of clips with ``mb`` MB of (incompressible) bytes each: writing takes a while."""
    frame = chunk_frame(V, chunk, n=clips)
    rng = np.random.default_rng(chunk)
    frame["buffer"] = [rng.bytes(mb * 2**20) for _ in range(clips)]
    return frame


@pytest.mark.cluster
def test_workers_killed_mid_write(tmp_path):
    from distributed import Client, LocalCluster

    out, clean = tmp_path / "out", tmp_path / "clean"
    chunks = range(6)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        writer = ClipWriter(str(out), "/in", max_workers=1)
        lazy = writer.write(clip_records_from_map(big_chunk, chunks), compute=False, check_records=False)
        future = client.compute(lazy)
        temporary = out / ".clipwriter/tmp"
        deadline = time.monotonic() + 120
        while not (temporary.is_dir() and os.listdir(temporary)):  # a clip is being written right now
            assert time.monotonic() < deadline and not future.done(), "no write was seen in progress"
            time.sleep(0.001)
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        try:
            future.result(timeout=300)  # Dask runs the lost partitions again on the restarted workers
        except Exception as exc:  # noqa: BLE001 - KilledWorker when a task met too many deaths
            print(f"first run ended with {type(exc).__name__}: {exc}")
    ClipWriter(str(out), "/in", resume=True).write(clip_records_from_map(big_chunk, chunks), check_records=False)
    ClipWriter(str(clean), "/in").write(clip_records_from_map(big_chunk, chunks), check_records=False)
    assert verify(str(out)) == [] and same_tree(out, clean)


@pytest.mark.cluster
def test_the_whole_client_killed_then_resumed(tmp_path):
    records = tmp_path / "records"
    records.mkdir()
    for chunk in range(12):
        pq.write_table(clip_records_to_table(big_chunk(chunk, clips=4, mb=2)), records / f"part-{chunk:02d}.parquet")
    out, clean = tmp_path / "out", tmp_path / "clean"

    def command(output, *extra):
        return [sys.executable, "-m", "dask_clipwriter.cli", "write", str(records), "--input", "/in",
                "--output", str(output), "--n-workers", "1", "--max-workers", "1", *extra]

    # Its own session, so that the client and its cluster's processes die together.
    job = subprocess.Popen(command(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    markers = out / "processed_clip_chunks"
    deadline = time.monotonic() + 180
    while not (markers.is_dir() and len(os.listdir(markers)) >= 2):
        assert time.monotonic() < deadline and job.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait()
    assert len(os.listdir(markers)) < 12 and not (out / "summary.json").exists()

    resumed = subprocess.run(command(out, "--resume"), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert subprocess.run(command(clean), capture_output=True, timeout=300).returncode == 0
    assert verify(str(out)) == [] and same_tree(out, clean)


@pytest.mark.s3
def test_the_object_store_away_for_a_while(s3_endpoint, s3_bucket):
    name, options, fs = s3_bucket
    host, port = s3_endpoint.removeprefix("http://").split(":")
    proxy = PausableProxy(host, int(port))
    # Few, quick retries below the writer's own, so a test of an outage takes seconds.
    through_proxy = {**options, "client_kwargs": {"endpoint_url": proxy.url},
                     "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}}
    out, clean = f"s3://{name}/out", f"s3://{name}/clean"
    clips = lambda: records_collection(chunk_frame(V, 0), chunk_frame(V, 1))  # noqa: E731

    # A short outage, within the retries: the run does not notice.
    proxy.pause()
    threading.Timer(1.0, proxy.resume).start()
    ClipWriter(out, "/in", storage_options=through_proxy, write_retries=5).write(clips())

    # A long one: the chunks fail, each naming its chunk and path; a re-run completes them.
    lazy = ClipWriter(out + "2", "/in", storage_options=through_proxy, write_retries=2).write(clips(), compute=False)
    proxy.pause()
    with pytest.raises(ChunkWriteError, match=rf"chunk \d of video '{V}': cannot \w+( \w+)? s3://{name}/out2/"):
        lazy.compute()
    proxy.resume()
    ClipWriter(out + "2", "/in", storage_options=through_proxy, resume=True).write(clips())
    ClipWriter(clean, "/in", storage_options=options).write(clips())
    proxy.pause()

    def s3_tree(root):
        found = {p[len(root) + 1:]: p for p in fs.find(root)}
        return {k: fs.cat_file(p).replace(f"s3://{root}".encode(), b"ROOT") for k, p in found.items()
                if k != "summary.json" and not k.startswith(".clipwriter/")}

    assert verify(out + "2", storage_options=options) == []
    assert s3_tree(f"{name}/out2") == s3_tree(f"{name}/clean") == s3_tree(f"{name}/out")


def test_a_full_disk(tmp_path):
    out, clean = tmp_path / "disk" / "out", tmp_path / "clean"
    clips = lambda: records_collection(*[big_chunk(c, clips=2, mb=1) for c in range(4)])  # noqa: E731
    with small_disk(tmp_path / "disk", "3m") as remount:
        started = time.monotonic()
        with pytest.raises(ChunkWriteError, match=rf"chunk \d of video '{V}': cannot write {out}/.*No space left"):
            ClipWriter(str(out), "/in").write(clips())
        assert time.monotonic() - started < 5  # a full disk is not retried
        remount("size=64m")
        ClipWriter(str(out), "/in", resume=True).write(clips())
        ClipWriter(str(clean), "/in").write(clips())
        assert verify(str(out)) == [] and same_tree(out, clean)


def test_a_read_only_disk(tmp_path):
    out, clean = tmp_path / "disk" / "out", tmp_path / "clean"
    clips = lambda: records_collection(chunk_frame(V, 0), chunk_frame(V, 1))  # noqa: E731
    with small_disk(tmp_path / "disk", "16m") as remount:
        ClipWriter(str(out), "/in").write(records_collection(chunk_frame(V, 0)))
        remount("ro")
        started = time.monotonic()
        with pytest.raises((ChunkWriteError, SinkError), match="Read-only file system"):
            ClipWriter(str(out), "/in").write(clips())
        assert time.monotonic() - started < 5  # a read-only disk is not retried
        remount("rw")
        ClipWriter(str(out), "/in", resume=True).write(clips())
        ClipWriter(str(clean), "/in").write(clips())
        assert verify(str(out)) == [] and same_tree(out, clean)


@pytest.mark.cluster
def test_a_source_removed_between_probe_and_chunk(job_videos, tmp_path, cluster_client, monkeypatch):
    import shutil

    from dask_clipwriter import job
    from dask_clipwriter.config import JobConfig
    from dask_clipwriter.settings import WriterSettings
    from dask_clipwriter.video.stage_settings import StageSettings

    videos = tmp_path / "videos"
    shutil.copytree(job_videos, videos)
    gone = videos / "pan.mp4"
    kept = tmp_path / "pan.mp4"
    planned = job.plan_videos

    def plan_then_remove(*args, **kwargs):
        plans = planned(*args, **kwargs)
        if gone.exists():
            gone.rename(kept)  # after the probe, before any chunk is cut
        return plans

    def run(output, **settings):
        writer = WriterSettings(output_path=str(output), input_path=str(videos), **settings)
        with cluster_client.as_current():
            return job.run_job(JobConfig(writer=writer, stages=StageSettings(**STAGES)), cluster_client,
                               stream=sys.stderr)

    monkeypatch.setattr(job, "plan_videos", plan_then_remove)
    first = run(tmp_path / "out")
    monkeypatch.setattr(job, "plan_videos", planned)
    pan = {Path(v["video"]).name: v for v in first["videos"]}["pan.mp4"]
    assert pan["complete"] is False and pan["missing_chunks"] == [0, 1]
    assert (tmp_path / "out/summary.json").exists()
    kept.rename(gone)
    run(tmp_path / "out", resume=True)
    run(tmp_path / "clean")
    assert verify(str(tmp_path / "out")) == [] and same_tree(tmp_path / "out", tmp_path / "clean")


@pytest.mark.s3
def test_a_writer_killed_mid_upload_leaves_no_open_multipart_upload(s3_endpoint, s3_bucket, tmp_path):
    name, options, fs = s3_bucket
    host, port = s3_endpoint.removeprefix("http://").split(":")
    # 120 MB at 40 MB/s: three seconds of upload, and the kill comes after one.
    slow = PausableProxy(host, int(port), bytes_per_second=40e6)
    script = tmp_path / "upload.py"
    script.write_text(
        "import json, sys\n"
        "from dask_clipwriter.sink import FileSink\n"
        "sink = FileSink(sys.argv[1], storage_options=json.loads(sys.argv[2]))\n"
        "print('uploading', flush=True)\n"
        "sink.put(sys.argv[1] + '/clips/big.mp4', bytes(120 * 2**20))\n")
    through = {**options, "client_kwargs": {"endpoint_url": slow.url}}
    upload = subprocess.Popen([sys.executable, str(script), f"s3://{name}/out", json.dumps(through)],
                              stdout=subprocess.PIPE, text=True)
    assert upload.stdout.readline() == "uploading\n"
    time.sleep(1.0)  # into the upload (s3fs would go multipart above 50 MB)
    upload.send_signal(signal.SIGKILL)
    upload.wait()
    slow.pause()
    assert not fs.exists(f"{name}/out/clips/big.mp4")  # it was killed mid-upload ...
    assert fs.list_multipart_uploads(name) == []  # ... and left nothing open
