"""Writer throughput and memory against the raw write of the same bytes, in one run.

    python benchmarks/bench_writer.py [--chunks 16] [--clips 32] [--clip-kb 512] [--repeat 3]

Baseline: the very same (path, bytes) pairs the writer produces, written with plain
``open().write`` from a thread pool of the same size, on the same disk, in the same process
run. Reported: writer seconds / baseline seconds (lower is better; 1.0 means the writer
costs nothing beyond the bytes), and the workers' peak RSS growth relative to one
partition's bytes. Both runs use a LocalCluster with worker processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from dask_clipwriter import ClipWriter, clip_records_from_map
from dask_clipwriter.chunk_files import chunk_files
from dask_clipwriter.layout import relative_video_path
from dask_clipwriter.records import normalise_clip_partition


def make_chunk(chunk: int, clips: int, clip_kb: int) -> pd.DataFrame:
    """A chunk of clip records with random (incompressible) clip bytes, built on a worker."""
    rng = np.random.default_rng(chunk)
    video = f"/bench/in/video_{chunk // 4:03d}.mp4"
    rows = []
    for i in range(clips):
        start = 10.0 * i
        rows.append({
            "video": video, "clip_chunk_index": chunk % 4,
            "span_uuid": f"{chunk:08x}-0000-4000-8000-{i:012x}",
            "span_start": start, "span_end": start + 10.0, "filtered_by": "motion" if i % 8 == 7 else None,
            "buffer": rng.integers(0, 256, clip_kb * 1024, dtype=np.uint8).tobytes(),
            "width": 1280, "height": 720, "framerate": 30.0, "num_frames": 300, "video_codec": "h264",
            "motion_score_global_mean": 0.01, "motion_score_per_patch_min_256": 0.001,
            "embedding": rng.standard_normal(256).astype(np.float32),
            "windows": [{"start_frame": 0, "end_frame": 255, "caption": {"qwen": "a caption " * 20},
                         "webp": rng.integers(0, 256, 16 * 1024, dtype=np.uint8).tobytes()}],
        })
    return pd.DataFrame(rows)


def writer_files(chunk: int, clips: int, clip_kb: int, out: str, settings) -> list[tuple[str, bytes]]:
    records = normalise_clip_partition(make_chunk(chunk, clips, clip_kb))
    rel = relative_video_path(records[0].video, settings.input_path)
    planned = chunk_files(records[0].video, records[0].clip_chunk_index, rel, records,
                          settings=settings, source=None, probes={r.span_uuid: None for r in records})
    return planned.files + [planned.marker]


def raw_write(chunk: int, clips: int, clip_kb: int, out: str, settings, threads: int) -> int:
    """The baseline task: the same bytes, plain open/write, no atomic rename, no checks."""
    files = writer_files(chunk, clips, clip_kb, out, settings)
    made = set()

    def put(item):
        path, data = item
        with open(path, "wb") as fh:
            fh.write(data)
        return len(data)

    for path, _ in files:
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
    with ThreadPoolExecutor(threads) as pool:
        return sum(pool.map(put, files))


def peak_rss(client) -> int:
    def rss():
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    return max(client.run(rss).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=16)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--clip-kb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    from distributed import Client, LocalCluster

    root = Path(tempfile.mkdtemp(prefix="clipwriter-bench-"))
    results = {"writer_s": [], "raw_s": [], "bytes": 0}
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        base_rss = peak_rss(client)
        for rep in range(args.repeat):
            out = root / f"writer-{rep}"
            writer = ClipWriter(output_path=str(out), input_path="/bench/in", caption_models=["qwen"])
            clips = clip_records_from_map(make_chunk, range(args.chunks), clips=args.clips, clip_kb=args.clip_kb)
            t0 = time.perf_counter()
            summary = writer.write(clips)
            results["writer_s"].append(time.perf_counter() - t0)
            results["bytes"] = sum(summary["run"]["bytes_written"].values())

            out_raw = root / f"raw-{rep}"
            settings = writer.settings.__class__(**{**writer.settings.public_dict(), "output_path": str(out_raw)})
            t0 = time.perf_counter()
            futures = client.map(raw_write, range(args.chunks), clips=args.clips, clip_kb=args.clip_kb,
                                 out=str(out_raw), settings=settings, threads=settings.max_workers, pure=False)
            raw_bytes = sum(client.gather(futures))
            results["raw_s"].append(time.perf_counter() - t0)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(out_raw, ignore_errors=True)
        rss_growth = peak_rss(client) - base_rss
    shutil.rmtree(root, ignore_errors=True)

    partition_bytes = args.clips * (args.clip_kb + 16) * 1024
    writer_s, raw_s = statistics.median(results["writer_s"]), statistics.median(results["raw_s"])
    report = {
        "chunks": args.chunks, "clips_per_chunk": args.clips, "clip_kb": args.clip_kb, "workers": args.workers,
        "bytes_written": results["bytes"], "raw_bytes": raw_bytes,
        "writer_s_median": round(writer_s, 3), "raw_s_median": round(raw_s, 3),
        "writer_over_raw": round(writer_s / raw_s, 3),
        "writer_MBps": round(results["bytes"] / writer_s / 1e6, 1),
        "worker_peak_rss_growth_over_partition_bytes": round(rss_growth / partition_bytes, 2),
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
