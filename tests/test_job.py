"""The batch job end to end: generated videos -> dataset, on a LocalCluster with processes."""

from __future__ import annotations

import io
import json
import pickle
import sys
import uuid
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from clip_helpers import STAGES, read_json, spec_uuid, tree
from PIL import Image

from dask_clipwriter import verify
from dask_clipwriter.config import JobConfig, JobSettings
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
def job_run(job_videos, tmp_path_factory, cluster_client):
    videos = job_videos
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


def test_spans_ids_and_chunks(job_run):
    out, _, videos = job_run
    pan = f"{videos}/pan.mp4"
    # 12 s at 30 fps, 4 s stride: [0,4] [4,8] [8,12]; chunks close at int-sum >= 8.
    spans = [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    chunk0, chunk1 = read_json(out / "processed_clip_chunks/pan.mp4_0.json"), read_json(out / "processed_clip_chunks/pan.mp4_1.json")
    assert chunk0["clips"] == [spec_uuid(pan, *s) for s in spans[:2]]
    assert chunk1["clips"] == [spec_uuid(pan, *spans[2])]
    video = read_json(out / "processed_videos/pan.mp4.json")
    assert (video["num_total_clips"], video["num_clip_chunks"], video["num_frames"], video["framerate"]) == (3, 2, 360, 30.0)
    for start, end in spans:
        meta = read_json(out / "metas/v0" / f"{spec_uuid(pan, start, end)}.json")
        assert meta["duration_span"] == [start, end] and meta["source_video"] == pan


def test_motion_decisions(job_run):
    out, _, videos = job_run
    static = f"{videos}/cams/static.mp4"
    chunk = read_json(out / "processed_clip_chunks/cams/static.mp4_0.json")
    assert chunk["clips"] == [] and chunk["num_clips_filtered_by_motion"] == 2
    assert chunk["filtered_clips"] == [spec_uuid(static, 0.0, 4.0), spec_uuid(static, 4.0, 6.0)]
    for u in chunk["filtered_clips"]:
        assert (out / "filtered_clips" / f"{u}.mp4").exists() and not (out / "previews" / u).exists()
        meta = read_json(out / "metas/v0" / f"{u}.json")
        assert meta["motion_score"]["global_mean"] < 0.00098 or meta["motion_score"]["per_patch_min_256"] < 1e-6
    pan = read_json(out / "processed_clip_chunks/pan.mp4_0.json")
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


def test_every_clip_carries_the_sources_audio(job_run):
    out, _, _ = job_run
    clips = sorted((out / "clips").iterdir()) + sorted((out / "filtered_clips").iterdir())
    assert len(clips) == 5  # pan's 3 passed, static's 2 filtered
    for path in clips:
        with av.open(str(path)) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert audio.codec_context.codec.canonical_name == "aac"
            assert audio.duration * audio.time_base == video.duration * video.time_base  # exactly its span


def test_the_summary_and_the_terminal_say_why_clips_were_filtered(tmp_path, cluster_client):
    videos = tmp_path / "videos"
    samples.make_sample_videos(videos, {"static.mp4": ("static", 4.0)})
    samples.write_sample_video(videos / "qcif.mp4", "pan", 4.0, width=176, height=144)  # below 256 px
    writer = WriterSettings(output_path=str(tmp_path / "out"), input_path=str(videos))
    terminal = io.StringIO()
    with cluster_client.as_current():
        summary = run_job(JobConfig(writer=writer, stages=StageSettings(**STAGES)), cluster_client, stream=terminal)
    assert summary["run"]["filtered"] == summary["totals"]["filtered"] == {"small_motion": 1, "too_small_to_score": 1}
    assert ("filtered clips: 2 by motion, 0 by aesthetic (small motion 1, too small to score (< 256 px) 1)"
            in terminal.getvalue())


class Terminal(io.StringIO):
    """Output that says it is a terminal: the progress line is then drawn at every change."""

    def isatty(self) -> bool:
        return True


def test_progress_moves_while_a_chunk_is_being_encoded(tmp_path, cluster_client):
    videos = tmp_path / "videos"
    samples.make_sample_videos(videos, {"pan.mp4": ("pan", 8.0)})
    writer = WriterSettings(output_path=str(tmp_path / "out"), input_path=str(videos))
    stages = StageSettings(**{**STAGES, "clip_len_s": 2.0, "clip_stride_s": 2.0, "num_clips_per_chunk": 4})
    terminal = Terminal()
    with cluster_client.as_current():
        run_job(JobConfig(writer=writer, stages=stages), cluster_client, stream=terminal)
    states = [line.split(" | ")[:2] for line in terminal.getvalue().replace("\r", "\n").splitlines()
              if line.startswith("chunks ")]
    # One chunk of four clips: the line moved as its clips were encoded (events come in
    # batches of a quarter second, so a step may cover two clips), before the chunk was done.
    during = [int(clips.split()[1].split("/")[0]) for chunk, clips in states if chunk == "chunks 0/1"]
    assert during == sorted(during) and during[-1] == 4 and len(set(during)) >= 2, states
    assert states[-1] == ["chunks 1/1", "clips 4/4 encoded"]


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
    static = read_json(out / "processed_clip_chunks/cams/static.mp4_0.json")
    assert not any((out / "ce1_embd" / f"{u}.pickle").exists() for u in static["filtered_clips"])


def test_short_corrupt_and_truncated_videos(job_run):
    out, summary, videos = job_run
    short = read_json(out / "processed_videos/short.mp4.json")
    assert (short["num_total_clips"], short["num_clip_chunks"]) == (0, 0)
    assert read_json(out / "processed_clip_chunks/short.mp4_0.json")["clips"] == []
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
    assert summary["run"]["chunks_resumed"] == summary["run"]["chunks"] == first["totals"]["chunks"]
    assert summary["totals"]["num_clips_passed"] == first["totals"]["num_clips_passed"]
    assert summary["run"]["files_written"] == {}
    # Only the reduction's own files are met again: 3 video JSONs (pan, static, short) and the
    # zero-count chunk document of the clip-less short video.
    assert summary["run"]["files_skipped"] == {"processed_clip_chunks": 1, "processed_videos": 3}


def test_resume_decodes_a_chunk_whose_marker_is_damaged(job_run, cluster_client, tmp_path):
    import shutil

    out, first, videos = job_run
    copy = tmp_path / "dataset"
    shutil.copytree(out, copy)
    (copy / "processed_clip_chunks/pan.mp4_1.json").write_bytes(b"{")
    stages = StageSettings(**STAGES, embedder="example_plugins:colour_histogram_embedding")
    writer = WriterSettings(output_path=str(copy), input_path=str(videos), generate_previews=True,
                            generate_embeddings=True, resume=True)
    with cluster_client.as_current():
        summary = run_job(JobConfig(writer=writer, stages=stages), cluster_client, stream=sys.stderr)
    assert summary["run"]["chunks_resumed"] == 2 and summary["run"]["chunks"] == 3
    assert read_json(copy / "processed_clip_chunks/pan.mp4_1.json") == read_json(out / "processed_clip_chunks/pan.mp4_1.json")
    assert verify(str(copy)) == []


def test_waves_of_chunks_give_the_same_dataset(job_run, job_videos, tmp_path, cluster_client):
    out, first, _ = job_run
    waved = tmp_path / "waved"
    stages = StageSettings(**STAGES, embedder="example_plugins:colour_histogram_embedding")
    writer = WriterSettings(output_path=str(waved), input_path=str(job_videos), generate_previews=True,
                            generate_embeddings=True)
    with cluster_client.as_current():
        summary = run_job(JobConfig(writer=writer, stages=stages, job=JobSettings(wave_chunks=1)), cluster_client,
                          stream=sys.stderr)
    assert summary["run"]["waves"] == 3 and summary["run"]["chunks"] == first["run"]["chunks"] == 3
    # pan's two chunks went in two waves; it counts once, as in the one-graph run.
    assert summary["run"]["videos"] == first["run"]["videos"] == 5
    assert summary["run"]["videos_failed"] == first["run"]["videos_failed"] == 2
    # The same totals; the metas' bytes hold the output path, which differs in length here.
    def without_metas(totals):
        return {**totals, "bytes": {k: v for k, v in totals["bytes"].items() if k != "metas"}}

    assert without_metas(summary["totals"]) == without_metas(first["totals"])
    assert read_json(waved / "summary.json")["run"] == summary["run"]
    same_root = {name: data.replace(str(waved).encode(), str(out).encode()) for name, data in tree(waved).items()}
    assert same_root == tree(out)


@pytest.mark.s3
def test_job_reads_and_writes_s3(job_videos, s3_bucket, cluster_client):
    """Source videos listed and decoded from s3://, dataset written to s3:// (moto)."""
    videos = job_videos
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
    # The job's report, read from and written to S3 with the same storage options.
    assert "histograms from 3 clip metas" in fs.cat_file(f"{name}/dataset/report.html").decode()
