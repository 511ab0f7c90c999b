"""The fsspec sink: atomic, confined, skip/overwrite, counted; against local disk and S3."""

from __future__ import annotations

import pandas as pd
import pytest
from clip_helpers import make_clip, records_collection

from dask_clipwriter import ChunkWriteError
from dask_clipwriter.sink import FileSink, SinkError


def test_put_skip_overwrite_and_counts(sink_root):
    root, options = sink_root
    sink = FileSink(root, storage_options=options)
    assert sink.put(f"{root}/clips/a.mp4", b"one") is True
    assert sink.put(f"{root}/clips/a.mp4", b"two") is False  # skip: the default
    assert sink.read(f"{root}/clips/a.mp4") == b"one"
    assert sink.put(f"{root}/clips/a.mp4", b"three", existing="overwrite") is True
    assert sink.read(f"{root}/clips/a.mp4") == b"three"
    counts = sink.put_many([(f"{root}/metas/v0/{i}.json", b"{}" * i) for i in range(10)]
                           + [(f"{root}/clips/a.mp4", b"four"), (f"{root}/clips/b.mp4", b"five")])
    assert dict(counts.files_written) == {"clips": 1, "metas": 10}
    assert dict(counts.bytes_written) == {"clips": 4, "metas": 90}
    assert dict(counts.files_skipped) == {"clips": 1}
    assert sink.put_many([(f"{root}/clips/a.mp4", b"six")], existing="overwrite").files_written == {"clips": 1}


@pytest.mark.parametrize("path", ["/elsewhere/x.json", "{root}/../x.json", "{root}x/y.json", "{root}/a/../../x"])
def test_refuses_paths_outside_root(sink_root, path):
    root, options = sink_root
    sink = FileSink(root, storage_options=options)
    with pytest.raises(SinkError, match="not below output_path"):
        sink.put(path.format(root=root), b"x")


def test_local_writes_leave_no_temporary_files(tmp_path):
    sink = FileSink(str(tmp_path), max_workers=4)
    sink.put_many([(f"{tmp_path}/clips/{i}.mp4", bytes(1000)) for i in range(20)])
    assert sorted(p.name for p in (tmp_path / "clips").iterdir()) == sorted(f"{i}.mp4" for i in range(20))


def test_failed_write_names_the_path(tmp_path):
    (tmp_path / "clips").write_bytes(b"a file where a directory should be")
    sink = FileSink(str(tmp_path), retries=1, retry_wait_s=0)
    with pytest.raises(SinkError, match=f"cannot (write|look for) {tmp_path}/clips/a.mp4"):
        sink.put(f"{tmp_path}/clips/a.mp4", b"x")


def test_missing_bucket_is_a_clear_error(s3_endpoint):
    options = {"key": "testing", "secret": "testing", "client_kwargs": {"endpoint_url": s3_endpoint}}
    sink = FileSink("s3://no-such-bucket/out", storage_options=options, retries=0)
    with pytest.raises(SinkError, match="cannot write s3://no-such-bucket/out/clips/a.mp4"):
        sink.put("s3://no-such-bucket/out/clips/a.mp4", b"x")


def test_failed_chunk_names_chunk_and_path_and_leaves_no_marker(writer_factory):
    out = writer_factory.out
    out.mkdir(parents=True)
    (out / "previews").write_bytes(b"blocks the previews directory")
    clips = records_collection(pd.DataFrame([make_clip("/in/a.mp4", 0, i) for i in range(2)]))
    with pytest.raises(ChunkWriteError, match=rf"chunk 0 of video '/in/a.mp4': cannot write {out}/previews/"):
        writer_factory(write_retries=0).write(clips)
    assert not (out / "processed_clip_chunks").exists()
    # A re-run after the cause is gone redoes exactly that chunk.
    (out / "previews").unlink()
    summary = writer_factory().write(clips)
    assert summary["videos"][0]["complete"] is True
    assert (out / "processed_clip_chunks/a.mp4_0.json").exists()
