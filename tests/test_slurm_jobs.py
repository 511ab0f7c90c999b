"""README "Ways to run" on a real SLURM (the single-node one of scripts/slurm-up.sh: 2 CPUs):
`dask-clipwriter run --cluster slurm` from the login node and `sbatch jobs/slurm.sbatch`,
both as the README shows them with its overrides for a small partition; a request the
partition cannot meet, and worker jobs that can never start, each ending in seconds with
the reason; a worker retired by its lifetime in the middle of a chunk.

Every test names its worker jobs uniquely (the queue is shared) and runs the README's
relative commands in a folder laid out like a checkout, so that logs stay in the test's
folder. Skipped, with the reason, where SLURM is not up.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from clip_helpers import tree
from readme import blocks, command, exports
from slurm_helpers import embedder_calls, project_folder, slurm_unavailable, squeue, wait_for_job, wait_until_gone

from dask_clipwriter import verify

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def slurm_up():
    pytest.importorskip("dask_jobqueue")
    reason = slurm_unavailable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from dask_clipwriter.video.samples import make_sample_videos

    root = tmp_path_factory.mktemp("slurm-videos")
    make_sample_videos(root, {"pan.mp4": ("pan", 12.0), "static.mp4": ("static", 4.0)})
    return root


def prepare(tmp_path: Path, label: str) -> tuple[str, Path, Path]:
    """A unique name for the worker jobs, a folder laid out like a checkout, the dataset's path."""
    return f"cw-{label}-{uuid.uuid4().hex[:8]}", project_folder(tmp_path / "project", REPO), tmp_path / "dataset"


def readme_commands():
    """The login-node command, the small-partition overrides and the sbatch command."""
    [install, run], [export] = blocks("SLURM from the login node")
    [[sbatch]] = blocks("SLURM inside an allocation")
    assert install.startswith("pip install") and export.startswith("export ")
    return run, exports(export), sbatch


