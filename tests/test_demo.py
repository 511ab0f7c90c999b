"""`dask-clipwriter demo`: the README's main command, as an installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import pytest


@pytest.mark.cluster
def test_demo_writes_the_documented_tree(tmp_path):
    # Installed beside this Python (a virtualenv that is not activated has it there only).
    exe = shutil.which("dask-clipwriter", path=str(Path(sys.executable).parent)) or shutil.which("dask-clipwriter")
    assert exe, "the console script is installed by `pip install -e .`"
    proc = subprocess.run([exe, "demo", "--output", str(tmp_path / "demo")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    dataset = tmp_path / "demo" / "dataset"
    for name in ("clips", "filtered_clips", "previews", "metas/v0", "processed_videos", "processed_clip_chunks"):
        assert any((dataset / name).iterdir()), name
    for clip in (dataset / "clips").iterdir():  # the sample videos have a tone track
        with av.open(str(clip)) as container:
            assert [s.type for s in container.streams] == ["video", "audio"]
    summary = json.loads((dataset / "summary.json").read_text())
    static = [v for v in summary["videos"] if "static" in v["video"]]
    assert static and all(v["num_clips_passed"] == 0 and v["num_clips_filtered"] > 0 for v in static)
    assert summary["totals"]["videos_complete"] == summary["totals"]["videos"] == 3
    err = proc.stderr
    assert "dashboard: http://" in err and f"dataset: {dataset}" in err and "chunks 3/3" in err
    assert f"report: {dataset}/report.html" in err and (dataset / "report.html").stat().st_size > 100_000
    assert "filtered clips: 1 by motion, 0 by aesthetic (small motion 1)" in err  # the static video's clip, and why
