"""What the command says, run as a user runs it (the console script, a LocalCluster with worker
processes): quiet by default; --verbose shows the per-chunk lines the workers log;
--log-level INFO the workers' other INFO lines; --log-file the full log; the closing lines
name the failed videos and count the filter reasons; --performance-report saves Dask's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

CHUNK_LINE = "INFO dask_clipwriter.writer: chunk "
FINISHED = "INFO dask_clipwriter.reduction: clip writer finished: "


def command() -> str:
    return shutil.which("dask-clipwriter", path=str(Path(sys.executable).parent)) or "dask-clipwriter"


def run(videos: Path, out: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([command(), "run", "--input", str(videos), "--output", str(out), "--n-workers", "1",
                           "--clip-len-s", "4", "--clip-stride-s", "4", "--num-clips-per-chunk", "1", *flags],
                          capture_output=True, text=True, timeout=240)


@pytest.fixture(scope="module")
def small_videos(tmp_path_factory):
    from dask_clipwriter.video.samples import make_sample_videos, write_corrupt_video

    root = tmp_path_factory.mktemp("log-videos")
    make_sample_videos(root, {"pan.mp4": ("pan", 12.0), "static.mp4": ("static", 4.0)})
    write_corrupt_video(root / "broken.mp4")
    return root


def test_by_default_quiet_and_the_end_names_what_failed(small_videos, tmp_path):
    proc = run(small_videos, tmp_path / "out")
    assert proc.returncode == 3, proc.stderr  # one video failed
    err = proc.stderr
    assert " INFO " not in err and "Traceback" not in err
    assert f"failed videos (1): {small_videos}/broken.mp4 (ProbeError: cannot open as video" in err
    assert "filtered clips: 1 by motion, 0 by aesthetic" in err
    assert f"report: {tmp_path}/out/report.html" in err and (tmp_path / "out" / "report.html").is_file()


def test_verbose_shows_the_per_chunk_lines_the_workers_log(small_videos, tmp_path):
    proc = run(small_videos, tmp_path / "out", "--verbose", "--no-report")
    assert proc.returncode == 3, proc.stderr
    chunk_lines = [line for line in proc.stderr.splitlines() if CHUNK_LINE in line]
    # Three chunks (pan: 2, static: 1), each logged once by the worker that wrote it.
    assert len(chunk_lines) == 3, proc.stderr
    assert any(f"chunk 0 of {small_videos}/static.mp4 written: 0 passed, 1 filtered" in line for line in chunk_lines)
    assert "INFO dask_clipwriter.sink: wrote " in proc.stderr  # verbose is also the reference's per-file log
    assert not (tmp_path / "out" / "report.html").exists()  # --no-report


def test_log_level_info_and_the_log_file(small_videos, tmp_path):
    log_file, perf = tmp_path / "run.log", tmp_path / "perf.html"
    proc = run(small_videos, tmp_path / "out", "--log-level", "INFO", "--log-file", str(log_file),
               "--performance-report", str(perf))
    assert proc.returncode == 3, proc.stderr
    # The workers' INFO lines reach the terminal (they were dropped in the worker before).
    assert FINISHED in proc.stderr and CHUNK_LINE not in proc.stderr  # per-chunk lines are --verbose's
    log = log_file.read_text()
    # The full log: the lines the run printed, our records and the workers', distributed's.
    for text in ("found 3 videos under", "planned 3 chunks", "failed videos (1): ", "done in ", FINISHED,
                 "INFO distributed.scheduler: Register worker", "performance report: "):
        assert text in log, text
    assert "distributed.scheduler" not in proc.stderr  # distributed's INFO stays off the terminal
    page = perf.read_text()
    assert "Dask Performance Report" in page and "Task Stream" in page
    assert f"performance report: {perf}" in proc.stderr


def test_a_log_level_that_does_not_exist(small_videos, tmp_path):
    proc = run(small_videos, tmp_path / "out", "--log-level", "LOUD")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("dask-clipwriter: error: --log-level must be one of DEBUG, INFO, WARNING, "
                                   "ERROR, got 'LOUD'")
