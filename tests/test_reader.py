"""read_clip_dataset on real trees: the reference's own files, our writer's output (real H.264
clips), S3, lazy column selection, and bad input named by path and column."""

from __future__ import annotations

import json
import shutil

import fsspec
import numpy as np
import pandas as pd
import pytest
import reference as ref
from clip_helpers import chunk_frame, records_collection
from fsspec.implementations.memory import MemoryFileSystem

from dask_clipwriter import ClipWriter, clip_records_from_map
from dask_clipwriter.reader import (
    DatasetError,
    dataset_writer_settings,
    read_clip_dataset,
    read_video_records,
)

V = "/in/cam/a.mp4"
PASSED = ["f1237051-6157-5579-b000-4227c106af28", "ce7a7903-5442-5151-90c0-1f1a5e70ae31",
          "7fd88755-0954-540b-8adc-e2d80f8daf53", "a684209d-66fe-5217-bc3d-6bb8973d0e97"]
FILTERED = "c912d893-bcc8-5ff7-8278-1833f8284bdc"


def reference_files_tree(root):
    """A tree of the reference's own files only (shared/spec/examples), at their places."""
    places = {"processed_clip_chunks/video_00000.mp4_0.json": "processed_clip_chunks_video_00000.mp4_0.json",
              "processed_videos/video_00000.mp4.json": "processed_videos_video_00000.mp4.json",
              f"metas/v0/{PASSED[0]}.json": "metas_v0_passed_clip.json",
              f"metas/v0/{FILTERED}.json": "metas_v0_filtered_clip.json"}
    for place, name in places.items():
        (root / place).parent.mkdir(parents=True, exist_ok=True)
        (root / place).write_bytes(ref.expected(name))
    return root


def reference_dataset(root):
    """The example chunk as a whole dataset: the writer's files for the example records (clip
    bytes of the example's sizes), then the reference's own files put over them verbatim, and
    no bookkeeping of ours (a dataset the reference wrote has none)."""
    writer = ClipWriter(**{**ref.SETTINGS, "output_path": str(root)})
    writer.write(clip_records_from_map(lambda _: ref.clip_records(), [0]), ref.video_records())
    shutil.rmtree(root / ".clipwriter")
    (root / "summary.json").unlink()
    return reference_files_tree(root)


@pytest.fixture
def written(writer_factory):
    frames = [chunk_frame(V, 0, 2), chunk_frame(V, 1, 3, filtered_by="motion", errors={"transcode": "x"})]
    writer_factory().write(records_collection(*frames))
    return writer_factory.out, pd.concat(frames, ignore_index=True)


def test_reference_files_alone_give_the_chunk_rows_without_reading_a_meta(tmp_path):
    root = reference_files_tree(tmp_path / "ref")
    df = read_clip_dataset(str(root), columns=["span_uuid", "video", "clip_chunk_index", "filtered", "filtered_by"])
    rows = df.compute()
    assert df.npartitions == 1
    assert rows["span_uuid"].tolist() == [*PASSED, FILTERED]  # passed, then filtered, in record order
    assert rows["filtered"].tolist() == [False] * 4 + [True]
    assert rows["filtered_by"].tolist() == [None] * 4 + ["motion"]  # the chunk counts one motion filter
    assert set(rows["video"]) == {"/data/in/video_00000.mp4"} and set(rows["clip_chunk_index"]) == {0}


def test_reference_files_alone_name_the_first_missing_meta(tmp_path):
    root = reference_files_tree(tmp_path / "ref")
    with pytest.raises(DatasetError, match=f"{root}/metas/v0/{PASSED[1]}.json: missing clip meta"):
        read_clip_dataset(str(root), columns=["aesthetic_score"]).compute()


