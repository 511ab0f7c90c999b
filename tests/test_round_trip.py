"""A dataset read back and written again: the same tree, byte for byte, local and on S3; a
selection of it: a smaller dataset that verify finds consistent.

Every file is compared. The reference's layout must be the same bytes, but for one thing:
``clip_location`` in the metas (and in the optional JSONL metas and clip index) names the
dataset's own root (the spec's §2), so there the source's root is read as the copy's. Our
bookkeeping, ``summary.json`` and ``.clipwriter/``, differs for reasons of the run that
wrote it, and each reason is checked, not just excluded: the run's start, end and elapsed
time and each chunk's finish time; the ``output_path`` written to; the byte counts of the
files that name the root (the metas, once each); the key order of counters (the order of
the clips' filters, guessed for a chunk with clips of both); and the clip counts of video records the source run was given without
them (the copy is given them, as ``read_video_records`` reads them back). The write call's
flags that are no content setting (``generate_embeddings``: what is counted missing) are
not in the manifest, so the copy is given the source's, as summary.json shows them.
"""

from __future__ import annotations

import json
from datetime import datetime

import fsspec
import pandas as pd
import pytest
from clip_helpers import chunk_frame, encode_h264, records_collection
from test_reader import reference_dataset

from dask_clipwriter import ClipWriter, verify
from dask_clipwriter.layout import chunk_uuid
from dask_clipwriter.parquet_bytes import read_parquet_bytes
from dask_clipwriter.reader import dataset_writer_settings, read_clip_dataset, read_video_records
from dask_clipwriter.selection import consistent_selection

VIDEOS = ["/in/cam/a.mp4", "/in/b.mp4"]
#: The clip counts of a video record, when the record given to the writer has them.
VIDEO_COUNTS = ("num_total_clips", "num_clip_chunks")


def files_of(url: str, options=None) -> dict[str, bytes]:
    """Every file below ``url`` (local or any fsspec URL), {relative path: bytes}."""
    fs, root = fsspec.url_to_fs(str(url), **(options or {}))
    root = root.rstrip("/")
    return {p[len(root) + 1:]: fs.cat_file(p) for p in sorted(fs.find(root))}


def is_bookkeeping(name: str) -> bool:
    return name == "summary.json" or name.startswith(".clipwriter/")


def assert_same_tree(src, dst, *roots: str, options=None):
    """``dst`` holds the files of ``src``: the reference layout byte for byte (the roots its
    metas name read as ``dst``), our bookkeeping the same but for what its run changes."""
    assert_same_files(files_of(src, options), files_of(dst, options), str(src), str(dst), *roots)


def assert_same_files(before: dict[str, bytes], after: dict[str, bytes], src: str, dst: str, *roots: str):
    """:func:`assert_same_tree` on the files of the trees, ``src`` and ``dst`` their roots."""
    if not any(is_bookkeeping(n) for n in before):  # the reference's: the copy adds ours
        after = {n: data for n, data in after.items() if not is_bookkeeping(n)}
    assert sorted(after) == sorted(before)
    for name, data in before.items():
        if is_bookkeeping(name) or name.startswith("clip_index/"):
            continue
        for root in (*roots, src):
            data = data.replace(root.encode(), dst.encode())
        assert after[name] == data, name
    for name in before:
        if name.startswith("clip_index/"):
            assert clip_index_rows(after[name], dst) == clip_index_rows(before[name], src), name
    assert_bookkeeping_differs_by_its_run_alone(before, after, src, dst)


def clip_index_rows(data: bytes, root: str) -> list[dict]:
    """A clip index part's rows, the root ``clip_location`` names cut off (it is the only
    column that holds it)."""
    rows = read_parquet_bytes(data).to_pylist()
    for row in rows:
        assert row["clip_location"].startswith(root + "/"), row["clip_location"]
        row["clip_location"] = row["clip_location"][len(root):]
    return rows


