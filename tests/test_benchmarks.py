"""The benchmark harness runs (its smoke mode), so it cannot rot unnoticed. No timing is asserted."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_reader.py"


def test_bench_reader_smoke(tmp_path):
    spec = importlib.util.spec_from_file_location("bench_reader", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.main(["--smoke", "--json", str(tmp_path / "figures.json")])
    assert result["read"]["clips"] == 320 and result["read"]["partitions"] == 10
    # 24 clips, 1 in 8 filtered: 21 passed clips exported, in more than one shard of 200 KB.
    assert result["export"]["samples"] == 21 and result["export"]["shards"] > 1
    assert result["export"]["vs_floor"] > 0 and (tmp_path / "figures.json").exists()
