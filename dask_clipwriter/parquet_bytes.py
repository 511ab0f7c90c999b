"""Small Parquet files held in memory as bytes, read in the calling thread.

pyarrow's default read (pre-buffered, on its I/O threads) keeps the Python buffer of the
bytes referenced from those threads, and the last reference can be dropped there after the
read has returned. When that happens while the interpreter exits, the thread dies waiting
for the GIL and the process aborts ("terminate called without an active exception": about 1
run of ``dask-clipwriter verify`` in 30; the thread and its frames seen with gdb). The files read here (index
parts, a chunk's embeddings) are small: no threads are needed.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq


def read_parquet_bytes(data: bytes, columns: list[str] | None = None) -> pa.Table:
    # ParquetFile.read, not read_table: read_table goes through pyarrow.dataset, which reads
    # on the I/O threads even with use_threads=False.
    with pq.ParquetFile(pa.BufferReader(data), pre_buffer=False) as parquet:
        return parquet.read(columns=columns, use_threads=False)
