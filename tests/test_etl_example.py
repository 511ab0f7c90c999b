"""jobs/etl_example.py: the writer inside a user's own Dask graph, run as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from readme import blocks, command

SCRIPT = Path(__file__).resolve().parents[1] / "jobs" / "etl_example.py"


@pytest.mark.cluster
def test_etl_example_runs(tmp_path):
    # The README's command ("Inside your own Dask ETL"), from the repository's root, with
    # this Python's folder first on PATH (so `python` is this venv's).
    [[line]] = blocks("Inside your own Dask ETL")
    argv = command(line, {"/data/etl": str(tmp_path / "etl")})
    assert argv[:2] == ["python", "jobs/etl_example.py"] and (SCRIPT.parents[1] / argv[1]) == SCRIPT
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=SCRIPT.parents[1], env=env)
    assert proc.returncode == 0, proc.stderr
    assert "stored 6 clip records in 3 Parquet files" in proc.stdout
    assert "5 clips passed" in proc.stdout
    assert "mixed collections" not in proc.stderr  # writer and ETL stay one expression graph
    summary = json.loads((tmp_path / "etl" / "dataset" / "summary.json").read_text())
    assert summary["totals"]["num_clips_filtered"] == 1 and summary["totals"]["videos"] == 3