def environment(job_name: str, **extra: str) -> dict[str, str]:
    """This process's environment (the SLURM jobs inherit it, as sbatch's --export=ALL does),
    this venv first on PATH, the tests' folder importable (the lifetime test's plug-in), and
    the worker jobs' unique name."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "DASK_CLIPWRITER__CLUSTER__SLURM__JOB_NAME": job_name, **extra}


def paths(videos: Path, out: Path) -> dict[str, str]:
    return {"/data/videos": str(videos), "/data/dataset": str(out)}


def sbatch_and_wait(argv: list[str], folder: Path, env: dict[str, str], name: str, timeout: float):
    """Submit the client job as the README does; (job id, its scontrol fields once it has
    ended, its output). Whatever is left of it and its worker jobs is cancelled."""
    submitted = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=30)
    assert submitted.returncode == 0, submitted.stderr
    job = re.fullmatch(r"Submitted batch job (\d+)\s*", submitted.stdout).group(1)
    try:
        info = wait_for_job(job, timeout=timeout)
    finally:
        subprocess.run(["scancel", job], capture_output=True)
        subprocess.run(["scancel", "-n", name], capture_output=True)
    return job, info, (folder / f"clipwriter-client-{job}.out").read_text()


def test_run_from_the_login_node_as_the_readme_shows_it(videos, tmp_path):
    run, overrides, _ = readme_commands()
    name, folder, out = prepare(tmp_path, "login")
    argv = command(run, paths(videos, out))
    assert argv[:4] == ["dask-clipwriter", "run", "--cluster", "slurm"]
    try:
        proc = subprocess.run(argv, cwd=folder, env=environment(name, **overrides), capture_output=True, text=True,
                              timeout=240)
    finally:
        subprocess.run(["scancel", "-n", name], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    assert "dashboard: http://127.0.0.1:" in proc.stderr and f"report: {out}/report.html" in proc.stderr
    assert verify(str(out)) == []
    assert json.loads((out / "summary.json").read_text())["totals"]["videos_complete"] == 2
    # The work ran in SLURM jobs: the profile's log-directory holds the worker job's logs.
    assert list((folder / "logs" / "slurm").glob(f"{name}-*.err"))
    assert wait_until_gone(name) == [], "the worker jobs outlived the run"


def test_sbatch_inside_an_allocation_as_the_readme_shows_it(videos, tmp_path):
    _, overrides, sbatch = readme_commands()
    name, folder, out = prepare(tmp_path, "alloc")
    argv = command(sbatch, paths(videos, out))
    assert argv[:2] == ["sbatch", "jobs/slurm.sbatch"]
    job, info, output = sbatch_and_wait(argv, folder, environment(name, **overrides), name, timeout=240)
    assert (info["JobState"], info["ExitCode"]) == ("COMPLETED", "0:0"), output
    assert f"slurm.sbatch: job {job} on " in output and "profile conf/jobqueue-slurm.yaml" in output
    assert "done in " in output and f"report: {out}/report.html" in output
    assert verify(str(out)) == []
    assert list((folder / "logs" / "slurm").glob(f"{name}-*.err"))  # the workers were jobs of their own
    assert wait_until_gone(name) == []


def test_a_request_the_partition_cannot_meet_fails_fast_with_the_reason(videos, tmp_path):
    """The README's login-node command without the overrides: the example profile asks 4 CPUs
    per worker job and the node has 2 (the issue's hang: pending PartitionConfig forever)."""
    run, _, _ = readme_commands()
    name = f"cw-toobig-{uuid.uuid4().hex[:8]}"
    folder = project_folder(tmp_path / "project", REPO)
    started = time.monotonic()
    proc = subprocess.run(command(run, paths(videos, tmp_path / "dataset")), cwd=folder, env=environment(name),
                          capture_output=True, text=True, timeout=120)
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("dask-clipwriter: error: the SLURM worker job cannot run as configured: it asks 4 CPUs "
                           "per job (option cores) and the nodes of partition ")
    assert "--cpus-per-task=4 --mem=16G -t 04:00:00" in line and line.endswith("nothing was submitted")
    assert squeue(name) == [] and took < 30
    assert not (tmp_path / "dataset").exists()


def test_worker_jobs_that_can_never_start_end_the_run_with_slurms_reason(videos, tmp_path):
    """Inside an allocation the client holds one of the node's 2 CPUs, so a worker job of 2
    CPUs waits for Resources forever: after the pending timeout the client says so, cancels
    it and exits with 4."""
    _, overrides, sbatch = readme_commands()
    name = f"cw-pending-{uuid.uuid4().hex[:8]}"
    folder = project_folder(tmp_path / "project", REPO)
    env = environment(name, **{**overrides, "DASK_CLIPWRITER__CLUSTER__SLURM__CORES": "2",
                               "DASK_CLIPWRITER__CLUSTER__SLURM__PENDING_TIMEOUT": "5s"})
    _, info, output = sbatch_and_wait(command(sbatch, paths(videos, tmp_path / "dataset")), folder, env, name,
                                      timeout=180)
    assert (info["JobState"], info["ExitCode"]) == ("FAILED", "4:0"), output
    [line] = [line for line in output.splitlines() if line.startswith("dask-clipwriter: error:")]
    assert re.match(r"dask-clipwriter: error: SLURM worker job \d+ pending for \d+ s, reason (Resources|Priority): "
                    r"it asks -n 1 --cpus-per-task=2 --mem=2G -t 04:00:00 \(partition ", line), line
    assert line.endswith("no worker has joined after the pending timeout (5 s); the worker jobs were cancelled")
    assert wait_until_gone(name) == []
    # From the client's start to its end: the timeout and a few looks at the queue.
    assert int(info["RunTime"].split(":")[-1]) + 60 * int(info["RunTime"].split(":")[-2]) < 60


def test_a_worker_retired_mid_chunk_leaves_the_dataset_as_a_clean_run_would(videos, tmp_path):
    """--lifetime retires the only worker while it holds the run's first clip (the test's
    embedder sleeps on it); a new worker job replaces it and does the chunk again. The
    dataset is then byte for byte a clean run's, verify finds nothing, nothing counts twice."""
    run, overrides, _ = readme_commands()
    name = f"cw-lifetime-{uuid.uuid4().hex[:8]}"
    folder = project_folder(tmp_path / "project", REPO)
    # Paths of one length: the metas hold them, and summary.json counts their bytes.
    out, clean, log = tmp_path / "a" / "dataset", tmp_path / "b" / "dataset", tmp_path / "embedder-calls"
    # Three chunks: pan 0-8 s and 8-12 s, static 0-4 s.
    plugin = ["--embedder", "slurm_helpers:slow_first_embedder", "--clip-len-s", "4", "--clip-stride-s", "4",
              "--num-clips-per-chunk", "1"]
    argv = command(run, paths(videos, out)) + ["--lifetime", "15s", "--lifetime-stagger", "0s", *plugin]
    env = environment(name, **overrides, CLIPWRITER_TEST_EMBEDDER_LOG=str(log), CLIPWRITER_TEST_EMBEDDER_SLEEP="60",
                      # The replacement job is asked for as soon as the retired worker is gone
                      # (distributed waits 15 s by default before it counts a worker as lost).
                      DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT="1s")
    try:
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=240)
    finally:
        subprocess.run(["scancel", "-n", name], capture_output=True)
    assert proc.returncode == 0, proc.stderr
    calls = embedder_calls(log)
    first = calls[0]
    redone = [c for c in calls[1:] if c["clip"] == first["clip"]]
    # The first clip was started in one worker job and done again in another.
    assert redone and {c["job"] for c in redone} != {first["job"]}, calls
    assert len({c["job"] for c in calls}) == 2

    # The same videos and settings on a LocalCluster, without a lifetime (nor a sleep).
    local = [a for a in argv if a not in ("--cluster", "slurm", "--config", "conf/jobqueue-slurm.yaml")]
    local = [str(clean) if a == str(out) else a for a in local]
    local = local[:local.index("--lifetime")] + plugin
    env = environment(name, CLIPWRITER_TEST_EMBEDDER_LOG=str(tmp_path / "clean-calls"))
    proc_clean = subprocess.run(local, cwd=folder, env=env, capture_output=True, text=True, timeout=240)
    assert proc_clean.returncode == 0, proc_clean.stderr

    assert verify(str(out)) == []
    strip = lambda root: {k: v.replace(str(root).encode(), b"ROOT") for k, v in tree(root).items()}  # noqa: E731
    assert strip(out) == strip(clean)
    summary, expected = (json.loads((root / "summary.json").read_text()) for root in (out, clean))
    assert summary["totals"] == expected["totals"]
    assert summary["run"]["chunks"] == expected["run"]["chunks"] == 3
    assert not any((out / ".clipwriter" / "tmp").glob("*"))  # no temporary file left behind
    assert wait_until_gone(name) == []


