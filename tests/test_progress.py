"""The job's terminal progress line."""

import io
from collections import Counter

from dask_clipwriter.documents import ChunkStats
from dask_clipwriter.progress import ChunkProgress
from dask_clipwriter.stats_rows import rows_frame, stats_row


def rows(passed: int, nbytes: int):
    stats = ChunkStats("v", 0, num_clips_passed=passed, filtered_clips=["x"])
    return rows_frame([stats_row(stats, partition=0, status="written", errors=Counter(), missing=Counter(),
                                 files_written=Counter(clips=passed), bytes_written=Counter(clips=nbytes),
                                 files_skipped=Counter(), chunk_bytes=Counter(clips=nbytes), started=0.0, finished=1.0)])


def test_progress_lines_in_a_log_file():
    out = io.StringIO()  # not a terminal: one line per update at most every interval, and the last
    progress = ChunkProgress(3, stream=out, interval_s=3600)
    for passed in (2, 3, 4):
        progress.update(rows(passed, 2_000_000))
    progress.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2  # the first update (interval elapsed since 0) and the final one
    assert lines[-1].startswith("chunks 3/3 | clips 12 | 6.0 MB written | ")
    assert "MB/s" in lines[-1] and "\r" not in out.getvalue()


def test_partitions_unit():
    out = io.StringIO()
    progress = ChunkProgress(1, stream=out, unit="partitions")
    progress.update(rows(1, 10))
    assert out.getvalue().startswith("partitions 1/1 | clips 2 |")
