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

#: Options that are ours (how many workers, the dashboard), not SLURMCluster keywords.
OWN_OPTIONS = ("n_workers", "adaptive_minimum", "adaptive_maximum", "dashboard_address")
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
    and it; otherwise it is scaled to ``n_workers`` workers (0: none yet).
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:
        raise ImportError(
            "SLURM clusters need dask-jobqueue, an optional extra: "
            "pip install 'dask_clipwriter[slurm]'"
        ) from exc

    opts = resolve_options(**options)
    n_workers = int(opts.pop("n_workers", 0) or 0)
    minimum = opts.pop("adaptive_minimum", None)
    maximum = opts.pop("adaptive_maximum", None)
    scheduler_options = {"dashboard_address": opts.pop("dashboard_address", ":0"),
                         **(opts.pop("scheduler_options", None) or {})}
    directives = list(opts.get("job_extra_directives") or [])
    _check_log_directives(opts.get("log_directory"), directives)
    opts["job_extra_directives"] = directives
    if (n_workers or maximum) and shutil.which("sbatch") is None:
        raise RuntimeError(
            "sbatch is not on PATH: worker jobs cannot be submitted from this machine "
            "(install the SLURM client tools; scripts/slurm-up.sh sets up a single-node SLURM)"
        )

    # None values are left out so that dask-jobqueue's own config/defaults apply to them.
    kwargs = {k: v for k, v in opts.items() if v is not None}
    cluster = SLURMCluster(scheduler_options=scheduler_options, **kwargs)
    try:
        if maximum is not None:
            cluster.adapt(minimum=int(minimum or 0), maximum=int(maximum))
        elif n_workers:
            cluster.scale(n_workers)
    except BaseException:
        cluster.close()
        raise
    return cluster


__all__ = ["DEFAULTS_FILE", "NAMESPACE", "make_slurm_cluster", "resolve_options"]