def test_reference_dataset_values_are_the_example_records(tmp_path):
    root = reference_dataset(tmp_path / "ref")
    rows = read_clip_dataset(str(root)).compute().set_index("span_uuid")
    for record in ref.EXAMPLE["clip_records"]:
        row = rows.loc[record["span_uuid"]]
        assert (row.span_start, row.span_end) == (record["span_start"], record["span_end"])
        assert row.motion_score_global_mean == record["motion_score_global_mean"]
        assert row.motion_score_per_patch_min_256 == record["motion_score_per_patch_min_256"]
        assert (pd.isna(row.aesthetic_score) and record["aesthetic_score"] is None) or \
            row.aesthetic_score == record["aesthetic_score"]
        assert (row.width, row.height, row.framerate, row.num_frames, row.video_codec) == (1920, 1080, 30.0, 300, "h264")
        assert (row.width_source, row.height_source, row.framerate_source) == (1920, 1080, 30.0)
        assert row.num_bytes == 204800 and row.valid == (record["filtered_by"] is None)
        assert row.filtered_by == record["filtered_by"]
        keys = ("start_frame", "end_frame", "caption", "enhanced_caption")
        assert [{k: w[k] for k in keys} for w in row.windows] == [{k: w[k] for k in keys} for w in record["windows"]]
        assert all(w["webp"] is None for w in row.windows)  # previews are bytes: read only with_bytes
        if record["embedding"]:
            expected = ref.embedding_for(record["span_uuid"]).astype(np.float32).reshape(-1)
            assert np.array_equal(row.embedding, expected)
        else:
            assert row.embedding is None
    assert rows.loc[PASSED[0], "clip_location"] == f"/data/out/clips/{PASSED[0]}.mp4"  # as the reference wrote it
    assert dataset_writer_settings(str(root)) == {"input_path": "/data/in", "caption_models": ["qwen"],
                                                  "enhanced_caption_models": ["qwen_lm"]}
    videos = read_video_records(str(root))
    assert videos.iloc[0]["audio_codec"] == "aac" and videos.iloc[0]["num_clip_chunks"] == 2


def test_with_bytes_reads_real_h264_clips_and_previews(writer_factory, h264_clip):
    # No probe values in the records: the writer probes the real clip, the reader gets them back.
    frame = chunk_frame(V, 0, 2, buffer=h264_clip, width=None, height=None, framerate=None, num_frames=None,
                        video_codec=None)
    writer_factory().write(records_collection(frame))
    rows = read_clip_dataset(str(writer_factory.out), with_bytes=True).compute()
    assert rows["buffer"].tolist() == [h264_clip, h264_clip]
    assert rows[["width", "height", "framerate", "num_frames"]].values.tolist() == [[64, 48, 30.0, 30]] * 2
    assert rows["video_codec"].tolist() == ["h264", "h264"]
    assert [w[0]["webp"] for w in rows["windows"]] == [w[0]["webp"] for w in frame["windows"]]
    assert "buffer" not in read_clip_dataset(str(writer_factory.out)).columns


def test_rows_columns_and_order(written):
    out, frame = written
    df = read_clip_dataset(str(out))
    assert df.npartitions == 2
    rows = df.compute()
    assert rows["span_uuid"].tolist() == frame["span_uuid"].tolist()
    assert rows["filtered_by"].tolist() == [None, None, "motion", "motion", "motion"]
    assert rows["errors"].tolist() == [[], [], ["transcode"], ["transcode"], ["transcode"]]
    assert rows["chunk_location"].tolist() == ["processed_clip_chunks/cam/a.mp4_0.json"] * 2 + \
        ["processed_clip_chunks/cam/a.mp4_1.json"] * 3
    assert rows.dtypes["windows"] == object and isinstance(rows["windows"].iloc[0], list)
    assert rows["embedding"].iloc[0].dtype == np.float32
    assert rows["embedding"].iloc[2] is None  # filtered clips have no stored embedding


def test_chunks_come_in_numeric_order(writer_factory):
    writer_factory().write(records_collection(*[chunk_frame(V, i, 1) for i in (0, 2, 10, 9)]))
    rows = read_clip_dataset(str(writer_factory.out), columns=["clip_chunk_index"]).compute()
    assert rows["clip_chunk_index"].tolist() == [0, 2, 9, 10]


