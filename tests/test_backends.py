"""The same write to a local directory and to s3:// (moto), on a LocalCluster with processes."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import reference as ref
from clip_helpers import make_clip, tree

from dask_clipwriter import ClipWriter, clip_records_from_map


def build_records(part: int) -> pd.DataFrame:
    """Runs on the workers: records are made where they are written, never shipped."""
    if part == 0:
        return ref.clip_records()
    video = f"/data/in/sub/v{part}.mp4"
    return pd.DataFrame([make_clip(video, 0, i, filtered_by="motion" if i == 2 else None) for i in range(3)])


def run(output_path: str, storage_options: dict | None = None) -> dict:
    writer = ClipWriter(**{**ref.SETTINGS, "output_path": output_path}, storage_options=storage_options)
    clips = clip_records_from_map(build_records, range(4))
    return writer.write(clips, ref.video_records())


def s3_tree(fs, root: str) -> dict[str, bytes]:
    """As clip_helpers.tree: the reference's layout, without our summary and bookkeeping."""
    names = {path[len(root) + 1:]: path for path in sorted(fs.find(root))}
    return {name: fs.cat_file(path) for name, path in names.items()
            if name != "summary.json" and not name.startswith(".clipwriter/")}


@pytest.mark.cluster
@pytest.mark.s3
def test_local_and_s3_trees_are_identical(tmp_path, s3_bucket, cluster_client):
    name, options, fs = s3_bucket
    local_out = str(tmp_path / "out")
    s3_out = f"s3://{name}/dataset"
    with cluster_client.as_current():
        local_summary = run(local_out)
        s3_summary = run(s3_out, options)

    local = tree(local_out)
    remote = s3_tree(fs, f"{name}/dataset")
    assert set(remote) == set(local)
    # Example chunk: 23 files; each other video: 2 passed + 1 filtered clip -> 13 files.
    assert len(local) == 23 + 3 * 13
    for path, data in local.items():
        # clip_location is the plain path locally and the full URL on S3.
        assert remote[path] == data.replace(local_out.encode(), s3_out.encode()), path
    meta = json.loads(remote["metas/v0/f1237051-6157-5579-b000-4227c106af28.json"])
    assert meta["clip_location"] == f"{s3_out}/clips/f1237051-6157-5579-b000-4227c106af28.mp4"
    assert local_summary["run"]["files_written"] == s3_summary["run"]["files_written"]
    for directory in ("clips", "filtered_clips", "previews", "ce1_embd", "ce1_embd_parquet"):
        assert local_summary["run"]["bytes_written"][directory] == s3_summary["run"]["bytes_written"][directory]
    # All four videos' chunks reached the dataset, and the summary on S3 says so.
    assert s3_summary["totals"]["chunks"] == 4
    summary = json.loads(fs.cat_file(f"{name}/dataset/summary.json"))
    assert summary["totals"]["videos"] == 4
    assert "testing" not in json.dumps(summary)  # no credentials in the summary


@pytest.mark.cluster
def test_progress_under_a_client(tmp_path, cluster_client, capsys):
    writer = ClipWriter(**{**ref.SETTINGS, "output_path": str(tmp_path / "out")})
    with cluster_client.as_current():
        summary = writer.write(clip_records_from_map(build_records, range(2)), progress=True)
    assert summary["totals"]["chunks"] == 2
    lines = capsys.readouterr().err.splitlines()
    # A line per batch of finished partitions (a client hears of them in batches), the last
    # one with the totals.
    assert lines and all(line.startswith(("partitions 1/2 |", "partitions 2/2 |")) for line in lines)
    assert lines[-1].split(" | ")[:2] == ["partitions 2/2", "clips 8"]