def assert_bookkeeping_differs_by_its_run_alone(before, after, src: str, dst: str) -> None:
    names = sorted(n for n in before if is_bookkeeping(n))
    if not names:
        return
    assert "summary.json" in names and ".clipwriter/manifest.json" in names
    for name in names:
        if name == "summary.json":
            assert summary_of_run(after[name], dst, after) == summary_of_run(before[name], src, before)
        elif name.endswith(".parquet") and "/chunks-" in name:
            assert chunk_rows_of_run(after[name], dst, after) == chunk_rows_of_run(before[name], src, before), name
        elif name.endswith(".parquet") and "/videos-" in name:
            assert video_rows_given(after[name], after) == video_rows_given(before[name], before), name
        else:  # the manifest: the content settings and the version that wrote them
            assert after[name] == before[name], name


def _without_root(scope: dict, root: str, clip_index_bytes: int) -> None:
    """A scope's byte counts (totals, the run's, a video's, a chunk's) with what the root's
    name takes in them taken off: each meta names the root once (one per clip, passed or
    filtered), so does each line of the JSONL metas (one per passed clip). The clip index is
    compressed Parquet, its size no sum of the root's: its count is checked to be the size
    of the scope's clip index files, compared row by row above."""
    counts = scope["bytes_written"] if "bytes_written" in scope else scope["bytes"]
    passed, filtered = scope["num_clips_passed"], scope["num_clips_filtered"]
    if passed + filtered:
        counts["metas"] -= (passed + filtered) * len(root)
    else:
        assert "metas" not in counts  # a video without clips
    if "metas_jsonl" in counts:
        counts["metas_jsonl"] -= passed * len(root)
    if "clip_index" in counts:
        assert counts.pop("clip_index") == clip_index_bytes


def _clip_index_bytes(files: dict[str, bytes], chunks=None) -> int:
    """The size of the clip index files of ``chunks`` ((video, index) pairs; None: all)."""
    names = [n for n in files if n.startswith("clip_index/")] if chunks is None else \
        [f"clip_index/{chunk_uuid(v, c)}.parquet" for v, c in chunks]
    return sum(len(files.get(n, b"")) for n in names)


def summary_of_run(data: bytes, root: str, files: dict[str, bytes]) -> dict:
    """summary.json without what the run alone decides, each checked to be that."""
    doc = json.loads(data)
    started, finished = (datetime.fromisoformat(doc.pop(k)) for k in ("started_at", "finished_at"))
    assert 0 <= doc.pop("elapsed_s") <= (finished - started).total_seconds() + 1
    assert doc["settings"].pop("output_path") == root
    for folder in ("metas", "metas_jsonl"):  # the counts are the files' sizes
        assert doc["totals"]["bytes"].get(folder, 0) == sum(len(d) for n, d in files.items() if n.startswith(folder + "/"))
    # The run wrote every file of the dataset (into an empty root): its counts are the totals'.
    for scope in (doc["totals"], doc["run"]):
        _without_root(scope, root, _clip_index_bytes(files))
    for video in doc["videos"]:
        _without_root(video, root, _clip_index_bytes(files, [(video["video"], c) for c in range(video["chunks"])]))
    return doc


def chunk_rows_of_run(data: bytes, root: str, files: dict[str, bytes]) -> list[dict]:
    """The index's chunk rows without their finish time (checked to be within the run's),
    byte counts without the root, counters as mappings (their key order is the order of the
    clips' filters, which read back is a guess for a chunk with clips of both filters)."""
    summary = json.loads(files["summary.json"])
    started = datetime.fromisoformat(summary["started_at"]).timestamp()
    finished = datetime.fromisoformat(summary["finished_at"]).timestamp()
    rows = read_parquet_bytes(data).to_pandas().to_dict("records")
    for row in rows:
        assert started - 1 <= row.pop("finished") <= finished + 1
        for key in ("errors", "missing", "bytes", "filtered"):
            row[key] = json.loads(row[key])
        _without_root(row, root, _clip_index_bytes(files, [(row["video"], row["clip_chunk_index"])]))
    return sorted(rows, key=lambda r: (r["video"], r["clip_chunk_index"]))


