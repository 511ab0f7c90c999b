"""The writer at scale: many small chunks, and how long everything after the writers takes.

    python benchmarks/bench_reduction.py --chunks 2000 20000 100000

For each size, a fresh dataset of ``--chunks`` chunks of ``--clips`` tiny clips each
(``--chunks-per-video`` chunks per video, probe values given, so the run is bound by files
and tasks, not bytes) is written on a local cluster of ``--workers`` worker processes with
one thread each. The scheduler runs in its own process, so that its memory is measured apart
from the client's. Reported per size:

* wall time and the cost per chunk;
* when the last writer partition finished, and the time after it (the reduction);
* peak RSS of the client, the scheduler and the largest worker;
* the peak Python memory of the largest reduction task: the bucket with most rows (read back
  from the dataset index) finished again in this process under tracemalloc (it rewrites
  what the run wrote, with the same bytes, so the dataset is unchanged).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from dask_clipwriter import ClipWriter, clip_records_from_map
from dask_clipwriter import reduction as reduction_module
from dask_clipwriter.index import empty_chunks, read_table
from dask_clipwriter.stats_rows import STATS_COLUMNS, pack_rows


def make_chunk(chunk: int, clips: int, chunks_per_video: int) -> pd.DataFrame:
    video = f"/bench/in/v{chunk // chunks_per_video:07d}.mp4"
    index = chunk % chunks_per_video
    return pd.DataFrame([{
        "video": video, "clip_chunk_index": index,
        "span_uuid": f"{chunk:08x}-0000-4000-8000-{i:012x}",
        "span_start": 10.0 * i, "span_end": 10.0 * i + 10.0,
        "buffer": bytes(1024), "width": 320, "height": 240, "framerate": 30.0, "num_frames": 300,
        "video_codec": "h264", "windows": [{"start_frame": 0, "end_frame": 255}],
    } for i in range(clips)])


class Timeline:
    """A progress hook that notes when the last writer partition finished (and keeps
    nothing else, so the client's memory is the writer's own)."""

    def __init__(self):
        self.partitions, self.last = 0, None

    def update(self, rows, partitions=1):
        self.partitions += partitions
        self.last = time.perf_counter()

    def close(self):
        pass


def rss_mb() -> float:
    """Peak RSS of the calling process so far (a fresh scheduler and workers each size)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ClientPeak:
    """The client process's peak RSS during one size's run (this process runs them all)."""

    def __init__(self, interval_s: float = 0.2):
        import psutil

        self.process, self.interval_s, self.peak = psutil.Process(), interval_s, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.stop.wait(self.interval_s):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def largest_task_mb(out: Path, writer: ClipWriter) -> tuple[float, int]:
    """Peak Python memory of the bucket task with the most rows, and its row count."""
    buckets = json.loads((out / ".clipwriter/manifest.json").read_text())["index_buckets"]
    parts = sorted((out / f".clipwriter/index/b{buckets}").glob("chunks-*.parquet"))
    sizes = {part: pq.ParquetFile(part).metadata.num_rows for part in parts}
    part = max(sizes, key=sizes.get)
    chunks = read_table(part.read_bytes(), empty_chunks())
    # The chunk table is the bucket's stats rows without the run's own bookkeeping.
    rows = chunks.assign(partition=0, status="written", clip_uuids="", files_written="{}", bytes_written="{}",
                         files_skipped="{}", started=0.0)[list(STATS_COLUMNS)]
    rows = pack_rows(rows.to_dict("records"))
    tracemalloc.start()
    reduction_module.finish_bucket(rows, None, {"number": int(part.stem.split("-")[1])}, settings=writer.settings,
                                   buckets=buckets, old_buckets=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20, len(rows)


def run_size(chunks: int, args, root: Path, wave: int | None = None) -> dict:
    from distributed import Client
    from distributed.deploy.subprocess import SubprocessCluster

    out = root / f"dataset-{chunks}-{wave}"
    with SubprocessCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        writer = ClipWriter(output_path=str(out), input_path="/bench/in")
        timeline = Timeline()
        t0 = time.perf_counter()
        with ClientPeak() as client_peak:
            # Waves: the same chunks as several writes into one dataset (what the job's
            # --wave-chunks does), each a graph of its own.
            for start in range(0, chunks, wave or chunks):
                clips = clip_records_from_map(make_chunk, range(start, min(chunks, start + (wave or chunks))),
                                              clips=args.clips, chunks_per_video=args.chunks_per_video)
                summary = writer.write(clips, progress=timeline, check_records=False)
        wall = time.perf_counter() - t0
        scheduler_mb = client.run_on_scheduler(rss_mb)
        worker_mb = max(client.run(rss_mb).values())
    assert summary["totals"]["chunks"] == chunks == timeline.partitions, summary["totals"]
    client_mb = client_peak.peak / 2**20
    files = sum(len(names) for _, _, names in os.walk(out))
    task_mb, task_rows = largest_task_mb(out, writer)
    shutil.rmtree(out, ignore_errors=True)
    after = t0 + wall - timeline.last
    return {
        "chunks": chunks, "wave_chunks": wave, "videos": summary["totals"]["videos"], "files": files,
        "wall_s": round(wall, 1), "ms_per_chunk": round(1000 * wall / chunks, 2),
        "after_writers_s": round(after, 2), "after_writers_share": round(after / wall, 3),
        "client_peak_mb": round(client_mb), "scheduler_peak_mb": round(scheduler_mb),
        "worker_peak_mb": round(worker_mb), "largest_task_mb": round(task_mb, 1), "largest_task_rows": task_rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, nargs="+", default=[2000, 20000, 100000])
    parser.add_argument("--clips", type=int, default=1, help="clips per chunk (default 1)")
    parser.add_argument("--chunks-per-video", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--wave-chunks", type=int, nargs="*", default=[],
                        help="also write the largest size in waves of this many chunks")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="clipwriter-scale-"))
    try:
        results = [run_size(n, args, root) for n in args.chunks]
        results += [run_size(max(args.chunks), args, root, wave) for wave in args.wave_chunks]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = results[0]["ms_per_chunk"]
    for r in results:
        r["per_chunk_vs_smallest"] = round(r["ms_per_chunk"] / base, 2)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
