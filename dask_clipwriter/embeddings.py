"""Embedding encodings (output-format.md §4): one pickle per clip, one Parquet file per chunk."""

from __future__ import annotations

import functools
import io
import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: ``id`` is large_string because that is what pandas 3 writes for its ``str`` dtype.
PARQUET_SCHEMA = pa.schema([("id", pa.large_string()), ("embedding", pa.list_(pa.float64()))])


def as_float16_row(embedding: np.ndarray) -> np.ndarray:
    """The stored form of an embedding: float16, shape (1, D)."""
    return np.asarray(embedding, dtype=np.float16).reshape(1, -1)


def embedding_pickle(embedding: np.ndarray) -> bytes:
    """``pickle.dumps`` of the float16 (1, D) array with the running Python's default protocol."""
    return pickle.dumps(as_float16_row(embedding))


def embeddings_parquet(ids: list[str], embeddings: list[np.ndarray]) -> bytes:
    """One chunk's Parquet file: ``id``, ``embedding`` (float16 values widened to float64).

    The file is what ``DataFrame.to_parquet(index=False)`` writes for the frame
    :func:`_pandas_frame` builds, pandas' schema metadata included, but the table is built
    from Arrow arrays directly: going through pandas cost ~0.9 ms a chunk, most of the
    writer's time for a small one. ``tests/test_embeddings.py`` holds the bytes equal.
    """
    vectors = np.concatenate([as_float16_row(e) for e in embeddings]).astype(np.float64)
    offsets = np.arange(0, vectors.size + 1, vectors.shape[1], dtype=np.int32)
    table = pa.Table.from_arrays(
        [pa.array(ids, type=pa.large_string()), pa.ListArray.from_arrays(offsets, vectors.reshape(-1))],
        schema=_schema_with_pandas_metadata(),
    )
    return _parquet_bytes(table)


def embeddings_parquet_via_pandas(ids: list[str], embeddings: list[np.ndarray]) -> bytes:
    """:func:`embeddings_parquet` the way pandas writes it (the definition the fast path keeps)."""
    table = pa.Table.from_pandas(_pandas_frame(ids, embeddings), schema=PARQUET_SCHEMA, preserve_index=False)
    return _parquet_bytes(table)


def _pandas_frame(ids: list[str], embeddings: list[np.ndarray]) -> pd.DataFrame:
    # Column types pinned: an all-empty or object column must not let inference pick another.
    return pd.DataFrame({
        "id": pd.Series(ids, dtype="str"),
        "embedding": [as_float16_row(e).reshape(-1).astype(np.float64).tolist() for e in embeddings],
    })


@functools.cache
def _schema_with_pandas_metadata() -> pa.Schema:
    """PARQUET_SCHEMA with the metadata pandas gives it: it names the versions of pandas and
    pyarrow and the column types, never the values, so one frame gives it for all."""
    return pa.Table.from_pandas(_pandas_frame(["x"], [np.zeros(1)]), schema=PARQUET_SCHEMA,
                                preserve_index=False).schema


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()