def video_rows_given(data: bytes, files: dict[str, bytes]) -> list[dict]:
    """The index's video rows, the clip counts a record was given without taken from the
    video's processed_videos document (what the writer counted and wrote for it, and what
    ``read_video_records`` gives the copy)."""
    rows = read_parquet_bytes(data).to_pandas().astype(object).to_dict("records")
    documents = {}
    for name, doc_bytes in files.items():
        if name.startswith("processed_videos/"):
            doc = json.loads(doc_bytes)
            documents[doc["video"]] = doc
    for row in rows:
        for key in VIDEO_COUNTS:
            if pd.isna(row[key]):
                row[key] = float(documents[row["video"]][key])
        for key, value in row.items():
            if not isinstance(value, str) and pd.isna(value):
                row[key] = None
    return sorted(rows, key=lambda r: r["video"])


#: The source's write-call flags that are not content settings (the manifest, hence
#: dataset_writer_settings, does not hold them, and summary.json's settings show them).
SOURCE_FLAGS = {"generate_embeddings": True}


def copy_of(src, dst, clips=None, videos=None, storage_options=None, **settings):
    src, options = str(src), storage_options or {}
    writer = ClipWriter(output_path=str(dst), storage_options=options,
                        **{**dataset_writer_settings(src, options), **settings})
    clips = read_clip_dataset(src, options, with_bytes=True) if clips is None else clips
    return writer.write(clips, read_video_records(src, options) if videos is None else videos)


def write_source(root: str, storage_options=None, **settings) -> None:
    """Real H.264 clips, passed and filtered (two filters in one chunk), errors, embeddings,
    previews, video records (without clip counts), and a video without clips."""
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
    writer = ClipWriter(root, "/in", caption_models=["qwen"], enhanced_caption_models=["qwen_lm"],
                        storage_options=storage_options, **SOURCE_FLAGS, **settings)
    writer.write(records_collection(*frames), pd.DataFrame(video_rows))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("round") / "src"
    write_source(str(root))
    assert verify(str(root)) == []
    return root


def test_read_and_written_again_is_the_same_tree(source, tmp_path):
    # A longer root than the source's: the metas' byte counts differ, by the root's length.
    copy_of(source, tmp_path / "copy-of-src", **SOURCE_FLAGS)
    assert_same_tree(source, tmp_path / "copy-of-src")


def test_s3_to_s3_is_the_same_tree(s3_bucket):
    name, options, fs = s3_bucket
    src, dst = f"s3://{name}/src", f"s3://{name}/copy-of-src"
    # With the optional outputs too: JSONL metas and the clip index name the root as well.
    write_source(src, options, metas_jsonl=True, clip_index=True)
    assert verify(src, storage_options=options) == []
    copy_of(src, dst, storage_options=options, **SOURCE_FLAGS, metas_jsonl=True, clip_index=True)
    files = files_of(dst, options)
    assert any(n.startswith("clip_index/") for n in files) and any(n.startswith("metas_jsonl/") for n in files)
    assert json.loads(files[next(n for n in files if n.startswith("metas/v0/"))])["clip_location"].startswith(dst)
    assert_same_tree(src, dst, options=options)


def test_reference_dataset_written_again_is_the_same_tree(tmp_path):
    src = reference_dataset(tmp_path / "ref")
    copy_of(src, tmp_path / "copy", upload_clips=True, generate_embeddings=True, generate_previews=True)
    # The reference's metas name its own output path, /data/out.
    assert_same_tree(src, tmp_path / "copy", "/data/out")
    # The reference wrote no bookkeeping of ours; the copy's records the settings inferred.
    assert not any(is_bookkeeping(n) for n in files_of(src))
    manifest = json.loads((tmp_path / "copy" / ".clipwriter/manifest.json").read_bytes())
    assert manifest["settings"].items() >= dataset_writer_settings(str(src)).items()


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
