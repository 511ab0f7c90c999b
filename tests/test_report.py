"""report.html: figures gathered from documents (pure), the bounded sample read from a real
dataset (local and S3), the page itself, and the `report` command. The page is drawn in a
real browser in test_report_browser.py."""

from __future__ import annotations

import json
import re

import pytest
from clip_helpers import chunk_frame, records_collection

from dask_clipwriter import ClipWriter
from dask_clipwriter.cli import main
from dask_clipwriter.report import report_figures, write_report
from dask_clipwriter.report_figures import MAX_VIDEO_BARS, Preview, gather, histogram
from dask_clipwriter.report_html import PLOT_COLOURS, report_html
from dask_clipwriter.report_read import ReportError, ReportSettings, read_sample

V = "/in/cams/a.mp4"


def summary_doc(videos: list[dict], **totals) -> dict:
    base = {"chunks": 3, "num_clips_passed": 5, "num_clips_filtered": 4, "num_clips_filtered_by_motion": 3,
            "num_clips_filtered_by_aesthetic": 1, "total_clip_duration": 7200.0, "errors": {"transcode": 2},
            "bytes": {"clips": 5_000_000, "metas": 4_000, "previews": 0}, "videos": len(videos),
            "videos_complete": 1, "videos_failed": 2}
    return {"settings": {"input_path": "/in"}, "finished_at": "2026-12-01T10:00:00+00:00", "elapsed_s": 12.5,
            "totals": {**base, **totals}, "videos": videos}


VIDEOS = [
    {"video": "/in/cams/a.mp4", "complete": True, "num_clips_passed": 5, "num_clips_filtered": 1},
    {"video": "/in/b.mp4", "complete": True, "num_clips_passed": 0, "num_clips_filtered": 3},
    {"video": "/in/bad.mp4", "complete": False, "error": "InvalidDataError: [Errno 1094995529] Invalid data"},
    {"video": "/in/short.mov", "complete": False, "error": "ValueError: no video stream"},
]


def meta(start, end, motion=None, aesthetic=None, windows=((0, 255),)):
    doc = {"span_uuid": f"u{start}", "source_video": V, "duration_span": [start, end],
           "windows": [{"start_frame": a, "end_frame": b} for a, b in windows]}
    if motion is not None:
        doc["motion_score"] = {"global_mean": motion, "per_patch_min_256": motion / 10}
    if aesthetic is not None:
        doc["aesthetic_score"] = aesthetic
    return doc


def test_figures_from_documents():
    metas = [meta(0, 10, 0.01, 4.0), meta(10, 20, 0.02, 6.0), meta(20, 22, 0.0, 5.0), meta(22, 24)]
    figures = gather(summary_doc(VIDEOS), metas, [Preview("u0", V, (0.0, 10.0), b"RIFF")], dataset="/out",
                     sample="a sample")
    assert figures.durations.values == 4 and sum(figures.durations.counts) == 4
    assert (figures.durations.edges[0], figures.durations.edges[-1]) == (2.0, 10.0)
    # Motion on a log scale: a score of 0 cannot be drawn there and is counted aside.
    assert figures.motion.log and figures.motion.values == 2 and figures.motion.left_out == 1
    assert sum(figures.aesthetic.counts) == 3
    assert figures.clips_per_video == [("cams/a.mp4", 5, 1), ("b.mp4", 0, 3)]  # failed videos have no clips
    assert figures.outcome == [("passed", 5), ("filtered: motion", 3), ("filtered: aesthetic", 1)]
    assert figures.bytes_per_directory == [("clips", 5_000_000), ("metas", 4_000)]
    assert figures.errors == [("clip: transcode", 2), ("video: InvalidDataError", 1), ("video: ValueError", 1)]
    assert figures.failed_videos == [("bad.mp4", VIDEOS[2]["error"]), ("short.mov", VIDEOS[3]["error"])]
    assert dict(figures.headline)["clips"] == "5 passed, 4 filtered" and dict(figures.headline)["clip time"] == "2.00 h"


def test_failed_videos_beyond_the_listed_ones_are_counted():
    figures = gather(summary_doc(VIDEOS, videos_failed=12_000, num_clips_filtered=5), [])
    assert ("video: unlisted", 11_998) in figures.errors and figures.failed_count == 12_000
    assert ("filtered: other", 1) in figures.outcome  # filtered for a reason that is neither
    assert figures.durations is None and figures.motion is None


def test_many_videos_make_a_histogram_of_clips_per_video():
    many = [{"video": f"/in/v{i}.mp4", "complete": True, "num_clips_passed": i % 7, "num_clips_filtered": 1}
            for i in range(MAX_VIDEO_BARS + 70)]
    figures = gather(summary_doc(many), [])
    assert figures.clips_per_video == [] and sum(figures.clips_per_video_histogram.counts) == len(many)