def test_scores_alone_read_no_clip_embedding_or_preview(written):
    out, _ = written
    # Damage everything but the chunk documents and metas: reading scores must not notice.
    for parquet in (out / "ce1_embd_parquet").iterdir():
        parquet.write_bytes(b"not parquet")
    for folder in ("clips", "filtered_clips", "previews"):
        shutil.rmtree(out / folder)
        (out / folder).write_text("a file where a folder was")
    df = read_clip_dataset(str(out), with_bytes=True)
    scores = df[df["motion_score_global_mean"] > 0][["span_uuid", "motion_score_global_mean"]].compute()
    assert len(scores) == 5
    with pytest.raises(DatasetError, match="damaged embedding Parquet"):
        df[["embedding"]].compute()


def test_s3_reads_the_same_rows(s3_bucket, written):
    out, _ = written
    name, options, fs = s3_bucket
    fs.put(str(out) + "/", f"{name}/ds", recursive=True)
    local = read_clip_dataset(str(out), with_bytes=True).compute().reset_index(drop=True)
    remote = read_clip_dataset(f"s3://{name}/ds", storage_options=options, with_bytes=True).compute()
    remote = remote.reset_index(drop=True)
    assert remote["buffer"].tolist() == local["buffer"].tolist()
    assert remote["windows"].tolist() == local["windows"].tolist()
    for a, b in zip(remote["embedding"], local["embedding"], strict=True):
        assert (a is None and b is None) or np.array_equal(a, b)
    plain = [c for c in local.columns if c not in ("buffer", "windows", "embedding", "errors")]
    pd.testing.assert_frame_equal(remote[plain], local[plain])
    with pytest.raises(DatasetError, match="is not a clip dataset"):
        read_clip_dataset(f"s3://{name}/ds/metas", storage_options=options)


