"""SLURM that says what is wrong: the worker job's request checked before anything is
submitted, and the worker jobs watched while the run goes on.

Both run on the client, beside the scheduler (dask-jobqueue's model), and use only the
SLURM client tools: ``sinfo`` and ``sbatch --test-only`` before, ``squeue`` and ``scancel``
during. What to conclude from their output is decided in :mod:`.slurm_request`.
"""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..settings import SettingsError
from .slurm_request import (
    SINFO_FORMAT,
    JobRequest,
    judge_pending,
    parse_job_request,
    parse_sinfo,
    parse_squeue,
    request_problems,
    target_partition,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds between two looks at the queue.
POLL_S = 2.0


class SlurmRequestError(SettingsError):
    """The worker job asks for what the partition cannot give; nothing was submitted."""


class WorkerJobsPending(RuntimeError):
    """The worker jobs did not start (SLURM's reason is in the message); they were cancelled."""


def _slurm(command: list[str], timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def partitions_here() -> dict:
    out = _slurm(["sinfo", "-h", "-N", "-o", SINFO_FORMAT])
    if out.returncode:
        raise SlurmRequestError(f"sinfo failed ({out.stderr.strip() or out.returncode}): is slurmctld up?")
    return parse_sinfo(out.stdout)


def describe_request(request: JobRequest, partitions: dict) -> str:
    partition = target_partition(request, partitions)
    return request.describe() + (f" ({partition.describe()})" if partition is not None else "")


def check_request(job_script: str, *, submit_command: str = "sbatch") -> JobRequest:
    """Refuse a worker job the partition cannot run, before anything is submitted: compare its
    request with what ``sinfo`` says the partition offers (naming the option to change), then
    let SLURM judge the whole script (``sbatch --test-only``: directives sinfo cannot show,
    such as GRES or constraints). Raises :class:`SlurmRequestError`; returns the request."""
    request = parse_job_request(job_script)
    partitions = partitions_here()
    problems = request_problems(request, partitions)
    if not problems:
        with tempfile.NamedTemporaryFile("w", suffix=".sh", prefix="clipwriter-test-only-", delete=False) as fh:
            fh.write(job_script)
        try:
            out = _slurm([*submit_command.split(), "--test-only", fh.name])
        finally:
            os.unlink(fh.name)
        if out.returncode:
            said = [line.strip() for line in out.stderr.splitlines() if line.strip()]
            problems.append(f"sbatch --test-only says: {'; '.join(said[-2:]) or out.returncode}")
    if problems:
        raise SlurmRequestError(f"the SLURM worker job cannot run as configured: {'; '.join(problems)}. "
                                f"Its request: {describe_request(request, partitions)}; nothing was submitted")
    return request


class WorkerJobWatch:
    """Watches a dask-jobqueue cluster's worker jobs from a thread of its own.

    Every :data:`POLL_S` seconds it reads the queue; when :func:`.slurm_request.judge_pending`
    says the run cannot go on, it cancels the worker jobs (and stops adaptive scaling, which
    would submit them again), keeps the one line that says why in :attr:`failure` and sets
    :attr:`failed`. :meth:`run` runs the work and raises :class:`WorkerJobsPending` then.
    """

    def __init__(self, cluster, pending_timeout_s: float | None, request: str = "", stream=None):
        self.cluster = cluster
        self.timeout_s = pending_timeout_s
        self.request = request
        self.stream = stream
        self.failure: str | None = None
        self.failed = threading.Event()
        self._stop = threading.Event()
        self._pending_since: dict[str, float] = {}
        self._unsubmitted_since: dict[str, float] = {}
        self._warned = False
        self._thread = threading.Thread(target=self._loop, name="clipwriter-slurm-watch", daemon=True)

    def __enter__(self) -> WorkerJobWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _jobs(self) -> list[tuple[str, Any]]:
        """(name, job) of the cluster's worker jobs, submitted or not."""
        for _ in range(5):  # the cluster's event loop may change the dict meanwhile
            try:
                return list(self.cluster.workers.items())
            except RuntimeError:
                time.sleep(0.01)
        return []

    def _loop(self) -> None:
        while not self._stop.is_set() and not self.failed.is_set():
            try:
                self.look()
            except Exception as exc:  # noqa: BLE001 - a look that fails must not end the run
                log.warning("could not read the SLURM queue: %s", exc)
            self._stop.wait(POLL_S)

    def look(self) -> None:
        now = time.monotonic()
        jobs = self._jobs()
        ids = {str(job.job_id) for _, job in jobs if getattr(job, "job_id", None)}
        out = _slurm(["squeue", "-h", "--me", "-o", "%i|%T|%r"])
        states = {job: state for job, state in parse_squeue(out.stdout).items() if job in ids}
        for job, (state, _) in states.items():
            if state == "PENDING":
                self._pending_since.setdefault(job, now)
        workers_up = len((getattr(self.cluster, "scheduler_info", None) or {}).get("workers", {}))
        verdict = judge_pending(states, self._pending_since, now, self.timeout_s, workers_up, self.request)
        unsubmitted = [name for name, job in jobs if not getattr(job, "job_id", None)]
        for name in unsubmitted:
            self._unsubmitted_since.setdefault(name, now)
        stuck = [name for name in unsubmitted if self.timeout_s is not None
                 and now - self._unsubmitted_since[name] > self.timeout_s]
        if verdict.fail:
            self._fail(verdict.fail, ids)
        elif stuck and not workers_up:
            self._fail(f"no SLURM worker job could be submitted within {self.timeout_s:g} s (sbatch failed: "
                       f"its error is in the log above); it asks {self.request}", ids)
        elif verdict.warn and not self._warned:
            self._warned = True
            log.warning("%s", verdict.warn)

    def _fail(self, line: str, ids: set[str]) -> None:
        self.failure = line + "; the worker jobs were cancelled"
        adaptive = getattr(self.cluster, "_adaptive", None)
        if adaptive is not None:
            self.cluster.loop.add_callback(adaptive.stop)
        if ids:
            _slurm(["scancel", *sorted(ids)])
        self.cluster.scale(0)
        self.failed.set()

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a thread, until it returns (its result or its error) or the watch
        fails (:class:`WorkerJobsPending`; the work's thread, blocked on workers that will
        never come, is left to end with the process)."""
        result: dict[str, Any] = {}
        done = threading.Event()

        def target() -> None:
            try:
                result["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                result["error"] = exc
            finally:
                done.set()

        threading.Thread(target=target, name="clipwriter-run", daemon=True).start()
        while not done.wait(0.2):
            if self.failed.is_set():
                raise WorkerJobsPending(self.failure)
        if "error" in result:
            raise result["error"]
        return result["value"]


__all__ = ["SlurmRequestError", "WorkerJobWatch", "WorkerJobsPending", "check_request"]
