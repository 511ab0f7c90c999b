"""Normalising partitions: pandas' spellings of null, pyarrow-backed values, numpy arrays."""

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from clip_helpers import make_clip, records_collection

from dask_clipwriter.records import RecordError, is_missing, normalise_clip_partition


@pytest.mark.parametrize("value", [None, float("nan"), np.nan, pd.NA, pd.NaT, np.float32("nan")])
def test_every_null_spelling_is_missing(value):
    assert is_missing(value)


@pytest.mark.parametrize("value", [0, 0.0, "", b"", False])
def test_falsy_values_are_not_missing(value):
    assert not is_missing(value)


def _parquet_bytes() -> bytes:
    """Clip records in Parquet with nested types (maps, structs, binary)."""
    window = pa.struct([
        ("start_frame", pa.int64()), ("end_frame", pa.int64()),
        ("caption", pa.map_(pa.string(), pa.string())),
        ("enhanced_caption", pa.map_(pa.string(), pa.string())),
        ("webp", pa.binary()),
    ])
    clip = make_clip("/in/a.mp4", 0, 0)
    table = pa.table({
        "video": pa.array([clip["video"]] * 2),
        "clip_chunk_index": pa.array([0, 0], pa.int32()),
        "span_uuid": pa.array([clip["span_uuid"], make_clip("/in/a.mp4", 0, 1)["span_uuid"]]),
        "span_start": pa.array([0.0, 10.0]),
        "span_end": pa.array([10.0, 20.0]),
        "filtered_by": pa.array([None, "motion"], pa.string()),
        "buffer": pa.array([b"\x00\x01mp4", None], pa.binary()),
        "width": pa.array([640, None], pa.int64()),
        "embedding": pa.array([[0.5] * 4, None], pa.list_(pa.float32())),
        "windows": pa.array([[{"start_frame": 0, "end_frame": 9, "caption": [("qwen", "hello")],
                               "enhanced_caption": None, "webp": b"W"}], []], pa.list_(window)),
        "errors": pa.array([[("decode", "bad frame")], None], pa.map_(pa.string(), pa.string())),
    })
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def _arrow_frame() -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(_parquet_bytes()), dtype_backend="pyarrow")


def test_pyarrow_backed_records():
    first, second = normalise_clip_partition(_arrow_frame())
    assert first.buffer == b"\x00\x01mp4" and first.width == 640 and first.clip_chunk_index == 0
    assert first.embedding.shape == (1, 4)
    [w] = first.windows
    assert (w.start_frame, w.end_frame, w.caption, w.enhanced_caption, w.webp) == (0, 9, {"qwen": "hello"}, {}, b"W")
    assert first.errors == {"decode": "bad frame"}
    assert second.filtered_by == "motion" and second.buffer is None and second.width is None
    assert second.windows == [] and second.errors == {} and second.embedding is None


def test_numpy_backed_records_from_plain_parquet():
    # Without the pyarrow backend, pandas gives numpy arrays of dicts for list<struct>.
    plain = pd.read_parquet(io.BytesIO(_parquet_bytes()))
    first, _ = normalise_clip_partition(plain)
    assert first.windows[0].caption == {"qwen": "hello"} and first.errors == {"decode": "bad frame"}


def test_errors_as_list_of_keys_and_source_video_default():
    [rec] = normalise_clip_partition(pd.DataFrame([make_clip("/in/a.mp4", 0, 0, errors=["a", "b"])]))
    assert list(rec.errors) == ["a", "b"] and rec.source_video == "/in/a.mp4"


def test_uuid_is_canonicalised():
    clip = make_clip("/in/a.mp4", 0, 0)
    [rec] = normalise_clip_partition(pd.DataFrame([{**clip, "span_uuid": clip["span_uuid"].upper()}]))
    assert rec.span_uuid == clip["span_uuid"]


def test_embedding_of_wrong_shape():
    bad = make_clip("/in/a.mp4", 0, 0, embedding=np.zeros((2, 4)))
    with pytest.raises(RecordError, match=r"column 'embedding' must be one vector .* shape \(2, 4\)"):
        normalise_clip_partition(pd.DataFrame([bad]))


def test_records_helper_keeps_bytes_and_nested_values():
    clip = make_clip("/in/a.mp4", 0, 0)
    ddf = records_collection(pd.DataFrame([clip]))
    assert ddf.dtypes["buffer"] == object and ddf.dtypes["video"] == object
    got = ddf.compute()
    assert got["buffer"][0] == clip["buffer"]
    assert isinstance(got["embedding"][0], np.ndarray) and got["windows"][0][0]["webp"] == clip["windows"][0]["webp"]
    assert list(got.columns)[:5] == ["video", "clip_chunk_index", "span_uuid", "span_start", "span_end"]


def test_records_round_trip_through_parquet(tmp_path):
    clip = make_clip("/in/a.mp4", 0, 0, errors={"decode": "bad"},
                     windows=[{"start_frame": 0, "end_frame": 9, "caption": {"qwen": "hi"}, "webp": b"W"}])
    from dask_clipwriter.stored_records import clip_records_to_table

    pq.write_table(clip_records_to_table(pd.DataFrame([clip, make_clip("/in/a.mp4", 0, 1, windows=None)])),
                   tmp_path / "r.parquet")
    first, second = normalise_clip_partition(pd.read_parquet(tmp_path / "r.parquet", dtype_backend="pyarrow"))
    assert first.buffer == clip["buffer"] and first.errors == {"decode": "bad"}
    assert first.windows[0].caption == {"qwen": "hi"} and first.windows[0].webp == b"W"
    assert np.allclose(first.embedding, clip["embedding"]) and second.windows == []
