"""Path rules and the reference's helper names (output-format.md §1)."""

import pytest

from dask_clipwriter import ClipWriter, ClipWriterStage, layout


@pytest.mark.parametrize("out", ["/test/output", "/test/output/", "/test/output//"])
def test_helpers_exact_strings(out):
    W = ClipWriterStage
    assert W.get_output_path_processed_videos(out) == "/test/output/processed_videos"
    assert W.get_output_path_processed_clip_chunks(out) == "/test/output/processed_clip_chunks"
    assert W.get_output_path_clips(out) == "/test/output/clips"
    assert W.get_output_path_clips(out, filtered=True) == "/test/output/filtered_clips"
    assert W.get_output_path_previews(out) == "/test/output/previews"
    assert W.get_output_path_metas(out, "v0") == "/test/output/metas/v0"
    assert W.get_output_path_ce1_embd(out) == "/test/output/ce1_embd"
    assert W.get_output_path_ce1_embd_parquet(out) == "/test/output/ce1_embd_parquet"


def test_filtered_is_keyword_only_and_alias_is_the_same_class():
    assert ClipWriterStage is ClipWriter
    with pytest.raises(TypeError):
        ClipWriter.get_output_path_clips("/o", True)


def test_root_join_rule():
    assert layout.output_subpath("/test/output", "subfolder") == "/test/output/subfolder"
    assert layout.output_subpath("/test/output/", "/subfolder/") == "/test/output/subfolder"
    assert layout.output_subpath("s3://bucket/x/", "clips") == "s3://bucket/x/clips"


def test_file_paths():
    u = "f1237051-6157-5579-b000-4227c106af28"
    assert layout.preview_path("/o", u, 0, 255) == f"/o/previews/{u}/0_255.webp"
    assert layout.meta_path("/o/", u) == f"/o/metas/v0/{u}.json"
    assert layout.clip_path("s3://b/o", u, filtered=True) == f"s3://b/o/filtered_clips/{u}.mp4"
    assert layout.embedding_pickle_path("/o", "ce1_embd", u) == f"/o/ce1_embd/{u}.pickle"
    assert layout.video_json_path("/o", "subfolder/video.mp4") == "/o/processed_videos/subfolder/video.mp4.json"
    assert layout.chunk_json_path("/o", "subfolder/video.mp4", 2) == "/o/processed_clip_chunks/subfolder/video.mp4_2.json"


def test_chunk_uuid_examples():
    assert layout.chunk_uuid("/in/videos/sub/a.mp4", 0) == "369b16fc-c9e7-5c6a-8009-d100871d91b2"
    assert layout.chunk_uuid("/data/in/video_00000.mp4", 0) == "dfce6fb4-b1bd-5561-9ce4-1e5f7a945f78"


@pytest.mark.parametrize(
    ("video", "input_path", "rel"),
    [
        ("/test/input/subfolder/video.mp4", "/test/input", "subfolder/video.mp4"),
        ("/test/input/subfolder/video.mp4", "/test/input/", "subfolder/video.mp4"),
        ("s3://bucket/raw/a/b.mov", "s3://bucket/raw", "a/b.mov"),
    ],
)
def test_relative_video_path(video, input_path, rel):
    assert layout.relative_video_path(video, input_path) == rel


@pytest.mark.parametrize(
    ("video", "input_path"),
    [
        ("/data/videos/a.mp4", "/data/vid"),  # the reference's plain-string match accepts this
        ("/data/vid", "/data/vid"),
        ("/data/vid/../x.mp4", "/data/vid"),
        ("/data/vid/a/./b.mp4", "/data/vid"),
        ("s3://other/raw/a.mp4", "s3://bucket/raw"),
    ],
)
def test_relative_video_path_refuses(video, input_path):
    with pytest.raises(layout.LayoutError, match=repr(video)):
        layout.relative_video_path(video, input_path)
