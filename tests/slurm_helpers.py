"""The project's single-node SLURM (scripts/slurm-up.sh) as the live tests use it: whether it
is up, our jobs in its queue, a finished job's state, and a plug-in that makes a chunk slow.
The queue is shared with other people's tests: look only at jobs by their own names or ids."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np


def slurm_unavailable() -> str | None:
    """Why the live SLURM tests cannot run here, or None when a node is up."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM client tools not on PATH (run scripts/slurm-up.sh as root)"
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo failed: {exc}"
    if out.returncode:
        return f"sinfo failed, slurmctld down? ({out.stderr.strip()}); run scripts/slurm-up.sh"
    states = out.stdout.split()
    if not {"idle", "mix", "alloc"} & set(states):
        return f"no SLURM node up (sinfo states: {states or 'none'}); run scripts/slurm-up.sh"
    return None


def squeue(name: str) -> list[str]:
    """``<id> <state>`` of the queued jobs named ``name``."""
    out = subprocess.run(["squeue", "-h", "-n", name, "-o", "%i %t"], capture_output=True, text=True, timeout=15)
    return out.stdout.split("\n") if out.stdout.strip() else []


def wait_until_gone(name: str, timeout: float = 30) -> list[str]:
    """Wait for the jobs named ``name`` to leave the queue (COMPLETING takes a few seconds)."""
    deadline = time.monotonic() + timeout
    while squeue(name) and time.monotonic() < deadline:
        time.sleep(0.5)
    return squeue(name)


def job_info(job_id: str) -> dict[str, str]:
    """``scontrol show job``'s fields (kept MinJobAge seconds after the job ends)."""
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=15)
    return dict(re.findall(r"(\w+)=(\S*)", out.stdout))


def wait_for_job(job_id: str, timeout: float) -> dict[str, str]:
    """The fields of job ``job_id`` once it has ended (or when ``timeout`` is up)."""
    deadline = time.monotonic() + timeout
    while True:
        info = job_info(job_id)
        if info.get("JobState") in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"):
            return info
        if time.monotonic() > deadline:
            return info
        time.sleep(1)


def project_folder(root: Path, repo: Path) -> Path:
    """A folder laid out like a checkout (jobs/ and conf/ of ``repo``) to run the README's
    relative commands in: what they write there (client output, job logs) stays in the test's
    folder, not in the repository."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("jobs", "conf"):
        (root / name).symlink_to(repo / name)
    return root


# ----------------------------------------------------------------------------------------
# A plug-in for the worker-lifetime test: an embedder that records where it ran and holds
# the first clip of the whole run for a long while, so that the worker's lifetime ends in
# the middle of that clip's chunk.


def _log_dir() -> Path:
    return Path(os.environ["CLIPWRITER_TEST_EMBEDDER_LOG"])


def slow_first_embedder(clip) -> np.ndarray:
    """A deterministic embedding (the clip's bytes hashed); the first call of the run sleeps
    ``CLIPWRITER_TEST_EMBEDDER_SLEEP`` seconds."""
    digest = hashlib.sha256(clip.data).digest()
    log = _log_dir()
    log.mkdir(parents=True, exist_ok=True)
    first = not any(log.iterdir())
    record = {"job": os.environ.get("SLURM_JOB_ID"), "pid": os.getpid(), "clip": digest.hex()[:16],
              "at": time.time()}
    (log / f"{time.time_ns()}-{os.getpid()}.json").write_text(json.dumps(record))
    if first:
        time.sleep(float(os.environ.get("CLIPWRITER_TEST_EMBEDDER_SLEEP", "0")))
    return np.frombuffer(digest, dtype=np.uint8).astype(np.float32)


def embedder_calls(log: Path) -> list[dict]:
    return sorted((json.loads(p.read_text()) for p in log.glob("*.json")), key=lambda r: r["at"])
