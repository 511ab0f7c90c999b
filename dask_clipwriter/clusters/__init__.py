"""Where the workers run: one small module per backend, chosen by name.

    from dask_clipwriter.clusters import make_cluster, cluster_summary

    with make_cluster("slurm", cores=4, memory="16GiB", n_workers=8) as cluster, Client(cluster):
        print(cluster_summary(cluster))
        ClipWriter(...).write(clips)

``local`` is a ``LocalCluster`` of worker processes (:mod:`.local`); ``slurm`` is
dask-jobqueue's ``SLURMCluster`` (:mod:`.slurm`, optional extra ``[slurm]``), whose defaults
live in ``slurm.yaml`` under the Dask config namespace ``clipwriter.cluster.slurm``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from typing import Any, Iterator

log = logging.getLogger(__name__)

KINDS = ("local", "slurm")


def make_cluster(kind: str, **options: Any):
    """A started ``distributed.deploy.Cluster`` of the given ``kind`` ("local" or "slurm").

    ``options`` are the backend's keyword arguments (see :func:`.local.make_local_cluster`
    and :func:`.slurm.make_slurm_cluster`). The caller closes the cluster (it is a context
    manager); for SLURM, closing cancels the worker jobs.
    """
    if kind == "local":
        from .local import make_local_cluster

        known = inspect.signature(make_local_cluster).parameters
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(f"unknown local cluster option(s) {unknown}; known: {', '.join(known)}")
        return make_local_cluster(**options)
    if kind == "slurm":
        from .slurm import make_slurm_cluster

        return make_slurm_cluster(**options)
    raise ValueError(f"unknown cluster kind {kind!r}: choose one of {', '.join(KINDS)}")


@contextlib.contextmanager
def connected(cluster, client) -> Iterator[None]:
    """Close ``client`` then ``cluster`` on the way out. When the body already failed, an
    error from closing is logged and dropped so the body's error is the one reported: a
    SLURM worker job that sbatch refused stays "created", and distributed's ``close``
    asserts on such workers, which would hide why the run ended."""
    try:
        yield
    except BaseException:
        for closing in (client, cluster):
            try:
                closing.close()
            except Exception as exc:  # noqa: BLE001 - the body's error matters more
                log.debug("closing %s after a failed run: %r", type(closing).__name__, exc)
        raise
    else:
        with cluster, client:
            pass


def cluster_option_names(kind: str) -> set[str]:
    """The options a ``kind`` cluster takes (for checking config keys): the local cluster's
    keywords; for SLURM, ours (slurm.yaml) and every keyword dask-jobqueue's SLURMCluster
    takes, when it is installed."""
    if kind == "local":
        from .local import make_local_cluster

        return set(inspect.signature(make_local_cluster).parameters)
    from .slurm import known_options

    return known_options()


def cluster_summary(cluster) -> str:
    """One line for a progress display: kind, workers up of requested, jobs, dashboard link."""
    info = getattr(cluster, "scheduler_info", None) or {}
    up = len(info.get("workers", {}))
    requested = getattr(cluster, "requested", None)
    workers = f"{up}/{len(requested)} workers" if requested is not None else f"{up} workers"
    parts = [f"{type(cluster).__name__}: {workers}"]
    jobs = [str(job.job_id) for job in getattr(cluster, "workers", {}).values()
            if getattr(job, "job_id", None)]
    if jobs:
        parts.append(f"jobs {','.join(jobs)}")
    try:
        link = cluster.dashboard_link
    except Exception:  # a closed cluster has no scheduler to ask
        link = ""
    parts.append(f"dashboard {link}" if link else "no dashboard")
    return ", ".join(parts)


__all__ = ["KINDS", "cluster_summary", "connected", "make_cluster"]