def test_a_directive_only_slurm_can_judge(videos, tmp_path):
    """A GRES the node does not have: sinfo cannot tell, `sbatch --test-only` can (exit 2,
    SLURM's words, nothing submitted). Without the check sbatch itself refuses each worker
    job, and after the pending timeout the run ends with 4 instead of waiting for workers."""
    run, overrides, _ = readme_commands()
    name, folder, out = prepare(tmp_path, "gres")
    env = environment(name, **overrides, DASK_CLIPWRITER__CLUSTER__SLURM__JOB_EXTRA_DIRECTIVES='["--gres=gpu:1"]')
    argv = command(run, paths(videos, out))
    checked = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 2, checked.stderr
    assert checked.stderr.strip().startswith("dask-clipwriter: error: the SLURM worker job cannot run as configured: "
                                             "sbatch --test-only says: sbatch: error: Invalid generic resource")
    assert "--gres=gpu:1" in checked.stderr and squeue(name) == []

    unchecked = subprocess.run(argv + ["--no-check-request", "--pending-timeout", "3s"], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=120)
    assert unchecked.returncode == 4, unchecked.stderr
    assert ("dask-clipwriter: error: no SLURM worker job could be submitted within 3 s (sbatch failed: its error is "
            "in the log above)") in unchecked.stderr
    assert "Invalid generic resource" in unchecked.stderr  # dask-jobqueue's own report of the failed sbatch
    assert squeue(name) == [] and not (out / "summary.json").exists()
