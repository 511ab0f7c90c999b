"""A dataset read back and written again: the same tree, byte for byte; a selection of it: a
smaller dataset that verify finds consistent.

What is compared: every file of the tree but our own bookkeeping, ``summary.json`` and
``.clipwriter/`` (they hold the run's start and end times, and the manifest the version
that wrote it). In the metas, ``clip_location`` holds the dataset's own root (the spec's
§2), so the source's root is read as the copy's there: every other byte is the same.
"""

from __future__ import annotations

import pandas as pd
import pytest
from clip_helpers import chunk_frame, encode_h264, records_collection, tree
from test_reader import reference_dataset

from dask_clipwriter import ClipWriter, verify
from dask_clipwriter.reader import dataset_writer_settings, read_clip_dataset, read_video_records
from dask_clipwriter.selection import consistent_selection

VIDEOS = ["/in/cam/a.mp4", "/in/b.mp4"]


def assert_same_tree(src, dst, *roots: str):
    before, after = tree(src), tree(dst)
    assert sorted(after) == sorted(before)
    for name, data in before.items():
        for root in (*roots, str(src)):
            data = data.replace(root.encode(), str(dst).encode())
        assert after[name] == data, name


def copy_of(src, dst, clips=None, videos=None, **settings):
    writer = ClipWriter(output_path=str(dst), **{**dataset_writer_settings(str(src)), **settings})
    clips = read_clip_dataset(str(src), with_bytes=True) if clips is None else clips
    return writer.write(clips, read_video_records(str(src)) if videos is None else videos)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """Real H.264 clips, passed and filtered (two filters in one chunk), errors, embeddings,
    previews, video records, and a video without clips."""
    root = tmp_path_factory.mktemp("round") / "src"
    clip = encode_h264(frames=20)
    frames = [chunk_frame(VIDEOS[0], 0, 3, buffer=clip, aesthetic_score=5.5),
              chunk_frame(VIDEOS[0], 1, 2, buffer=clip, motion_score_global_mean=0.0001),
              chunk_frame(VIDEOS[1], 0, 3, buffer=clip, errors={"caption": "model failed"})]
    frames[1].loc[0, "filtered_by"] = "motion"
    frames[1].loc[1, "filtered_by"] = "aesthetic"
    frames[2].loc[2, "filtered_by"] = "motion"
    video_rows = [{"video": v, "height": 48, "width": 64, "framerate": 30.0, "num_frames": 600, "duration": 20.0,
                   "video_codec": "h264", "pixel_format": "yuv420p", "audio_codec": None} for v in VIDEOS]
    video_rows.append({"video": "/in/empty.mp4", "num_total_clips": 0, "num_clip_chunks": 0})
    writer = ClipWriter(str(root), "/in", caption_models=["qwen"], enhanced_caption_models=["qwen_lm"],
                        generate_embeddings=True)
    writer.write(records_collection(*frames), pd.DataFrame(video_rows))
    assert verify(str(root)) == []
    return root


def test_read_and_written_again_is_the_same_tree(source, tmp_path):
    copy_of(source, tmp_path / "copy")
    assert_same_tree(source, tmp_path / "copy")


def test_reference_dataset_written_again_is_the_same_tree(tmp_path):
    src = reference_dataset(tmp_path / "ref")
    copy_of(src, tmp_path / "copy", upload_clips=True, generate_embeddings=True, generate_previews=True)
    # The reference's metas name its own output path, /data/out.
    assert_same_tree(src, tmp_path / "copy", "/data/out")


def test_a_selection_is_a_smaller_consistent_dataset(source, tmp_path):
    clips = read_clip_dataset(str(source), with_bytes=True)
    # Drops chunk 1 of a.mp4 (low motion) and nothing of b.mp4: chunk numbers stay gap-free.
    subset, videos = consistent_selection(clips[clips["motion_score_global_mean"] > 0.001],
                                          read_video_records(str(source)))
    summary = copy_of(source, tmp_path / "subset", subset, videos)
    out = tmp_path / "subset"
    assert verify(str(out)) == []
    rows = read_clip_dataset(str(out)).compute()
    assert len(rows) == 6 and (rows["motion_score_global_mean"] > 0.001).all()
    assert summary["totals"]["videos"] == summary["totals"]["videos_complete"] == 2
    assert sorted(set(rows["chunk_location"])) == ["processed_clip_chunks/b.mp4_0.json",
                                                   "processed_clip_chunks/cam/a.mp4_0.json"]


def test_a_selection_that_drops_a_middle_chunk_renumbers_the_rest(source, tmp_path):
    clips = read_clip_dataset(str(source), with_bytes=True)
    keep = clips[~((clips["video"] == VIDEOS[0]) & (clips["clip_chunk_index"] == 0))]
    subset, videos = consistent_selection(keep, read_video_records(str(source)))
    copy_of(source, tmp_path / "subset", subset, videos)
    out = tmp_path / "subset"
    assert verify(str(out)) == []
    assert (out / "processed_clip_chunks/cam/a.mp4_0.json").exists()
    assert not (out / "processed_clip_chunks/cam/a.mp4_1.json").exists()
    assert not (out / "processed_videos/empty.mp4.json").exists()  # no clip of it was selected
    moved = read_clip_dataset(str(out), columns=["span_uuid", "clip_chunk_index"]).compute()
    original = read_clip_dataset(str(source), columns=["span_uuid", "video", "clip_chunk_index"]).compute()
    was_chunk_1 = set(original[(original.video == VIDEOS[0]) & (original.clip_chunk_index == 1)].span_uuid)
    assert set(moved[moved.clip_chunk_index == 0].span_uuid) >= was_chunk_1
