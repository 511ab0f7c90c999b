"""README "Ways to run", on this machine: the commands of the LocalCluster section, run as the
README shows them (the console script, its example paths replaced by a test folder)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from readme import blocks, command

from dask_clipwriter import verify

pytestmark = pytest.mark.cluster


def environment() -> dict[str, str]:
    # The console scripts sit beside this Python (a venv that is not activated has them there).
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_the_local_cluster_section(tmp_path):
    from dask_clipwriter.video.samples import make_sample_videos

    videos, out = tmp_path / "videos", tmp_path / "dataset"
    make_sample_videos(videos, {"pan.mp4": ("pan", 12.0), "static.mp4": ("static", 6.0)})
    [lines] = blocks("On this machine (LocalCluster)")
    run, report = (command(line, {"/data/videos": str(videos), "/data/dataset": str(out)}) for line in lines)
    assert run[:2] == ["dask-clipwriter", "run"] and report[:2] == ["dask-clipwriter", "report"]
    assert shutil.which("dask-clipwriter", path=environment()["PATH"])

    done = subprocess.run(run, capture_output=True, text=True, timeout=300, env=environment())
    assert done.returncode == 0, done.stderr
    assert "dashboard: http://" in done.stderr and f"report: {out}/report.html" in done.stderr
    assert verify(str(out)) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["totals"]["videos_complete"] == 2 and summary["totals"]["num_clips_filtered"] == 1

    (out / "report.html").unlink()
    again = subprocess.run(report, capture_output=True, text=True, timeout=120, env=environment())
    assert again.returncode == 0, again.stderr
    assert again.stderr.strip() == f"report: {out}/report.html"
    assert "dask_clipwriter report" in (out / "report.html").read_text()
