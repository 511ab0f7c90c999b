"""SLURM clusters: dask-jobqueue's ``SLURMCluster`` with defaults from ``slurm.yaml``.

Options are resolved on the client, in this order (first wins): keyword arguments that are
not None, then the ``clipwriter.cluster.slurm`` Dask config (user files, environment), then
the defaults in ``slurm.yaml`` beside this file. The result is rendered into the worker job
script; nothing on the workers reads Dask config (a client's ``dask.config.set`` never
reaches jobqueue workers).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dask.config

from ..config import canonical, register_defaults

NAMESPACE = "clipwriter.cluster.slurm"
DEFAULTS_FILE = Path(__file__).with_name("slurm.yaml")

#: Options that are ours (how many workers, lifetimes, checks, the dashboard), not SLURMCluster
#: keywords: the fields of :class:`.slurm_settings.SlurmSettings`.
OWN_OPTIONS = ("n_workers", "adaptive_minimum", "adaptive_maximum", "lifetime", "lifetime_stagger",
               "pending_timeout", "check_request", "dashboard_address")
#: Directives that would fight with ``log_directory`` (it writes its own -o/-e).
LOG_DIRECTIVES = ("-o", "--output", "-e", "--error")


register_defaults(DEFAULTS_FILE)


def known_options() -> set[str]:
    """Our SLURM options (slurm.yaml, OWN_OPTIONS) and every keyword SLURMCluster and its
    job class take, when dask-jobqueue is installed."""
    import inspect

    import yaml

    with DEFAULTS_FILE.open() as fh:
        names = set(canonical(yaml.safe_load(fh)["clipwriter"]["cluster"]["slurm"])) | set(OWN_OPTIONS)
    try:
        from dask_jobqueue import SLURMCluster
        from dask_jobqueue.slurm import SLURMJob
    except ImportError:
        return names
    for target in (SLURMCluster, SLURMJob, *SLURMJob.__mro__[1:]):
        try:
            names |= {p for p in inspect.signature(target.__init__).parameters if p not in ("self", "args", "kwargs")}
        except (TypeError, ValueError):
            continue
    names |= {"scheduler_options"}
    return names


def resolve_options(**options: Any) -> dict[str, Any]:
    """The effective options: config values overlaid with the non-None keyword arguments."""
    resolved = canonical(dask.config.get(NAMESPACE, default={}))
    resolved.update({k: v for k, v in canonical(options).items() if v is not None})
    return resolved


def _check_log_directives(log_directory: str | None, directives: list[str]) -> None:
    if not log_directory:
        return
    for directive in directives:
        flag = str(directive).strip().split("=", 1)[0].split(" ", 1)[0]
        if flag in LOG_DIRECTIVES:
            raise ValueError(
                f"log_directory={log_directory!r} already sets the job's -o/-e files; "
                f"remove {directive!r} from job_extra_directives (or drop log_directory)"
            )


def make_slurm_cluster(**options: Any):
    """A started ``dask_jobqueue.SLURMCluster`` (see ``slurm.yaml`` for the options).

    Besides the ``slurm.yaml`` keys, any other ``SLURMCluster`` keyword (``python``,
    ``worker_extra_args``, ``scheduler_options``, ``job_mem``, ...) is passed through.
    With ``adaptive_maximum`` set the cluster adapts between ``adaptive_minimum`` (default 0)
    and it; otherwise it is scaled to ``n_workers`` workers (0: none yet), adapting between
    n_workers and n_workers when the workers have a ``lifetime`` (so retired ones are replaced).

    Before anything is submitted the worker job is checked against its partition
    (``check_request``): a request it cannot meet raises :class:`.slurm_watch.SlurmRequestError`
    naming what to change. Watch the jobs while they run with :func:`watch_worker_jobs`.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise ImportError(
            "SLURM clusters need dask-jobqueue, an optional extra: "
            "pip install 'dask_clipwriter[slurm]'"
        ) from exc
    from .slurm_settings import SlurmSettings
    from .slurm_watch import check_request

    opts = resolve_options(**options)
    own = SlurmSettings.take(opts)
    scheduler_options = {"dashboard_address": own.dashboard_address, **(opts.pop("scheduler_options", None) or {})}
    directives = list(opts.get("job_extra_directives") or [])
    _check_log_directives(opts.get("log_directory"), directives)
    opts["job_extra_directives"] = directives
    opts["worker_extra_args"] = [*(opts.get("worker_extra_args") or []), *own.worker_args()]
    if own.submits() and shutil.which("sbatch") is None:
        raise RuntimeError(
            "sbatch is not on PATH: worker jobs cannot be submitted from this machine "
            "(install the SLURM client tools; scripts/slurm-up.sh sets up a single-node SLURM)"
        )

    # None values are left out so that dask-jobqueue's own config/defaults apply to them.
    kwargs = {k: v for k, v in opts.items() if v is not None}
    cluster = SLURMCluster(scheduler_options=scheduler_options, **kwargs)
    try:
        if own.submits() and own.check_request:
            check_request(cluster.job_script(), submit_command=cluster.job_cls.submit_command)
        adaptive = own.adaptive_range()
        if adaptive is not None:
            cluster.adapt(minimum=adaptive[0], maximum=adaptive[1])
        elif own.n_workers:
            cluster.scale(own.n_workers)
    except BaseException:
        cluster.close()
        raise
    return cluster


def watch_worker_jobs(cluster, stream=None, **options: Any):
    """A :class:`.slurm_watch.WorkerJobWatch` of ``cluster``'s worker jobs, with the
    ``pending_timeout`` of ``options`` (resolved as for :func:`make_slurm_cluster`); use it
    as a context manager and run the work with its ``run``."""
    from .slurm_request import parse_job_request
    from .slurm_settings import SlurmSettings
    from .slurm_watch import WorkerJobWatch, describe_request, partitions_here

    own = SlurmSettings.take(resolve_options(**options))
    request = parse_job_request(cluster.job_script())
    try:
        described = describe_request(request, partitions_here())
    except Exception:  # noqa: BLE001 - the request alone still says what was asked
        described = request.describe()
    return WorkerJobWatch(cluster, own.pending_timeout_s, described, stream=stream)


__all__ = ["DEFAULTS_FILE", "NAMESPACE", "make_slurm_cluster", "resolve_options", "watch_worker_jobs"]
