"""jobs/etl_example.py: the writer inside a user's own Dask graph, run as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "jobs" / "etl_example.py"


@pytest.mark.cluster
def test_etl_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--work", str(tmp_path / "etl")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "stored 6 clip records in 3 Parquet files" in proc.stdout
    assert "5 clips passed" in proc.stdout
    assert "mixed collections" not in proc.stderr  # writer and ETL stay one expression graph
    summary = json.loads((tmp_path / "etl" / "dataset" / "summary.json").read_text())
    assert summary["totals"]["num_clips_filtered"] == 1 and summary["totals"]["videos"] == 3
