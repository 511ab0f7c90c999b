"""The batch job end to end: generated videos -> dataset, on a LocalCluster with processes."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from dask_clipwriter.config import JobConfig
from dask_clipwriter.job import run_job
from dask_clipwriter.settings import WriterSettings
from dask_clipwriter.video import samples
from dask_clipwriter.video.stage_settings import StageSettings

pytestmark = pytest.mark.cluster

FPS = 30
META_KEYS = ["span_uuid", "source_video", "duration_span", "width_source", "height_source", "framerate_source",
             "clip_location", "width", "height", "framerate", "num_frames", "video_codec", "num_bytes",
             "motion_score", "windows", "valid"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """A moving 12 s video (two chunks with the stages below), a static 6 s one, a 1 s one
    (no clips: shorter than min_clip_length_s), a corrupt file and a truncated video, in
    a sub-folder for one of them so <rel> keeps folders."""
    root = tmp_path_factory.mktemp("job-videos")
    samples.make_sample_videos(root, {"pan.mp4": ("pan", 12.0)})
    samples.make_sample_videos(root / "cams", {"static.mp4": ("static", 6.0)})
    samples.write_too_short_video(root / "short.mp4", seconds=1.0)
    samples.write_corrupt_video(root / "corrupt.mp4")
    samples.write_truncated_video(root / "pan.mp4", root / "truncated.mov", keep=0.3)
    (root / "notes.txt").write_text("not a video")
    return root


STAGES = dict(clip_len_s=4.0, clip_stride_s=4.0, min_clip_length_s=2.0, num_clips_per_chunk=1)


def spec_uuid(video: str, start: float, end: float) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{video}_{int(start * FPS)}_{int(end * FPS)}"))


@pytest.fixture(scope="module")
def job_run(videos, tmp_path_factory, cluster_client):
    out = tmp_path_factory.mktemp("job-out") / "dataset"
    stages = StageSettings(**STAGES, embedder="example_plugins:colour_histogram_embedding")
    writer = WriterSettings(output_path=str(out), input_path=str(videos), generate_previews=True,
                            generate_embeddings=True)
    cfg = JobConfig(writer=writer, stages=stages)
    # Plug-ins are imported on the workers by path; ship the test's module to them.
    cluster_client.upload_file(str(Path(__file__).parent / "video" / "example_plugins.py"))
    with cluster_client.as_current():
        summary = run_job(cfg, cluster_client, stream=sys.stderr)
    return out, summary, videos


def read(path: Path):
    return json.loads(path.read_bytes())


def test_spans_ids_and_chunks(job_run):
    out, _, videos = job_run
    pan = f"{videos}/pan.mp4"
    # 12 s at 30 fps, 4 s stride: [0,4] [4,8] [8,12]; chunks close at int-sum >= 8.
    spans = [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    chunk0, chunk1 = read(out / "processed_clip_chunks/pan.mp4_0.json"), read(out / "processed_clip_chunks/pan.mp4_1.json")
    assert chunk0["clips"] == [spec_uuid(pan, *s) for s in spans[:2]]
    assert chunk1["clips"] == [spec_uuid(pan, *spans[2])]
    video = read(out / "processed_videos/pan.mp4.json")
    assert (video["num_total_clips"], video["num_clip_chunks"], video["num_frames"], video["framerate"]) == (3, 2, 360, 30.0)
    for start, end in spans:
        meta = read(out / "metas/v0" / f"{spec_uuid(pan, start, end)}.json")
        assert meta["duration_span"] == [start, end] and meta["source_video"] == pan


def test_motion_decisions(job_run):
    out, _, videos = job_run
    static = f"{videos}/cams/static.mp4"
    chunk = read(out / "processed_clip_chunks/cams/static.mp4_0.json")
    assert chunk["clips"] == [] and chunk["num_clips_filtered_by_motion"] == 2
    assert chunk["filtered_clips"] == [spec_uuid(static, 0.0, 4.0), spec_uuid(static, 4.0, 6.0)]
    for u in chunk["filtered_clips"]:
        assert (out / "filtered_clips" / f"{u}.mp4").exists() and not (out / "previews" / u).exists()
        meta = read(out / "metas/v0" / f"{u}.json")
        assert meta["motion_score"]["global_mean"] < 0.00098 or meta["motion_score"]["per_patch_min_256"] < 1e-6
    pan = read(out / "processed_clip_chunks/pan.mp4_0.json")
    assert pan["num_clips_filtered_by_motion"] == 0 and pan["num_clips_passed"] == 2


def test_clip_files_match_the_spec(job_run):
    out, _, videos = job_run
    pan = f"{videos}/pan.mp4"
    for start, end in [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]:
        u = spec_uuid(pan, start, end)
        data = (out / "metas/v0" / f"{u}.json").read_bytes()
        meta = json.loads(data)
        assert list(meta) == META_KEYS and not data.endswith(b"\n"), meta.get("errors")
        assert (meta["width"], meta["height"], meta["framerate"], meta["video_codec"]) == (320, 256, 30.0, "h264")
        assert meta["num_frames"] == int((end - start) * FPS)
        assert meta["clip_location"] == f"{out}/clips/{u}.mp4" and meta["valid"] is True
        assert meta["num_bytes"] == (out / "clips" / f"{u}.mp4").stat().st_size
        assert meta["windows"] == [{"start_frame": 0, "end_frame": meta["num_frames"] - 1}]
        [preview] = (out / "previews" / u).iterdir()
        assert preview.name == f"0_{meta['num_frames'] - 1}.webp"
        with Image.open(preview) as img:
            assert img.format == "WEBP" and img.height == 240 and img.n_frames == int(end - start)


def test_embedder_plugin_writes_embeddings(job_run):
    out, summary, videos = job_run
    pan = f"{videos}/pan.mp4"
    for index, spans in ((0, [(0.0, 4.0), (4.0, 8.0)]), (1, [(8.0, 12.0)])):
        ids = [spec_uuid(pan, *s) for s in spans]
        chunk_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{pan}_{index}"))
        table = pq.read_table(out / "ce1_embd_parquet" / f"{chunk_id}.parquet")
        assert table["id"].to_pylist() == ids
        assert str(table.schema.field("embedding").type) == "list<element: double>"
        for u, row in zip(ids, table["embedding"].to_pylist(), strict=True):
            array = pickle.loads((out / "ce1_embd" / f"{u}.pickle").read_bytes())
            assert array.dtype == np.float16 and array.shape == (1, 256)
            assert row == array.astype(np.float64).reshape(-1).tolist()
    # One pickle per passed clip with an embedding; filtered (static) clips get none.
    assert len(list((out / "ce1_embd").iterdir())) == summary["totals"]["num_clips_with_embeddings"] >= 3
    static = read(out / "processed_clip_chunks/cams/static.mp4_0.json")
    assert not any((out / "ce1_embd" / f"{u}.pickle").exists() for u in static["filtered_clips"])


def test_short_corrupt_and_truncated_videos(job_run):
    out, summary, videos = job_run
    short = read(out / "processed_videos/short.mp4.json")
    assert (short["num_total_clips"], short["num_clip_chunks"]) == (0, 0)
    assert read(out / "processed_clip_chunks/short.mp4_0.json")["clips"] == []
    entries = {Path(v["video"]).name: v for v in summary["videos"]}
    assert set(entries) == {"pan.mp4", "static.mp4", "short.mp4", "corrupt.mp4", "truncated.mov"}
    assert "error" in entries["corrupt.mp4"] and entries["corrupt.mp4"]["complete"] is False
    assert not (out / "processed_videos/corrupt.mp4.json").exists()
    assert all(entries[n]["complete"] for n in ("pan.mp4", "static.mp4", "short.mp4"))
    # The truncated copy keeps an index claiming 12 s: the probe's tail check catches it.
    truncated = entries["truncated.mov"]
    assert truncated["error"].startswith("ProbeError: truncated") and truncated["complete"] is False
    assert not (out / "processed_videos/truncated.mov.json").exists()
    assert summary["totals"]["videos_failed"] == 2
    assert json.loads((out / "summary.json").read_text())["totals"] == summary["totals"]


def test_rerun_with_resume_decodes_nothing_again(job_run, cluster_client):
    out, first, videos = job_run
    stages = StageSettings(**STAGES, embedder="example_plugins:colour_histogram_embedding")
    writer = WriterSettings(output_path=str(out), input_path=str(videos), resume=True)
    cfg = JobConfig(writer=writer, stages=stages)
    with cluster_client.as_current():
        summary = run_job(cfg, cluster_client, stream=sys.stderr)
    assert summary["totals"]["chunks_resumed"] == summary["totals"]["chunks"] == first["totals"]["chunks"]
    assert summary["totals"]["num_clips_passed"] == first["totals"]["num_clips_passed"]
    assert summary["totals"]["files_written"] == {}
    # Only the reduction's own files are met again: 3 video JSONs (pan, static, short) and the
    # zero-count chunk document of the clip-less short video.
    assert summary["totals"]["files_skipped"] == {"processed_clip_chunks": 1, "processed_videos": 3}


def test_cli_run_and_write(tmp_path, videos):
    """The command line: `run` on the videos, then `write` of records stored as Parquet."""
    out = tmp_path / "cli-out"
    cmd = [sys.executable, "-m", "dask_clipwriter.cli", "run", "--input", str(videos), "--output", str(out),
           "--n-workers", "1", "--clip-len-s", "4", "--clip-stride-s", "4", "--num-clips-per-chunk", "1",
           "--no-make-previews"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 3, proc.stderr  # 3: finished, but some videos could not be read
    assert "chunks 3/3" in proc.stderr and "dashboard: http://" in proc.stderr
    assert f"summary: {out}/summary.json" in proc.stderr
    assert not (out / "previews").exists()
    summary = read(out / "summary.json")
    assert summary["totals"]["chunks"] == 3

    # `write`: clip records stored as Parquet (made here with the job's stages, in-process).
    import pyarrow.parquet as pq_

    from dask_clipwriter.probe import probe_video_file
    from dask_clipwriter.stored_records import clip_records_to_table
    from dask_clipwriter.video.chunk import plan_video, process_chunk

    pan = str(videos / "pan.mp4")
    probe = probe_video_file(pan)
    stages = StageSettings(**STAGES, make_previews=False)
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    for plan in plan_video(pan, probe, stages):
        pq_.write_table(clip_records_to_table(process_chunk(plan, probe, stages)),
                        records_dir / f"part-{plan.chunk_index}.parquet")
    out2 = tmp_path / "written"
    proc = subprocess.run([sys.executable, "-m", "dask_clipwriter.cli", "write", str(records_dir), "--input",
                           str(videos), "--output", str(out2), "--n-workers", "1", "--no-upload-clips"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 chunks, 3 clips passed" in proc.stderr
    assert not (out2 / "clips").exists() and len(list((out2 / "metas/v0").iterdir())) == 3
    # Same records, same documents as the job wrote (only the output root differs).
    for index in (0, 1):
        chunk = f"processed_clip_chunks/pan.mp4_{index}.json"
        assert (out2 / chunk).read_bytes() == (out / chunk).read_bytes()
        for u in read(out / chunk)["clips"]:
            meta = f"metas/v0/{u}.json"
            assert (out2 / meta).read_bytes().replace(str(out2).encode(), str(out).encode()) == (out / meta).read_bytes()


@pytest.mark.s3
def test_job_reads_and_writes_s3(videos, s3_bucket, cluster_client):
    """Source videos listed and decoded from s3://, dataset written to s3:// (moto)."""
    name, options, fs = s3_bucket
    fs.put(str(videos / "pan.mp4"), f"{name}/raw/pan.mp4")
    fs.put(str(videos / "corrupt.mp4"), f"{name}/raw/bad/corrupt.mp4")
    source, out = f"s3://{name}/raw", f"s3://{name}/dataset"
    writer = WriterSettings(output_path=out, input_path=source, storage_options=options)
    cfg = JobConfig(writer=writer, stages=StageSettings(**STAGES))
    with cluster_client.as_current():
        summary = run_job(cfg, cluster_client, stream=sys.stderr)
    assert summary["totals"]["num_clips_passed"] == 3 and summary["totals"]["videos_failed"] == 1
    chunk = json.loads(fs.cat_file(f"{name}/dataset/processed_clip_chunks/pan.mp4_0.json"))
    u = chunk["clips"][0]
    assert u == spec_uuid(f"{source}/pan.mp4", 0.0, 4.0)
    meta = json.loads(fs.cat_file(f"{name}/dataset/metas/v0/{u}.json"))
    assert meta["clip_location"] == f"{out}/clips/{u}.mp4" and meta["source_video"] == f"{source}/pan.mp4"
    assert fs.size(f"{name}/dataset/clips/{u}.mp4") == meta["num_bytes"]
    assert "testing" not in json.dumps(summary)
