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


class Recorder:
    """A progress hook that keeps what it was told."""

    def __init__(self):
        self.partitions, self.clips, self.closed = 0, 0, 0

    def update(self, rows, partitions=1):
        self.partitions += partitions
        self.clips += int(rows["num_clips_passed"].sum() + rows["num_clips_filtered"].sum())

    def close(self):
        self.closed += 1


def _lazy_write(tmp_path, hook):
    from clip_helpers import chunk_frame, records_collection

    from dask_clipwriter import ClipWriter

    clips = records_collection(*[chunk_frame(f"/in/v{i}.mp4", n=3) for i in range(4)])
    writer = ClipWriter(output_path=str(tmp_path / "out"), input_path="/in", caption_models=["qwen"])
    return writer.write(clips, compute=False, progress=hook, check_records=False)


def test_progress_of_a_plain_dask_compute_without_a_client(tmp_path):
    import dask

    hook = Recorder()
    lazy = _lazy_write(tmp_path, hook)
    assert hook.partitions == 0  # nothing runs before the caller computes
    (result,) = dask.compute(lazy)
    assert (hook.partitions, hook.clips, hook.closed) == (4, 12, 1)
    assert result.iloc[0]["totals"]["chunks"] == 4


def test_progress_of_a_plain_dask_compute_on_a_client(tmp_path, cluster_client):
    import time

    import dask

    hook = Recorder()
    with cluster_client.as_current():
        lazy = _lazy_write(tmp_path, hook)
        (result,) = dask.compute(lazy)
    deadline = time.monotonic() + 10  # events reach the client a moment after the result
    while hook.closed == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (hook.partitions, hook.clips, hook.closed) == (4, 12, 1)
    assert result.iloc[0]["totals"]["chunks"] == 4


def test_the_jobs_line_counts_clips_as_they_are_encoded_and_says_what_is_left():
    out = io.StringIO()
    progress = ChunkProgress(2, stream=out, interval_s=0, clips_planned=6)
    progress.encoded(2)
    assert out.getvalue().splitlines()[-1].startswith("chunks 0/2 | clips 2/6 encoded | 0.0 MB written |")
    assert "left" in out.getvalue().splitlines()[-1]
    progress.update(rows(2, 1_000_000))  # a chunk written
    resumed = rows(3, 0)
    resumed["status"] = "resumed"  # a chunk complete before: its clips are not encoded again
    progress.update(resumed)
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("chunks 2/2 | clips 6/6 encoded | 1.0 MB written |") and "left" not in last
