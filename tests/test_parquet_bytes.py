"""Small Parquet files are read in the calling thread: none of pyarrow's I/O threads holds
the bytes (a process exiting while one does aborts; see parquet_bytes.py)."""

import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from dask_clipwriter.parquet_bytes import read_parquet_bytes

PROGRAM = """
import io, os, sys
import pyarrow as pa, pyarrow.parquet as pq
from dask_clipwriter.parquet_bytes import read_parquet_bytes
sink = io.BytesIO(); pq.write_table(pa.table({"id": ["a", "b"], "n": [1, 2]}), sink); data = sink.getvalue()
threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
for _ in range(20):
    (read_parquet_bytes if sys.argv[1] == "ours" else lambda d: pq.read_table(io.BytesIO(d)))(data)
print(threads() - before)
"""


def threads_started(reader: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROGRAM, reader], capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_no_thread_is_started_to_read():
    assert threads_started("pyarrow") > 0  # what pyarrow's default read does (the check can fail)
    assert threads_started("ours") == 0


def test_columns_and_values_are_read():
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table({"id": ["a", "b"], "n": [1, 2]}), sink)
    table = read_parquet_bytes(sink.getvalue().to_pybytes(), columns=["n"])
    assert table.column_names == ["n"] and table["n"].to_pylist() == [1, 2]