def test_bad_input_is_named(tmp_path, written):
    out, frame = written
    with pytest.raises(DatasetError, match=f"{tmp_path}/nowhere: no such dataset"):
        read_clip_dataset(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty is not a clip dataset: it has no processed_clip_chunks/"):
        read_clip_dataset(str(tmp_path / "empty"))
    with pytest.raises(DatasetError, match="unknown column 'motion_score'; the columns are: video,"):
        read_clip_dataset(str(out), columns=["span_uuid", "motion_score"])
    with pytest.raises(DatasetError, match="unknown column 'buffer' \\(clip bytes are read only with with_bytes"):
        read_clip_dataset(str(out), columns=["buffer"])
    meta = out / "metas/v0" / f"{frame.span_uuid[0]}.json"
    meta.write_text("{")
    with pytest.raises(DatasetError, match=f"{meta}: damaged clip meta: not JSON"):
        read_clip_dataset(str(out), columns=["span_start"]).compute()
    chunk = out / "processed_clip_chunks/cam/a.mp4_1.json"
    chunk.write_text(json.dumps({"video": V}))
    with pytest.raises(DatasetError, match=f"{chunk}: damaged chunk document: not a chunk document"):
        read_clip_dataset(str(out), columns=["span_uuid"]).compute()


# ----------------------------------------------------------------------------------------
# What a read touches, recorded by the filesystem itself.


class RecordingMemoryFS(MemoryFileSystem):
    """fsspec's in-memory filesystem under its own protocol and store, recording every path
    opened, cat'ed, listed or stat'ed as (operation, path)."""

    protocol = ("recmem",)
    store: dict = {}  # its own files: not memory://'s
    pseudo_dirs = [""]
    calls: list[tuple[str, str]] = []

    @classmethod
    def _strip_protocol(cls, path):
        return super()._strip_protocol(str(path).removeprefix("recmem://"))

    def _open(self, path, mode="rb", **kwargs):
        self.calls.append(("open", self._strip_protocol(path)))
        return super()._open(path, mode, **kwargs)

    def cat_file(self, path, start=None, end=None, **kwargs):
        self.calls.append(("cat", self._strip_protocol(path)))
        return super().cat_file(path, start, end, **kwargs)

    def ls(self, path, detail=True, **kwargs):
        self.calls.append(("ls", self._strip_protocol(path)))
        return super().ls(path, detail, **kwargs)

    def info(self, path, **kwargs):
        self.calls.append(("info", self._strip_protocol(path)))
        return super().info(path, **kwargs)


SCORES = ["span_uuid", "motion_score_global_mean", "motion_score_per_patch_min_256", "aesthetic_score"]
BYTES_FOLDERS = ("clips", "filtered_clips", "previews", "ce1_embd")


@pytest.fixture
def recorded(written):
    """The ``written`` dataset copied into a recmem:// filesystem, its calls cleared; yields
    (url, files of the dataset relative to its root, the calls list)."""
    fsspec.register_implementation("recmem", RecordingMemoryFS, clobber=True)
    out, _ = written
    fs = RecordingMemoryFS()
    for path in sorted(out.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"/ds/{path.relative_to(out).as_posix()}", path.read_bytes())
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {f.split("/")[0] for f in files} >= {*BYTES_FOLDERS, "ce1_embd_parquet", "metas", "processed_clip_chunks"}
    RecordingMemoryFS.calls.clear()
    yield "recmem://ds", files, RecordingMemoryFS.calls
    RecordingMemoryFS.store.clear()
    RecordingMemoryFS.calls.clear()


def _touched(calls, *operations):
    """The dataset-relative paths of the calls of these operations."""
    return {path.removeprefix("/ds").lstrip("/") for op, path in calls if op in operations}


def _small_json(files):
    return {f for f in files if f.endswith(".json") and f.split("/")[0] in ("processed_clip_chunks", "metas")}


def test_scores_alone_read_only_chunk_documents_and_metas(recorded, written):
    url, files, calls = recorded
    _, frame = written
    for label, build in (("columns=", lambda: read_clip_dataset(url, columns=SCORES)),
                         ("projection", lambda: read_clip_dataset(url, with_bytes=True)[SCORES])):
        calls.clear()
        rows = build().compute()
        assert rows["span_uuid"].tolist() == frame["span_uuid"].tolist(), label
        assert rows["motion_score_global_mean"].tolist() == frame["motion_score_global_mean"].tolist(), label
        read = _touched(calls, "open", "cat")
        # Every chunk document and meta, the manifest, and not one other file.
        assert read == _small_json(files) | {".clipwriter/manifest.json"}, label
        # Nothing below a folder of bytes is listed, stat'ed or opened; clips/ is never listed.
        touched = _touched(calls, "open", "cat", "ls", "info")
        assert not {p for p in touched if p.split("/")[0] in (*BYTES_FOLDERS, "ce1_embd_parquet")}, label
        assert not {p for p in _touched(calls, "ls") if p.startswith("clips")}, label


def test_without_bytes_no_clip_preview_or_pickle_is_touched(recorded):
    url, files, calls = recorded
    rows = read_clip_dataset(url, columns=None).compute()
    assert rows["embedding"].iloc[0] is not None and "buffer" not in rows.columns
    read = _touched(calls, "open", "cat")
    chunk_parquets = read - _small_json(files) - {".clipwriter/manifest.json"}
    # Beside the JSON files: one embedding Parquet per chunk (asked for even where a chunk
    # of filtered clips has none), nothing else.
    assert _small_json(files) | {".clipwriter/manifest.json"} <= read
    assert {p.split("/")[0] for p in chunk_parquets} == {"ce1_embd_parquet"} and len(chunk_parquets) == 2
    assert {f for f in files if f.startswith("ce1_embd_parquet/")} <= chunk_parquets
    assert not {p for p in _touched(calls, "open", "cat", "ls", "info") if p.split("/")[0] in BYTES_FOLDERS}
    # The recorder sees clip reads when there are some: the assertions above can fail.
    calls.clear()
    read_clip_dataset(url, with_bytes=True).compute()
    assert {f for f in files if f.startswith(("clips/", "filtered_clips/", "previews/"))} <= _touched(calls, "cat", "open")
