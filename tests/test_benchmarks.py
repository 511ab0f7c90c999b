"""The benchmark harness runs (its smoke mode), so it cannot rot unnoticed. No timing is asserted."""

from __future__ import annotations

import importlib.util
import math
import shutil
import sys
from pathlib import Path

import dask

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
BENCH = BENCHMARKS / "bench_reader.py"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_bench_reader_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_reader", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--smoke", "--json", str(tmp_path / "figures.json")])
    assert result["read"]["clips"] == 320 and result["read"]["partitions"] == 10
    # 24 clips, 1 in 8 filtered: 21 passed clips exported, in more than one shard of 200 KB.
    assert result["export"]["samples"] == 21 and result["export"]["shards"] > 1
    assert result["export"]["vs_floor"] > 0 and (tmp_path / "figures.json").exists()


def test_bench_targets_smoke(tmp_path):
    """Every target of issue 9 runs and gives a measured row: ours and the floor positive."""
    bench = load("bench_targets")
    scheduler_before = dask.config.get("scheduler", None)
    rows = bench.main(["--smoke", "--json", str(tmp_path / "targets.json")])
    # The harness runs inside the suite: it must not leave dask pointing at its clusters.
    assert dask.config.get("scheduler", None) == scheduler_before
    names = [row.target for row in rows]
    for expected in ("clips without probe values", "metadata-bound, 40 chunks", "metadata-bound, 80 chunks",
                     "cost per chunk", "1 MB clips", "S3", "peak worker memory", "2 workers against 1",
                     "the job against FFmpeg"):
        assert any(name.startswith(expected) for name in names), (expected, names)
    measured = [row for row in rows if not (row.target.startswith("the job") and not shutil.which("ffmpeg"))]
    for row in measured:
        assert row.ours > 0 and row.floor > 0 and math.isfinite(row.ratio), row
    job = next(row for row in rows if row.target.startswith("the job"))
    if shutil.which("ffmpeg"):
        assert "encode" in job.note and "source-minutes per core-minute" in job.note, job.note
    assert (tmp_path / "targets.json").read_text().count('"target"') == len(rows)
