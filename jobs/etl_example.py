"""The writer as a library call inside your own Dask ETL.

    python jobs/etl_example.py [--work DIR]

Your pipeline already has clip records somewhere (here: a Parquet dataset this script makes
first, from sample videos, with the job's stages). It reads them lazily, adds a column of its
own (a toy "aesthetic" score), and hands the collection to the writer with ``compute=False``,
so that writing and the ETL's own aggregate are computed together, in one graph, once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster

from dask_clipwriter import ClipWriter


def score(df: pd.DataFrame) -> pd.DataFrame:
    """Your own per-partition step: a deterministic stand-in for a model score."""
    out = df.copy()
    sizes = [len(b) if isinstance(b, bytes) else 0 for b in out["buffer"]]
    out["aesthetic_score"] = np.log1p(np.asarray(sizes, dtype="float64"))
    return out


def store_chunk(item, path: str, stages) -> int:
    """On a worker: one chunk's clip records, stored as a Parquet file (bytes stay there)."""
    import pyarrow.parquet as pq

    from dask_clipwriter.stored_records import clip_records_to_table
    from dask_clipwriter.video.chunk import process_chunk

    plan, probe = item
    table = clip_records_to_table(process_chunk(plan, probe, stages))
    pq.write_table(table, path)
    return table.num_rows


def make_records(parquet_dir: Path, videos_dir: Path, client: Client) -> None:
    """Produce a Parquet dataset of clip records from sample videos with the job's stages."""
    from dask_clipwriter.job import plan_videos, probe_source
    from dask_clipwriter.video.listing import list_videos
    from dask_clipwriter.video.samples import make_sample_videos
    from dask_clipwriter.video.stage_settings import StageSettings

    make_sample_videos(videos_dir)
    stages = StageSettings()
    probes = client.gather(client.map(probe_source, list_videos(str(videos_dir)), storage_options={}))
    plans, _ = plan_videos(probes, stages)
    paths = [str(parquet_dir / f"part-{i:04d}.parquet") for i in range(len(plans))]
    rows = client.gather(client.map(store_chunk, plans, paths, stages=stages))
    print(f"stored {sum(rows)} clip records in {len(paths)} Parquet files under {parquet_dir}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="etl-output", help="working folder (default ./etl-output)")
    args = parser.parse_args()
    work = Path(args.work).resolve()
    records_dir, videos_dir = work / "records", work / "videos"
    records_dir.mkdir(parents=True, exist_ok=True)

    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, Client(cluster) as client:
        if not any(records_dir.glob("*.parquet")):
            make_records(records_dir, videos_dir, client)

        # pyarrow dtypes keep bytes and nested columns intact under pandas 3.
        clips = dd.read_parquet(str(records_dir), dtype_backend="pyarrow").map_partitions(score)
        writer = ClipWriter(output_path=str(work / "dataset"), input_path=str(videos_dir))
        per_video = clips.groupby("video")["aesthetic_score"].mean()
        # One graph: each stored partition is read once and feeds both the writer and the mean.
        result, mean_scores = dask.compute(writer.write(clips, compute=False), per_video)
        summary = result.iloc[0]

    print(mean_scores.to_string())
    print(f"{summary['totals']['num_clips_passed']} clips passed; dataset in {work / 'dataset'}")


if __name__ == "__main__":
    main()