def test_histogram_of_one_value_and_of_nothing():
    one = histogram([3.0, 3.0])
    assert one.counts[0] == 2 and one.edges[0] == 3.0 and one.edges[-1] == 4.0
    assert histogram([]) is None and histogram([float("nan"), None]) is None and histogram([0.0], log=True) is None


# ----------------------------------------------------------------------------------------
# Read from a real dataset written by the writer.


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    frames = [chunk_frame(f"/in/v{v}.mp4", c, n=3, filtered_by="motion" if c == 1 else None)
              for v in range(4) for c in range(3)]
    ClipWriter(str(out), "/in", caption_models=["qwen"]).write(records_collection(*frames))
    return out


def test_the_sample_is_bounded_and_read_without_listing(dataset):
    settings = ReportSettings(max_chunks=5, max_metas=7, max_previews=3)
    sample = read_sample(str(dataset), settings=settings)
    assert sample.chunks_total == 12 and sample.chunks_read == 5
    assert len(sample.metas) == 7
    # summary + manifest, one index part, 5 chunk documents, 7 metas, 3 previews: nothing else.
    assert sample.reads == 2 + 1 + 5 + 7 + 3
    assert len(sample.previews) == 3 and all(p.data.startswith(b"RIFF-webp-") for p in sample.previews)
    # Previews come from passed clips, of every video in the sample that has some.
    passed = [m for m in sample.metas if "/clips/" in m["clip_location"]]
    assert {p.clip for p in sample.previews} <= {m["span_uuid"] for m in passed}
    assert {p.video for p in sample.previews} == {m["source_video"] for m in passed}
    # Metas are taken across the chunks, passed and filtered alike.
    assert len({m["source_video"] for m in sample.metas}) >= 3
    assert any("filtered_clips" in m["clip_location"] for m in sample.metas)


def test_the_whole_small_dataset_is_read(dataset):
    figures = report_figures(str(dataset))
    assert figures.durations.values == 36 and figures.motion.values == 36
    assert figures.outcome == [("passed", 24), ("filtered: motion", 12), ("filtered: aesthetic", 0)]
    assert figures.clips_per_video == [(f"v{v}.mp4", 6, 3) for v in range(4)]
    assert figures.sample == "histograms from 36 clip metas of 12 of 12 chunks; 12 previews; 63 files read"


def test_the_page_is_self_contained(dataset):
    page = report_html(report_figures(str(dataset)))
    assert "<script" in page and "Bokeh" in page
    # No resource from a network: bokeh's JavaScript inline (no <script src>), previews as
    # data URIs (the browser test sees what the page really requests).
    markup = re.sub(r"<script[^>]*>.*?</script>", "", page, flags=re.S)
    assert "<script" in page and not re.search(r"<script[^>]*\ssrc=", page)
    assert not re.search(r"""(src|href)=["']https?://""", markup)
    assert page.count("data:image/webp;base64,") == 12
    for colour in ("durations", "motion", "clips_per_video", "outcome", "bytes"):
        assert PLOT_COLOURS[colour] in page


def test_report_command_writes_into_the_dataset_or_elsewhere(dataset, tmp_path, capsys):
    assert main(["report", str(dataset)]) == 0
    assert f"report: {dataset}/report.html" in capsys.readouterr().err
    assert (dataset / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(dataset), "-o", str(tmp_path / "r.html"), "--max-metas", "2"]) == 0
    assert "histograms from 2 clip metas" in (tmp_path / "r.html").read_text()


def test_report_of_something_that_is_not_a_dataset(tmp_path, capsys):
    with pytest.raises(ReportError, match=rf"no summary.json at {tmp_path}/summary.json"):
        write_report(str(tmp_path))
    assert main(["report", str(tmp_path)]) == 2
    assert "dask-clipwriter: error: no summary.json at" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--max-metas", "0"]) == 2  # out of its range


@pytest.mark.s3
def test_report_of_a_dataset_on_s3(s3_bucket, tmp_path, capsys):
    name, options, fs = s3_bucket
    out = f"s3://{name}/ds"
    ClipWriter(out, "/in", storage_options=options).write(records_collection(chunk_frame(V, 0), chunk_frame(V, 1)))
    conf = tmp_path / "s3.yaml"
    conf.write_text(json.dumps({"clipwriter": {"storage-options": options}}))
    assert main(["report", out, "--config", str(conf)]) == 0
    page = fs.cat_file(f"{name}/ds/report.html").decode()
    assert "histograms from 4 clip metas of 2 of 2 chunks" in page
    assert "testing" not in page  # no credentials on the page
