"""read_clip_dataset at 100,000 clips (score columns alone), and the export's MB/s against the
floor of writing the same tar bytes, measured in one run.

    python benchmarks/bench_reader.py                      # 100,000 clips, 32 per chunk; export of 256 x 1 MiB
    python benchmarks/bench_reader.py --smoke              # seconds: the harness itself (tests/test_benchmarks.py)

The dataset is made with the writer's own pure rules (``chunk_files``: the metas, chunk and
video documents it would write), its files put with plain writes, so making 100,000 clips
takes seconds, not a writer run. The read needs no clip file: it reads the chunk documents
and metas only (the clip files are left out of the read dataset; the export's dataset has
them). Reported:

* ``read``: seconds for ``read_clip_dataset(columns=<3 score columns>).compute()`` on a
  LocalCluster (2 single-threaded worker processes), clips/s, MB of JSON read per second;
  and the same columns from the clip index (``backfill``, then ``read_clip_index``);
* ``export``: seconds of ``export_webdataset`` (plan + shards; the median of ``--repeat``
  runs, the first, which also warms the workers, apart), its MB/s of shard bytes, and
  ``vs_floor``: export seconds / the seconds plain ``open().write`` takes for the very same
  shard bytes (2 threads), in the same run (1.0 would mean the export costs nothing beyond
  writing its bytes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from dask_clipwriter import backfill, export_webdataset, read_clip_dataset, read_clip_index
from dask_clipwriter.chunk_files import chunk_files
from dask_clipwriter.records import normalise_clip_partition
from dask_clipwriter.settings import WriterSettings

SCORES = ["motion_score_global_mean", "motion_score_per_patch_min_256", "aesthetic_score"]
CHUNKS_PER_VIDEO = 8


def chunk_records(chunk: int, clips: int, clip_bytes: int, rng: np.random.Generator) -> pd.DataFrame:
    video = f"/bench/in/video_{chunk // CHUNKS_PER_VIDEO:05d}.mp4"
    rows = []
    for i in range(clips):
        start = 10.0 * i
        rows.append({
            "video": video, "clip_chunk_index": chunk % CHUNKS_PER_VIDEO,
            "span_uuid": f"{chunk:08x}-0000-4000-8000-{i:012x}", "span_start": start, "span_end": start + 10.0,
            "filtered_by": "motion" if i % 8 == 7 else None,
            "buffer": rng.integers(0, 256, clip_bytes, dtype=np.uint8).tobytes() if clip_bytes else b"\0",
            "width": 1280, "height": 720, "framerate": 30.0, "num_frames": 300, "video_codec": "h264",
            "motion_score_global_mean": float(rng.random()), "motion_score_per_patch_min_256": float(rng.random()),
            "aesthetic_score": float(rng.random() * 10),
            "embedding": rng.standard_normal(256).astype(np.float32) if clip_bytes else None,
            "windows": [{"start_frame": 0, "end_frame": 255, "caption": {"qwen": f"clip {i} of chunk {chunk}"}}],
        })
    return pd.DataFrame(rows)


def make_dataset(root: Path, clips: int, per_chunk: int, clip_bytes: int) -> int:
    """A dataset of ``clips`` clips written with the writer's rules; returns its bytes."""
    settings = WriterSettings(output_path=str(root), input_path="/bench/in", caption_models=("qwen",),
                              upload_clips=clip_bytes > 0)
    rng = np.random.default_rng(0)
    total, made = 0, set()
    for chunk in range(-(-clips // per_chunk)):
        records = normalise_clip_partition(chunk_records(chunk, min(per_chunk, clips - chunk * per_chunk),
                                                         clip_bytes, rng))
        video = records[0].video
        planned = chunk_files(video, records[0].clip_chunk_index, video.removeprefix("/bench/in/"), records,
                              settings=settings, source=None, probes={r.span_uuid: r.probe_values() for r in records})
        for path, data in [*planned.files, planned.marker]:
            folder = os.path.dirname(path)
            if folder not in made:
                os.makedirs(folder, exist_ok=True)
                made.add(folder)
            with open(path, "wb") as fh:
                fh.write(data)
            total += len(data)
    return total


def bench_read(root: Path, clips: int) -> dict:
    json_bytes = sum(p.stat().st_size for p in (root / "metas/v0").iterdir())
    json_bytes += sum(p.stat().st_size for p in (root / "processed_clip_chunks").iterdir())
    started = time.perf_counter()
    df = read_clip_dataset(str(root), columns=SCORES)
    frame = df.compute()
    read_s = time.perf_counter() - started
    assert len(frame) == clips and frame[SCORES[0]].notna().all()
    started = time.perf_counter()
    backfill(str(root), clip_index=True)
    backfill_s = time.perf_counter() - started
    started = time.perf_counter()
    indexed = read_clip_index(str(root), columns=SCORES).compute()
    index_s = time.perf_counter() - started
    assert len(indexed) == clips
    return {"clips": clips, "partitions": df.npartitions, "seconds": round(read_s, 2),
            "clips_per_s": round(clips / read_s), "json_mb_per_s": round(json_bytes / 1e6 / read_s, 1),
            "clip_index": {"backfill_s": round(backfill_s, 2), "read_s": round(index_s, 2),
                           "clips_per_s": round(clips / index_s)}}


def bench_export(root: Path, work: Path, shard_size: str, repeat: int) -> dict:
    """``repeat`` exports into fresh folders (the first also warms the workers: imports, the
    filesystem's caches) and as many plain writes of the same shard bytes."""
    export_s, floor_s = [], []
    for run in range(repeat):
        dest = work / f"shards-{run}"
        started = time.perf_counter()
        index = export_webdataset(str(root), str(dest), shard_size=shard_size)
        export_s.append(time.perf_counter() - started)
        shards = [(dest / s["name"]).read_bytes() for s in index["shards"]]
        floor_dir = work / f"floor-{run}"
        floor_dir.mkdir()

        def put(item, floor_dir=floor_dir):
            i, data = item
            with open(floor_dir / f"shard-{i:06d}.tar", "wb") as fh:
                fh.write(data)

        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(put, enumerate(shards)))
        floor_s.append(time.perf_counter() - started)
    total = sum(len(s) for s in shards)
    median, floor = statistics.median(export_s), statistics.median(floor_s)
    return {"samples": index["samples"], "shards": len(shards), "mb": round(total / 1e6, 1), "runs": repeat,
            "first_seconds": round(export_s[0], 2), "seconds": round(median, 2),
            "mb_per_s": round(total / 1e6 / median, 1), "floor_seconds": round(floor, 3),
            "floor_mb_per_s": round(total / 1e6 / floor, 1), "vs_floor": round(median / floor, 2)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=int, default=100_000, help="clips of the read benchmark's dataset")
    parser.add_argument("--clips-per-chunk", type=int, default=32)
    parser.add_argument("--export-clips", type=int, default=256)
    parser.add_argument("--clip-kb", type=int, default=1024, help="clip size of the export's dataset")
    parser.add_argument("--shard-size", default="64MB")
    parser.add_argument("--repeat", type=int, default=3, help="exports measured (the median is reported)")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run of the same code")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.clips, args.export_clips, args.clip_kb, args.shard_size, args.repeat = 320, 24, 32, "200KB", 2
    from distributed import Client, LocalCluster

    work = Path(tempfile.mkdtemp(prefix="bench-reader-"))
    try:
        started = time.perf_counter()
        make_dataset(work / "read", args.clips, args.clips_per_chunk, 0)
        made_s = time.perf_counter() - started
        make_dataset(work / "export", args.export_clips, args.clips_per_chunk, args.clip_kb * 1024)
        cluster = LocalCluster(n_workers=1 if args.smoke else 2, threads_per_worker=1, processes=not args.smoke,
                               dashboard_address=":0")
        with cluster, Client(cluster):
            result = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                      "dataset_made_s": round(made_s, 1), "read": bench_read(work / "read", args.clips),
                      "export": bench_export(work / "export", work, args.shard_size, args.repeat)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
