"""Embedding encodings: the pickle per clip and the Parquet file per chunk (output-format.md §4)."""

import io
import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dask_clipwriter.embeddings import embedding_pickle, embeddings_parquet, embeddings_parquet_via_pandas


@pytest.mark.parametrize("clips", [1, 3, 32])
@pytest.mark.parametrize("dimension", [1, 256, 768])
def test_parquet_bytes_are_what_pandas_writes(clips, dimension):
    rng = np.random.default_rng(clips * dimension)
    ids = [f"{i:08x}-0000-4000-8000-{clips:012x}" for i in range(clips)]
    vectors = [rng.standard_normal(dimension).astype(np.float32) * 300 for _ in range(clips)]
    assert embeddings_parquet(ids, vectors) == embeddings_parquet_via_pandas(ids, vectors)


def test_parquet_with_text_beyond_ascii_and_extreme_values():
    ids, vectors = ["clip-ü-ñ-中"], [np.array([65504.0, -65504.0, 1e-8, 0.0])]
    assert embeddings_parquet(ids, vectors) == embeddings_parquet_via_pandas(ids, vectors)


def test_parquet_reads_back_as_the_float16_values_widened():
    vectors = [np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.5])]
    data = embeddings_parquet(["a", "b"], vectors)
    table = pq.read_table(io.BytesIO(data))
    assert table.schema.field("id").type == pa.large_string()
    assert table.schema.field("embedding").type == pa.list_(pa.float64())
    assert b"pandas" in table.schema.metadata
    frame = pd.read_parquet(io.BytesIO(data))
    assert frame["id"].tolist() == ["a", "b"]
    for stored, vector in zip(frame["embedding"], vectors, strict=True):
        assert np.array_equal(np.asarray(stored), vector.astype(np.float16).astype(np.float64))


def test_pickle_is_a_float16_row():
    array = pickle.loads(embedding_pickle(np.arange(8, dtype=np.float32)))
    assert array.dtype == np.float16 and array.shape == (1, 8)
