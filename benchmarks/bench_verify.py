"""How long ``verify`` takes on a large local tree.

    python benchmarks/bench_verify.py --chunks 8000

Writes a dataset of ``--chunks`` chunks of 4 small clips each (clip, meta, preview and
pickle per clip, a Parquet file and a marker per chunk: 18 files a chunk), then times
``dask_clipwriter.verify`` on it, which must find no problem.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dask_clipwriter import ClipWriter, clip_records_from_map, verify


def make_chunk(chunk: int) -> pd.DataFrame:
    video = f"/bench/in/v{chunk // 8:06d}.mp4"
    rng = np.random.default_rng(chunk)
    return pd.DataFrame([{
        "video": video, "clip_chunk_index": chunk % 8, "span_uuid": f"{chunk:08x}-0000-4000-8000-{i:012x}",
        "span_start": 10.0 * i, "span_end": 10.0 * i + 10.0, "buffer": rng.bytes(2048),
        "width": 320, "height": 240, "framerate": 30.0, "num_frames": 300, "video_codec": "h264",
        "embedding": rng.standard_normal(256).astype(np.float32),
        "windows": [{"start_frame": 0, "end_frame": 255, "caption": {"qwen": "a caption"}, "webp": rng.bytes(512)}],
    } for i in range(4)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=8000)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    root = Path(tempfile.mkdtemp(prefix="clipwriter-verify-"))
    try:
        with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster):
            ClipWriter(str(root), "/bench/in", caption_models=["qwen"]).write(
                clip_records_from_map(make_chunk, range(args.chunks)), check_records=False)
        files = sum(1 for p in root.rglob("*") if p.is_file())
        started = time.perf_counter()
        problems = verify(str(root))
        seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"chunks": args.chunks, "files": files, "verify_s": round(seconds, 1),
                      "problems": len(problems)}, indent=2))


if __name__ == "__main__":
    main()
