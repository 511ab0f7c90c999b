"""Embedding encodings (output-format.md §4): one pickle per clip, one Parquet file per chunk."""

from __future__ import annotations

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

    Built through pandas so the file carries pandas' schema metadata exactly as a
    ``DataFrame.to_parquet(index=False)`` would, with the column types pinned explicitly
    (an all-empty or object column must not let inference pick another type).
    """
    frame = pd.DataFrame(
        {
            "id": pd.Series(ids, dtype="str"),
            "embedding": [as_float16_row(e).reshape(-1).astype(np.float64).tolist() for e in embeddings],
        }
    )
    table = pa.Table.from_pandas(frame, schema=PARQUET_SCHEMA, preserve_index=False)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()
